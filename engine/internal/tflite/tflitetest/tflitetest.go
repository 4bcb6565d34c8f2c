// Package tflitetest writes small TensorFlow Lite model files for tests:
// the tables of tensorflow/lite/schema/schema.fbs (and of the TFLite
// metadata schema) that the loaders read, with github.com/google/flatbuffers'
// Builder, so that test files are real FlatBuffers and no test carries an
// encoder of its own.
package tflitetest

import (
	"encoding/binary"

	flatbuffers "github.com/google/flatbuffers/go"

	tfl "github.com/huskyai/huskyai/engine/internal/tflite"
)

// Ref is the offset of a table, vector or string already written; 0 means
// absent.
type Ref = flatbuffers.UOffsetT

// Builder writes one TFLite model (or one metadata FlatBuffer). Children
// are written before the tables that refer to them, as the FlatBuffers
// Builder requires.
type Builder struct{ b *flatbuffers.Builder }

// NewBuilder returns a Builder whose buffer starts at size bytes.
func NewBuilder(size int) *Builder { return &Builder{flatbuffers.NewBuilder(size)} }

// Bytes writes a vector of bytes (a buffer's data).
func (b *Builder) Bytes(v []byte) Ref { return b.b.CreateByteVector(v) }

// String writes a string; "" is absent.
func (b *Builder) String(s string) Ref {
	if s == "" {
		return 0
	}
	return b.b.CreateString(s)
}

// Int32s writes a vector of int32 (shapes, tensor indices); nil is absent.
func (b *Builder) Int32s(v []int32) Ref {
	if v == nil {
		return 0
	}
	b.b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.b.PrependInt32(v[i])
	}
	return b.b.EndVector(len(v))
}

// Float32s writes a vector of float32; nil is absent.
func (b *Builder) Float32s(v []float32) Ref {
	if v == nil {
		return 0
	}
	b.b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.b.PrependFloat32(v[i])
	}
	return b.b.EndVector(len(v))
}

// Tables writes a vector of tables.
func (b *Builder) Tables(v ...Ref) Ref {
	b.b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.b.PrependUOffsetT(v[i])
	}
	return b.b.EndVector(len(v))
}

// Field is one field of a table: its number in the schema and its value,
// a Ref (a table, vector or string; 0 is absent), an int8, uint8, int32,
// uint32 or float32 scalar.
type Field struct {
	Slot  int
	Value any
}

// Table writes a table of n fields (the highest field number plus one).
func (b *Builder) Table(n int, fields ...Field) Ref {
	b.b.StartObject(n)
	for _, f := range fields {
		switch v := f.Value.(type) {
		case Ref:
			if v != 0 {
				b.b.PrependUOffsetTSlot(f.Slot, v, 0)
			}
		case int8:
			b.b.PrependInt8Slot(f.Slot, v, 0)
		case uint8:
			b.b.PrependByteSlot(f.Slot, v, 0)
		case int32:
			b.b.PrependInt32Slot(f.Slot, v, 0)
		case uint32:
			b.b.PrependUint32Slot(f.Slot, v, 0)
		case float32:
			b.b.PrependFloat32Slot(f.Slot, v, 0)
		default:
			panic("tflitetest: unsupported field value")
		}
	}
	return b.b.EndObject()
}

// Finish ends the buffer with root as its root table and the 4-byte file
// identifier id ("TFL3" for a model, "M001" for metadata) and returns it.
func (b *Builder) Finish(root Ref, id string) []byte {
	b.b.FinishWithFileIdentifier(root, []byte(id))
	return b.b.FinishedBytes()
}

// Tensor writes a Tensor: its shape, type, buffer index and name.
func (b *Builder) Tensor(name string, typ tfl.TensorType, buffer uint32, shape ...int32) Ref {
	n, s := b.String(name), b.Int32s(shape)
	return b.Table(4, Field{0, s}, Field{1, uint8(typ)}, Field{2, buffer}, Field{3, n})
}

// Buffer writes a Buffer holding data (none for nil: TFLite's buffer 0).
func (b *Builder) Buffer(data []byte) Ref {
	if data == nil {
		return b.Table(1)
	}
	d := b.Bytes(data)
	return b.Table(1, Field{0, d})
}

// OperatorCode writes an OperatorCode for a builtin operator, in both
// its deprecated 8-bit field and the 32-bit one, as converters do.
func (b *Builder) OperatorCode(builtin int32) Ref {
	return b.Table(4, Field{0, int8(min(builtin, 127))}, Field{2, int32(1)}, Field{3, builtin})
}

// Operator writes an Operator: the index of its code, its input and
// output tensors, and its builtin options (optionsType 0: none).
func (b *Builder) Operator(opcode uint32, in, out []int32, optionsType uint8, options Ref) Ref {
	i, o := b.Int32s(in), b.Int32s(out)
	f := []Field{{0, opcode}, {1, i}, {2, o}}
	if optionsType != 0 {
		f = append(f, Field{3, optionsType}, Field{4, options})
	}
	return b.Table(5, f...)
}

// SubGraph writes a SubGraph.
func (b *Builder) SubGraph(name string, tensors []Ref, in, out []int32, operators []Ref) Ref {
	t, i, o, op, n := b.Tables(tensors...), b.Int32s(in), b.Int32s(out), b.Tables(operators...), b.String(name)
	return b.Table(5, Field{0, t}, Field{1, i}, Field{2, o}, Field{3, op}, Field{4, n})
}

// Metadata writes a Metadata entry: a name and the index of the buffer
// that holds it.
func (b *Builder) Metadata(name string, buffer uint32) Ref {
	n := b.String(name)
	return b.Table(2, Field{0, n}, Field{1, buffer})
}

// Model writes the Model table (schema version 3) and finishes the file.
func (b *Builder) Model(description string, codes, subgraphs, buffers, metadata []Ref) []byte {
	c, s, d, bu := b.Tables(codes...), b.Tables(subgraphs...), b.String(description), b.Tables(buffers...)
	var md Ref
	if metadata != nil {
		md = b.Tables(metadata...)
	}
	return b.Finish(b.Table(7, Field{0, uint32(3)}, Field{1, c}, Field{2, s}, Field{3, d}, Field{4, bu}, Field{6, md}), "TFL3")
}

// NormalizationMetadata returns a TFLite metadata FlatBuffer ("M001")
// whose one subgraph's one input tensor has two process units: a score
// thresholding (which readers skip) and the normalization n.
func NormalizationMetadata(tensor string, n tfl.Normalization) []byte {
	b := NewBuilder(256)
	thr := b.Table(1, Field{0, float32(0.5)}) // ScoreThresholdingOptions
	u1 := b.Table(2, Field{0, uint8(3)}, Field{1, thr})
	mean, std := b.Float32s(n.Mean), b.Float32s(n.Std)
	norm := b.Table(2, Field{0, mean}, Field{1, std}) // NormalizationOptions
	u2 := b.Table(2, Field{0, uint8(1)}, Field{1, norm})
	units := b.Tables(u1, u2)
	name, desc := b.String(tensor), b.String("RGB pixels")
	input := b.Table(5, Field{0, name}, Field{1, desc}, Field{4, units})
	inputs := b.Tables(input)
	sgName := b.String("main")
	sg := b.Table(3, Field{0, sgName}, Field{2, inputs})
	sgs := b.Tables(sg)
	mname, mdesc, ver := b.String("mean"), b.String("a test fixture"), b.String("1")
	return b.Finish(b.Table(4, Field{0, mname}, Field{1, mdesc}, Field{2, ver}, Field{3, sgs}), "M001")
}

// FloatMeanModel returns a small float32 model: a [1,2,2,3] input, MEAN
// over axes 1 and 2, a [1,3] output, and TFLite metadata (tfl.MetadataName)
// whose input tensor gives the normalization n; with n.Mean nil, a model
// with no metadata.
func FloatMeanModel(n tfl.Normalization) []byte {
	var axes []byte
	for _, a := range []int32{1, 2} {
		axes = binary.LittleEndian.AppendUint32(axes, uint32(a))
	}
	var md []byte
	if n.Mean != nil {
		md = NormalizationMetadata("image", n)
	}
	b := NewBuilder(1024)
	buffers := []Ref{b.Buffer(nil), b.Buffer(axes)}
	var metadata []Ref
	if md != nil {
		buffers = append(buffers, b.Buffer(md))
		metadata = []Ref{b.Metadata("min_runtime_version", 0), b.Metadata(tfl.MetadataName, 2)}
	}
	tensors := []Ref{
		b.Tensor("image", tfl.Float32, 0, 1, 2, 2, 3),
		b.Tensor("axes", tfl.Int32, 1, 2),
		b.Tensor("mean", tfl.Float32, 0, 1, 3),
	}
	ops := []Ref{b.Operator(0, []int32{0, 1}, []int32{2}, 0, 0)}
	sg := b.SubGraph("main", tensors, []int32{0}, []int32{2}, ops)
	codes := []Ref{b.OperatorCode(tfl.OpMean)}
	return b.Model("huskyai test fixture", codes, []Ref{sg}, buffers, metadata)
}
