package tflite

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Obj is a FlatBuffer table for Encode, its fields by number: nil
// (absent), an int32 or a float32 (a 4-byte scalar; Int8 reads the low
// byte of an int32), a string, []byte, []int32, []float32, an Obj or
// []Obj. It is for tests: small model files written by hand.
type Obj []any

// Encode returns the FlatBuffer whose root table is root, with the file
// identifier id (4 bytes) after the root offset. Every table is written
// before what its fields refer to, so that every offset points forward,
// as FlatBuffers require.
func Encode(root Obj, id string) []byte {
	if len(id) != 4 {
		panic(fmt.Sprintf("tflite: Encode: file identifier %q is not 4 bytes", id))
	}
	e := &encoder{buf: append(make([]byte, 4), id...)}
	binary.LittleEndian.PutUint32(e.buf, uint32(e.table(root)))
	return e.buf
}

type encoder struct{ buf []byte }

func (e *encoder) align() {
	for len(e.buf)%4 != 0 {
		e.buf = append(e.buf, 0)
	}
}

func (e *encoder) u32(v uint32) { e.buf = binary.LittleEndian.AppendUint32(e.buf, v) }

// table writes t's vtable, then t, then what its fields refer to, and
// returns t's position.
func (e *encoder) table(t Obj) int {
	e.align()
	vt := len(e.buf)
	e.buf = append(e.buf, make([]byte, 4+2*len(t))...)
	e.align()
	pos := len(e.buf)
	e.u32(uint32(pos - vt)) // the vtable is this far before the table
	type ref struct {
		at int
		v  any
	}
	var refs []ref
	for i, f := range t {
		if f == nil {
			continue
		}
		binary.LittleEndian.PutUint16(e.buf[vt+4+2*i:], uint16(len(e.buf)-pos))
		switch v := f.(type) {
		case int32:
			e.u32(uint32(v))
		case float32:
			e.u32(math.Float32bits(v))
		default:
			refs = append(refs, ref{len(e.buf), v})
			e.u32(0)
		}
	}
	binary.LittleEndian.PutUint16(e.buf[vt:], uint16(4+2*len(t)))
	binary.LittleEndian.PutUint16(e.buf[vt+2:], uint16(len(e.buf)-pos))
	for _, r := range refs {
		to := e.ref(r.v)
		binary.LittleEndian.PutUint32(e.buf[r.at:], uint32(to-r.at))
	}
	return pos
}

// ref writes a table, string or vector and returns its position.
func (e *encoder) ref(v any) int {
	if o, ok := v.(Obj); ok {
		return e.table(o)
	}
	e.align()
	at := len(e.buf)
	switch v := v.(type) {
	case string:
		e.u32(uint32(len(v)))
		e.buf = append(append(e.buf, v...), 0)
	case []byte:
		e.u32(uint32(len(v)))
		e.buf = append(e.buf, v...)
	case []int32:
		e.u32(uint32(len(v)))
		for _, x := range v {
			e.u32(uint32(x))
		}
	case []float32:
		e.u32(uint32(len(v)))
		for _, x := range v {
			e.u32(math.Float32bits(x))
		}
	case []Obj:
		e.u32(uint32(len(v)))
		slots := len(e.buf)
		e.buf = append(e.buf, make([]byte, 4*len(v))...)
		for k, o := range v {
			to := e.table(o)
			binary.LittleEndian.PutUint32(e.buf[slots+4*k:], uint32(to-(slots+4*k)))
		}
	default:
		panic(fmt.Sprintf("tflite: Encode: field of type %T", v))
	}
	return at
}

// FloatMeanModel returns a small float32 model, for tests: a [1,2,2,3]
// input, MEAN over axes 1 and 2, a [1,3] output, and TFLite metadata
// (MetadataName) whose input tensor metadata gives the normalization n in
// its process units, after a score-thresholding unit that readers skip;
// with n.Mean nil, a model with no metadata.
func FloatMeanModel(n Normalization) []byte {
	axes := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 1), 2)
	tensor := func(name string, shape []int32, typ TensorType, buffer int32) Obj {
		return Obj{shape, int32(typ), buffer, name}
	}
	sub := Obj{
		[]Obj{tensor("image", []int32{1, 2, 2, 3}, Float32, 0), tensor("axes", []int32{2}, Int32, 1),
			tensor("mean", []int32{1, 3}, Float32, 0)},
		[]int32{0}, []int32{2},
		[]Obj{{int32(0), []int32{0, 1}, []int32{2}}}, // opcode 0: MEAN
		"main",
	}
	model := Obj{int32(3), []Obj{{int32(OpMean), nil, nil, int32(OpMean)}}, []Obj{sub}, "huskyai test fixture",
		[]Obj{{}, {axes}}, nil, nil}
	if n.Mean != nil {
		units := []Obj{
			{int32(3), Obj{float32(0.5)}},                // ScoreThresholdingOptions
			{int32(mdNormalization), Obj{n.Mean, n.Std}}, // NormalizationOptions
		}
		input := Obj{"image", "RGB pixels", nil, nil, units}
		md := Obj{"mean", "a test fixture", "1", []Obj{{"main", nil, []Obj{input}}}}
		model[4] = append(model[4].([]Obj), Obj{Encode(md, "M001")})
		model[6] = []Obj{{"min_runtime_version", int32(0)}, {MetadataName, int32(2)}}
	}
	return Encode(model, "TFL3")
}
