package classifier

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/internal/testtool"
)

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 13)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestUntrainedModelWarns loads a model whose file declares itself
// untrained (huskyai_note "UNTRAINED PLACEHOLDER: ..."): its Info carries
// the warning that every output repeats.
func TestUntrainedModelWarns(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "parity", "husky_placeholder.h5"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(data, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if info := c.Info(); !info.Placeholder || info.Warning != huskyai.PlaceholderWarning {
		t.Errorf("Info() = %+v; want the placeholder warning", info)
	}
}

func TestClassifyDefault(t *testing.T) {
	c, err := LoadDefault(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	info := c.Info()
	if info.Name != defaultmodel.Name || info.Placeholder || info.Warning != "" || info.Input != [3]int{128, 128, 3} || len(info.SHA256) != 64 {
		t.Errorf("Info() = %+v; want %s, trained (no warning)", info, defaultmodel.Name)
	}
	r, err := c.Classify(pngBytes(t, 300, 200))
	if err != nil {
		t.Fatal(err)
	}
	if r.Image != (imageprep.Info{Format: "png", Width: 300, Height: 200}) {
		t.Errorf("Image = %+v", r.Image)
	}
	if r.Probability < 0 || r.Probability > 1 || r.Verdict != huskyai.NewVerdict(r.Probability, 2) {
		t.Errorf("Verdict = %+v", r.Verdict)
	}
	if r.Timings.Decode <= 0 || r.Timings.Preprocess <= 0 || r.Timings.Inference <= 0 {
		t.Errorf("Timings = %+v; want every stage timed", r.Timings)
	}
	// The same image through Prepare and ClassifyTensor gives the same answer.
	x, info2, err := imageprep.Prepare(pngBytes(t, 300, 200), imageprep.Options{Width: 128, Height: 128}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.ClassifyTensor(x, info2)
	if err != nil || r2.Verdict != r.Verdict {
		t.Errorf("ClassifyTensor = %+v, %v; Classify gave %+v", r2.Verdict, err, r.Verdict)
	}
}

func TestClassifyBadImages(t *testing.T) {
	opt := DefaultOptions()
	opt.MaxPixels = 1000
	c, err := LoadDefault(opt)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		img  []byte
		kind imageprep.Kind
		info imageprep.Info
	}{
		{"text", []byte("hello"), imageprep.Unsupported, imageprep.Info{}},
		{"too many pixels", pngBytes(t, 100, 20), imageprep.TooLarge, imageprep.Info{Format: "png", Width: 100, Height: 20}},
		{"truncated", pngBytes(t, 10, 10)[:50], imageprep.Undecodable, imageprep.Info{Format: "png", Width: 10, Height: 10}},
	}
	for _, tt := range tests {
		r, err := c.Classify(tt.img)
		ie, ok := errors.AsType[*imageprep.Error](err)
		if !ok || ie.Kind != tt.kind {
			t.Errorf("%s: error %v, want kind %v", tt.name, err, tt.kind)
			continue
		}
		if r.Image != tt.info {
			t.Errorf("%s: Image = %+v, want %+v", tt.name, r.Image, tt.info)
		}
	}
}

func TestLoadRefusesMultiOutput(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "parity", "conv_same_strides.h5"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(data, DefaultOptions()); err == nil || !strings.Contains(err.Error(), "one sigmoid output") {
		t.Errorf("Load(3-output model) error = %v", err)
	}
	if _, err := Load([]byte("not a model"), DefaultOptions()); err == nil || !strings.Contains(err.Error(), "not a Keras") {
		t.Errorf("Load(junk) error = %v", err)
	}
}
