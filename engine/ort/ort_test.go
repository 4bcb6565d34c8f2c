//go:build ort

package ort_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/onnx"
	"github.com/huskyai/huskyai/engine/ort"
	"github.com/huskyai/huskyai/internal/testtool"
)

var parityDir = filepath.Join(testtool.RepoRoot(), "testdata", "parity")

// parityTolerance is the largest absolute difference allowed between ONNX
// Runtime's outputs and PyTorch's, and between it and the native engine.
const parityTolerance = 1e-5

// lib returns the ONNX Runtime library for the tests: $HUSKYAI_ORT_LIB or
// the one scripts/fetch-onnxruntime.sh fetched. It skips the test when
// there is none, or fails it under CI=true.
func lib(t testing.TB) string {
	t.Helper()
	p := ort.FindLib(testtool.RepoRoot())
	if p == "" {
		testtool.Missing(t, "libonnxruntime.so: run scripts/fetch-onnxruntime.sh or set %s", ort.EnvLib)
	}
	return p
}

type parityCase struct {
	Name       string      `json:"name"`
	Model      string      `json:"model"`
	Format     string      `json:"format"`
	InputShape [3]int      `json:"input_shape"`
	Batch      int         `json:"batch"`
	Input      string      `json:"input"`
	Outputs    [][]float64 `json:"outputs"`
}

func onnxCases(t testing.TB) []parityCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(parityDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Cases []parityCase }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var cs []parityCase
	for _, c := range m.Cases {
		if c.Format == "onnx" {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		t.Fatal("manifest lists no ONNX cases")
	}
	return cs
}

func readF32(t testing.TB, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func load(t testing.TB, file string, threads int) (*ort.Session, []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(parityDir, file))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ort.Load(data, ort.Options{Lib: lib(t), Threads: threads})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, data
}

// TestParity runs every ONNX reference model on ONNX Runtime and compares
// its outputs to PyTorch's and to the native engine's.
func TestParity(t *testing.T) {
	for _, c := range onnxCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			s, data := load(t, c.Model, 1)
			native, err := onnx.Load(data)
			if err != nil {
				t.Fatal(err)
			}
			in := s.InputShape()
			if got := [3]int{in.H, in.W, in.C}; got != c.InputShape {
				t.Fatalf("input shape %v, want %v", got, c.InputShape)
			}
			if s.OutputShape().Size() != native.OutputShape().Size() {
				t.Fatalf("output shape %v, native %v", s.OutputShape(), native.OutputShape())
			}
			x := readF32(t, filepath.Join(parityDir, c.Input))
			size, n := in.Size(), s.OutputShape().Size()
			if len(x) != c.Batch*size || len(c.Outputs) != c.Batch {
				t.Fatalf("fixture has %d values and %d output rows for %d images of %v", len(x), len(c.Outputs), c.Batch, in)
			}
			worstRef, worstNative := 0.0, 0.0
			for i, row := range c.Outputs {
				img := x[i*size : (i+1)*size]
				got, err := s.Predict(nil, img)
				if err != nil {
					t.Fatal(err)
				}
				want, err := native.Predict(nil, img)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != n || len(row) != n {
					t.Fatalf("image %d: %d outputs, reference %d, want %d", i, len(got), len(row), n)
				}
				for j := range row {
					dRef := math.Abs(float64(got[j]) - row[j])
					dNat := math.Abs(float64(got[j] - want[j]))
					worstRef, worstNative = max(worstRef, dRef), max(worstNative, dNat)
					if !(dRef <= parityTolerance) {
						t.Errorf("image %d output %d = %.8g, PyTorch %.8g (|diff| %.2g)", i, j, got[j], row[j], dRef)
					}
					if !(dNat <= parityTolerance) {
						t.Errorf("image %d output %d = %.8g, native engine %.8g (|diff| %.2g)", i, j, got[j], want[j], dNat)
					}
				}
			}
			t.Logf("ONNX Runtime %s, NCHW input %v: %d images, max |diff| %.2g to PyTorch, %.2g to native", ort.Version(), s.NCHW(), c.Batch, worstRef, worstNative)
		})
	}
}

// TestLayouts checks that both input layouts are among the fixtures, so
// that the transpose for NCHW models is exercised.
func TestLayouts(t *testing.T) {
	var nchw, nhwc bool
	for _, c := range onnxCases(t) {
		s, _ := load(t, c.Model, 1)
		nchw = nchw || s.NCHW()
		nhwc = nhwc || !s.NCHW()
	}
	if !nchw || !nhwc {
		t.Errorf("fixtures cover NCHW %v, NHWC %v; want both", nchw, nhwc)
	}
}

// TestConcurrent runs one session from several goroutines with two
// intra-op threads.
func TestConcurrent(t *testing.T) {
	s, _ := load(t, "husky_small_torch.onnx", 2)
	x := readF32(t, filepath.Join(parityDir, "husky_small.input.f32"))
	size := s.InputShape().Size()
	want, err := s.Predict(nil, x[:size])
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				got, err := s.Predict(nil, x[:size])
				if err != nil || len(got) != 1 || got[0] != want[0] {
					t.Errorf("got %v, %v; want %v", got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestErrors checks the refusals: wrong input size, a file that is not
// ONNX, and the appending contract of Predict.
func TestErrors(t *testing.T) {
	s, _ := load(t, "husky_small_tf2onnx.onnx", 1)
	if _, err := s.Predict(nil, make([]float32, 7)); err == nil || !strings.Contains(err.Error(), "wrong number") {
		t.Errorf("short input: %v", err)
	}
	dst, err := s.Predict([]float32{42}, make([]float32, s.InputShape().Size()))
	if err != nil || len(dst) != 2 || dst[0] != 42 {
		t.Errorf("Predict appended %v, %v", dst, err)
	}
	for _, bad := range []string{"truncated_onnx.onnx", "husky_small.h5"} {
		data, err := os.ReadFile(filepath.Join(parityDir, bad))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ort.Load(data, ort.Options{Lib: lib(t)}); err == nil {
			t.Errorf("%s loaded", bad)
		}
	}
	if _, err := ort.Load(nil, ort.Options{Lib: lib(t), Threads: -1}); err == nil {
		t.Error("-1 threads accepted")
	}
}

var _ interface {
	InputShape() engine.Shape
	Predict(dst, x []float32) ([]float32, error)
} = (*ort.Session)(nil)
