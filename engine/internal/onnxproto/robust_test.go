package onnxproto

import (
	"errors"
	"io"
	"math"
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// exercise decodes data and reads every tensor in the result, which must
// either fail cleanly or succeed. It returns Decode's error.
func exercise(t testing.TB, data []byte) error {
	m, err := Decode(data)
	if err != nil {
		if m != nil {
			t.Errorf("Decode returned both a model and %v", err)
		}
		if !strings.HasPrefix(err.Error(), "onnx: ") {
			t.Errorf("error %q lacks the onnx: prefix", err)
		}
		return err
	}
	if m.Graph == nil || m.Opsets == nil || m.Metadata == nil {
		t.Fatalf("incomplete model: %+v", m)
	}
	var tensors []*Tensor
	tensors = append(tensors, m.Graph.Initializers...)
	for _, n := range m.Graph.Nodes {
		if n == nil || n.OpType == "" {
			t.Fatalf("bad node %+v", n)
		}
		for _, a := range n.Attrs {
			if a.T != nil {
				tensors = append(tensors, a.T)
			}
			tensors = append(tensors, a.Tensors...)
		}
	}
	for _, x := range tensors {
		n, err := x.NumElements()
		if err != nil {
			t.Errorf("decoded tensor %q: NumElements: %v", x.Name, err)
		}
		f, ferr := x.Float32s()
		i, ierr := x.Int64s()
		if ferr == nil && int64(len(f)) != n || ierr == nil && int64(len(i)) != n {
			t.Errorf("tensor %q: %d elements but read %d floats, %d ints", x.Name, n, len(f), len(i))
		}
		if ferr == nil && ierr == nil {
			t.Errorf("tensor %q of type %v reads as both float32 and int64", x.Name, x.DataType)
		}
	}
	return nil
}

// readFixtures returns the contents of the .onnx fixtures.
func readFixtures(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	for _, path := range fixtureNames(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out[path] = b
	}
	return out
}

// TestTruncation decodes every proper prefix of every fixture.
func TestTruncation(t *testing.T) {
	for path, data := range readFixtures(t) {
		ok := 0
		for n := range len(data) {
			if exercise(t, data[:n]) == nil {
				ok++
			}
		}
		// A prefix can be valid only if it ends on a field boundary after
		// the required fields (ir_version, opset_import, graph).
		t.Logf("%s: %d of %d prefixes decode", path, ok, len(data))
	}
}

// TestBitFlips decodes every fixture with each single bit flipped.
func TestBitFlips(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	for path, data := range readFixtures(t) {
		buf := make([]byte, len(data))
		ok := 0
		for i := range len(data) * 8 {
			copy(buf, data)
			buf[i/8] ^= 1 << (i % 8)
			if exercise(t, buf) == nil {
				ok++
			}
		}
		t.Logf("%s: %d of %d bit flips decode", path, ok, len(data)*8)
	}
}

// TestAccessorsRecheck checks that the accessors do not trust a tensor
// whose exported fields were changed after decoding.
func TestAccessorsRecheck(t *testing.T) {
	m, err := Decode(model(graphWith(floatTensor([]int64{2, 2}, 1, 2, 3, 4))))
	if err != nil {
		t.Fatal(err)
	}
	w := m.Graph.Initializer("w")
	if f, err := w.Float32s(); err != nil || len(f) != 4 {
		t.Fatalf("Float32s() = %v, %v", f, err)
	}
	for _, tc := range []struct {
		dims []int64
		dt   DataType
		want string
	}{
		{[]int64{4, 4}, Float, `onnx: tensor "w": raw_data has 16 bytes, want 64 for FLOAT dims [4 4]`},
		{[]int64{-4}, Float, `dims[0] is negative (-4)`},
		{[]int64{math.MaxInt64, 3}, Float, `overflows int64`},
		{make([]int64, 33), Float, `rank 33 exceeds 32`},
		{[]int64{8}, Float16, ``}, // still consistent: reads fine
		{[]int64{2}, Double, ``},
		{[]int64{4}, Int32, `cannot read INT32 as float32`},
		{[]int64{4}, Complex64, `raw_data has 16 bytes, want 32`},
		{[]int64{4}, DataType(99), `unsupported data_type DataType(99)`},
	} {
		w.Dims, w.DataType = tc.dims, tc.dt
		_, err := w.Float32s()
		switch {
		case tc.want == "":
			if err != nil {
				t.Errorf("dims %v %v: %v", tc.dims, tc.dt, err)
			}
		case err == nil || !strings.Contains(err.Error(), tc.want):
			t.Errorf("dims %v %v: error %v, want %q", tc.dims, tc.dt, err, tc.want)
		}
	}

	var zero Tensor
	if _, err := zero.Float32s(); err == nil || !strings.Contains(err.Error(), "unsupported data_type UNDEFINED") {
		t.Errorf("zero Tensor: %v", err)
	}
	zero.DataType = Int64
	if got, err := zero.Int64s(); err == nil {
		t.Errorf("zero INT64 scalar with no data: %v, %v", got, err)
	}
}

// TestAccessorRanges checks the range checks on typed integer data.
func TestAccessorRanges(t *testing.T) {
	for _, tc := range []struct {
		t    Tensor
		want string
	}{
		{Tensor{Name: "a", Dims: []int64{1}, DataType: Uint8, int32s: []int32{256}}, "element 0 = 256 out of range for UINT8"},
		{Tensor{Name: "b", Dims: []int64{1}, DataType: Bool, raw: []byte{2}}, "element 0 = 2 out of range for BOOL"},
		{Tensor{Name: "c", Dims: []int64{1}, DataType: Uint64, uint64s: []uint64{math.MaxUint64}}, "out of range for UINT64"},
		{Tensor{Name: "d", Dims: []int64{1}, DataType: Uint32, uint64s: []uint64{1 << 32}}, "out of range for UINT32"},
		{Tensor{Name: "e", Dims: []int64{1}, DataType: Float16, int32s: []int32{-1}}, "int32_data[0] = -1 is not a 16-bit pattern"},
		{Tensor{Name: "f", Dims: []int64{1}, DataType: String, strs: [][]byte{{'x'}}}, "cannot read STRING as"},
	} {
		_, ierr := tc.t.Int64s()
		_, ferr := tc.t.Float32s()
		if (ierr == nil || !strings.Contains(ierr.Error(), tc.want)) && (ferr == nil || !strings.Contains(ferr.Error(), tc.want)) {
			t.Errorf("%s: Int64s: %v; Float32s: %v; want %q", tc.t.Name, ierr, ferr, tc.want)
		}
	}
}

// TestWireErrorCodes guards the protowire error codes that wireError
// spells out.
func TestWireErrorCodes(t *testing.T) {
	if !errors.Is(protowire.ParseError(-1), io.ErrUnexpectedEOF) {
		t.Error("code -1 is no longer truncation")
	}
	for code, want := range map[int]string{-2: "field number", -3: "overflow", -4: "reserved", -5: "end group"} {
		if got := protowire.ParseError(code).Error(); !strings.Contains(got, want) {
			t.Errorf("code %d: protowire says %q, want it to mention %q", code, got, want)
		}
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{Float.String(), "FLOAT"},
		{Int4.String(), "INT4"},
		{BFloat16.String(), "BFLOAT16"},
		{DataType(-1).String(), "DataType(-1)"},
		{DataType(23).String(), "DataType(23)"},
		{AttrInts.String(), "INTS"},
		{AttrTypeProtos.String(), "TYPE_PROTOS"},
		{AttrType(15).String(), "AttrType(15)"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// FuzzDecode decodes arbitrary input and reads every tensor it yields. It
// is seeded with the fixtures; crashers found by the fuzzer are kept under
// testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, data := range readFixtures(f) {
		f.Add(data)
	}
	f.Add([]byte(model(graphWith(floatTensor([]int64{2}, 1, 2)))))
	f.Add([]byte(model(nodeWith(pb{}.str(1, "k").int(20, int64(AttrInts)).packed(8, 1, 2)))))
	f.Add([]byte(encodingsModel()))
	for _, c := range errorCases() {
		f.Add(c.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		exercise(t, data)
	})
}
