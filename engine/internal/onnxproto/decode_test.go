package onnxproto

import (
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// pb builds protobuf messages by hand, including malformed ones.
type pb []byte

func (m pb) varint(num protowire.Number, v uint64) pb {
	m = protowire.AppendTag(m, num, protowire.VarintType)
	return protowire.AppendVarint(m, v)
}

func (m pb) int(num protowire.Number, v int64) pb { return m.varint(num, uint64(v)) }

func (m pb) fixed32(num protowire.Number, v uint32) pb {
	m = protowire.AppendTag(m, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(m, v)
}

func (m pb) float(num protowire.Number, f float32) pb { return m.fixed32(num, math.Float32bits(f)) }

func (m pb) bytes(num protowire.Number, b []byte) pb {
	m = protowire.AppendTag(m, num, protowire.BytesType)
	return protowire.AppendBytes(m, b)
}

func (m pb) str(num protowire.Number, s string) pb { return m.bytes(num, []byte(s)) }

// raw appends bytes verbatim.
func (m pb) raw(b ...byte) pb { return append(m, b...) }

// packed appends a packed repeated varint field.
func (m pb) packed(num protowire.Number, vs ...int64) pb {
	var p []byte
	for _, v := range vs {
		p = protowire.AppendVarint(p, uint64(v))
	}
	return m.bytes(num, p)
}

// packedFloats appends a packed repeated float field.
func (m pb) packedFloats(num protowire.Number, fs ...float32) pb {
	var p []byte
	for _, f := range fs {
		p = protowire.AppendFixed32(p, math.Float32bits(f))
	}
	return m.bytes(num, p)
}

// model wraps a graph in a minimal valid model: IR version 8, opset 13.
func model(graph pb) pb {
	return pb{}.int(1, 8).bytes(8, pb{}.int(2, 13)).bytes(7, graph)
}

// graphWith returns a graph holding one initializer.
func graphWith(init pb) pb { return pb{}.bytes(5, init) }

// floatTensor returns a FLOAT tensor named "w" with the given dims and
// raw_data holding data.
func floatTensor(dims []int64, data ...float32) pb {
	t := pb{}.str(8, "w").int(2, int64(Float))
	for _, d := range dims {
		t = t.int(1, d)
	}
	raw := make([]byte, 4*len(data))
	for i, f := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	if len(raw) > 0 {
		t = t.bytes(9, raw)
	}
	return t
}

// nodeWith returns a graph holding one node "conv1" with the attribute.
func nodeWith(attr pb) pb {
	return pb{}.bytes(1, pb{}.str(1, "x").str(2, "y").str(3, "conv1").str(4, "Conv").bytes(5, attr))
}

// errorCase is a malformed or unsupported input and the error it must give.
type errorCase struct {
	name string
	data []byte
	want string // substring of the error
	is   error  // if set, errors.Is(err, is) must hold
}

// errorCases returns the hand-made malformed inputs. FuzzDecode uses them as
// seeds too.
func errorCases() []errorCase {
	// A length prefix of 2^62 followed by a few bytes.
	huge := pb{}.int(1, 8).raw(7<<3|2).raw(protowire.AppendVarint(nil, 1<<62)...).raw(1, 2, 3)

	return []errorCase{
		{"empty", nil, "unsupported ir_version 0", nil},
		{"huge length", huge, "graph: length 4611686018427387904 exceeds the 3 bytes remaining", nil},
		{"huge string length", pb{}.raw(2<<3 | 2).raw(protowire.AppendVarint(nil, math.MaxUint64)...),
			"producer_name: length 18446744073709551615 exceeds the 0 bytes remaining", nil},
		{"truncated tag", pb{}.raw(0x80), "truncated tag", nil},
		{"field number 0", pb{}.raw(0x00, 0x00), "tag: invalid field number", nil},
		{"varint overflow", pb{}.raw(1<<3).raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
			"ir_version: varint: variable length integer overflow", nil},
		{"end group", pb{}.raw(9<<3 | 4), "field 9: unexpected end-group", nil},
		{"ir_version as bytes", model(pb{}).str(1, "8"), "ir_version: wrong wire type length-delimited, want varint", nil},
		{"old ir_version", pb{}.int(1, 2).bytes(8, pb{}.int(2, 1)).bytes(7, nil), "unsupported ir_version 2", nil},
		{"new ir_version", pb{}.int(1, 12).bytes(8, pb{}.int(2, 1)).bytes(7, nil), "unsupported ir_version 12", nil},
		{"no opset", pb{}.int(1, 8).bytes(7, nil), "no opset_import", nil},
		{"no graph", pb{}.int(1, 8).bytes(8, pb{}.int(2, 13)), "no graph", nil},
		{"two graphs", model(nil).bytes(7, nil), "graph: field repeated", nil},
		{"duplicate opset", model(nil).bytes(8, pb{}.str(1, "ai.onnx").int(2, 12)),
			`opset_import[1]: domain "" imported twice`, nil},
		{"opset version 0", model(nil).bytes(8, pb{}.str(1, "x")), `opset_import[1]: domain "x": invalid version 0`, nil},
		{"duplicate metadata", model(nil).bytes(14, pb{}.str(1, "k")).bytes(14, pb{}.str(1, "k")),
			`metadata_props[1]: key "k" repeated`, nil},
		{"graph name as varint", model(pb{}.int(2, 1)), "graph: name: wrong wire type varint, want length-delimited", nil},

		// Nodes and attributes.
		{"truncated packed ints", model(nodeWith(pb{}.str(1, "kernel_shape").int(20, int64(AttrInts)).bytes(8, []byte{0x83}))),
			`onnx: graph.node[0] "conv1" attribute "kernel_shape": ints: truncated varint`, nil},
		{"overlong packed int", model(nodeWith(pb{}.str(1, "k").int(20, int64(AttrInts)).bytes(8, slices.Repeat([]byte{0xff}, 11)))),
			`attribute "k": ints: truncated varint`, nil},
		{"overflowing packed int", model(nodeWith(pb{}.str(1, "k").int(20, int64(AttrInts)).bytes(8, append(slices.Repeat([]byte{0xff}, 10), 1)))),
			`attribute "k": ints: varint: variable length integer overflow`, nil},
		{"misaligned packed floats", model(nodeWith(pb{}.str(1, "k").int(20, int64(AttrFloats)).bytes(7, []byte{1, 2, 3}))),
			`attribute "k": floats: packed fixed32 payload of 3 bytes is not a multiple of 4`, nil},
		{"floats as varint", model(nodeWith(pb{}.str(1, "k").int(20, int64(AttrFloats)).int(7, 1))),
			`attribute "k": floats: wrong wire type varint, want fixed32 or packed`, nil},
		{"f as varint", model(nodeWith(pb{}.str(1, "alpha").int(20, int64(AttrFloat)).int(2, 1))),
			`attribute "alpha": f: wrong wire type varint, want fixed32`, nil},
		{"no op_type", model(pb{}.bytes(1, pb{}.str(3, "n"))), `graph.node[0] "n": no op_type`, nil},
		{"op_type as varint", model(pb{}.bytes(1, pb{}.int(4, 3))), `graph.node[0]: op_type: wrong wire type varint`, nil},
		{"attribute without type", model(nodeWith(pb{}.str(1, "k").int(3, 1))), `attribute "k": invalid type UNDEFINED`, nil},
		{"attribute unknown type", model(nodeWith(pb{}.str(1, "k").int(20, 99))), `attribute "k": invalid type AttrType(99)`, nil},
		{"attribute without name", model(nodeWith(pb{}.int(20, int64(AttrInt)))), `attribute[0]: no name`, nil},
		{"attribute type mismatch", model(nodeWith(pb{}.str(1, "k").int(20, int64(AttrInts)).float(2, 1))),
			`attribute "k": f value in attribute of type INTS`, nil},
		{"attribute type out of int32", model(nodeWith(pb{}.str(1, "k").int(20, 1<<40))),
			`attribute "k": type: value 1099511627776 out of int32 range`, nil},
		{"duplicate attribute", model(pb{}.bytes(1, pb{}.str(4, "Relu").
			bytes(5, pb{}.str(1, "a").int(20, int64(AttrInt))).bytes(5, pb{}.str(1, "a").int(20, int64(AttrInt))))),
			`graph.node[0]: attribute "a" repeated`, nil},
		{"attribute tensor lie", model(nodeWith(pb{}.str(1, "value").int(20, int64(AttrTensor)).bytes(5, floatTensor([]int64{2}, 1)))),
			`attribute "value": t: raw_data has 4 bytes, want 8 for FLOAT dims [2]`, nil},
		{"attribute tensors lie", model(nodeWith(pb{}.str(1, "ts").int(20, int64(AttrTensors)).bytes(10, floatTensor([]int64{-1})))),
			`attribute "ts" tensors[0] "w": dims[0] is negative (-1)`, nil},

		// Tensor lies.
		{"raw_data too short", model(graphWith(floatTensor([]int64{2, 3}, 1, 2, 3))),
			`graph.initializer[0] "w": raw_data has 12 bytes, want 24 for FLOAT dims [2 3]`, nil},
		{"raw_data too long", model(graphWith(floatTensor([]int64{1}, 1, 2))),
			`raw_data has 8 bytes, want 4 for FLOAT dims [1]`, nil},
		{"scalar without data", model(graphWith(floatTensor(nil))), `no data for 1 elements of dims []`, nil},
		{"negative dim", model(graphWith(floatTensor([]int64{2, -3}, 1, 2))), `dims[1] is negative (-3)`, nil},
		{"dims overflow", model(graphWith(floatTensor([]int64{1 << 32, 1 << 32}))), `element count overflows int64`, nil},
		{"dims overflow with data", model(graphWith(floatTensor([]int64{math.MaxInt64, 2}, 1))), `element count overflows int64`, nil},
		{"huge dims no data", model(graphWith(floatTensor([]int64{1 << 31, 1 << 31}))),
			`no data for 4611686018427387904 elements`, nil},
		{"huge dims raw size overflow", model(graphWith(floatTensor([]int64{1 << 62}, 1))),
			`raw_data cannot hold FLOAT elements of dims [4611686018427387904]`, nil},
		{"rank 33", model(graphWith(floatTensor(slices.Repeat([]int64{1}, 33), 1))), `dims: rank exceeds 32`, nil},
		{"packed rank 33", model(graphWith(pb{}.str(8, "w").int(2, 1).packed(1, slices.Repeat([]int64{1}, 33)...))),
			`dims: rank exceeds 32`, nil},
		{"no data type", model(graphWith(pb{}.str(8, "w").int(1, 0))), `unsupported data_type UNDEFINED`, nil},
		{"unknown data type", model(graphWith(pb{}.str(8, "w").int(2, 23).int(1, 0))), `unsupported data_type DataType(23)`, nil},
		{"two data fields", model(graphWith(floatTensor([]int64{1}, 1).packedFloats(4, 1))),
			`both raw_data and float_data are set`, nil},
		{"wrong data field", model(graphWith(pb{}.str(8, "w").int(2, int64(Int64)).int(1, 1).packedFloats(4, 1))),
			`float_data cannot hold INT64 data`, nil},
		{"float_data count", model(graphWith(pb{}.str(8, "w").int(2, int64(Float)).int(1, 3).packedFloats(4, 1, 2))),
			`float_data has 2 entries, want 3 for FLOAT dims [3]`, nil},
		{"string in raw_data", model(graphWith(pb{}.str(8, "w").int(2, int64(String)).int(1, 1).str(9, "x"))),
			`raw_data cannot hold STRING elements`, nil},
		{"int32_data out of range", model(graphWith(pb{}.str(8, "w").int(2, int64(Int32)).int(1, 1).packed(5, 1<<31))),
			`int32_data: value 2147483648 out of int32 range`, nil},
		{"data_type out of range", model(graphWith(pb{}.str(8, "w").int(2, -1<<40))), `data_type: value -1099511627776 out of int32 range`, nil},
		{"duplicate raw_data", model(graphWith(floatTensor([]int64{1}, 1).str(9, "abcd"))), `raw_data: field repeated`, nil},
		{"external data", model(graphWith(floatTensor([]int64{1}).bytes(13, pb{}.str(1, "location").str(2, "w.bin")).int(14, 1))),
			`graph.initializer[0] "w": external data is not supported`, ErrExternalData},
		{"data_location external", model(graphWith(floatTensor([]int64{1}).int(14, 1))),
			`external data is not supported`, ErrExternalData},
		{"data_location unknown", model(graphWith(floatTensor([]int64{1}, 1).int(14, 7))), `unknown data_location 7`, nil},
		{"segment", model(graphWith(floatTensor([]int64{1}, 1).bytes(3, pb{}.int(1, 0).int(2, 1)))),
			`segment: segmented tensors are not supported`, nil},
		{"sparse initializer", model(pb{}.bytes(15, pb{}.bytes(1, floatTensor([]int64{1}, 1)))),
			`graph: sparse initializers are not supported`, ErrSparseInitializer},
		{"unnamed initializer", model(graphWith(pb{}.int(2, int64(Float)).int(1, 0))), `graph.initializer[0]: initializer has no name`, nil},
		{"duplicate initializer", model(graphWith(floatTensor(nil, 1)).bytes(5, floatTensor(nil, 2))),
			`graph.initializer[1] "w": duplicate initializer name`, nil},

		// Value infos.
		{"negative dim_value", model(pb{}.bytes(11, pb{}.str(1, "x").bytes(2, pb{}.bytes(1, pb{}.int(1, 1).
			bytes(2, pb{}.bytes(1, pb{}.int(1, 1)).bytes(1, pb{}.int(1, -3))))))),
			`graph.input[0] "x": type: tensor_type: shape: dim[1]: dim_value: negative value -3`, nil},
		{"shape rank 33", model(pb{}.bytes(12, pb{}.str(1, "y").bytes(2, pb{}.bytes(1, pb{}.
			bytes(2, pb(slices.Repeat([]byte(pb{}.bytes(1, nil)), 33))))))),
			`graph.output[0] "y": type: tensor_type: shape: rank exceeds 32`, nil},
		{"unknown elem_type", model(pb{}.bytes(13, pb{}.str(1, "v").bytes(2, pb{}.bytes(1, pb{}.int(1, 40))))),
			`graph.value_info[0] "v": type: tensor_type: elem_type: unknown data type 40`, nil},
		{"unnamed input", model(pb{}.bytes(11, nil)), `graph.input[0]: no name`, nil},
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tt := range errorCases() {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.data)
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", m)
			}
			if !strings.HasPrefix(err.Error(), "onnx: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\n does not contain %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if m != nil {
				t.Errorf("Decode returned a model with an error")
			}
		})
	}
}

// TestHostileAllocation checks that inputs claiming huge sizes are refused
// without allocating memory for the claims.
func TestHostileAllocation(t *testing.T) {
	inputs := [][]byte{
		pb{}.int(1, 8).raw(7<<3 | 2).raw(protowire.AppendVarint(nil, 1<<62)...),
		model(graphWith(floatTensor([]int64{1 << 31, 1 << 31}))),
		model(graphWith(floatTensor([]int64{1 << 20, 1 << 20}, 1))),
		model(graphWith(pb{}.str(8, "w").int(2, int64(Int64)).int(1, 1<<40).packed(7, 1, 2, 3))),
	}
	for i, in := range inputs {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if _, err := Decode(in); err == nil {
			t.Errorf("input %d: Decode succeeded", i)
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
			t.Errorf("input %d: Decode allocated %d bytes", i, n)
		}
	}
}

func TestLimits(t *testing.T) {
	raw := make([]float32, 256) // 1 KiB
	two := model(graphWith(floatTensor([]int64{256}, raw...)).bytes(5,
		pb{}.str(8, "v").int(2, int64(Int64)).int(1, 128).packed(7, make([]int64, 128)...))) // 1 KiB more

	if _, err := DecodeWithLimits(two, Limits{MaxTensorBytes: 2048}); err != nil {
		t.Errorf("2 KiB of tensors with a 2 KiB limit: %v", err)
	}
	_, err := DecodeWithLimits(two, Limits{MaxTensorBytes: 2047})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), `graph.initializer[1] "v": int64_data: tensor data exceeds 2047 bytes`) {
		t.Errorf("2 KiB of tensors with a 2047-byte limit: %v", err)
	}
	_, err = DecodeWithLimits(two, Limits{MaxTensorBytes: 1000})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), `graph.initializer[0] "w": tensor data exceeds 1000 bytes`) {
		t.Errorf("1 KiB raw_data with a 1000-byte limit: %v", err)
	}

	relu := pb{}.str(1, "x").str(2, "x").str(4, "Relu")
	three := model(pb{}.bytes(1, relu).bytes(1, relu).bytes(1, relu))
	if _, err := DecodeWithLimits(three, Limits{MaxNodes: 3}); err != nil {
		t.Errorf("3 nodes with MaxNodes 3: %v", err)
	}
	if _, err := DecodeWithLimits(three, Limits{MaxNodes: 2}); !errors.Is(err, ErrLimit) ||
		!strings.Contains(err.Error(), "graph: more than 2 nodes") {
		t.Errorf("3 nodes with MaxNodes 2: %v", err)
	}
}

// encodingsModel returns a model that uses packed and unpacked repeated
// fields, unknown fields (including a group) in every message, fields out of
// the usual order, and tensors of many types.
func encodingsModel() pb {
	unknown := pb{}.int(99, 1).str(100, "junk").fixed32(101, 7).raw(protowire.AppendTag(nil, 102, protowire.Fixed64Type)...).
		raw(0, 0, 0, 0, 0, 0, 0, 0).raw(protowire.AppendTag(nil, 103, protowire.StartGroupType)...).int(1, 5).
		raw(protowire.AppendTag(nil, 103, protowire.EndGroupType)...)
	f16 := []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c} // 1, -2, 2^-24, +Inf

	graph := pb{}.
		// Attributes: ints packed then unpacked (appended), floats unpacked.
		bytes(1, pb{}.str(4, "Conv").str(1, "x").str(1, "").str(2, "y").
			bytes(5, pb{}.int(20, int64(AttrInts)).packed(8, 1, -2).int(8, 3).str(1, "pads").append(unknown)).
			bytes(5, pb{}.str(1, "scales").int(20, int64(AttrFloats)).float(7, 0.5).float(7, 2)).
			bytes(5, pb{}.str(1, "body").int(20, int64(AttrGraph)).bytes(6, pb{}.str(2, "sub"))).
			str(7, "ai.onnx").append(unknown)).
		// Dims packed, int64_data unpacked.
		bytes(5, pb{}.packed(1, 2, 2).str(8, "shape").int(2, int64(Int64)).int(7, -1).int(7, 5).packed(7, 1<<40, 0).
			append(unknown).str(12, "doc").int(14, 0)).
		// Dims unpacked, int32_data packed.
		bytes(5, pb{}.int(1, 3).int(2, int64(Int8)).str(8, "i8").packed(5, -128, 0, 127)).
		bytes(5, pb{}.int(1, 2).int(2, int64(Uint64)).str(8, "u64").packed(11, 0, math.MaxInt64)).
		bytes(5, pb{}.int(1, 4).int(2, int64(Float16)).str(8, "f16").bytes(9, f16)).
		bytes(5, pb{}.int(1, 2).int(2, int64(Float16)).str(8, "f16i").packed(5, 0x3c00, 0x8000)).
		bytes(5, pb{}.int(1, 2).int(2, int64(BFloat16)).str(8, "bf16").bytes(9, []byte{0x80, 0x3f, 0x00, 0xc0})).
		bytes(5, pb{}.int(1, 2).int(2, int64(Double)).str(8, "d").
			raw(protowire.AppendTag(nil, 10, protowire.Fixed64Type)...).raw(binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.25))...).
			raw(protowire.AppendTag(nil, 10, protowire.Fixed64Type)...).raw(binary.LittleEndian.AppendUint64(nil, math.Float64bits(-4))...)).
		bytes(5, pb{}.int(1, 3).int(2, int64(Bool)).str(8, "b").bytes(9, []byte{1, 0, 1})).
		bytes(5, pb{}.int(1, 2).int(2, int64(Uint32)).str(8, "u32").bytes(9, []byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0})).
		bytes(5, pb{}.int(1, 2).int(2, int64(Int16)).str(8, "i16").bytes(9, []byte{0xff, 0xff, 0x00, 0x80})).
		bytes(5, pb{}.int(1, 0).int(1, 5).int(2, int64(Float)).str(8, "empty")).
		bytes(5, pb{}.int(2, int64(String)).int(1, 2).str(8, "strs").str(6, "a").str(6, "")).
		// Value infos: scalar shape, unknown shape, unknown dim, oneof order.
		bytes(11, pb{}.str(1, "x").bytes(2, pb{}.bytes(1, pb{}.int(1, 1).bytes(2, nil)))).
		bytes(11, pb{}.str(1, "seq").bytes(2, pb{}.bytes(1, pb{}.int(1, 1)).bytes(4, pb{}.bytes(1, nil)))).
		bytes(12, pb{}.str(1, "y").append(unknown).bytes(2, pb{}.append(unknown).bytes(1, pb{}.int(1, 1).append(unknown).
			bytes(2, pb{}.bytes(1, unknown).append(unknown).bytes(1, pb{}.str(2, "n").int(1, 4)).
				bytes(1, pb{}.int(1, 4).str(2, "batch").str(3, "DATA_BATCH").append(unknown)))))).
		str(2, "g").append(unknown).str(10, "doc").int(16, 1)

	return pb{}.append(unknown).bytes(7, graph).int(1, 9).bytes(8, pb{}.int(2, 17).append(unknown)).append(unknown).
		bytes(8, pb{}.str(1, "com.microsoft").int(2, 1)).bytes(14, pb{}.str(1, "k").append(unknown).str(2, "v")).bytes(20, pb{}.str(1, "training"))
}

// TestEncodings decodes encodingsModel and checks the conversions done by
// the accessors.
func TestEncodings(t *testing.T) {
	m, err := Decode(encodingsModel())
	if err != nil {
		t.Fatal(err)
	}
	if m.IRVersion != 9 || m.Opsets[""] != 17 || m.Opsets["com.microsoft"] != 1 || len(m.Opsets) != 2 {
		t.Errorf("IRVersion %d, Opsets %v", m.IRVersion, m.Opsets)
	}
	if len(m.Metadata) != 1 || m.Metadata["k"] != "v" || m.Graph.Name != "g" {
		t.Errorf("Metadata %v, graph name %q", m.Metadata, m.Graph.Name)
	}

	n := m.Graph.Nodes[0]
	if n.Domain != "" || !slices.Equal(n.Inputs, []string{"x", ""}) || !slices.Equal(n.Outputs, []string{"y"}) {
		t.Errorf("node %+v", n)
	}
	if a := n.Attr("pads"); a == nil || !slices.Equal(a.Ints, []int64{1, -2, 3}) {
		t.Errorf("pads = %+v", a)
	}
	if a := n.Attr("scales"); a == nil || !slices.Equal(a.Floats, []float32{0.5, 2}) {
		t.Errorf("scales = %+v", a)
	}
	if a := n.Attr("body"); a == nil || !a.HasGraph || a.Type != AttrGraph {
		t.Errorf("body = %+v", a)
	}
	if n.Attr("missing") != nil {
		t.Error("Attr of a missing name is not nil")
	}

	ints := map[string][]int64{
		"shape": {-1, 5, 1 << 40, 0},
		"i8":    {-128, 0, 127},
		"u64":   {0, math.MaxInt64},
		"b":     {1, 0, 1},
		"u32":   {math.MaxUint32, 1},
		"i16":   {-1, math.MinInt16},
	}
	for name, want := range ints {
		got, err := m.Graph.Initializer(name).Int64s()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: Int64s() = %v, %v; want %v", name, got, err, want)
		}
	}
	floats := map[string][]float32{
		"f16":   {1, -2, 1.0 / (1 << 24), float32(math.Inf(1))},
		"f16i":  {1, float32(math.Copysign(0, -1))},
		"bf16":  {1, -2},
		"d":     {0.25, -4},
		"empty": {},
	}
	for name, want := range floats {
		got, err := m.Graph.Initializer(name).Float32s()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: Float32s() = %v, %v; want %v", name, got, err, want)
		}
	}
	if got, _ := m.Graph.Initializer("f16i").Float32s(); len(got) != 2 || !math.Signbit(float64(got[1])) {
		t.Errorf("f16i: Float32s() = %v, want -0 second", got)
	}
	if s := m.Graph.Initializer("strs"); len(s.strs) != 2 || string(s.strs[0]) != "a" {
		t.Errorf("strs: string_data = %q", s.strs)
	}

	shapes := map[string][]Dim{
		"x":   {},
		"seq": nil,
		"y":   {{Value: -1}, {Value: 4}, {Value: -1, Param: "batch"}},
	}
	for _, v := range append(m.Graph.Inputs, m.Graph.Outputs...) {
		want := shapes[v.Name]
		if (v.Shape == nil) != (want == nil) || !slices.Equal(v.Shape, want) {
			t.Errorf("%s: shape %#v, want %#v", v.Name, v.Shape, want)
		}
	}
	if v := m.Graph.Inputs[1]; v.ElemType != Undefined {
		t.Errorf("seq: ElemType %v after a sequence_type", v.ElemType)
	}
}

func (m pb) append(b pb) pb { return append(m, b...) }
