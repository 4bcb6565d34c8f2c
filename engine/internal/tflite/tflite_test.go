package tflite

import (
	"errors"
	"slices"
	"testing"

	"github.com/huskyai/huskyai/internal/testtool"
)

// sharedModel reads a TFLite file of ../shared/models (README there).
func sharedModel(t testing.TB, name string) []byte { return testtool.ReadShared(t, "models/"+name) }

// TestDecodeMobileNets decodes the real models and checks what
// ../shared/models/README.md says of them: the operators of MobileNetV2,
// the input's shape, type and quantization, the 1001 outputs.
func TestDecodeMobileNets(t *testing.T) {
	for _, tc := range []struct {
		file   string
		ops    map[int32]int // builtin code -> count; nil: not checked
		input  []int32
		inType TensorType
	}{
		{"mobilenet_v2_1.0_224_quant.tflite", map[int32]int{OpConv2D: 36, OpDepthwiseConv2D: 17, OpAdd: 10, OpAveragePool2D: 1, OpReshape: 1, OpSoftmax: 1},
			[]int32{1, 224, 224, 3}, Uint8},
		{"tf2_mobilenet_v2_1.0_224_ptq.tflite", nil, []int32{1, 224, 224, 3}, Uint8},
		{"mobilenet_v1_0.25_128_quant.tflite", nil, []int32{1, 128, 128, 3}, Uint8},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m, err := Decode(sharedModel(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if m.Version != 3 || len(m.Subgraphs) != 1 {
				t.Fatalf("version %d, %d subgraphs; want 3, 1", m.Version, len(m.Subgraphs))
			}
			g := m.Subgraphs[0]
			count := map[int32]int{}
			for _, op := range g.Operators {
				count[m.OperatorCodes[op.OpcodeIndex]]++
			}
			for code, n := range tc.ops {
				if count[code] != n {
					t.Errorf("%d operators of code %d, want %d (all: %v)", count[code], code, n, count)
				}
			}
			if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
				t.Fatalf("%d inputs, %d outputs; want 1, 1", len(g.Inputs), len(g.Outputs))
			}
			in, out := g.Tensors[g.Inputs[0]], g.Tensors[g.Outputs[0]]
			if !slices.Equal(in.Shape, tc.input) || in.Type != tc.inType || len(in.Scale) != 1 || len(in.ZeroPoint) != 1 {
				t.Errorf("input %q: shape %v type %d scale %v zero %v; want %v, type %d, one scale", in.Name, in.Shape, in.Type, in.Scale, in.ZeroPoint, tc.input, tc.inType)
			}
			if !slices.Equal(out.Shape, []int32{1, 1001}) {
				t.Errorf("output %q: shape %v, want [1 1001]", out.Name, out.Shape)
			}
			// Every constant tensor's data is as long as its shape says.
			for i, x := range g.Tensors {
				data := m.Buffers[x.Buffer]
				if len(data) == 0 {
					continue
				}
				n := 1
				for _, d := range x.Shape {
					n *= int(d)
				}
				size := map[TensorType]int{Float32: 4, Int32: 4, Uint8: 1, Int8: 1, Int64: 8}[x.Type]
				if size == 0 || len(data) != n*size {
					t.Errorf("tensor %d %q: %d bytes for shape %v of type %d", i, x.Name, len(data), x.Shape, x.Type)
				}
			}
			// A convolution's options: SAME or VALID padding, strides 1 or 2.
			for _, op := range g.Operators {
				if m.OperatorCodes[op.OpcodeIndex] != OpConv2D {
					continue
				}
				// An absent field holds the schema's default (SAME = 0).
				if pad, sw := op.Options.Int8(0, 0), op.Options.Int(1, 0); pad < 0 || pad > 1 || sw < 1 || sw > 2 {
					t.Errorf("CONV_2D options: padding %d, stride %d", pad, sw)
				}
			}
		})
	}
}

// TestDecodeDamaged: prefixes of a real model, and the model with bytes
// flipped, decode or fail with ErrFormat, without a panic; a prefix that
// cuts into the weights (the first half of the file) fails. (A prefix
// that only drops unreferenced bytes at the end may decode.)
func TestDecodeDamaged(t *testing.T) {
	data := sharedModel(t, "mobilenet_v1_0.25_128_quant.tflite")
	for n := 0; n < len(data); n += 1 + n/16 {
		_, err := Decode(data[:n])
		if err != nil && !errors.Is(err, ErrFormat) || err == nil && n < len(data)/2 {
			t.Fatalf("the first %d of %d bytes: err %v, want ErrFormat", n, len(data), err)
		}
	}
	bad := append([]byte(nil), data...)
	for i := 8; i < len(bad); i += 97 {
		bad[i] ^= 0xa5
		if _, err := Decode(bad); err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("byte %d flipped: err %v, not ErrFormat", i, err)
		}
		bad[i] ^= 0xa5
	}
}
