package tflite

import (
	"encoding/binary"
	"math"
	"testing"

	tfl "github.com/huskyai/huskyai/engine/internal/tflite"
	"github.com/huskyai/huskyai/engine/internal/tflite/tflitetest"
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
	b := tflitetest.NewBuilder(len(weights) + 4096)
	k := 3 * h * w
	if variant == "shape" {
		k--
		weights = weights[:4*units*k]
	}
	// Buffers: 0 empty (TFLite's convention), 1 the weights, 2 a second
	// layer's 1x units weights.
	buffers := []tflitetest.Ref{b.Buffer(nil), b.Buffer(weights), b.Buffer(make([]byte, 4*units))}
	tensors := []tflitetest.Ref{
		b.Tensor("input", tfl.Float32, 0, 1, int32(h), int32(w), 3),
		b.Tensor("fc/weights", tfl.Float32, 1, int32(units), int32(k)),
		b.Tensor("fc", tfl.Float32, 0, 1, int32(units)),
		b.Tensor("fc2/weights", tfl.Float32, 2, 1, int32(units)),
		b.Tensor("output", tfl.Float32, 0, 1, 1),
	}
	const fullyConnectedOptions = 8 // BuiltinOptions.FullyConnectedOptions
	fc := func(act int8, in []int32, out int32) tflitetest.Ref {
		options := b.Table(1, tflitetest.Field{Slot: 0, Value: act})
		return b.Operator(0, in, []int32{out}, fullyConnectedOptions, options)
	}
	ops := []tflitetest.Ref{fc(0, []int32{0, 1, -1}, 2)}
	switch variant {
	case "operator":
		ops = append(ops, b.Operator(1, []int32{2}, []int32{4}, 0, 0))
	case "attribute":
		ops = append(ops, fc(2, []int32{2, 3, -1}, 4)) // RELU_N1_TO_1
	default:
		ops = append(ops, fc(0, []int32{2, 3, -1}, 4))
	}
	codes := []tflitetest.Ref{b.OperatorCode(tfl.OpFullyConnected), b.OperatorCode(16)} // 16: LSTM
	sg := b.SubGraph("", tensors, []int32{0}, []int32{4}, ops)
	return b.Model("", codes, []tflitetest.Ref{sg}, buffers, nil)
}
