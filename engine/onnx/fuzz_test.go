package onnx

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/internal/testtool"
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
		var m *engine.Model
		var err error
		used := testtool.Allocated(func() { m, err = Load(data) })
		if err == nil && m == nil {
			t.Fatal("nil model without error")
		}
		if err != nil && used > testtool.RefusedModelBudget(len(data)) {
			t.Fatalf("refusing %d bytes allocated %d (budget %d): %v", len(data), used, testtool.RefusedModelBudget(len(data)), err)
		}
	})
}
