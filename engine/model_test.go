package engine

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/engine/internal/kernels"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// TestBackendsAgree runs convolution shapes that exercise every im2col path
// (padding on each side, strides, 1x1) through the Gonum and Packed
// backends and the Reference backend and requires the same result.
func TestBackendsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name   string
		in     Shape
		kh, kw int
		sh, sw int
		pad    Padding
		f      int
	}{
		{"3x3 valid", Shape{9, 7, 3}, 3, 3, 1, 1, Padding{}, 4},
		{"3x3 same", Shape{9, 7, 3}, 3, 3, 1, 1, Padding{1, 1, 1, 1}, 5},
		{"5x5 stride 2 same", Shape{11, 10, 2}, 5, 5, 2, 2, Padding{2, 2, 1, 2}, 3},
		{"3x2 stride 2x1", Shape{8, 8, 3}, 3, 2, 2, 1, Padding{}, 6},
		{"1x1 pointwise", Shape{4, 5, 7}, 1, 1, 1, 1, Padding{}, 3},
		{"1x1 stride 2", Shape{4, 5, 7}, 1, 1, 2, 2, Padding{}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conv := &Conv2D{Name: "c", KernelH: tt.kh, KernelW: tt.kw, StrideH: tt.sh, StrideW: tt.sw,
				Pad: tt.pad, Filters: tt.f, Weights: randSlice(r, tt.kh*tt.kw*tt.in.C*tt.f), Bias: randSlice(r, tt.f)}
			dense := &Dense{Name: "d", Units: 3}
			in := Shape{tt.in.H, tt.in.W, 3}
			pre := &Conv2D{Name: "pre", KernelH: 1, KernelW: 1, StrideH: 1, StrideW: 1, Filters: tt.in.C, Weights: randSlice(r, 3*tt.in.C)}
			build := func(k kernels.Backend) *Model {
				probe, err := New("probe", "test", in, []Layer{pre, conv, &Flatten{Name: "f"}}, WithBackend(k))
				if err != nil {
					t.Fatal(err)
				}
				dense.Weights = randSlice(rand.New(rand.NewPCG(3, 4)), probe.OutputShape().C*3)
				m, err := New("m", "test", in, []Layer{pre, conv, &Flatten{Name: "f"}, dense}, WithBackend(k))
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			x := randSlice(r, in.Size())
			want, _ := build(kernels.Reference{}).Predict(nil, x)
			for _, k := range []kernels.Backend{kernels.Gonum{}, kernels.Packed{}} {
				got, err := build(k).Predict(nil, x)
				if err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-4 {
						t.Errorf("output %d: %s %g, reference %g", i, k.Name(), got[i], want[i])
					}
				}
			}
		})
	}
}

func TestPooling(t *testing.T) {
	// A 3x3 single-channel image, values 1..9, through 2x2 windows with
	// stride 2 and one cell of padding at the bottom and right: Keras "same".
	in := Shape{3, 3, 3}
	x := make([]float32, 27)
	for i := range 9 {
		for c := range 3 {
			x[i*3+c] = float32(i+1) * float32(c+1)
		}
	}
	tests := []struct {
		name string
		l    *Pool2D
		want []float32 // channel 0
	}{
		{"max same", &Pool2D{Max: true, KernelH: 2, KernelW: 2, StrideH: 2, StrideW: 2, Pad: Padding{0, 1, 0, 1}}, []float32{5, 6, 8, 9}},
		{"avg same excludes pad", &Pool2D{KernelH: 2, KernelW: 2, StrideH: 2, StrideW: 2, Pad: Padding{0, 1, 0, 1}}, []float32{3, 4.5, 7.5, 9}},
		{"avg same counts pad", &Pool2D{KernelH: 2, KernelW: 2, StrideH: 2, StrideW: 2, Pad: Padding{0, 1, 0, 1}, CountPad: true}, []float32{3, 9.0 / 4, 15.0 / 4, 9.0 / 4}},
		{"max valid", &Pool2D{Max: true, KernelH: 2, KernelW: 2, StrideH: 1, StrideW: 1}, []float32{5, 6, 8, 9}},
		{"max negative pad", &Pool2D{Max: true, KernelH: 3, KernelW: 3, StrideH: 2, StrideW: 2, Pad: Padding{1, 1, 1, 1}}, []float32{5, 6, 8, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.l.Name = "p"
			m, err := New("m", "test", in, []Layer{tt.l})
			if err != nil {
				t.Fatal(err)
			}
			out, _ := m.Predict(nil, x)
			for i, w := range tt.want {
				if got := out[i*3]; math.Abs(float64(got-w)) > 1e-6 {
					t.Errorf("cell %d = %g, want %g (all: %v)", i, got, w, out)
				}
				if got := out[i*3+2]; math.Abs(float64(got-3*w)) > 1e-5 {
					t.Errorf("cell %d channel 2 = %g, want %g", i, got, 3*w)
				}
			}
		})
	}
}

func TestFlattenOrder(t *testing.T) {
	in := Shape{2, 2, 3}
	x := []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11} // HWC
	for _, tt := range []struct {
		cf   bool
		want []float32
	}{
		{false, x},
		{true, []float32{0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11}},
	} {
		m, err := New("m", "test", in, []Layer{&Flatten{ChannelsFirst: tt.cf}})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := m.Predict(nil, x)
		for i := range got {
			if got[i] != tt.want[i] {
				t.Fatalf("ChannelsFirst=%v: got %v, want %v", tt.cf, got, tt.want)
			}
		}
	}
}

func TestActivations(t *testing.T) {
	x := []float32{-40, -3.5, -3, -2, -0.5, 0, 0.5, 2.9, 3, 7, 40}
	relu6 := func(v float64) float64 { return math.Min(math.Max(v, 0), 6) }
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	tests := []struct {
		a    Activation
		want func(float64) float64
	}{
		{Linear, func(v float64) float64 { return v }},
		{ReLU, func(v float64) float64 { return math.Max(v, 0) }},
		{ReLU6, func(v float64) float64 { return math.Min(math.Max(v, 0), 6) }},
		{Sigmoid, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
		{Tanh, math.Tanh},
		{ELU, func(v float64) float64 {
			if v < 0 {
				return math.Exp(v) - 1
			}
			return v
		}},
		{SiLU, func(v float64) float64 { return v * sig(v) }},
		{HardSigmoid, func(v float64) float64 { return relu6(v+3) / 6 }},
		{HardSwish, func(v float64) float64 { return v * relu6(v+3) / 6 }},
	}
	for _, tt := range tests {
		y := append([]float32(nil), x...)
		tt.a.apply(y, len(y))
		for i := range x {
			if w := tt.want(float64(x[i])); math.Abs(float64(y[i])-w) > 1e-6*math.Max(1, math.Abs(w)) {
				t.Errorf("%v(%g) = %g, want %g", tt.a, x[i], y[i], w)
			}
		}
		if a, err := ParseActivation(tt.a.String()); err != nil || a != tt.a {
			t.Errorf("ParseActivation(%q) = %v, %v", tt.a.String(), a, err)
		}
	}
	for alias, a := range map[string]Activation{"swish": SiLU, "hard_swish": HardSwish} {
		if got, err := ParseActivation(alias); err != nil || got != a {
			t.Errorf("ParseActivation(%q) = %v, %v; want %v", alias, got, err, a)
		}
	}
	y := []float32{1, 2, 3, 1000, 1000, 1000}
	Softmax.apply(y, 3)
	want := []float64{0.09003057, 0.24472847, 0.66524096, 1.0 / 3, 1.0 / 3, 1.0 / 3}
	for i := range y {
		if math.Abs(float64(y[i])-want[i]) > 1e-6 {
			t.Errorf("softmax[%d] = %g, want %g", i, y[i], want[i])
		}
	}
	if _, err := ParseActivation("gelu"); err == nil {
		t.Error("ParseActivation(gelu) succeeded")
	}
}

func TestFuse(t *testing.T) {
	w := make([]float32, 3*4)
	m, err := New("m", "test", Shape{1, 1, 3}, []Layer{
		&Identity{Name: "drop"},
		&Dense{Name: "d", Units: 4, Weights: w},
		&Act{Name: "a", Activation: Sigmoid},
		&Act{Name: "b", Activation: Tanh},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.Layers()); n != 2 {
		t.Fatalf("got %d layers after fusion, want 2 (dense+sigmoid, tanh)", n)
	}
	out, _ := m.Predict(nil, []float32{1, 2, 3})
	if want := float32(math.Tanh(0.5)); out[0] != want {
		t.Errorf("tanh(sigmoid(0)) = %g, want %g", out[0], want)
	}
}

func TestNewRefuses(t *testing.T) {
	rgb := Shape{8, 8, 3}
	tests := []struct {
		name   string
		in     Shape
		layers []Layer
		want   string
	}{
		{"gray input", Shape{8, 8, 1}, []Layer{&Flatten{}}, "3 channels"},
		{"huge input", Shape{1000000, 1000000, 3}, []Layer{&Flatten{}}, "input size"},
		{"no layers", rgb, nil, "no layers"},
		{"kernel too big", rgb, []Layer{&Conv2D{Name: "c", KernelH: 9, KernelW: 3, StrideH: 1, StrideW: 1, Filters: 1, Weights: make([]float32, 81)}}, "larger than"},
		{"weights short", rgb, []Layer{&Conv2D{Name: "c", KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, Filters: 2, Weights: make([]float32, 53)}}, "kernel has 53 weights"},
		{"bias wrong", rgb, []Layer{&Conv2D{Name: "c", KernelH: 1, KernelW: 1, StrideH: 1, StrideW: 1, Filters: 2, Weights: make([]float32, 6), Bias: make([]float32, 3)}}, "bias has 3"},
		{"zero stride", rgb, []Layer{&Pool2D{Name: "p", KernelH: 2, KernelW: 2}}, "invalid"},
		{"absurd kernel", rgb, []Layer{&Conv2D{Name: "c", KernelH: 1 << 30, KernelW: 1 << 30, StrideH: 1, StrideW: 1, Filters: 4}}, "outside"},
		{"absurd filters", rgb, []Layer{&Conv2D{Name: "c", KernelH: 1, KernelW: 1, StrideH: 1, StrideW: 1, Filters: 1 << 30}}, "too many"},
		{"dense mismatch", rgb, []Layer{&Flatten{}, &Dense{Name: "d", Units: 2, Weights: make([]float32, 10)}}, "kernel has 10 weights, want 192x2"},
		{"huge activation", rgb, []Layer{&Conv2D{Name: "c", KernelH: 1, KernelW: 1, StrideH: 1, StrideW: 1, Filters: 1 << 25, Weights: make([]float32, 3<<25)}}, "larger than"},
		{"affine mismatch", rgb, []Layer{&Affine{Name: "bn", Scale: make([]float32, 2), Shift: make([]float32, 1)}}, "2 coefficients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New("m", "test", tt.in, tt.layers)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestPredictInputSize(t *testing.T) {
	m, err := New("m", "test", Shape{2, 2, 3}, []Layer{&Flatten{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Predict(nil, make([]float32, 11)); !errors.Is(err, ErrInputSize) {
		t.Errorf("Predict(11 values) error = %v, want ErrInputSize", err)
	}
	out, err := m.PredictBatch(make([]float32, 24), 2)
	if err != nil || len(out) != 24 {
		t.Errorf("PredictBatch = %d values, %v", len(out), err)
	}
}

func TestBatchNorm(t *testing.T) {
	a, err := BatchNorm("bn", []float32{2}, []float32{1}, []float32{3}, []float32{4 - 1e-3}, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	// (x-3)/2*2+1 at x=5 is 3.
	if got := 5*a.Scale[0] + a.Shift[0]; math.Abs(float64(got-3)) > 1e-6 {
		t.Errorf("bn(5) = %g, want 3", got)
	}
	if _, err := BatchNorm("bn", nil, nil, []float32{1, 2}, []float32{1}, 1e-3); err == nil {
		t.Error("BatchNorm accepted vectors of different lengths")
	}
}

// TestMaxPool2x2 checks the 2x2 stride-2 fast path against a direct
// computation, on odd sizes (the last row and column dropped) and with
// NaNs and signed zeros.
func TestMaxPool2x2(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	in := Shape{7, 5, 3}
	src := randSlice(r, in.Size())
	src[0], src[4], src[9] = float32(math.NaN()), float32(math.Copysign(0, -1)), 0
	l := &Pool2D{Name: "p", Max: true, KernelH: 2, KernelW: 2, StrideH: 2, StrideW: 2}
	out, err := l.outShape(in)
	if err != nil || out != (Shape{3, 2, 3}) {
		t.Fatalf("out shape %v, %v", out, err)
	}
	dst := make([]float32, out.Size())
	l.forward(nil, dst, src, in, out, nil)
	for oy := range out.H {
		for ox := range out.W {
			for c := range in.C {
				want := float32(math.Inf(-1))
				for y := 2 * oy; y < 2*oy+2; y++ {
					for x := 2 * ox; x < 2*ox+2; x++ {
						want = max(want, src[(y*in.W+x)*in.C+c])
					}
				}
				got := dst[(oy*out.W+ox)*out.C+c]
				if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
					t.Errorf("(%d,%d,%d) = %v, want %v", oy, ox, c, got, want)
				}
			}
		}
	}
}
