package engine

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// depthwiseRef is the definition of a depthwise convolution, written from
// the input's side: out[oy,ox,c*m+j] = bias + sum over the window of
// in[oy*s+ky-pad, ox*s+kx-pad, c] * w[ky,kx,c,j], zero outside the input.
func depthwiseRef(l *DepthwiseConv2D, x []float32, in, out Shape) []float32 {
	y := make([]float32, out.Size())
	m := l.Multiplier
	for oy := range out.H {
		for ox := range out.W {
			for c := range in.C {
				for j := range m {
					var sum float64
					if l.Bias != nil {
						sum = float64(l.Bias[c*m+j])
					}
					for ky := range l.KernelH {
						for kx := range l.KernelW {
							iy, ix := oy*l.StrideH+ky-l.Pad.Top, ox*l.StrideW+kx-l.Pad.Left
							if iy < 0 || ix < 0 || iy >= in.H || ix >= in.W {
								continue
							}
							sum += float64(x[(iy*in.W+ix)*in.C+c]) * float64(l.Weights[((ky*l.KernelW+kx)*in.C+c)*m+j])
						}
					}
					y[(oy*out.W+ox)*out.C+c*m+j] = float32(sum)
				}
			}
		}
	}
	return y
}

func closeTo(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > tol || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: value %d is %g, want %g", what, i, got[i], want[i])
		}
	}
}

// TestDepthwise compares DepthwiseConv2D with its definition over
// multipliers, strides, kernels and TensorFlow's SAME padding.
func TestDepthwise(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name           string
		in             Shape
		k, stride, mul int
		same, bias     bool
	}{
		{"3x3 same", Shape{9, 7, 17}, 3, 1, 1, true, true},
		{"3x3 stride 2 same (odd padding at the end)", Shape{8, 8, 32}, 3, 2, 1, true, true},
		{"5x5 stride 2 valid", Shape{11, 13, 5}, 5, 2, 1, false, false},
		{"multiplier 2", Shape{6, 6, 3}, 3, 1, 2, true, true},
		{"1x1 multiplier 3", Shape{4, 5, 2}, 1, 1, 3, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &DepthwiseConv2D{Name: "dw", KernelH: tc.k, KernelW: tc.k, StrideH: tc.stride, StrideW: tc.stride,
				Multiplier: tc.mul, Weights: randSlice(r, tc.k*tc.k*tc.in.C*tc.mul)}
			if tc.bias {
				l.Bias = randSlice(r, tc.in.C*tc.mul)
			}
			if tc.same {
				l.Pad.Top, l.Pad.Bottom = SamePadding(tc.in.H, tc.k, tc.stride)
				l.Pad.Left, l.Pad.Right = SamePadding(tc.in.W, tc.k, tc.stride)
			}
			m, err := New("dw", "test", Shape{tc.in.H, tc.in.W, 3}, []Layer{
				&Conv2D{Name: "c", KernelH: 1, KernelW: 1, StrideH: 1, StrideW: 1, Filters: tc.in.C, Weights: randSlice(r, 3*tc.in.C)},
				l,
			})
			if err != nil {
				t.Fatal(err)
			}
			x := randSlice(r, m.InputShape().Size())
			out, err := m.Predict(nil, x)
			if err != nil {
				t.Fatal(err)
			}
			// The same first layer alone gives the depthwise layer's input.
			first, _ := New("c", "test", m.InputShape(), m.Layers()[:1])
			mid, _ := first.Predict(nil, x)
			want := depthwiseRef(l, mid, tc.in, m.OutputShape())
			closeTo(t, tc.name, out, want, 1e-4)
		})
	}
}

// TestGraph runs a residual block with a squeeze-and-excitation gate and
// a concatenation, and compares it with the same arithmetic done by hand;
// it checks the plan reuses buffers and that an inference allocates
// nothing.
func TestGraph(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	in := Shape{6, 6, 3}
	conv := func(name string, inC, outC int) *Conv2D {
		return &Conv2D{Name: name, KernelH: 1, KernelW: 1, StrideH: 1, StrideW: 1, Filters: outC,
			Weights: randSlice(r, inC*outC), Bias: randSlice(r, outC)}
	}
	a, b := conv("a", 3, 4), conv("b", 4, 4)
	gate := &Dense{Name: "gate", Units: 4, Weights: randSlice(r, 16), Activation: Sigmoid}
	nodes := []Node{
		{&Identity{Name: "x"}, []int{0}}, // 1
		{a, []int{1}},                    // 2
		{b, []int{2}},                    // 3
		{&Add{Name: "res", Activation: ReLU6}, []int{3, 2}}, // 4: b(a) + a
		{&GlobalAvgPool{Name: "squeeze"}, []int{4}},         // 5
		{gate, []int{5}},                         // 6
		{&Multiply{Name: "excite"}, []int{4, 6}}, // 7: 6x6x4 * 1x1x4
		{&Concatenate{Name: "cat"}, []int{7, 2}}, // 8: 6x6x8
		{&Flatten{Name: "flat"}, []int{8}},       // 9
		{&Dense{Name: "head", Units: 1, Weights: randSlice(r, 6*6*8)}, []int{9}},
	}
	m, err := NewGraph("g", "test", in, nodes)
	if err != nil {
		t.Fatal(err)
	}
	x := randSlice(r, in.Size())
	got, err := m.Predict(nil, x)
	if err != nil {
		t.Fatal(err)
	}

	// By hand, each step a model of its own.
	run := func(s Shape, l ...Layer) []float32 {
		t.Helper()
		mm, err := New("step", "test", s, l)
		if err != nil {
			t.Fatal(err)
		}
		y, err := mm.Predict(nil, x)
		if err != nil {
			t.Fatal(err)
		}
		return y
	}
	ya := run(in, a)
	yb := run(in, a, b)
	res := make([]float32, len(ya))
	for i := range res {
		res[i] = min(max(yb[i]+ya[i], 0), 6)
	}
	var sq [4]float32
	for p := range 36 {
		for c := range 4 {
			sq[c] += res[p*4+c] / 36
		}
	}
	var g [4]float32
	for u := range 4 {
		var s float32
		for c := range 4 {
			s += sq[c] * gate.Weights[c*4+u]
		}
		g[u] = float32(1 / (1 + math.Exp(-float64(s))))
	}
	head := nodes[len(nodes)-1].Layer.(*Dense)
	var want float32
	for p := range 36 {
		for c := range 8 {
			v := ya[p*4+c%4]
			if c < 4 {
				v = res[p*4+c] * g[c]
			}
			want += v * head.Weights[p*8+c]
		}
	}
	closeTo(t, "graph", got, []float32{want}, 1e-4)

	if n := len(m.graph.sizes); n >= len(nodes)-1 {
		t.Errorf("%d buffers for %d tensors: the plan does not reuse them", n, len(nodes))
	}
	dst := make([]float32, 0, 1)
	if allocs := testing.AllocsPerRun(10, func() { _, _ = m.Predict(dst, x) }); allocs != 0 && !raceEnabled {
		t.Errorf("%v allocations per inference", allocs)
	}
	batch, err := m.PredictBatch(append(append([]float32{}, x...), x...), 2)
	if err != nil || len(batch) != 2 || batch[0] != got[0] || batch[1] != got[0] {
		t.Errorf("batch of 2: %v, %v; want %v twice", batch, err, got[0])
	}
}

// TestGraphChain: a graph that is a chain becomes a chain model (fused and
// batched as New makes it).
func TestGraphChain(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	c := &Conv2D{Name: "c", KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, Filters: 2, Weights: randSlice(r, 54)}
	m, err := NewGraph("chain", "test", Shape{5, 5, 3}, []Node{{c, []int{0}}, {&Act{Name: "r", Activation: ReLU}, []int{1}}})
	if err != nil {
		t.Fatal(err)
	}
	if m.graph != nil || len(m.Layers()) != 1 {
		t.Errorf("graph %v, %d layers; want a chain of one fused convolution", m.graph != nil, len(m.Layers()))
	}
}

// TestGraphRefused: graphs that cannot run are refused with an error that
// names the layer.
func TestGraphRefused(t *testing.T) {
	in := Shape{4, 4, 3}
	for _, tc := range []struct {
		name  string
		nodes []Node
		want  string
	}{
		{"reads a later tensor", []Node{{&Identity{Name: "a"}, []int{2}}, {&Identity{Name: "b"}, []int{1}}}, "not made before"},
		{"two inputs to a one-input layer", []Node{{&Identity{Name: "a"}, []int{0}}, {&Act{Name: "b"}, []int{0, 1}}}, `"b" reads 2 tensors`},
		{"no inputs", []Node{{&Identity{Name: "a"}, nil}}, "reads 0"},
		{"mismatched add", []Node{{&GlobalAvgPool{Name: "p"}, []int{0}}, {&Flatten{Name: "f"}, []int{0}}, {&Add{Name: "sum"}, []int{1, 2}}}, `"sum"`},
		{"concatenate of different sizes", []Node{{&Pool2D{Name: "p", Max: true, KernelH: 2, KernelW: 2, StrideH: 2, StrideW: 2}, []int{0}}, {&Concatenate{Name: "cat"}, []int{0, 1}}}, "differ in height"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewGraph("bad", "test", in, tc.nodes)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestFoldBatchNorm: a batch normalization (and then an activation) after
// a convolution becomes part of the convolution, in chains and graphs,
// and the result is what the layers compute one after another.
func TestFoldBatchNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	in, mid := Shape{6, 5, 3}, Shape{4, 3, 4}
	conv := &Conv2D{Name: "c", KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, Filters: 4, Weights: randSlice(r, 3*3*3*4)}
	bn, err := BatchNorm("bn", randSlice(r, 4), randSlice(r, 4), randSlice(r, 4), []float32{0.5, 1, 2, 0.25}, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	act := &Act{Name: "r", Activation: ReLU6}
	x := randSlice(r, in.Size())
	step := func(l Layer, v []float32) []float32 {
		y := make([]float32, mid.Size())
		l.forward(nil, y, v, mid, mid, nil)
		return y
	}
	mc, err := New("conv", "test", in, []Layer{conv})
	if err != nil {
		t.Fatal(err)
	}
	y, _ := mc.Predict(nil, x)
	want := step(act, step(bn, y))

	chain, err := New("chain", "test", in, []Layer{conv, bn, act})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(chain.Layers()); n != 1 {
		t.Errorf("chain: %d layers after folding, want 1", n)
	}
	got, _ := chain.Predict(nil, x)
	closeTo(t, "chain", got, want, 1e-4)

	// A graph: the same three, then an Add of the result with itself.
	g, err := NewGraph("graph", "test", in, []Node{{conv, []int{0}}, {bn, []int{1}}, {act, []int{2}}, {&Add{Name: "twice"}, []int{3, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(g.Layers()); n != 2 {
		t.Errorf("graph: %d layers after folding, want 2 (convolution, add)", n)
	}
	got, _ = g.Predict(nil, x)
	for i := range want {
		want[i] *= 2
	}
	closeTo(t, "graph", got, want, 1e-4)
}

// TestGraphNoFoldThroughIdentity: an activation read through an identity
// is not folded into a convolution whose output another layer reads
// directly (that reader must see the convolution without it).
func TestGraphNoFoldThroughIdentity(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	in := Shape{4, 4, 3}
	conv := &Conv2D{Name: "c", KernelH: 1, KernelW: 1, StrideH: 1, StrideW: 1, Filters: 3, Weights: randSlice(r, 9)}
	g, err := NewGraph("g", "test", in, []Node{
		{conv, []int{0}},                                 // 1
		{&Identity{Name: "i"}, []int{1}},                 // 2
		{&Act{Name: "relu", Activation: ReLU}, []int{2}}, // 3
		{&Add{Name: "sum"}, []int{3, 1}},                 // 4: relu(c) + c
	})
	if err != nil {
		t.Fatal(err)
	}
	x := randSlice(r, in.Size())
	got, _ := g.Predict(nil, x)
	c, _ := New("c", "test", in, []Layer{conv})
	y, _ := c.Predict(nil, x)
	want := make([]float32, len(y))
	for i, v := range y {
		want[i] = max(v, 0) + v
	}
	closeTo(t, "relu(c) + c", got, want, 1e-5)
}
