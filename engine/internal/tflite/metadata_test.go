package tflite_test

import (
	"errors"
	"slices"
	"testing"

	tfl "github.com/huskyai/huskyai/engine/internal/tflite"
	"github.com/huskyai/huskyai/engine/internal/tflite/tflitetest"
	"github.com/huskyai/huskyai/internal/testtool"
)

// FuzzDecode: no input panics or runs away; errors wrap tfl.ErrFormat.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("\x10\x00\x00\x00TFL3\x00\x00\x00\x00\x04\x00\x04\x00\x04\x00\x00\x00"))
	f.Add([]byte("\x00\x00\x00\x00TFL3"))
	f.Add(testtool.ReadShared(f, "models/mobilenet_v1_0.25_128_quant.tflite")[:4096])
	f.Add(tflitetest.FloatMeanModel(tfl.Normalization{Mean: []float32{127.5}, Std: []float32{127.5}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := tfl.Decode(data); err != nil && !errors.Is(err, tfl.ErrFormat) {
			t.Fatalf("error %v does not wrap tfl.ErrFormat", err)
		}
	})
}

// TestInputNormalization decodes the normalization of the input in the
// TFLite metadata of generated models and of the shared MobileNets
// (mean and std 127.5, as their uint8 inputs' quantization implies).
func TestInputNormalization(t *testing.T) {
	for _, tc := range []struct {
		name      string
		data      func(t *testing.T) []byte
		mean, std []float32 // nil: none
	}{
		{"per channel", func(*testing.T) []byte {
			return tflitetest.FloatMeanModel(tfl.Normalization{Mean: []float32{127.5, 100, 50}, Std: []float32{127.5, 64, 32}})
		}, []float32{127.5, 100, 50}, []float32{127.5, 64, 32}},
		{"one value", func(*testing.T) []byte {
			return tflitetest.FloatMeanModel(tfl.Normalization{Mean: []float32{0}, Std: []float32{255}})
		}, []float32{0}, []float32{255}},
		{"no metadata", func(*testing.T) []byte { return tflitetest.FloatMeanModel(tfl.Normalization{}) }, nil, nil},
		{"mobilenet_v2_1.0_224_quant", func(t *testing.T) []byte { return testtool.ReadShared(t, "models/mobilenet_v2_1.0_224_quant.tflite") },
			[]float32{127.5}, []float32{127.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tfl.Decode(tc.data(t))
			if err != nil {
				t.Fatal(err)
			}
			n, ok, err := m.InputNormalization(0)
			if err != nil || ok != (tc.mean != nil) || !slices.Equal(n.Mean, tc.mean) || !slices.Equal(n.Std, tc.std) {
				t.Errorf("normalization %+v, %v, %v; want mean %v std %v", n, ok, err, tc.mean, tc.std)
			}
			if _, ok, err := m.InputNormalization(1); ok || err != nil {
				t.Errorf("input 1 (none): %v, %v", ok, err)
			}
		})
	}
}

// FuzzNormalization: whatever the metadata buffer holds, reading its
// normalization returns one or an error wrapping tfl.ErrFormat, never a
// panic.
func FuzzNormalization(f *testing.F) {
	m, err := tfl.Decode(tflitetest.FloatMeanModel(tfl.Normalization{Mean: []float32{1, 2, 3}, Std: []float32{4, 5, 6}}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(m.Buffers[m.Metadata[1].Buffer])
	f.Add([]byte("\x08\x00\x00\x00M001"))
	f.Fuzz(func(t *testing.T, buf []byte) {
		if _, _, err := tfl.ReadNormalization(buf, 0); err != nil && !errors.Is(err, tfl.ErrFormat) {
			t.Fatalf("error %v does not wrap tfl.ErrFormat", err)
		}
	})
}
