package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// residualNet is a small graph model (not a chain): padded and strided
// 3x3 convolutions, a depthwise convolution, a residual addition, global
// pooling and a dense head, 24x24x3 in.
func residualNet(t *testing.T) *Model {
	t.Helper()
	r := rand.New(rand.NewPCG(21, 22))
	same := Padding{Top: 1, Bottom: 1, Left: 1, Right: 1}
	nodes := []Node{
		{&Conv2D{Name: "stem", KernelH: 3, KernelW: 3, StrideH: 2, StrideW: 2, Pad: same, Filters: 16,
			Weights: randSlice(r, 9*3*16), Bias: randSlice(r, 16), Activation: ReLU6}, []int{0}}, // 1: 12x12x16
		{&DepthwiseConv2D{Name: "dw", KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, Pad: same, Multiplier: 1,
			Weights: randSlice(r, 9*16), Bias: randSlice(r, 16), Activation: ReLU6}, []int{1}}, // 2
		{&Conv2D{Name: "pw", KernelH: 1, KernelW: 1, StrideH: 1, StrideW: 1, Filters: 16,
			Weights: randSlice(r, 16*16), Bias: randSlice(r, 16)}, []int{2}}, // 3
		{&Add{Name: "res"}, []int{3, 1}}, // 4
		{&Conv2D{Name: "c3", KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, Pad: same, Filters: 40,
			Weights: randSlice(r, 9*16*40), Bias: randSlice(r, 40), Activation: ReLU}, []int{4}}, // 5
		{&GlobalAvgPool{Name: "gap"}, []int{5}}, // 6
		{&Dense{Name: "head", Units: 5, Weights: randSlice(r, 40*5), Bias: randSlice(r, 5), Activation: Softmax}, []int{6}},
	}
	m, err := NewGraph("residual", "test", Shape{24, 24, 3}, nodes)
	if err != nil {
		t.Fatal(err)
	}
	if m.graph == nil {
		t.Fatal("residualNet is a chain")
	}
	return m
}

// poolNet is a chain of convolutions each followed by 2x2 max pooling
// (which New fuses), then a dense head; maxBatch as WithMaxBatch.
func poolNet(t *testing.T, maxBatch int) *Model {
	t.Helper()
	r := rand.New(rand.NewPCG(23, 24))
	layers := []Layer{
		&Conv2D{Name: "c1", KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, Filters: 32,
			Weights: randSlice(r, 9*3*32), Bias: randSlice(r, 32), Activation: ReLU},
		&Pool2D{Name: "p1", Max: true, KernelH: 2, KernelW: 2, StrideH: 2, StrideW: 2},
		&Conv2D{Name: "c2", KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, Filters: 40,
			Weights: randSlice(r, 9*32*40), Bias: randSlice(r, 40), Activation: ReLU},
		&Pool2D{Name: "p2", Max: true, KernelH: 2, KernelW: 2, StrideH: 2, StrideW: 2},
		&Flatten{Name: "flat"},
		&Dense{Name: "out", Units: 3, Weights: randSlice(r, 6*6*40*3), Bias: randSlice(r, 3), Activation: Sigmoid},
	}
	m, err := New("pool", "test", Shape{30, 30, 3}, layers, WithMaxBatch(maxBatch))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Layers()[0].(*convMaxPool); !ok || len(m.Layers()) != 4 {
		t.Fatalf("layers %v: the convolutions and poolings are not fused", m.Layers())
	}
	return m
}

// TestPredictBatchSpread runs batches of several sizes through a graph
// model and through chains with and without WithMaxBatch, at GOMAXPROCS 1,
// 2 and 3 (images spread over goroutines when there are at least as many
// as CPUs), and requires each image's outputs to be Predict's: bit for
// bit where the images run one by one, to within 1e-6 where a batched
// dense layer sums in another order. Then that a batch allocates nothing.
func TestPredictBatchSpread(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, tc := range []struct {
		name string
		m    func(*testing.T) *Model
		tol  float64
	}{
		{"graph", residualNet, 0},
		{"chain", func(t *testing.T) *Model { return poolNet(t, 1) }, 0},
		{"chain-batched", func(t *testing.T) *Model { return poolNet(t, 4) }, 1e-6},
	} {
		for _, procs := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s/procs=%d", tc.name, procs), func(t *testing.T) {
				runtime.GOMAXPROCS(procs)
				m := tc.m(t)
				size, osz := m.InputShape().Size(), m.OutputShape().Size()
				const n = 9
				x := randSlice(rand.New(rand.NewPCG(uint64(procs), 9)), n*size)
				var want []float32
				for i := range n {
					want, _ = m.Predict(want, x[i*size:(i+1)*size])
				}
				for _, b := range []int{1, 2, 3, 5, n} {
					got, err := m.PredictBatchTo(make([]float32, 0, b*osz), x[:b*size], b)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != b*osz {
						t.Fatalf("batch of %d: %d outputs, want %d", b, len(got), b*osz)
					}
					for i, v := range got {
						if d := math.Abs(float64(v - want[i])); !(d <= tc.tol) {
							t.Fatalf("batch of %d: image %d output %d = %.9g, Predict %.9g", b, i/osz, i%osz, v, want[i])
						}
					}
				}
				if raceEnabled {
					return
				}
				dst := make([]float32, 0, n*osz)
				dst, _ = m.PredictBatchTo(dst, x, n)
				if a := testing.AllocsPerRun(5, func() { dst, _ = m.PredictBatchTo(dst[:0], x, n) }); a != 0 {
					t.Errorf("PredictBatchTo of %d images allocates %v times", n, a)
				}
			})
		}
	}
}
