package tflite

import (
	"testing"
)

// BenchmarkMobileNetV2 is one inference of the uint8 MobileNetV2 at 224,
// dequantized to float32 (go test -bench MobileNet -cpu 1,2).
func BenchmarkMobileNetV2(b *testing.B) {
	m, err := Load(sharedModel(b, "mobilenet_v2_1.0_224_quant.tflite"))
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

// BenchmarkMobileNetV2Batch is PredictBatchTo of 8 images of the
// MobileNetV2 (a graph model: its images spread over the CPUs when
// GOMAXPROCS <= 8).
func BenchmarkMobileNetV2Batch(b *testing.B) {
	const n = 8
	m, err := Load(sharedModel(b, "mobilenet_v2_1.0_224_quant.tflite"))
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
