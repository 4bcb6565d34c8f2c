package classifier

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"testing"

	"github.com/huskyai/huskyai/engine"
)

// TestInferBatch classifies different images through Prepare and one
// InferBatch and requires each result to equal Classify's for its image.
func TestInferBatch(t *testing.T) {
	for _, maxBatch := range []int{1, 4} {
		opt := DefaultOptions()
		opt.Model = []engine.Option{engine.WithMaxBatch(maxBatch)}
		c, err := LoadDefault(opt)
		if err != nil {
			t.Fatal(err)
		}
		var imgs [][]byte
		for i := range 5 {
			m := image.NewNRGBA(image.Rect(0, 0, 40+i*10, 30+i*7))
			for p := range m.Pix {
				m.Pix[p] = uint8(p*(i+3) + i*50)
			}
			m.Set(0, 0, color.NRGBA{A: 255})
			var buf bytes.Buffer
			if err := png.Encode(&buf, m); err != nil {
				t.Fatal(err)
			}
			imgs = append(imgs, buf.Bytes())
		}
		var ps []Prepared
		for _, img := range imgs {
			p, err := c.Prepare(img)
			if err != nil {
				t.Fatal(err)
			}
			if p.Timings.Decode <= 0 || p.Timings.Preprocess <= 0 || len(p.X) != 128*128*3 {
				t.Errorf("Prepare: timings %+v, %d values", p.Timings, len(p.X))
			}
			ps = append(ps, p)
		}
		rs, err := c.InferBatch(ps)
		if err != nil || len(rs) != len(imgs) {
			t.Fatalf("InferBatch = %d results, %v", len(rs), err)
		}
		for i, img := range imgs {
			want, err := c.Classify(img)
			if err != nil {
				t.Fatal(err)
			}
			got := rs[i]
			if d := got.Probability - want.Probability; d > 1e-6 || d < -1e-6 || got.Image != want.Image || got.PHash != want.PHash {
				t.Errorf("max batch %d, image %d: InferBatch %+v %+v %x, Classify %+v %+v %x", maxBatch, i,
					got.Verdict, got.Image, got.PHash, want.Verdict, want.Image, want.PHash)
			}
			if got.Timings.Batch != len(imgs) || got.Timings.Inference <= 0 || want.Timings.Batch != 0 {
				t.Errorf("image %d: timings %+v (Classify's %+v)", i, got.Timings, want.Timings)
			}
		}
	}
}

func TestInferBatchErrors(t *testing.T) {
	c, err := LoadDefault(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if rs, err := c.InferBatch(nil); rs != nil || err != nil {
		t.Errorf("InferBatch(nil) = %v, %v", rs, err)
	}
	if _, err := c.InferBatch([]Prepared{{X: make([]float32, 128*128*3)}, {X: make([]float32, 5)}}); !errors.Is(err, ErrModel) {
		t.Errorf("InferBatch(short tensor) error = %v, want ErrModel", err)
	}
	if _, err := c.Prepare([]byte("not an image")); err == nil {
		t.Error("Prepare(junk) succeeded")
	}
}
