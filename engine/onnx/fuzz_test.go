package onnx

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes through the ONNX loader (protobuf decode,
// graph translation, engine checks), seeded with the reference models. It
// must return a model or an error, never panic or allocate without bound.
func FuzzLoad(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "parity", "*.onnx"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && len(b) < 1<<20 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(data)
		if err == nil && m == nil {
			t.Fatal("nil model without error")
		}
	})
}
