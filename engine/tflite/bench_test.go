package tflite

import (
	"flag"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/internal/kernels"
	"github.com/huskyai/huskyai/engine/internal/qkernels"
)

// avx2Only restricts BenchmarkPaths to the AVX2 kernels of both paths
// (go test -bench Paths -cpu 1 -avx2): what an AVX2 CPU without AVX-512
// would run, measured on this one.
var avx2Only = flag.Bool("avx2", false, "BenchmarkPaths: the AVX2 kernels only, float32 and integer")

// useAVX2 forces the AVX2 kernels of both paths, if avx2Only, until the
// function it returns runs.
func useAVX2(b *testing.B) func() {
	if !*avx2Only {
		return func() {}
	}
	restore, ok := kernels.UseAVX2()
	prev, qok := qkernels.SetKernel("avx2")
	if !ok || !qok {
		b.Skip("no AVX2 kernels here")
	}
	return func() {
		restore()
		if _, ok := qkernels.SetKernel(prev); !ok {
			b.Errorf("cannot restore the %s kernels", prev)
		}
	}
}

// BenchmarkMobileNetV2 is one inference of the uint8 MobileNetV2 at 224,
// dequantized to float32 (go test -bench MobileNet -cpu 1, then -cpu 2:
// a b.Loop benchmark given -cpu 1,2 ran both at GOMAXPROCS 2 with go1.26.8).
func BenchmarkMobileNetV2(b *testing.B) {
	m, err := Load(sharedModel(b, "mobilenet_v2_1.0_224_quant.tflite"), engine.WithInteger(engine.IntegerOff))
	if err != nil {
		b.Fatal(err)
	}
	x := testImage(0, m.InputShape())
	dst := make([]float32, 0, m.OutputShape().Size())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Predict(dst, x); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMobileNetV2Int8 is BenchmarkMobileNetV2 on the integer path.
func BenchmarkMobileNetV2Int8(b *testing.B) {
	m, err := Load(sharedModel(b, "mobilenet_v2_1.0_224_quant.tflite"), engine.WithInteger(engine.IntegerOn))
	if err != nil {
		b.Fatal(err)
	}
	x := testImage(0, m.InputShape())
	dst := make([]float32, 0, m.OutputShape().Size())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Predict(dst, x); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPaths runs each shared quantized model on the float32 and on
// the integer path (go test -bench Paths -cpu 1, then -cpu 2; add -avx2
// for the AVX2 kernels only): the ratio of the two is what
// engine.IntegerAuto's choice rests on. cpu-ns/op is the CPU time
// of the process per inference (all goroutines, the benchmark's own
// included).
func BenchmarkPaths(b *testing.B) {
	defer useAVX2(b)()
	for _, file := range []string{"mobilenet_v2_1.0_224_quant.tflite", "tf2_mobilenet_v2_1.0_224_ptq.tflite", "mobilenet_v1_0.25_128_quant.tflite"} {
		data := sharedModel(b, file)
		for _, path := range []struct {
			name string
			opt  engine.Integer
		}{{"float", engine.IntegerOff}, {"int8", engine.IntegerOn}} {
			b.Run(strings.TrimSuffix(file, ".tflite")+"/"+path.name, func(b *testing.B) {
				m, err := Load(data, engine.WithInteger(path.opt))
				if err != nil {
					b.Fatal(err)
				}
				x := testImage(0, m.InputShape())
				dst := make([]float32, 0, m.OutputShape().Size())
				if _, err := m.Predict(dst, x); err != nil { // the workspace, once
					b.Fatal(err)
				}
				b.ReportAllocs()
				start := cpuTime()
				for b.Loop() {
					if _, err := m.Predict(dst, x); err != nil {
						b.Fatal(err)
					}
				}
				if used := cpuTime() - start; used > 0 {
					// CPU time, all goroutines: on a loaded machine a
					// steadier measure of the work than the wall time.
					b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}

// BenchmarkMobileNetV2Batch is PredictBatchTo of 8 images of the
// MobileNetV2 on the float32 path (a graph model: its images spread over
// the CPUs when GOMAXPROCS <= 8).
func BenchmarkMobileNetV2Batch(b *testing.B) {
	const n = 8
	m, err := Load(sharedModel(b, "mobilenet_v2_1.0_224_quant.tflite"), engine.WithInteger(engine.IntegerOff))
	if err != nil {
		b.Fatal(err)
	}
	x := make([]float32, 0, n*m.InputShape().Size())
	for k := range n {
		x = append(x, testImage(k, m.InputShape())...)
	}
	dst := make([]float32, 0, n*m.OutputShape().Size())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.PredictBatchTo(dst, x, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(n/(b.Elapsed().Seconds()/float64(b.N)), "images/s")
}
