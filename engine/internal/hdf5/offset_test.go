package hdf5

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"testing"
)

// TestContiguousOffset decodes each contiguous dataset's bytes straight
// from the file at the reported offset and compares them with what h5py
// read, and checks that the other layouts report no offset.
func TestContiguousOffset(t *testing.T) {
	exp := loadExpected(t)
	le, be := binary.LittleEndian, binary.BigEndian
	f4 := func(o binary.ByteOrder) func([]byte) float64 {
		return func(b []byte) float64 { return float64(math.Float32frombits(o.Uint32(b))) }
	}
	f8 := func(o binary.ByteOrder) func([]byte) float64 {
		return func(b []byte) float64 { return math.Float64frombits(o.Uint64(b)) }
	}
	i4 := func(b []byte) float64 { return float64(int32(le.Uint32(b))) }
	i2be := func(b []byte) float64 { return float64(int16(be.Uint16(b))) }
	tests := []struct {
		path   string
		ok     bool
		elem   int
		decode func([]byte) float64
	}{
		{path: "/layouts/contiguous", ok: true, elem: 4, decode: f4(le)},
		{path: "/dtypes/float_lef4", ok: true, elem: 4, decode: f4(le)},
		{path: "/dtypes/float_bef4", ok: true, elem: 4, decode: f4(be)},
		{path: "/dtypes/float_bef8", ok: true, elem: 8, decode: f8(be)},
		{path: "/dtypes/int_lei4", ok: true, elem: 4, decode: i4},
		{path: "/dtypes/int_bei2", ok: true, elem: 2, decode: i2be},
		{path: "/dtypes/scalar_f8", ok: true, elem: 8, decode: f8(le)},
		{path: "/model_weights/conv2d/conv2d/bias:0", ok: true, elem: 4, decode: f4(le)},
		{path: "/layouts/compact"},
		{path: "/layouts/chunk_single"},
		{path: "/layouts/chunk_edges_gzip_shuffle"},
		{path: "/layouts/contiguous_unwritten"},
	}
	found := map[string]bool{}
	for _, file := range []string{"earliest.h5", "v18.h5", "latest.h5"} {
		data := readFixture(t, file)
		f, err := Open(data)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, tc := range tests {
			want, listed := exp[file].Datasets[tc.path]
			if !listed {
				continue
			}
			found[tc.path] = true
			d, err := f.Root().Dataset(tc.path)
			if err != nil {
				t.Fatalf("%s %s: %v", file, tc.path, err)
			}
			off, size, ok := d.ContiguousOffset()
			if ok != tc.ok {
				t.Errorf("%s %s: ok = %v, want %v", file, tc.path, ok, tc.ok)
				continue
			}
			if !ok {
				if off != 0 || size != 0 {
					t.Errorf("%s %s: not contiguous but offset %d size %d", file, tc.path, off, size)
				}
				continue
			}
			if size != int64(tc.elem*len(want.Values)) || off < 0 || off+size > int64(len(data)) {
				t.Errorf("%s %s: offset %d size %d for %d elements of %d bytes in a file of %d bytes",
					file, tc.path, off, size, len(want.Values), tc.elem, len(data))
				continue
			}
			raw := data[off : off+size]
			for i, v := range want.Values {
				if got := tc.decode(raw[i*tc.elem:]); got != v && !(math.IsNaN(got) && math.IsNaN(v)) {
					t.Errorf("%s %s[%d]: bytes at the offset give %v, h5py read %v", file, tc.path, i, got, v)
					break
				}
			}
		}
	}
	for _, tc := range tests {
		if !found[tc.path] {
			t.Errorf("%s is in no fixture's expected.json", tc.path)
		}
	}
}

// TestContiguousOffsetOverwrite edits a dataset in a copy of a file
// through its offset, which is what the offset is for, and reads the new
// values back.
func TestContiguousOffsetOverwrite(t *testing.T) {
	for _, file := range []string{"earliest.h5", "latest.h5", "sb1.h5"} {
		data := bytes.Clone(readFixture(t, file))
		f, err := Open(data)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		const path = "/model_weights/dense/dense/bias:0"
		d, err := f.Root().Dataset(path)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		off, size, ok := d.ContiguousOffset()
		if !ok || size != 5*4 {
			t.Fatalf("%s %s: offset %d size %d ok %v, want 5 contiguous float32", file, path, off, size, ok)
		}
		for i := int64(0); i < size; i += 4 {
			binary.LittleEndian.PutUint32(data[off+i:], math.Float32bits(float32(i)+0.5))
		}
		f2, err := Open(data)
		if err != nil {
			t.Fatalf("%s after the edit: %v", file, err)
		}
		d2, err := f2.Root().Dataset(path)
		if err != nil {
			t.Fatalf("%s after the edit: %v", file, err)
		}
		got, err := d2.Float32s()
		if err != nil {
			t.Fatalf("%s after the edit: %v", file, err)
		}
		want := []float32{0.5, 4.5, 8.5, 12.5, 16.5}
		if !slices.Equal(got, want) {
			t.Errorf("%s %s after the edit = %v, want %v", file, path, got, want)
		}
	}
}
