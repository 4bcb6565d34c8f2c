package tflite

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/engine/internal/qkernels"
	tfl "github.com/huskyai/huskyai/engine/internal/tflite"
)

// synth builds small quantized models in memory, for the operators of
// the integer path that the shared MobileNets do not use.
type synth struct {
	m   tfl.Model
	rng *rand.Rand
}

func newSynth(seed uint64) *synth {
	s := &synth{rng: rand.New(rand.NewPCG(seed, 1))}
	s.m.Buffers = [][]byte{nil}
	s.m.Subgraphs = []tfl.Subgraph{{}}
	return s
}

// tensor adds a tensor; data, if not nil, is its constant content.
func (s *synth) tensor(typ tfl.TensorType, shape []int32, scale []float32, zero []int64, data []byte) int32 {
	g := &s.m.Subgraphs[0]
	t := tfl.Tensor{Name: "t", Shape: shape, Type: typ, Scale: scale, ZeroPoint: zero}
	if data != nil {
		t.Buffer = uint32(len(s.m.Buffers))
		s.m.Buffers = append(s.m.Buffers, data)
	}
	g.Tensors = append(g.Tensors, t)
	return int32(len(g.Tensors) - 1)
}

// bytes returns n random bytes.
func (s *synth) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(s.rng.IntN(256))
	}
	return b
}

// bias returns n random int32s as bytes.
func (s *synth) bias(n int) []byte {
	b := make([]byte, 4*n)
	for i := range n {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(int32(s.rng.IntN(4001)-2000)))
	}
	return b
}

// op adds an operator.
func (s *synth) op(code int32, ins, outs []int32, options []int32) {
	s.m.OperatorCodes = append(s.m.OperatorCodes, code)
	g := &s.m.Subgraphs[0]
	g.Operators = append(g.Operators, tfl.Operator{OpcodeIndex: uint32(len(s.m.OperatorCodes) - 1), Inputs: ins, Outputs: outs,
		Options: tfl.ScalarTable(options)})
}

// program builds s's model with the given input and output.
func (s *synth) program(t *testing.T, in, out int32) *qprogram {
	t.Helper()
	g := &s.m.Subgraphs[0]
	g.Inputs, g.Outputs = []int32{in}, []int32{out}
	p, err := buildInteger(&s.m)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// randomPixels are n engine inputs, each some byte over 255.
func randomPixels(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.IntN(256)) / 255
	}
	return x
}

// TestIntegerFullyConnected: FULLY_CONNECTED over a 2x2x8 input computes
// what CONV_2D 1x1 over the same 32 values with the same weights does
// (TFLite's two are the same arithmetic), with a fused ReLU6.
func TestIntegerFullyConnected(t *testing.T) {
	fc, conv := newSynth(1), newSynth(1)
	w, b := fc.bytes(5*32), fc.bias(5)
	scale := func(v float32) []float32 { return []float32{v} }
	zero := func(v int64) []int64 { return []int64{v} }
	in := fc.tensor(tfl.Uint8, []int32{1, 2, 2, 8}, scale(0.05), zero(120), nil)
	fw := fc.tensor(tfl.Uint8, []int32{5, 32}, scale(0.01), zero(131), w)
	fb := fc.tensor(tfl.Int32, []int32{5}, scale(0.0005), zero(0), b)
	out := fc.tensor(tfl.Uint8, []int32{1, 5}, scale(0.03), zero(20), nil)
	fc.op(tfl.OpFullyConnected, []int32{in, fw, fb}, []int32{out}, []int32{3, 0})

	cin := conv.tensor(tfl.Uint8, []int32{1, 1, 1, 32}, scale(0.05), zero(120), nil)
	cw := conv.tensor(tfl.Uint8, []int32{5, 1, 1, 32}, scale(0.01), zero(131), w)
	cb := conv.tensor(tfl.Int32, []int32{5}, scale(0.0005), zero(0), b)
	cout := conv.tensor(tfl.Uint8, []int32{1, 1, 1, 5}, scale(0.03), zero(20), nil)
	conv.op(tfl.OpConv2D, []int32{cin, cw, cb}, []int32{cout}, []int32{1, 1, 1, 3, 1, 1})

	pf, pc := fc.program(t, in, out), conv.program(t, cin, cout)
	rng := rand.New(rand.NewPCG(2, 3))
	for range 20 {
		x := randomPixels(rng, 32)
		got, want := logitsOf(pf, x), logitsOf(pc, x)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("output %d: fully connected %d, 1x1 convolution %d", i, got[i], want[i])
			}
		}
	}
}

// TestIntegerRequantize: QUANTIZE from uint8 to int8 with another scale
// is TFLite's Requantize: clamp(MultiplyByQuantizedMultiplier(q - zin,
// in/out scale) + zout) in int8.
func TestIntegerRequantize(t *testing.T) {
	s := newSynth(4)
	in := s.tensor(tfl.Uint8, []int32{1, 4, 4, 3}, []float32{0.02}, []int64{100}, nil)
	out := s.tensor(tfl.Int8, []int32{1, 4, 4, 3}, []float32{0.05}, []int64{-10}, nil)
	s.op(tfl.OpQuantize, []int32{in}, []int32{out}, nil)
	p := s.program(t, in, out)
	m, shift := qkernels.QuantizeMultiplier(float64(float32(0.02)) / float64(float32(0.05)))
	x := randomPixels(s.rng, 48)
	got := logitsOf(p, x)
	for i, v := range x {
		q := int32(v*255 + 0.5)
		want := min(max(qkernels.MultiplyByQuantizedMultiplier(q-100, m, shift)-10, -128), 127)
		if got[i] != want {
			t.Fatalf("value %d: %d -> %d, want %d", i, q, got[i], want)
		}
	}
}

// TestIntegerAveragePool: AVERAGE_POOL_2D with SAME padding (windows cut
// by the edges) over an int8 tensor: the average of the cells inside,
// rounded half away from zero in int8, as TFLite's integer pooling does.
func TestIntegerAveragePool(t *testing.T) {
	s := newSynth(5)
	in := s.tensor(tfl.Int8, []int32{1, 5, 5, 4}, []float32{0.1}, []int64{-3}, nil)
	out := s.tensor(tfl.Int8, []int32{1, 3, 3, 4}, []float32{0.1}, []int64{-3}, nil)
	s.op(tfl.OpAveragePool2D, []int32{in}, []int32{out}, []int32{0, 2, 2, 3, 3, 0})
	p := s.program(t, in, out)
	for range 10 {
		x := randomPixels(s.rng, 100)
		got := logitsOf(p, x)
		for oy := range 3 {
			for ox := range 3 {
				for c := range 4 {
					var sum, n int32
					for iy := max(2*oy-1, 0); iy < min(2*oy+2, 5); iy++ {
						for ix := max(2*ox-1, 0); ix < min(2*ox+2, 5); ix++ {
							sum += int32(x[(iy*5+ix)*4+c]*255+0.5) - 128 // the int8 value
							n++
						}
					}
					want := sum / n // truncated; then rounded half away from zero
					if r := sum - want*n; 2*r >= n {
						want++
					} else if 2*r <= -n {
						want--
					}
					if g := got[(oy*3+ox)*4+c]; g != want {
						t.Fatalf("(%d,%d,%d): %d, want %d (sum %d of %d)", oy, ox, c, g, want, sum, n)
					}
				}
			}
		}
	}
}

// TestIntegerDequantizeOutput: a network that ends with DEQUANTIZE (no
// softmax) outputs scale * (q - zero) of its last 8-bit tensor.
func TestIntegerDequantizeOutput(t *testing.T) {
	s := newSynth(6)
	in := s.tensor(tfl.Uint8, []int32{1, 3, 3, 3}, []float32{0.02}, []int64{100}, nil)
	q := s.tensor(tfl.Int8, []int32{1, 3, 3, 3}, []float32{0.05}, []int64{-10}, nil)
	out := s.tensor(tfl.Float32, []int32{1, 3, 3, 3}, nil, nil, nil)
	s.op(tfl.OpQuantize, []int32{in}, []int32{q}, nil)
	s.op(tfl.OpDequantize, []int32{q}, []int32{out}, nil)
	p := s.program(t, in, out)
	x := randomPixels(s.rng, 27)
	want := logitsOf(p, x)
	got := make([]float32, 27)
	p.Run(got, x)
	for i := range got {
		if w := float32(float64(float32(0.05)) * float64(want[i]+10)); got[i] != w {
			t.Fatalf("output %d: %g, want %g (q %d)", i, got[i], w, want[i])
		}
	}
}

// TestIntegerMeanUint8: a uint8 MEAN, which TFLite rescales in float32,
// is left to the float32 path.
func TestIntegerMeanUint8(t *testing.T) {
	s := newSynth(7)
	in := s.tensor(tfl.Uint8, []int32{1, 4, 4, 3}, []float32{0.02}, []int64{100}, nil)
	axes := s.tensor(tfl.Int32, []int32{2}, nil, nil, []byte{1, 0, 0, 0, 2, 0, 0, 0})
	out := s.tensor(tfl.Uint8, []int32{1, 1, 1, 3}, []float32{0.03}, []int64{90}, nil)
	s.op(tfl.OpMean, []int32{in, axes}, []int32{out}, nil)
	g := &s.m.Subgraphs[0]
	g.Inputs, g.Outputs = []int32{in}, []int32{out}
	if _, err := buildInteger(&s.m); err == nil || !errors.Is(err, errNotInteger) || !strings.Contains(err.Error(), "MEAN") {
		t.Errorf("uint8 MEAN: err %v, want one naming MEAN", err)
	}
}

// TestIntegerBiasScale: a bias whose scale is not the input's times the
// weights' (which TFLite refuses too) is not run in integers.
func TestIntegerBiasScale(t *testing.T) {
	s := newSynth(8)
	in := s.tensor(tfl.Uint8, []int32{1, 1, 1, 8}, []float32{0.05}, []int64{120}, nil)
	w := s.tensor(tfl.Uint8, []int32{4, 1, 1, 8}, []float32{0.01}, []int64{131}, s.bytes(32))
	b := s.tensor(tfl.Int32, []int32{4}, []float32{0.001}, []int64{0}, s.bias(4))
	out := s.tensor(tfl.Uint8, []int32{1, 1, 1, 4}, []float32{0.03}, []int64{20}, nil)
	s.op(tfl.OpConv2D, []int32{in, w, b}, []int32{out}, []int32{1, 1, 1, 0, 1, 1})
	g := &s.m.Subgraphs[0]
	g.Inputs, g.Outputs = []int32{in}, []int32{out}
	if _, err := buildInteger(&s.m); err == nil || !errors.Is(err, errNotInteger) || !strings.Contains(err.Error(), "bias") {
		t.Errorf("bias scale 0.001 for 0.05 x 0.01: err %v, want one naming the bias", err)
	}
}

// TestIntegerDepthwise: DEPTHWISE_CONV_2D with input and weight zero
// points away from 0 (the MobileNets' inputs to it have zero point 0),
// SAME padding, strides 1 and 2 and 20 channels, against TFLite's sum
// over the taps inside the input of (x - zx)(w - zw), plus the bias,
// requantized, written out here.
func TestIntegerDepthwise(t *testing.T) {
	for _, stride := range []int32{1, 2} {
		s := newSynth(9 + uint64(stride))
		const h, w, c = 7, 6, 20
		oh, ow := (h+stride-1)/stride, (w+stride-1)/stride
		wdata, bdata := s.bytes(9*c), s.bias(c)
		in := s.tensor(tfl.Uint8, []int32{1, h, w, c}, []float32{0.04}, []int64{77}, nil)
		wt := s.tensor(tfl.Uint8, []int32{1, 3, 3, c}, []float32{0.02}, []int64{140}, wdata)
		bt := s.tensor(tfl.Int32, []int32{c}, []float32{0.04 * 0.02}, []int64{0}, bdata)
		out := s.tensor(tfl.Uint8, []int32{1, oh, ow, c}, []float32{0.03}, []int64{5}, nil)
		s.op(tfl.OpDepthwiseConv2D, []int32{in, wt, bt}, []int32{out}, []int32{0, stride, stride, 1, 3, 1, 1})
		p := s.program(t, in, out)
		m, shift := qkernels.QuantizeMultiplier(float64(float32(0.04)) * float64(float32(0.02)) / float64(float32(0.03)))
		hi := 5 + int32(math.Round(float64(float32(6)/float32(0.03))))
		x := randomPixels(s.rng, h*w*c)
		got := logitsOf(p, x)
		pad := (int((oh-1)*stride) + 3 - h) / 2
		padL := (int((ow-1)*stride) + 3 - w) / 2
		for oy := range int(oh) {
			for ox := range int(ow) {
				for ch := range c {
					acc := int32(binary.LittleEndian.Uint32(bdata[4*ch:]))
					for ky := range 3 {
						for kx := range 3 {
							iy, ix := oy*int(stride)-pad+ky, ox*int(stride)-padL+kx
							if iy < 0 || iy >= h || ix < 0 || ix >= w {
								continue
							}
							q := int32(x[(iy*w+ix)*c+ch]*255 + 0.5)
							acc += (q - 77) * (int32(wdata[(ky*3+kx)*c+ch]) - 140)
						}
					}
					want := min(max(qkernels.MultiplyByQuantizedMultiplier(acc, m, shift)+5, 5), min(hi, 255))
					if g := got[(oy*int(ow)+ox)*c+ch]; g != want {
						t.Fatalf("stride %d, (%d,%d,%d): %d, want %d", stride, oy, ox, ch, g, want)
					}
				}
			}
		}
	}
}
