package classifier

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"runtime"
	"testing"
)

// TestPrepareCost checks that PrepareCost bounds what Prepare allocates
// (runtime.MemStats.TotalAlloc), with and without a centre crop, for a PNG
// and a JPEG (Expected, which the reduced JPEG decoder allocates), and
// that it refuses what Prepare refuses from the header.
func TestPrepareCost(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 900, 700))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7 / 3)
	}
	var p, j bytes.Buffer
	if err := png.Encode(&p, img); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&j, img, nil); err != nil {
		t.Fatal(err)
	}
	for _, crop := range []float64{0, 0.875} {
		opt := DefaultOptions()
		opt.CenterCrop = crop
		c, err := LoadDefault(opt)
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{"png": p.Bytes(), "jpeg": j.Bytes()} {
			cost, info, err := c.PrepareCost(data)
			est := cost.Expected
			if err != nil || info.Width != 900 || info.Height != 700 {
				t.Fatalf("%s: %+v %v", name, info, err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			if _, err := c.Prepare(data); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			used := int64(after.TotalAlloc - before.TotalAlloc)
			t.Logf("%s, crop %v: Prepare allocated %d bytes, PrepareCost says %d", name, crop, used, est)
			if est < used {
				t.Errorf("%s, crop %v: PrepareCost %d bytes, Prepare allocated %d", name, crop, est, used)
			}
		}
	}
	c, err := LoadDefault(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.PrepareCost([]byte("text, not an image")); err == nil {
		t.Error("PrepareCost of a text file: no error")
	}
}
