package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/internal/testtool"
)

// runCmd runs the program with args and returns its stdout, stderr and
// error.
func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(string) string { return "" }
	err := run(context.Background(), append([]string{"huskyai"}, args...), getenv, strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func decodeLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("output line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

// TestPredictUnseenModel is the engine's acceptance test: a Keras-layout
// .h5 this repository never saw, written by h5py from a random seed the
// way tf.keras 2.x writes it, must give PyTorch's probabilities within
// 1e-4 for 128x128 PNG inputs, through the whole "huskyai predict" path.
func TestPredictUnseenModel(t *testing.T) {
	py := testtool.Python(t)
	dir := t.TempDir()
	seed := rand.Uint32()
	gen := exec.Command(py, filepath.Join(testtool.RepoRoot(), "scripts", "gen_parity.py"),
		"--fresh", "--out", dir, "--seed", strconv.FormatUint(uint64(seed), 10))
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("gen_parity.py --fresh --seed %d: %v\n%s", seed, err, out)
	}
	var fresh map[string]float64
	b, err := os.ReadFile(filepath.Join(dir, "fresh.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fresh); err != nil {
		t.Fatalf("fresh.json: %v", err)
	}
	if len(fresh) == 0 {
		t.Fatal("fresh.json lists no images")
	}
	args := []string{"predict", "--model", filepath.Join(dir, "husky.h5")}
	for name := range fresh {
		args = append(args, filepath.Join(dir, name))
	}
	stdout, stderr, err := runCmd(t, args...)
	if err != nil {
		t.Fatalf("predict: %v\n%s", err, stderr)
	}
	lines := decodeLines(t, stdout)
	if len(lines) != len(fresh) {
		t.Fatalf("got %d lines for %d images", len(lines), len(fresh))
	}
	for _, l := range lines {
		name := filepath.Base(l["file"].(string))
		got, want := l["probability"].(float64), fresh[name]
		if d := math.Abs(got - want); !(d <= 1e-4) {
			t.Errorf("seed %d, %s: probability %.7f, PyTorch %.7f", seed, name, got, want)
		}
		wantLabel := "not husky"
		if got > 0.5 {
			wantLabel = "husky"
		}
		if l["label"] != wantLabel || l["score"] != strconv.FormatFloat(got*100, 'f', 2, 64) {
			t.Errorf("%s: label %v score %v for probability %v", name, l["label"], l["score"], got)
		}
	}
	t.Logf("seed %d: %d images within 1e-4 of PyTorch", seed, len(lines))
}

func writePNG(t *testing.T, dir string) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "dot.png")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPredictDefaultModel runs the embedded model, which answers under
// its release name, one line per image and no warning in the lines.
func TestPredictDefaultModel(t *testing.T) {
	png := writePNG(t, t.TempDir())
	stdout, stderr, err := runCmd(t, "predict", png, png)
	if err != nil {
		t.Fatalf("predict: %v\n%s", err, stderr)
	}
	lines := decodeLines(t, stdout)
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	for _, l := range lines {
		for _, k := range []string{"file", "probability", "score", "label", "text", "width", "height", "model"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line lacks %q: %v", k, l)
			}
		}
		if l["model"] != defaultmodel.Name {
			t.Errorf("model %v, want %s", l["model"], defaultmodel.Name)
		}
		if _, ok := l["warning"]; ok {
			t.Errorf("line carries a warning: %v", l)
		}
	}
}

// TestPredictErrors checks that a bad image is reported on stderr with its
// name and reason, the good ones still print, and the exit is non-zero.
func TestPredictErrors(t *testing.T) {
	dir := t.TempDir()
	good := writePNG(t, dir)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not an image"), 0o644)
	truncated := filepath.Join(dir, "cut.png")
	b, _ := os.ReadFile(good)
	os.WriteFile(truncated, b[:40], 0o644)
	badModel := filepath.Join(dir, "bad.h5")
	os.WriteFile(badModel, []byte("\x89HDF\r\n\x1a\ngarbage"), 0o644)

	tests := []struct {
		name       string
		args       []string
		lines      int
		stderrHas  []string
		wantErrMsg string
	}{
		{"mixed", []string{"predict", good, text, filepath.Join(dir, "missing.png"), truncated, good}, 2,
			[]string{text + ": not a PNG, JPEG or GIF image\n", "missing.png: no such file\n", "cut.png: the PNG image is truncated or damaged", "huskyai predict: 5 images, ", " not husky, 3 errors, "}, ""},
		{"bad model", []string{"predict", "--model", badModel, good}, 0, nil, "model " + badModel},
		{"missing model", []string{"predict", "--model", filepath.Join(dir, "none.onnx"), good}, 0, nil, "no such file"},
		{"no images", []string{"predict"}, 0, nil, "no image given"},
		{"bad filter", []string{"predict", "--resize", "lanczos", good}, 0, nil, "--resize"},
		{"unknown command", []string{"frobnicate"}, 0, nil, `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runCmd(t, tt.args...)
			if err == nil {
				t.Fatal("run succeeded; want an error")
			}
			if tt.wantErrMsg != "" && !strings.Contains(err.Error(), tt.wantErrMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantErrMsg)
			}
			if n := len(decodeLines(t, stdout)); n != tt.lines {
				t.Errorf("%d output lines, want %d", n, tt.lines)
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}
