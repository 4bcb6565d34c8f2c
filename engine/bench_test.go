package engine_test

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/internal/kernels"
)

// huskyNet builds the original Husky AI architecture (from its author's
// notebook) with seeded random weights: 128x128x3 -> 3 x [Conv2D 3x3 relu
// (32, 64, 128) -> MaxPool 2 -> Dropout] -> Flatten 25088 -> Dense 128 relu
// -> Dense 1 sigmoid.
func huskyNet(tb testing.TB, opts ...engine.Option) *engine.Model {
	r := rand.New(rand.NewPCG(7, 7))
	rnd := func(n int, scale float32) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = (r.Float32()*2 - 1) * scale
		}
		return s
	}
	var layers []engine.Layer
	in := 3
	for _, f := range []int{32, 64, 128} {
		layers = append(layers,
			&engine.Conv2D{Name: "conv", KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, Filters: f,
				Weights: rnd(9*in*f, 0.1), Bias: rnd(f, 0.01), Activation: engine.ReLU},
			&engine.Pool2D{Name: "pool", Max: true, KernelH: 2, KernelW: 2, StrideH: 2, StrideW: 2},
			&engine.Identity{Name: "dropout"})
		in = f
	}
	layers = append(layers, &engine.Flatten{Name: "flatten"},
		&engine.Dense{Name: "dense", Units: 128, Weights: rnd(25088*128, 0.01), Bias: rnd(128, 0.01), Activation: engine.ReLU},
		&engine.Dense{Name: "out", Units: 1, Weights: rnd(128, 0.1), Bias: rnd(1, 0.01), Activation: engine.Sigmoid})
	m, err := engine.New("husky", "test", engine.Shape{H: 128, W: 128, C: 3}, layers, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkHusky measures single-image latency of the original Husky
// architecture (ns/op is one image, on one goroutine) and reports its
// arithmetic rate.
func BenchmarkHusky(b *testing.B) { benchHusky(b, huskyNet(b)) }

// BenchmarkHuskyBackend runs BenchmarkHusky on each backend in turn, so
// that they are compared in the same run.
func BenchmarkHuskyBackend(b *testing.B) {
	// Packed's Backend methods alone: the weights read unpacked.
	type backendOnly struct{ kernels.Backend }
	for _, k := range []struct {
		name string
		k    kernels.Backend
	}{
		{"gonum", kernels.Gonum{}},
		{"packed-weights-unpacked", backendOnly{kernels.Packed{}}},
	} {
		b.Run(k.name, func(b *testing.B) { benchHusky(b, huskyNet(b, engine.WithBackend(k.k))) })
	}
	// Packed with each micro-kernel this build and CPU have, the default
	// (the one Packed{}.Name() names) first.
	for _, name := range kernels.MicroKernels() {
		b.Run("packed-"+name, func(b *testing.B) {
			restore, _ := kernels.UseMicroKernel(name)
			defer restore()
			benchHusky(b, huskyNet(b, engine.WithBackend(kernels.Packed{})))
		})
	}
}

func benchHusky(b *testing.B, m *engine.Model) {
	x := make([]float32, m.InputShape().Size())
	out := make([]float32, 0, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, _ = m.Predict(out[:0], x)
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(1/sec, "images/s")
	b.ReportMetric(2*float64(m.MACs())/sec/1e9, "GFLOP/s")
}

// BenchmarkHuskyParallel measures throughput with one inference in flight
// per CPU, as a server under load runs it.
func BenchmarkHuskyParallel(b *testing.B) {
	m := huskyNet(b)
	b.ReportAllocs()
	b.SetParallelism(1)
	b.ResetTimer()
	var once sync.Once
	b.RunParallel(func(pb *testing.PB) {
		x := make([]float32, m.InputShape().Size())
		out := make([]float32, 0, 1)
		for pb.Next() {
			out, _ = m.Predict(out[:0], x)
		}
		once.Do(func() {})
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
}

func TestHuskyNetShape(t *testing.T) {
	m := huskyNet(t)
	if p := m.Params(); p != 3_304_769 {
		t.Errorf("params = %d, want 3,304,769 as in the original notebook's summary", p)
	}
	if gflop := 2 * float64(m.MACs()) / 1e9; gflop < 0.28 || gflop > 0.30 {
		t.Errorf("%.3f GFLOP per image, want about 0.29", gflop)
	}
}
