package engine_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/internal/kernels"
)

// TestPredictBatchParity runs n different images through PredictBatchTo
// and requires each image's output to equal Predict's to within 1e-6, on
// every backend, for batch sizes that fill the batch, leave some of it
// empty and run past it (several passes).
func TestPredictBatchParity(t *testing.T) {
	type backendOnly struct{ kernels.Backend } // Packed with unpacked weights
	backends := []kernels.Backend{kernels.Default, kernels.Packed{}, backendOnly{kernels.Packed{}}, kernels.Gonum{}, kernels.Reference{}}
	for _, k := range backends {
		name := k.Name()
		if _, ok := k.(backendOnly); ok {
			name += "-unpacked"
		}
		t.Run(name, func(t *testing.T) {
			if k.Name() == "reference" && testing.Short() {
				t.Skip("reference backend is slow")
			}
			m := huskyNet(t, engine.WithBackend(k), engine.WithMaxBatch(8))
			if m.MaxBatch() != 8 {
				t.Fatalf("MaxBatch = %d, want 8", m.MaxBatch())
			}
			size := m.InputShape().Size()
			r := rand.New(rand.NewPCG(11, 12))
			const n = 11 // a full pass of 8, then 3
			x := make([]float32, n*size)
			for i := range x {
				x[i] = r.Float32()
			}
			want := make([]float32, n)
			for i := range n {
				out, err := m.Predict(nil, x[i*size:(i+1)*size])
				if err != nil {
					t.Fatal(err)
				}
				want[i] = out[0]
			}
			for _, b := range []int{1, 2, 3, 6, 8, 11} {
				if k.Name() == "reference" && b != 8 {
					continue
				}
				got, err := m.PredictBatchTo(make([]float32, 0, b), x[:b*size], b)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != b {
					t.Fatalf("batch %d: %d outputs", b, len(got))
				}
				for i := range b {
					if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-6) {
						t.Errorf("batch %d image %d: %.9g, Predict %.9g (|diff| %.2g)", b, i, got[i], want[i], d)
					}
				}
			}
		})
	}
}

// TestPredictBatchLayers checks the layers that PredictBatchTo runs over
// the whole batch at once (element-wise, flatten in either order, dense
// at each position) against Predict image by image.
func TestPredictBatchLayers(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	rnd := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = r.Float32()*2 - 1
		}
		return s
	}
	for _, cf := range []bool{false, true} {
		layers := []engine.Layer{
			&engine.Conv2D{Name: "c", KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, Pad: engine.Padding{Top: 1, Bottom: 1, Left: 1, Right: 1},
				Filters: 4, Weights: rnd(3 * 3 * 3 * 4), Bias: rnd(4)},
			&engine.Affine{Name: "bn", Scale: rnd(4), Shift: rnd(4)},
			&engine.Act{Name: "relu", Activation: engine.ReLU},
			&engine.Dense{Name: "pointwise", Units: 5, Weights: rnd(4 * 5), Bias: rnd(5), Activation: engine.Tanh},
			&engine.Flatten{Name: "flatten", ChannelsFirst: cf},
			&engine.Dense{Name: "out", Units: 2, Weights: rnd(6 * 5 * 5 * 2), Bias: rnd(2)},
		}
		m, err := engine.New("m", "test", engine.Shape{H: 6, W: 5, C: 3}, layers, engine.WithMaxBatch(4))
		if err != nil {
			t.Fatal(err)
		}
		const n = 4
		size := m.InputShape().Size()
		x := rnd(n * size)
		got, err := m.PredictBatchTo(nil, x, n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			want, _ := m.Predict(nil, x[i*size:(i+1)*size])
			for j, w := range want {
				if d := math.Abs(float64(got[i*2+j] - w)); !(d <= 1e-6) {
					t.Errorf("channels-first %v: image %d output %d = %g, Predict %g", cf, i, j, got[i*2+j], w)
				}
			}
		}
	}
}

// TestPredictBatchAllocs requires a batched inference in steady state to
// allocate nothing.
func TestPredictBatchAllocs(t *testing.T) {
	m := huskyNet(t, engine.WithMaxBatch(4))
	x := make([]float32, 4*m.InputShape().Size())
	out := make([]float32, 0, 4)
	out, _ = m.PredictBatchTo(out[:0], x, 4) // fills the pool
	if a := testing.AllocsPerRun(3, func() { out, _ = m.PredictBatchTo(out[:0], x, 4) }); a > 0 && !engine.RaceEnabled {
		t.Errorf("PredictBatchTo allocates %.1f times per batch", a)
	}
	if _, err := m.PredictBatchTo(nil, x[:5], 1); err == nil {
		t.Error("PredictBatchTo accepted 5 values for one image")
	}
}

// BenchmarkHuskyBatch measures the throughput of the Husky CNN when n
// images go through one forward pass (PredictBatchTo) on one goroutine.
func BenchmarkHuskyBatch(b *testing.B) {
	for _, n := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m := huskyNet(b, engine.WithMaxBatch(n))
			x := make([]float32, n*m.InputShape().Size())
			out := make([]float32, 0, n)
			b.ReportAllocs()
			for b.Loop() {
				out, _ = m.PredictBatchTo(out[:0], x, n)
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(n)/sec, "images/s")
			b.ReportMetric(sec/float64(n)*1e3, "ms/image")
		})
	}
}

// BenchmarkHuskyBatchEach measures PredictBatchTo of 8 images on a model
// loaded without WithMaxBatch, as the bench harness loads it: the images
// run one by one (spread over the CPUs when GOMAXPROCS <= 8).
func BenchmarkHuskyBatchEach(b *testing.B) {
	const n = 8
	m := huskyNet(b)
	x := make([]float32, n*m.InputShape().Size())
	out := make([]float32, 0, n)
	b.ReportAllocs()
	for b.Loop() {
		out, _ = m.PredictBatchTo(out[:0], x, n)
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(n)/sec, "images/s")
}
