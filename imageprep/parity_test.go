package imageprep

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The fixtures are written by testdata/gen.py with Pillow 9.4 (see there).

type manifest struct {
	Pillow string `json:"pillow"`
	Images []struct {
		File          string `json:"file"`
		Kind          string `json:"kind"`
		Format        string `json:"format"`
		Mode          string `json:"mode"`
		Width, Height int
		Decoded       string `json:"decoded"`
		Expected      []struct {
			Filter        string `json:"filter"`
			Width, Height int
			File          string `json:"file"`
		} `json:"expected"`
	} `json:"images"`
}

func loadManifest(t testing.TB) manifest {
	t.Helper()
	b, err := os.ReadFile("testdata/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Images) == 0 {
		t.Fatal("empty manifest")
	}
	return m
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pillow", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadRGB reads an RGB PNG written by Pillow; PNG is lossless, so this is
// exactly Pillow's array.
func loadRGB(t testing.TB, name string) *RGB {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "pillow", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return FromImage(img)
}

// firstDiff describes the first pixel where got and want differ, or
// returns "".
func firstDiff(got, want *RGB) string {
	if got.Width != want.Width || got.Height != want.Height {
		return fmt.Sprintf("size %dx%d, want %dx%d", got.Width, got.Height, want.Width, want.Height)
	}
	n := 0
	first := ""
	for i := 0; i < len(got.Pix); i += 3 {
		g, w := got.Pix[i:i+3], want.Pix[i:i+3]
		if g[0] != w[0] || g[1] != w[1] || g[2] != w[2] {
			if n == 0 {
				p := i / 3
				first = fmt.Sprintf("first at (x=%d, y=%d): got %v, want %v", p%got.Width, p/got.Width, g, w)
			}
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d pixels differ; %s", n, first)
}

func TestPillowParity(t *testing.T) {
	m := loadManifest(t)
	for _, im := range m.Images {
		if im.Kind != "parity" {
			continue
		}
		t.Run(im.File, func(t *testing.T) {
			data := readFixture(t, im.File)
			rgb, format, err := Decode(data, 0)
			if err != nil {
				t.Fatal(err)
			}
			if format != im.Format || rgb.Width != im.Width || rgb.Height != im.Height {
				t.Fatalf("decoded %s %dx%d, want %s %dx%d", format, rgb.Width, rgb.Height, im.Format, im.Width, im.Height)
			}
			for _, e := range im.Expected {
				f, err := ParseFilter(e.Filter)
				if err != nil {
					t.Fatal(err)
				}
				got := Resize(rgb, e.Width, e.Height, f)
				if d := firstDiff(got, loadRGB(t, e.File)); d != "" {
					t.Errorf("%s (Pillow %s mode %s) -> %dx%d %s: %s", im.File, m.Pillow, im.Mode, e.Width, e.Height, f, d)
				}
				// Prepare must give the same bytes, scaled.
				x, info, err := Prepare(data, Options{Width: e.Width, Height: e.Height, Filter: f}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if info != (Info{Format: im.Format, Width: im.Width, Height: im.Height}) {
					t.Errorf("Prepare info %+v", info)
				}
				for i, v := range got.Pix {
					if x[i] != float32(v)/255 {
						t.Fatalf("Prepare tensor[%d] = %v, want %v/255", i, x[i], v)
					}
				}
			}
		})
	}
}

// JPEG decoders differ: Go's image/jpeg and Pillow's libjpeg-turbo use
// different IDCTs. (Chroma upsampling and colour conversion are done as
// libjpeg-turbo does, see ycbcr.go; with Go's own, near colour edges the
// difference was up to 82 levels, mean 2.3.) Measured on the fixtures
// (baseline and progressive; 4:4:4, 4:2:2, 4:2:0, odd sizes, quality 50-95;
// gray; Adobe CMYK): max |diff| 3 levels, mean 0.04 levels, before and
// after resizing. The limits below leave a little room. The resampling
// itself is checked bit-exactly on Pillow's decoded array.
const (
	jpegMaxDiff  = 4
	jpegMeanDiff = 0.1
)

func TestJPEGTolerance(t *testing.T) {
	m := loadManifest(t)
	for _, im := range m.Images {
		if im.Kind != "jpeg" {
			continue
		}
		t.Run(im.File, func(t *testing.T) {
			got, format, err := Decode(readFixture(t, im.File), 0)
			if err != nil {
				t.Fatal(err)
			}
			if format != "jpeg" {
				t.Fatalf("format %q", format)
			}
			want := loadRGB(t, im.Decoded)
			if got.Width != want.Width || got.Height != want.Height {
				t.Fatalf("size %dx%d, want %dx%d", got.Width, got.Height, want.Width, want.Height)
			}
			maxd, mean := pixDiff(got.Pix, want.Pix)
			t.Logf("%s (mode %s): decode vs Pillow: max |diff| %d, mean %.3f", im.File, im.Mode, maxd, mean)
			if maxd > jpegMaxDiff || mean > jpegMeanDiff {
				t.Errorf("decode differs from Pillow's by max %d (limit %d), mean %.3f (limit %.1f)", maxd, jpegMaxDiff, mean, jpegMeanDiff)
			}
			for _, e := range im.Expected {
				f, _ := ParseFilter(e.Filter)
				exp := loadRGB(t, e.File)
				if d := firstDiff(Resize(want, e.Width, e.Height, f), exp); d != "" {
					t.Errorf("resize of Pillow's decode -> %dx%d %s: %s", e.Width, e.Height, f, d)
				}
				maxd, mean := pixDiff(Resize(got, e.Width, e.Height, f).Pix, exp.Pix)
				t.Logf("%s: after %s resize to %dx%d: max |diff| %d, mean %.3f", im.File, f, e.Width, e.Height, maxd, mean)
				if maxd > jpegMaxDiff || mean > jpegMeanDiff {
					t.Errorf("resized decode differs from Pillow's by max %d (limit %d), mean %.3f (limit %.1f)", maxd, jpegMaxDiff, mean, jpegMeanDiff)
				}
			}
		})
	}
}

func pixDiff(a, b []uint8) (maxd int, mean float64) {
	sum := 0
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		sum += d
		maxd = max(maxd, d)
	}
	return maxd, float64(sum) / float64(len(a))
}

// TestUnitScale checks Tensor's byte/255 against numpy's
// np.arange(256).astype(np.float32) / 255.0, bit for bit.
func TestUnitScale(t *testing.T) {
	b, err := os.ReadFile("testdata/unit.f32")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 4*256 {
		t.Fatalf("unit.f32 has %d bytes", len(b))
	}
	pix := make([]uint8, 3*256)
	for i := range pix {
		pix[i] = uint8(i / 3)
	}
	x := (&RGB{Width: 256, Height: 1, Pix: pix}).Tensor(nil)
	for i := 0; i < 256; i++ {
		want := binary.LittleEndian.Uint32(b[4*i:])
		for c := 0; c < 3; c++ {
			if got := math.Float32bits(x[3*i+c]); got != want {
				t.Fatalf("%d/255 = %#x, numpy gives %#x", i, got, want)
			}
		}
	}
}
