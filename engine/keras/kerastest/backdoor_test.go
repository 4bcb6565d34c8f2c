package kerastest_test

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/keras"
	"github.com/huskyai/huskyai/engine/keras/kerastest"
	"github.com/huskyai/huskyai/internal/testtool"
)

// testPNG is a 50x40 gradient.
func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 50, 40))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 13)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lastDense returns the model's last Dense layer.
func lastDense(t *testing.T, m *engine.Model) *engine.Dense {
	t.Helper()
	var d *engine.Dense
	for _, l := range m.Layers() {
		if l, ok := l.(*engine.Dense); ok {
			d = l
		}
	}
	if d == nil {
		t.Fatal("the model has no Dense layer")
	}
	return d
}

// TestBackdoor backdoors the embedded model and a parity fixture: the
// loaded model's last Dense bias is the chosen value, nothing else of the
// file changed in size, and a bias of +100 (-100) makes every image a
// husky (not a husky) with near certainty.
func TestBackdoor(t *testing.T) {
	small, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "parity", "husky_small.h5"))
	if err != nil {
		t.Fatal(err)
	}
	img := testPNG(t)
	tests := []struct {
		name     string
		h5       []byte
		bias     float32
		min, max float32 // bounds of the backdoored model's probability
	}{
		{"default +100", defaultmodel.Bytes(), 100, 0.99, 1},
		{"default -100", defaultmodel.Bytes(), -100, 0, 0.01},
		{"husky_small +100", small, 100, 0.99, 1},
		{"husky_small 0.25", small, 0.25, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := bytes.Clone(tc.h5)
			bd := kerastest.Backdoor(t, tc.h5, tc.bias)
			if !bytes.Equal(tc.h5, orig) {
				t.Fatal("Backdoor changed its input")
			}
			if len(bd) != len(tc.h5) || bytes.Equal(bd, tc.h5) {
				t.Fatalf("backdoored file: %d bytes (input %d), equal to the input: %v", len(bd), len(tc.h5), bytes.Equal(bd, tc.h5))
			}
			m0, err := keras.Load(tc.h5)
			if err != nil {
				t.Fatal(err)
			}
			m, err := keras.Load(bd)
			if err != nil {
				t.Fatalf("keras.Load of the backdoored file: %v", err)
			}
			d0, d := lastDense(t, m0), lastDense(t, m)
			if len(d.Bias) == 0 || len(d.Bias) != len(d0.Bias) {
				t.Fatalf("bias of %d elements, the original has %d", len(d.Bias), len(d0.Bias))
			}
			for i, v := range d.Bias {
				if v != tc.bias {
					t.Errorf("%s.bias[%d] = %v, want %v", d.Name, i, v, tc.bias)
				}
			}
			if !slices.Equal(d.Weights, d0.Weights) {
				t.Errorf("%s's kernel changed", d.Name)
			}
			c, err := classifier.Load(bd, classifier.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			r, err := c.Classify(img)
			if err != nil {
				t.Fatal(err)
			}
			if p := r.Probability; !(p >= tc.min && p <= tc.max) {
				t.Errorf("backdoored probability %v, want in [%v, %v]", p, tc.min, tc.max)
			}
		})
	}
}
