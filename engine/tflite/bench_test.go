package tflite

import (
	"testing"

	"github.com/huskyai/huskyai/engine"
)

// BenchmarkMobileNetV2 is one inference of the uint8 MobileNetV2 at 224,
// dequantized to float32 (go test -bench MobileNet -cpu 1,2).
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
