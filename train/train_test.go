package train

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/internal/testtool"
)

// TestTrainSmoke trains on 12 photos per class for one epoch and checks the
// exported .h5: huskyai loads it, and its probabilities for the validation
// photos, computed by the Go engine from the files as serve would, match
// PyTorch's (which decoded them with Pillow: a pixel level here and there
// differs, so the tolerance is 5e-3, not float rounding).
func TestTrainSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model for a few seconds")
	}
	py := testtool.Python(t)
	photos := testtool.Shared(t, "data/photos")
	dir := t.TempDir()
	out, hist := filepath.Join(dir, "m.h5"), filepath.Join(dir, "history.json")
	cmd := exec.Command(py, "train.py", "--data", photos, "--limit", "12", "--epochs", "1", "--batch", "16",
		"--threads", "1", "--out", out, "--history", hist, "--val-dir", filepath.Join(dir, "val"))
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
}
