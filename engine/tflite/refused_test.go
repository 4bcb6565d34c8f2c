package tflite

import (
	"encoding/binary"
	"math"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/huskyai/huskyai/internal/testtool"
)

// TestRefusedLargeFileMemory loads TFLite files of 63 MB, one
// FULLY_CONNECTED's float32 weights, that are refused at different points:
// an operator the engine does not run after the weights, a fused
// activation it does not take on an operator after them, weights whose
// shape does not fit their input, and a file cut inside the weights.
// Issue 15's goal is that any model file under 64 MB peaks below 256 MiB
// while being refused: the file itself (modelstore reads it into a buffer
// of its size) plus what the loader allocates (TotalAlloc, at least its
// peak) must stay under that.
func TestRefusedLargeFileMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 63 MB files")
	}
	const h, w = 128, 128
	const k, units = 3 * h * w, 320 // 15.7M weights, 63 MB
	weights := make([]byte, 4*units*k)
	for i := 0; i < len(weights); i += 4 {
		binary.LittleEndian.PutUint32(weights[i:], math.Float32bits(float32(i%389)/389))
	}
	for _, tc := range []struct{ variant, want string }{
		{"operator", "builtin operator 16"},
		{"attribute", "fused activation 2"},
		{"shape", "weights of shape [320 49151]"},
		{"truncated", ""},
	} {
		data := tinyFC(weights, h, w, units, tc.variant)
		if tc.variant == "truncated" {
			data = data[:len(data)-len(data)/4]
		}
		testtool.CheckRefusedMemory(t, tc.variant, data, tc.want, func(d []byte) error {
			_, err := Load(d)
			return err
		})
	}
}

// tinyFC writes a TFLite model: a [1,h,w,3] float32 input, a
// FULLY_CONNECTED of units outputs with weights (float32, little-endian),
// and what variant asks for after it: an LSTM (unsupported), a second
// FULLY_CONNECTED with fused activation RELU_N1_TO_1 (unsupported), or
// (for "shape") weights one input short.
func tinyFC(weights []byte, h, w, units int, variant string) []byte {
	b := flatbuffers.NewBuilder(len(weights) + 4096)
	k := 3 * h * w
	if variant == "shape" {
		k--
		weights = weights[:4*units*k]
	}
	// Buffers: 0 empty (TFLite's convention), 1 the weights, 2 a second
	// layer's 1x units weights.
	wdata := b.CreateByteVector(weights)
	w2 := b.CreateByteVector(make([]byte, 4*units))
	buffer := func(data flatbuffers.UOffsetT) flatbuffers.UOffsetT {
		b.StartObject(1)
		if data != 0 {
			b.PrependUOffsetTSlot(0, data, 0)
		}
		return b.EndObject()
	}
	buffers := []flatbuffers.UOffsetT{buffer(0), buffer(wdata), buffer(w2)}
	ints := func(v ...int32) flatbuffers.UOffsetT {
		b.StartVector(4, len(v), 4)
		for i := len(v) - 1; i >= 0; i-- {
			b.PrependInt32(v[i])
		}
		return b.EndVector(len(v))
	}
	tensor := func(name string, buf uint32, shape ...int32) flatbuffers.UOffsetT {
		n, s := b.CreateString(name), ints(shape...)
		b.StartObject(4)
		b.PrependUOffsetTSlot(0, s, 0)
		b.PrependByteSlot(1, 0, 0) // FLOAT32
		b.PrependUint32Slot(2, buf, 0)
		b.PrependUOffsetTSlot(3, n, 0)
		return b.EndObject()
	}
	tensors := []flatbuffers.UOffsetT{
		tensor("input", 0, 1, int32(h), int32(w), 3),
		tensor("fc/weights", 1, int32(units), int32(k)),
		tensor("fc", 0, 1, int32(units)),
		tensor("fc2/weights", 2, 1, int32(units)),
		tensor("output", 0, 1, 1),
	}
	fcOptions := func(act int8) flatbuffers.UOffsetT {
		b.StartObject(1)
		b.PrependInt8Slot(0, act, 0)
		return b.EndObject()
	}
	operator := func(opcode uint32, options flatbuffers.UOffsetT, in []int32, out int32) flatbuffers.UOffsetT {
		ins, outs := ints(in...), ints(out)
		b.StartObject(5)
		b.PrependUint32Slot(0, opcode, 0)
		b.PrependUOffsetTSlot(1, ins, 0)
		b.PrependUOffsetTSlot(2, outs, 0)
		if options != 0 {
			b.PrependByteSlot(3, 8, 0) // FullyConnectedOptions
			b.PrependUOffsetTSlot(4, options, 0)
		}
		return b.EndObject()
	}
	ops := []flatbuffers.UOffsetT{operator(0, fcOptions(0), []int32{0, 1, -1}, 2)}
	switch variant {
	case "operator":
		ops = append(ops, operator(1, 0, []int32{2}, 4))
	default:
		ops = append(ops, operator(0, fcOptions(map[bool]int8{true: 2, false: 0}[variant == "attribute"]), []int32{2, 3, -1}, 4))
	}
	code := func(builtin int32) flatbuffers.UOffsetT {
		b.StartObject(4)
		b.PrependInt8Slot(0, int8(min(builtin, 127)), 0)
		b.PrependInt32Slot(2, 1, 0)
		b.PrependInt32Slot(3, builtin, 0)
		return b.EndObject()
	}
	codes := []flatbuffers.UOffsetT{code(9), code(16)} // FULLY_CONNECTED, LSTM
	vector := func(v []flatbuffers.UOffsetT) flatbuffers.UOffsetT {
		b.StartVector(4, len(v), 4)
		for i := len(v) - 1; i >= 0; i-- {
			b.PrependUOffsetT(v[i])
		}
		return b.EndVector(len(v))
	}
	tv, ov, in, out := vector(tensors), vector(ops), ints(0), ints(4)
	b.StartObject(4)
	b.PrependUOffsetTSlot(0, tv, 0)
	b.PrependUOffsetTSlot(1, in, 0)
	b.PrependUOffsetTSlot(2, out, 0)
	b.PrependUOffsetTSlot(3, ov, 0)
	sg := b.EndObject()
	cv, sv, bv := vector(codes), vector([]flatbuffers.UOffsetT{sg}), vector(buffers)
	b.StartObject(5)
	b.PrependUint32Slot(0, 3, 0)
	b.PrependUOffsetTSlot(1, cv, 0)
	b.PrependUOffsetTSlot(2, sv, 0)
	b.PrependUOffsetTSlot(4, bv, 0)
	b.FinishWithFileIdentifier(b.EndObject(), []byte("TFL3"))
	return b.FinishedBytes()
}
