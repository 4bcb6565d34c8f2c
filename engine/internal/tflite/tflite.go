// Package tflite decodes TensorFlow Lite model files (.tflite): the
// FlatBuffer of tensorflow/lite/schema/schema.fbs, as far as a loader of
// image classifiers needs it (operator codes, one subgraph's tensors,
// operators and their options, buffers, quantization parameters, the
// metadata list), and of the TFLite metadata FlatBuffer
// (metadata_schema.fbs) the normalization of an input tensor.
//
// It is written here rather than with github.com/google/flatbuffers/go,
// which reads whatever offsets a file holds: every offset, length and
// vector here is checked against the file's bounds before it is read, so
// a damaged or hostile file gives an error, never a panic or a huge
// allocation. Fields are numbered in schema order; a union takes two
// (its type, then its value).
package tflite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Limits of a decoded model.
const (
	// MaxTensors bounds the tensors, operators and buffers of a model (the
	// elements of a vector of tables).
	MaxTensors = 1 << 20
	// MaxRank bounds a tensor's shape.
	MaxRank = 8
)

// ErrFormat is wrapped by every decoding error.
var ErrFormat = errors.New("tflite: malformed file")

// TensorType is a tensor's element type (schema enum TensorType).
type TensorType int8

// The element types a classifier uses.
const (
	Float32 TensorType = 0
	Int32   TensorType = 2
	Uint8   TensorType = 3
	Int64   TensorType = 4
	Int8    TensorType = 9
)

// Builtin operator codes (schema enum BuiltinOperator) of the MobileNet
// families.
const (
	OpAdd             = 0
	OpAveragePool2D   = 1
	OpConcatenation   = 2
	OpConv2D          = 3
	OpDepthwiseConv2D = 4
	OpDequantize      = 6
	OpFullyConnected  = 9
	OpLogistic        = 14
	OpMaxPool2D       = 17
	OpMul             = 18
	OpRelu            = 19
	OpRelu6           = 21
	OpReshape         = 22
	OpSoftmax         = 25
	OpPad             = 34
	OpMean            = 40
	OpSqueeze         = 43
	OpQuantize        = 114
	OpHardSwish       = 117
)

// Model is a decoded .tflite file.
type Model struct {
	Version     uint32
	Description string
	// OperatorCodes are the builtin operator code of each opcode index
	// (the larger of the deprecated int8 field and the int32 one), or -1
	// for a custom operator.
	OperatorCodes []int32
	Subgraphs     []Subgraph
	// Buffers are the constant data, by buffer index; slices of the file.
	Buffers [][]byte
	// Metadata are the model's named metadata entries (see
	// InputNormalization for the one huskyai reads).
	Metadata []Metadata
}

// Subgraph is one graph of a model; classifiers have one.
type Subgraph struct {
	Name      string
	Tensors   []Tensor
	Inputs    []int32
	Outputs   []int32
	Operators []Operator
}

// Tensor is a tensor of a subgraph.
type Tensor struct {
	Name   string
	Shape  []int32
	Type   TensorType
	Buffer uint32 // index into Model.Buffers; 0 is the empty buffer
	// Scale and ZeroPoint are the quantization, one per tensor or one per
	// channel along QuantizedDimension: real = Scale * (q - ZeroPoint).
	Scale              []float32
	ZeroPoint          []int64
	QuantizedDimension int32
}

// Operator is one node of a subgraph.
type Operator struct {
	OpcodeIndex uint32
	Inputs      []int32 // tensor indices; -1 for an omitted optional input
	Outputs     []int32
	// OptionsType is the BuiltinOptions union's type; Options its table
	// (zero when absent), read with Options.Int and friends.
	OptionsType uint8
	Options     Table
}

// Table is one FlatBuffer table of a decoded file.
type Table struct {
	buf    []byte
	pos    int
	fields []uint16 // offsets from pos, by field number; 0 when absent
}

// Decode decodes a .tflite file. The Model refers to data, which must not
// change afterwards.
func Decode(data []byte) (*Model, error) {
	if len(data) < 8 || string(data[4:8]) != "TFL3" {
		return nil, fmt.Errorf("%w: no TFL3 file identifier", ErrFormat)
	}
	root, err := table(data, int(binary.LittleEndian.Uint32(data)))
	if err != nil {
		return nil, err
	}
	m := &Model{}
	m.Version = uint32(root.Int(0, 0))
	if m.Description, err = root.String(3); err != nil {
		return nil, fmt.Errorf("description: %w", err)
	}
	codes, err := root.Tables(1)
	if err != nil {
		return nil, fmt.Errorf("operator codes: %w", err)
	}
	for _, c := range codes {
		code := max(int32(c.Int8(0, 0)), int32(c.Int(3, 0)))
		if s, _ := c.String(1); s != "" {
			code = -1
		}
		m.OperatorCodes = append(m.OperatorCodes, code)
	}
	bufs, err := root.Tables(4)
	if err != nil {
		return nil, fmt.Errorf("buffers: %w", err)
	}
	for i, b := range bufs {
		d, err := b.Bytes(0)
		if err != nil {
			return nil, fmt.Errorf("buffer %d: %w", i, err)
		}
		m.Buffers = append(m.Buffers, d)
	}
	if err := m.metadataList(root); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	subs, err := root.Tables(2)
	if err != nil {
		return nil, fmt.Errorf("subgraphs: %w", err)
	}
	for i, sg := range subs {
		s, err := m.subgraph(sg)
		if err != nil {
			return nil, fmt.Errorf("subgraph %d: %w", i, err)
		}
		m.Subgraphs = append(m.Subgraphs, s)
	}
	if len(m.Subgraphs) == 0 {
		return nil, fmt.Errorf("%w: no subgraph", ErrFormat)
	}
	return m, nil
}

// subgraph decodes a SubGraph table and checks its indices.
func (m *Model) subgraph(t Table) (Subgraph, error) {
	var s Subgraph
	var err error
	if s.Name, err = t.String(4); err != nil {
		return s, err
	}
	ts, err := t.Tables(0)
	if err != nil {
		return s, fmt.Errorf("tensors: %w", err)
	}
	for i, tt := range ts {
		x, err := tensor(tt)
		if err != nil {
			return s, fmt.Errorf("tensor %d: %w", i, err)
		}
		if int(x.Buffer) >= len(m.Buffers) && x.Buffer != 0 {
			return s, fmt.Errorf("%w: tensor %d: buffer %d of %d", ErrFormat, i, x.Buffer, len(m.Buffers))
		}
		s.Tensors = append(s.Tensors, x)
	}
	if s.Inputs, err = t.Int32s(1); err != nil {
		return s, fmt.Errorf("inputs: %w", err)
	}
	if s.Outputs, err = t.Int32s(2); err != nil {
		return s, fmt.Errorf("outputs: %w", err)
	}
	ops, err := t.Tables(3)
	if err != nil {
		return s, fmt.Errorf("operators: %w", err)
	}
	for i, o := range ops {
		op, err := operator(o)
		if err != nil {
			return s, fmt.Errorf("operator %d: %w", i, err)
		}
		if int(op.OpcodeIndex) >= len(m.OperatorCodes) {
			return s, fmt.Errorf("%w: operator %d: opcode index %d of %d", ErrFormat, i, op.OpcodeIndex, len(m.OperatorCodes))
		}
		s.Operators = append(s.Operators, op)
	}
	n := int32(len(s.Tensors))
	for _, list := range [][]int32{s.Inputs, s.Outputs} {
		for _, x := range list {
			if x < 0 || x >= n {
				return s, fmt.Errorf("%w: tensor index %d of %d", ErrFormat, x, n)
			}
		}
	}
	for i, op := range s.Operators {
		for _, x := range append(op.Inputs[:len(op.Inputs):len(op.Inputs)], op.Outputs...) {
			if x < -1 || x >= n {
				return s, fmt.Errorf("%w: operator %d: tensor index %d of %d", ErrFormat, i, x, n)
			}
		}
	}
	return s, nil
}

// tensor decodes a Tensor table.
func tensor(t Table) (Tensor, error) {
	var x Tensor
	var err error
	if x.Shape, err = t.Int32s(0); err != nil {
		return x, err
	}
	if len(x.Shape) > MaxRank {
		return x, fmt.Errorf("%w: rank %d", ErrFormat, len(x.Shape))
	}
	x.Type = TensorType(t.Int8(1, 0))
	x.Buffer = uint32(t.Int(2, 0))
	if x.Name, err = t.String(3); err != nil {
		return x, err
	}
	q, ok, err := t.Table(4)
	if err != nil || !ok {
		return x, err
	}
	if x.Scale, err = q.Float32s(2); err != nil {
		return x, err
	}
	if x.ZeroPoint, err = q.Int64s(3); err != nil {
		return x, err
	}
	// Fields 4 and 5 are the details union; 6 the quantized dimension.
	x.QuantizedDimension = q.Int(6, 0)
	return x, nil
}

// operator decodes an Operator table.
func operator(t Table) (Operator, error) {
	var op Operator
	var err error
	op.OpcodeIndex = uint32(t.Int(0, 0))
	if op.Inputs, err = t.Int32s(1); err != nil {
		return op, err
	}
	if op.Outputs, err = t.Int32s(2); err != nil {
		return op, err
	}
	op.OptionsType = uint8(t.Int8(3, 0))
	if opts, ok, err := t.Table(4); err != nil {
		return op, err
	} else if ok {
		op.Options = opts
	}
	return op, nil
}

// table reads the table at pos of buf: its vtable must lie in buf, and
// every field it lists inside the table's bounds is checked when read.
func table(buf []byte, pos int) (Table, error) {
	if pos < 0 || pos+4 > len(buf) {
		return Table{}, fmt.Errorf("%w: table at %d outside the %d-byte file", ErrFormat, pos, len(buf))
	}
	vt := pos - int(int32(binary.LittleEndian.Uint32(buf[pos:])))
	if vt < 0 || vt+4 > len(buf) {
		return Table{}, fmt.Errorf("%w: vtable of the table at %d outside the file", ErrFormat, pos)
	}
	n := int(binary.LittleEndian.Uint16(buf[vt:]))
	if n < 4 || n%2 != 0 || vt+n > len(buf) {
		return Table{}, fmt.Errorf("%w: vtable at %d of %d bytes", ErrFormat, vt, n)
	}
	t := Table{buf: buf, pos: pos, fields: make([]uint16, (n-4)/2)}
	for i := range t.fields {
		t.fields[i] = binary.LittleEndian.Uint16(buf[vt+4+2*i:])
	}
	return t, nil
}

// field returns the position of field i and whether it is present with
// size bytes inside the file.
func (t Table) field(i, size int) (int, bool) {
	if t.buf == nil || i >= len(t.fields) || t.fields[i] == 0 {
		return 0, false
	}
	at := t.pos + int(t.fields[i])
	return at, at+size <= len(t.buf)
}

// Int returns scalar field i as an int32 (def when absent).
func (t Table) Int(i int, def int32) int32 {
	if at, ok := t.field(i, 4); ok {
		return int32(binary.LittleEndian.Uint32(t.buf[at:]))
	}
	return def
}

// Int8 returns scalar field i as an int8 (def when absent).
func (t Table) Int8(i int, def int8) int8 {
	if at, ok := t.field(i, 1); ok {
		return int8(t.buf[at])
	}
	return def
}

// Float returns scalar field i as a float32 (def when absent).
func (t Table) Float(i int, def float32) float32 {
	if at, ok := t.field(i, 4); ok {
		return math.Float32frombits(binary.LittleEndian.Uint32(t.buf[at:]))
	}
	return def
}

// ref follows the offset of field i to what it points at: a table, a
// vector or a string; ok is false when the field is absent.
func (t Table) ref(i int) (int, bool, error) {
	at, present := t.field(i, 4)
	if !present {
		if at, _ := t.field(i, 0); at != 0 {
			return 0, false, fmt.Errorf("%w: field %d outside the file", ErrFormat, i)
		}
		return 0, false, nil
	}
	to := at + int(binary.LittleEndian.Uint32(t.buf[at:]))
	if to < 0 || to > len(t.buf) {
		return 0, false, fmt.Errorf("%w: field %d points outside the file", ErrFormat, i)
	}
	return to, true, nil
}

// vector returns the start and length of the vector of field i, of
// elements of size bytes, all inside the file.
func (t Table) vector(i, size int) (start, n int, err error) {
	at, ok, err := t.ref(i)
	if err != nil || !ok {
		return 0, 0, err
	}
	if at+4 > len(t.buf) {
		return 0, 0, fmt.Errorf("%w: vector of field %d outside the file", ErrFormat, i)
	}
	n = int(binary.LittleEndian.Uint32(t.buf[at:]))
	if n < 0 || n > (len(t.buf)-at-4)/size {
		return 0, 0, fmt.Errorf("%w: vector of field %d: %d elements of %d bytes past the end of the file", ErrFormat, i, n, size)
	}
	return at + 4, n, nil
}

// Table returns the table of field i; ok is false when it is absent.
func (t Table) Table(i int) (Table, bool, error) {
	at, ok, err := t.ref(i)
	if err != nil || !ok {
		return Table{}, false, err
	}
	tt, err := table(t.buf, at)
	return tt, err == nil, err
}

// Tables returns the vector of tables of field i.
func (t Table) Tables(i int) ([]Table, error) {
	start, n, err := t.vector(i, 4)
	if err != nil {
		return nil, err
	}
	if n > MaxTensors {
		return nil, fmt.Errorf("%w: %d tables in field %d, more than %d", ErrFormat, n, i, MaxTensors)
	}
	out := make([]Table, n)
	for k := range n {
		at := start + 4*k
		if out[k], err = table(t.buf, at+int(binary.LittleEndian.Uint32(t.buf[at:]))); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Bytes returns the byte vector of field i, a slice of the file.
func (t Table) Bytes(i int) ([]byte, error) {
	start, n, err := t.vector(i, 1)
	if err != nil {
		return nil, err
	}
	return t.buf[start : start+n : start+n], nil
}

// String returns the string of field i ("" when absent).
func (t Table) String(i int) (string, error) {
	b, err := t.Bytes(i)
	return string(b), err
}

// Int32s returns the int32 vector of field i.
func (t Table) Int32s(i int) ([]int32, error) {
	start, n, err := t.vector(i, 4)
	if err != nil {
		return nil, err
	}
	out := make([]int32, n)
	for k := range out {
		out[k] = int32(binary.LittleEndian.Uint32(t.buf[start+4*k:]))
	}
	return out, nil
}

// Float32s returns the float32 vector of field i.
func (t Table) Float32s(i int) ([]float32, error) {
	start, n, err := t.vector(i, 4)
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	for k := range out {
		out[k] = math.Float32frombits(binary.LittleEndian.Uint32(t.buf[start+4*k:]))
	}
	return out, nil
}

// Int64s returns the int64 vector of field i.
func (t Table) Int64s(i int) ([]int64, error) {
	start, n, err := t.vector(i, 8)
	if err != nil {
		return nil, err
	}
	out := make([]int64, n)
	for k := range out {
		out[k] = int64(binary.LittleEndian.Uint64(t.buf[start+8*k:]))
	}
	return out, nil
}

// ScalarTable returns a table whose field i holds the 4-byte little-endian
// scalar fields[i] (read back with Int, or Int8 for its low byte): options
// built by hand, for tests of loaders.
func ScalarTable(fields []int32) Table {
	n := len(fields)
	buf := make([]byte, 4+2*n+4+4*n)
	binary.LittleEndian.PutUint16(buf, uint16(4+2*n))
	binary.LittleEndian.PutUint16(buf[2:], uint16(4+4*n))
	pos := 4 + 2*n
	binary.LittleEndian.PutUint32(buf[pos:], uint32(pos)) // the vtable is at 0
	for i, v := range fields {
		binary.LittleEndian.PutUint16(buf[4+2*i:], uint16(4+4*i))
		binary.LittleEndian.PutUint32(buf[pos+4+4*i:], uint32(v))
	}
	t, err := table(buf, pos)
	if err != nil {
		panic(err) // cannot happen: the layout above is valid
	}
	return t
}
