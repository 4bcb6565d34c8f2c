package train

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/internal/testtool"
)

// TestTrainSmoke trains on 12 photos per class for one epoch, with the
// ImageNet teacher as the shipped model is trained, and checks the
// exported .h5: huskyai loads it, and its probabilities for the validation
// photos, computed by the Go engine from the files as serve would, match
// PyTorch's (which decoded them with Pillow: a pixel level here and there
// differs, so the tolerance is 5e-3, not float rounding). Then the teacher
// itself must tell the validation photos apart.
func TestTrainSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model for a few seconds")
	}
	py := testtool.Python(t)
	photos := testtool.Shared(t, "data/photos")
	teacher := testtool.Shared(t, "models/mobilenet_v2_1.0_224_quant.tflite")
	dir := t.TempDir()
	out, hist := filepath.Join(dir, "m.h5"), filepath.Join(dir, "history.json")
	cmd := exec.Command(py, "train.py", "--data", photos, "--limit", "12", "--epochs", "1", "--batch", "16",
		"--threads", "1", "--out", out, "--history", hist, "--val-dir", filepath.Join(dir, "val"), "--teacher", teacher,
		"--teacher-views", "1", // the teacher-labelled views run too
		"--teacher-aux", "0.25") // and the head that learns the teacher's classes
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("train.py: %v\n%s", err, b)
	} else {
		t.Logf("train.py:\n%s", b)
	}
	var h struct {
		Validation int
		Epochs     []struct {
			Loss float64
		}
		Probe []struct {
			File        string
			Probability float64
		}
	}
	b, err := os.ReadFile(hist)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Epochs) != 1 || h.Validation == 0 || len(h.Probe) == 0 {
		t.Fatalf("history: %d epochs, %d validation photos, %d probes; want 1, >0, >0", len(h.Epochs), h.Validation, len(h.Probe))
	}
	links, err := filepath.Glob(filepath.Join(dir, "val", "*", "*", "*"))
	if err != nil || len(links) != h.Validation {
		t.Errorf("--val-dir holds %d files, want %d (%v)", len(links), h.Validation, err)
	}
	model, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	c, err := classifier.Load(model, classifier.DefaultOptions())
	if err != nil {
		t.Fatalf("huskyai cannot load what train.py wrote: %v", err)
	}
	for _, p := range h.Probe {
		img, err := os.ReadFile(filepath.Join(photos, p.File))
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Classify(img)
		if err != nil {
			t.Fatalf("%s: %v", p.File, err)
		}
		if d := math.Abs(float64(r.Probability) - p.Probability); d > 5e-3 {
			t.Errorf("%s: Go engine %.6f, PyTorch %.6f (|diff| %.2g > 5e-3)", p.File, r.Probability, p.Probability, d)
		}
	}
	checkTeacher(t, py, teacher, filepath.Join(dir, "val"))
}

// checkTeacher runs teacher.py, the float copy of a TFLite ImageNet
// classifier that train.py distils from, on dir (husky/ and other/) and
// wants its balanced accuracy at 0.5 to be at least 0.9: a reader of the
// flatbuffer or an operator that went wrong gives chance-level answers.
func checkTeacher(t *testing.T, py, model, dir string) {
	t.Helper()
	cmd := exec.Command(py, "teacher.py", model, dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if _, err := cmd.Output(); err != nil {
		t.Fatalf("teacher.py: %v\n%s", err, stderr.String())
	}
	var rec, spec, bal float64
	_, line, _ := strings.Cut(stderr.String(), "threshold 0.5: ")
	if _, err := fmt.Sscanf(line, "recall %f specificity %f balanced accuracy %f", &rec, &spec, &bal); err != nil {
		t.Fatalf("teacher.py printed %q: %v", stderr.String(), err)
	}
	if bal < 0.9 {
		t.Errorf("teacher.py on the validation photos: recall %.3f, specificity %.3f, balanced accuracy %.3f < 0.9", rec, spec, bal)
	}
}
