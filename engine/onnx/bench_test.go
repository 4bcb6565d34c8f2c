package onnx

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/keras"
)

// BenchmarkHuskyFormats times one image through models of the Husky
// architecture loaded from ONNX files ($HUSKY_ONNX, a list of paths joined
// like $PATH, e.g. what scripts/gen_husky_onnx.py writes) and from Keras
// .h5 files ($HUSKY_H5, e.g. its --h5 output or defaultmodel/huskymodel.h5),
// in the same run, so that the two loaders' translations of one
// architecture can be compared; each ONNX file also runs unfolded (see
// foldCHW). It skips when both are unset.
func BenchmarkHuskyFormats(b *testing.B) {
	type file struct {
		name, path string
		load       func([]byte, ...engine.Option) (*engine.Model, error)
	}
	var files []file
	for _, f := range []struct {
		env  string
		load func([]byte, ...engine.Option) (*engine.Model, error)
	}{{"HUSKY_ONNX", Load}, {"HUSKY_H5", keras.Load}} {
		for _, p := range filepath.SplitList(os.Getenv(f.env)) {
			files = append(files, file{filepath.Base(p), p, f.load})
			if f.env == "HUSKY_ONNX" {
				// The same file with a C,H,W Flatten left as a run-time
				// permutation, as the loader did before folding it.
				files = append(files, file{filepath.Base(p) + "-unfolded", p, func(b []byte, o ...engine.Option) (*engine.Model, error) {
					return load(b, false, o...)
				}})
			}
		}
	}
	if len(files) == 0 {
		b.Skip("$HUSKY_ONNX and $HUSKY_H5 are not set")
	}
	for _, f := range files {
		b.Run(f.name, func(b *testing.B) {
			data, err := os.ReadFile(f.path)
			if err != nil {
				b.Fatal(err)
			}
			m, err := f.load(data)
			if err != nil {
				b.Fatal(err)
			}
			x := make([]float32, m.InputShape().Size())
			for i := range x {
				x[i] = float32(i%251) / 251
			}
			out := make([]float32, 0, m.OutputShape().Size())
			data = nil
			runtime.GC() // not the loader's garbage in the timed loop
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				out, _ = m.Predict(out[:0], x)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
