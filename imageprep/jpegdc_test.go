package imageprep

import (
	"bytes"
	"encoding/binary"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func readJpegtranFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "jpegtran", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// blockMeans returns the image of the means of m's 8x8 blocks (those at
// the right and bottom edges cut to the image), what a 1/8-scale decode
// approximates.
func blockMeans(m *RGB) (w, h int, means []float64) {
	w, h = (m.Width+7)/8, (m.Height+7)/8
	means = make([]float64, 3*w*h)
	for by := range h {
		for bx := range w {
			var sum [3]float64
			n := 0.0
			for y := by * 8; y < min(by*8+8, m.Height); y++ {
				for x := bx * 8; x < min(bx*8+8, m.Width); x++ {
					p := m.Pix[3*(y*m.Width+x):]
					sum[0], sum[1], sum[2] = sum[0]+float64(p[0]), sum[1]+float64(p[1]), sum[2]+float64(p[2])
					n++
				}
			}
			for c := range 3 {
				means[3*(by*w+bx)+c] = sum[c] / n
			}
		}
	}
	return w, h, means
}

// Limits of TestDecodeJPEGEighth, in levels of 255, against the block means
// of Decode. Each component's value is the exact mean of its samples over
// the block (or, for subsampled chroma, over the block's part), but for
// rounding and Decode's IDCT; what differs is that Decode upsamples chroma
// smoothly across block edges, and that the colour conversion is of means
// rather than a mean of conversions. Measured on the cases below: max 15.8
// levels (noisy 4:2:2 at quality 50), mean 1.55 (97x61 at quality 75).
const (
	eighthMaxDiff  = 20
	eighthMeanDiff = 2
)

// TestDecodeJPEGEighth decodes Pillow's baseline fixtures (4:2:0, 4:2:2,
// 4:4:4, grey, odd sizes, quality 50 to 95), the same with restart markers
// every 1 to 3 MCU rows or 5 MCUs (jpegtran), and generated photos, and
// compares each pixel with the mean of its 8x8 block in Decode's image.
func TestDecodeJPEGEighth(t *testing.T) {
	cases := []struct {
		name string
		data []byte
	}{
		{"pillow 4:2:0", readFixture(t, "jpeg_420_160x120.jpg")},
		{"pillow 4:2:0 q75 97x61", readFixture(t, "jpeg_420_q75_97x61.jpg")},
		{"pillow 4:2:2 q50 161x119", readFixture(t, "jpeg_422_q50_161x119.jpg")},
		{"pillow 4:4:4", readFixture(t, "jpeg_444_160x120.jpg")},
		{"pillow grey", readFixture(t, "jpeg_gray_160x120.jpg")},
		{"restart every MCU row", readJpegtranFixture(t, "jpeg_420_restart1_160x120.jpg")},
		{"restart every 3 MCU rows", readJpegtranFixture(t, "jpeg_420_restart3_160x120.jpg")},
		{"restart 4:2:2 every 2 rows", readJpegtranFixture(t, "jpeg_422_restart2_161x119.jpg")},
		{"restart grey every row", readJpegtranFixture(t, "jpeg_gray_restart1_160x120.jpg")},
		{"restart 4:4:4 every 5 MCUs", readJpegtranFixture(t, "jpeg_444_restart5B_160x120.jpg")},
		{"go 4:2:0 1600x1200", sceneJPEG(t, 1600, 1200, false)},
		{"go grey 1600x1200", sceneJPEG(t, 1600, 1200, true)},
		{"go 4:2:0 203x77", sceneJPEG(t, 203, 77, false)},
	}
	var worst, worstMean float64
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			full, info, _, err := decode(tc.data, 0)
			if err != nil {
				t.Fatal(err)
			}
			m, got, ok := DecodeJPEGEighth(tc.data, 0, 0, 0)
			if !ok {
				t.Fatal("declined")
			}
			if got != info {
				t.Errorf("Info %+v, want %+v", got, info)
			}
			w, h, means := blockMeans(full)
			if m.Width != w || m.Height != h {
				t.Fatalf("%dx%d, want %dx%d", m.Width, m.Height, w, h)
			}
			// Blocks cut by the right or bottom edge are left out: the
			// decoder gives the mean of the whole block, padding included,
			// as libjpeg's 1/8 scale does.
			var maxd, sum, cnt float64
			for i, v := range means {
				if x, y := i/3%w, i/3/w; 8*x+8 > full.Width || 8*y+8 > full.Height {
					continue
				}
				d := math.Abs(float64(m.Pix[i]) - v)
				maxd, sum, cnt = max(maxd, d), sum+d, cnt+1
			}
			mean := sum / cnt
			t.Logf("%dx%d -> %dx%d: max |diff| %.1f levels, mean %.2f", info.Width, info.Height, w, h, maxd, mean)
			if maxd > eighthMaxDiff || mean > eighthMeanDiff {
				t.Errorf("max |diff| %.1f (limit %d), mean %.2f (limit %d)", maxd, eighthMaxDiff, mean, eighthMeanDiff)
			}
			worst, worstMean = max(worst, maxd), max(worstMean, mean)
		})
	}
	t.Logf("worst: max %.1f levels, mean %.2f", worst, worstMean)
}

// TestDecodeJPEGEighthDeclines checks the JPEGs the DC decoder leaves to
// the full decoder: other codings and colour spaces, and broken data,
// which must never come out as an image.
func TestDecodeJPEGEighthDeclines(t *testing.T) {
	base := readFixture(t, "jpeg_420_160x120.jpg")
	rst := readJpegtranFixture(t, "jpeg_420_restart1_160x120.jpg")
	sos := bytes.Index(base, []byte{0xFF, 0xDA})
	rstAt := bytes.Index(rst[bytes.Index(rst, []byte{0xFF, 0xDA}):], []byte{0xFF, 0xD0}) + bytes.Index(rst, []byte{0xFF, 0xDA})
	cut := func(b []byte, n int) []byte { return append([]byte(nil), b[:n]...) }
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"progressive", readFixture(t, "jpeg_prog_160x120.jpg")},
		{"CMYK", readFixture(t, "jpeg_cmyk_160x120.jpg")},
		{"PNG", readFixture(t, "rgb_300x200.png")},
		{"cut in the scan", cut(base, sos+(len(base)-sos)/2)},
		{"cut before the scan", cut(base, sos)},
		{"no end of image", cut(base, len(base)-2)},
		{"a restart marker removed", append(cut(rst, rstAt), rst[rstAt+2:]...)},
		{"a restart marker added", append(append(cut(base, len(base)-2), 0xFF, 0xD0), base[len(base)-2:]...)},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m, _, ok := DecodeJPEGEighth(tc.data, 0, 0, 0); ok {
				t.Errorf("decoded a %dx%d image", m.Width, m.Height)
			}
		})
	}
	// The minimum size applies upright: 160x120 gives 20x15, and with Exif
	// orientation 6 (a quarter turn) 15x20.
	rotated := withSegment(base, 0xE1, exifPayload(binary.BigEndian, 3, 6))
	for _, c := range []struct {
		data       []byte
		minW, minH int
		ok         bool
	}{
		{base, 20, 15, true}, {base, 21, 15, false}, {base, 20, 16, false},
		{rotated, 15, 20, true}, {rotated, 20, 15, false},
	} {
		m, _, ok := DecodeJPEGEighth(c.data, 0, c.minW, c.minH)
		if ok != c.ok {
			t.Errorf("minimum %dx%d: ok %v, want %v", c.minW, c.minH, ok, c.ok)
		} else if ok && (m.Width != c.minW || m.Height != c.minH) {
			t.Errorf("minimum %dx%d: decoded %dx%d", c.minW, c.minH, m.Width, m.Height)
		}
	}
	if _, _, ok := DecodeJPEGEighth(base, 160*120-1, 0, 0); ok {
		t.Error("decoded an image over maxPixels")
	}
}

// TestDecodeJPEGEighthBoundsMemory checks, on a header that declares
// 60000x60000 over the data of a 160x120 JPEG (what the fuzzer first
// found slow: the DC planes were allocated from the header alone), that
// the DC decoder declines after allocating about the size of the data.
func TestDecodeJPEGEighthBoundsMemory(t *testing.T) {
	data := jpegSOFSize(t, readFixture(t, "jpeg_420_160x120.jpg"), 60000, 60000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, ok := decodeJPEGDC(data)
	runtime.ReadMemStats(&after)
	if ok {
		t.Fatal("decoded")
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64*uint64(len(data))+1<<16 {
		t.Errorf("allocated %d bytes for %d bytes of data", n, len(data))
	}
}

// FuzzDecodeJPEGEighth feeds the DC decoder arbitrary bytes: it must not
// panic, and an image it returns must have the size of 1/8 of the header's.
func FuzzDecodeJPEGEighth(f *testing.F) {
	for _, name := range []string{"jpeg_420_160x120.jpg", "jpeg_422_q50_161x119.jpg", "jpeg_gray_160x120.jpg", "jpeg_444_160x120.jpg", "jpeg_prog_160x120.jpg"} {
		f.Add(readFixture(f, name))
	}
	f.Add(readJpegtranFixture(f, "jpeg_420_restart3_160x120.jpg"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, ok := decodeJPEGDC(data)
		if !ok {
			return
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return // the DC decoder reads less than DecodeConfig checks
		}
		if m.Width != (cfg.Width+7)/8 || m.Height != (cfg.Height+7)/8 || len(m.Pix) != 3*m.Width*m.Height {
			t.Fatalf("%dx%d (%d bytes) for a %dx%d JPEG", m.Width, m.Height, len(m.Pix), cfg.Width, cfg.Height)
		}
	})
}

// BenchmarkDecodeJPEGEighth times the DC decoder on a generated 12 MP
// photo-like JPEG (3.3 MB, as bench/ makes), against Decode.
func BenchmarkDecodeJPEGEighth(b *testing.B) {
	data := sceneJPEG(b, 4000, 3000, false)
	b.Run("eighth", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, _, ok := DecodeJPEGEighth(data, 0, 0, 0); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, _, _, err := decode(data, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
