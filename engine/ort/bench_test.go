//go:build ort

package ort_test

import (
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/engine/onnx"
	"github.com/huskyai/huskyai/engine/ort"
	"github.com/huskyai/huskyai/internal/testtool"
)

// BenchmarkHusky128 times one image through a model of the Husky
// architecture at 128x128 (scripts/gen_husky_onnx.py, or the ONNX file
// named by $HUSKYAI_BENCH_ONNX), the same ONNX file on the native engine
// and on ONNX Runtime with 1 and 2 intra-op threads.
func BenchmarkHusky128(b *testing.B) {
	path := os.Getenv("HUSKYAI_BENCH_ONNX")
	if path == "" {
		py := testtool.Python(b)
		path = filepath.Join(b.TempDir(), "husky128.onnx")
		gen := exec.Command(py, filepath.Join(testtool.RepoRoot(), "scripts", "gen_husky_onnx.py"), "--out", path)
		if out, err := gen.CombinedOutput(); err != nil {
			b.Fatalf("gen_husky_onnx.py: %v\n%s", err, out)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	benchEngines(b, data)
}

// BenchmarkHuskySmall does the same on the 32x32 parity fixture.
func BenchmarkHuskySmall(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(parityDir, "husky_small_torch.onnx"))
	if err != nil {
		b.Fatal(err)
	}
	benchEngines(b, data)
}

func benchEngines(b *testing.B, data []byte) {
	native, err := onnx.Load(data)
	if err != nil {
		b.Fatal(err)
	}
	x := make([]float32, native.InputShape().Size())
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		x[i] = rng.Float32()
	}
	want, err := native.Predict(nil, x)
	if err != nil {
		b.Fatal(err)
	}
	engines := []struct {
		name string
		e    classifier.Engine
	}{{"engine=native", native}}
	for _, threads := range []int{1, 2} {
		s, err := ort.Load(data, ort.Options{Lib: lib(b), Threads: threads})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		got, err := s.Predict(nil, x)
		if err != nil {
			b.Fatal(err)
		}
		// A sanity check, looser than the parity tests: float32 sums over
		// the 25088 features of the Husky Dense layer, in another order,
		// differ by about 1e-5 on random images.
		if d := math.Abs(float64(got[0] - want[0])); !(d <= 1e-4) {
			b.Fatalf("ONNX Runtime %v, native %v", got, want)
		}
		engines = append(engines, struct {
			name string
			e    classifier.Engine
		}{"engine=ort/threads=" + string(rune('0'+threads)), s})
	}
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			buf := make([]float32, 0, 1)
			for b.Loop() {
				if _, err := e.e.Predict(buf[:0], x); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
