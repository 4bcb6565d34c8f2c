package engine_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/internal/kernels"
	"github.com/huskyai/huskyai/engine/keras"
	"github.com/huskyai/huskyai/engine/onnx"
)

// parityDir holds the reference fixtures written by scripts/gen_parity.py:
// model files with seeded random weights and the outputs PyTorch computes
// for them.
var parityDir = filepath.Join("..", "testdata", "parity")

// parityTolerance is the largest absolute difference allowed between our
// outputs and PyTorch's.
const parityTolerance = 1e-5

type manifest struct {
	Cases []struct {
		Name       string      `json:"name"`
		Model      string      `json:"model"`
		Format     string      `json:"format"`
		InputShape [3]int      `json:"input_shape"`
		Batch      int         `json:"batch"`
		Input      string      `json:"input"`
		Outputs    [][]float64 `json:"outputs"`
		Covers     []string    `json:"covers"`
	} `json:"cases"`
	Refused []struct {
		Name          string `json:"name"`
		Model         string `json:"model"`
		Format        string `json:"format"`
		ErrorContains string `json:"error_contains"`
	} `json:"refused"`
}

func readManifest(t *testing.T) *manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(parityDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Cases) == 0 || len(m.Refused) == 0 {
		t.Fatal("manifest lists no cases")
	}
	return &m
}

func load(format string, data []byte, opts ...engine.Option) (*engine.Model, error) {
	switch format {
	case "onnx":
		return onnx.Load(data, opts...)
	case "keras-h5", "keras-v3":
		return keras.Load(data, opts...)
	}
	panic("unknown format " + format)
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%4 != 0 {
		t.Fatalf("%s: %d bytes is not a whole number of float32", path, len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// TestParity loads every reference model with each kernel backend and
// compares its outputs to PyTorch's.
func TestParity(t *testing.T) {
	m := readManifest(t)
	backends := []kernels.Backend{kernels.Default, kernels.Reference{}}
	for _, c := range m.Cases {
		t.Run(c.Name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(parityDir, c.Model))
			if err != nil {
				t.Fatal(err)
			}
			x := readF32(t, filepath.Join(parityDir, c.Input))
			for _, k := range backends {
				if k.Name() == "reference" && len(data) > 4<<20 && testing.Short() {
					continue
				}
				mdl, err := load(c.Format, data, engine.WithBackend(k))
				if err != nil {
					t.Fatalf("%s: load: %v", k.Name(), err)
				}
				in := mdl.InputShape()
				if got := [3]int{in.H, in.W, in.C}; got != c.InputShape {
					t.Fatalf("input shape %v, want %v", got, c.InputShape)
				}
				got, err := mdl.PredictBatch(x, c.Batch)
				if err != nil {
					t.Fatal(err)
				}
				n := mdl.OutputShape().Size()
				if len(got) != n*c.Batch || len(c.Outputs) != c.Batch {
					t.Fatalf("got %d outputs for %d images, reference has %d rows", len(got), c.Batch, len(c.Outputs))
				}
				worst := 0.0
				for i, row := range c.Outputs {
					if len(row) != n {
						t.Fatalf("image %d: reference has %d outputs, model %d", i, len(row), n)
					}
					for j, want := range row {
						d := math.Abs(float64(got[i*n+j]) - want)
						worst = max(worst, d)
						if !(d <= parityTolerance) {
							t.Errorf("%s: image %d output %d = %.8g, PyTorch %.8g (|diff| %.2g)", k.Name(), i, j, got[i*n+j], want, d)
						}
					}
				}
				t.Logf("%s: %d images, max |diff| %.2g (covers %s)", k.Name(), c.Batch, worst, strings.Join(c.Covers, ", "))
			}
		})
	}
}

// TestRefused checks that each model the engine cannot run faithfully is
// refused with an error that says why.
func TestRefused(t *testing.T) {
	m := readManifest(t)
	for _, c := range m.Refused {
		t.Run(c.Name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(parityDir, c.Model))
			if err != nil {
				t.Fatal(err)
			}
			_, err = load(c.Format, data)
			if err == nil {
				t.Fatalf("loaded; want an error containing %q", c.ErrorContains)
			}
			if !strings.Contains(err.Error(), c.ErrorContains) {
				t.Errorf("error %q does not contain %q", err, c.ErrorContains)
			}
		})
	}
}

// TestCorruptModels cuts and flips bytes of every small reference model:
// each load must return a model or an error, never panic.
func TestCorruptModels(t *testing.T) {
	m := readManifest(t)
	for _, c := range m.Cases {
		data, err := os.ReadFile(filepath.Join(parityDir, c.Model))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 1<<20 {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			step := max(len(data)/97, 1)
			for cut := 0; cut < len(data); cut += step {
				if _, err := load(c.Format, data[:cut]); err == nil && cut < len(data)/2 {
					t.Errorf("a copy cut at %d of %d bytes loaded", cut, len(data))
				}
			}
			buf := make([]byte, len(data))
			for i := 0; i < len(data); i += step {
				copy(buf, data)
				buf[i] ^= 0xff
				load(c.Format, buf) // must not panic
			}
		})
	}
}
