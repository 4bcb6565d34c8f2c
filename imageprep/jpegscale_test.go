package imageprep

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image/jpeg"
	"math"
	"path/filepath"
	"runtime"
	"testing"
)

// readJpegtranFixture reads a fixture of testdata/jpegtran (see its README).
func readJpegtranFixture(t testing.TB, name string) []byte {
	t.Helper()
	return readFixture(t, filepath.Join("..", "jpegtran", name))
}

// areaMeans returns the image of the means of m's a x a areas (those at
// the right and bottom edges cut to the image), what a decode at 1/a of
// the size approximates.
func areaMeans(m *RGB, a int) (w, h int, means []float64) {
	w, h = (m.Width+a-1)/a, (m.Height+a-1)/a
	means = make([]float64, 3*w*h)
	for by := range h {
		for bx := range w {
			var sum [3]float64
			n := 0.0
			for y := by * a; y < min(by*a+a, m.Height); y++ {
				for x := bx * a; x < min(bx*a+a, m.Width); x++ {
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

// greySampled22 is Pillow's grey fixture with its one component's sampling
// factors set to 2x2 in the frame header.
func greySampled22(t testing.TB) []byte {
	data := readFixture(t, "jpeg_gray_160x120.jpg")
	sof := bytes.Index(data, []byte{0xFF, 0xC0})
	if sof < 0 || data[sof+9] != 1 || data[sof+11] != 0x11 {
		t.Fatal("unexpected frame header")
	}
	data = append([]byte(nil), data...)
	data[sof+11] = 0x22
	return data
}

// Limits of TestDecodeJPEGReduced, in levels of 255, against the means of
// the areas of Decode's image. Each component's value is the exact mean of
// its samples over the area, but for rounding and Decode's IDCT: grey
// images stay within a few levels at every scale (measured: max 2.8, mean
// 0.27). In colour, Decode upsamples chroma smoothly across blocks (as
// libjpeg's "fancy" upsampling), where the reduced decoder has each
// area's own chroma from the block's coefficients, and the colour
// conversion is of means rather than a mean of conversions: at sharp
// colour edges the two differ the more the finer the scale. Measured on
// the cases below: max 15.8 / 24.8 / 58.2 levels at 1/8, 2/8, 4/8 (noisy
// 4:2:2 at quality 50, 4:2:0), mean at most 2.54 (97x61 at 4/8).
var (
	reducedGreyMax, reducedGreyMean = 4.0, 0.5
	reducedColourMax                = map[int]float64{1: 20, 2: 32, 4: 64}
	reducedColourMean               = 3.0
)

// TestDecodeJPEGReduced decodes Pillow's baseline fixtures (4:2:0, 4:2:2,
// 4:4:4, grey, odd sizes, quality 50 to 95), the same with restart markers
// every 1 to 3 MCU rows or 5 MCUs (jpegtran), and generated photos, at
// 1/8, 2/8 and 4/8, and compares each pixel with the mean of its 8x8, 4x4
// or 2x2 area in Decode's image.
func TestDecodeJPEGReduced(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		grey bool
	}{
		{"pillow 4:2:0", readFixture(t, "jpeg_420_160x120.jpg"), false},
		{"pillow 4:2:0 q75 97x61", readFixture(t, "jpeg_420_q75_97x61.jpg"), false},
		{"pillow 4:2:2 q50 161x119", readFixture(t, "jpeg_422_q50_161x119.jpg"), false},
		{"pillow 4:4:4", readFixture(t, "jpeg_444_160x120.jpg"), false},
		{"pillow grey", readFixture(t, "jpeg_gray_160x120.jpg"), true},
		{"restart every MCU row", readJpegtranFixture(t, "jpeg_420_restart1_160x120.jpg"), false},
		{"restart every 3 MCU rows", readJpegtranFixture(t, "jpeg_420_restart3_160x120.jpg"), false},
		{"restart 4:2:2 every 2 rows", readJpegtranFixture(t, "jpeg_422_restart2_161x119.jpg"), false},
		{"restart grey every row", readJpegtranFixture(t, "jpeg_gray_restart1_160x120.jpg"), true},
		{"restart 4:4:4 every 5 MCUs", readJpegtranFixture(t, "jpeg_444_restart5B_160x120.jpg"), false},
		{"go 4:2:0 1600x1200", sceneJPEG(t, 1600, 1200, false), false},
		{"go grey 1600x1200", sceneJPEG(t, 1600, 1200, true), true},
		{"go 4:2:0 203x77", sceneJPEG(t, 203, 77, false), false},
		// One component declared with 2x2 sampling, which a single
		// component's scan ignores (JPEG A.2): scaled at first as if its
		// blocks were twice as many.
		{"grey declared 2x2", greySampled22(t), true},
	}
	var worst, worstMean float64
	for _, tc := range cases {
		full, info, _, err := decode(tc.data, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 2, 4} {
			t.Run(fmt.Sprintf("%s/%d8", tc.name, n), func(t *testing.T) {
				a := 8 / n
				w, h, means := areaMeans(full, a)
				// The smallest minimum that gives scale n/8: one more than
				// half of it gives.
				minW := 0
				if n > 1 {
					minW = (info.Width*n/2+7)/8 + 1
				}
				m, got, ok := DecodeJPEGReduced(tc.data, 0, minW, 0)
				if !ok {
					t.Fatal("declined")
				}
				if got != info {
					t.Errorf("Info %+v, want %+v", got, info)
				}
				if m.Width != w || m.Height != h {
					t.Fatalf("%dx%d, want %dx%d", m.Width, m.Height, w, h)
				}
				// Areas cut by the right or bottom edge are left out: the
				// decoder gives the mean of the whole area, the block's
				// padding included, as libjpeg's scaled decoding does.
				var maxd, sum, cnt float64
				for i, v := range means {
					if x, y := i/3%w, i/3/w; a*x+a > full.Width || a*y+a > full.Height {
						continue
					}
					d := math.Abs(float64(m.Pix[i]) - v)
					maxd, sum, cnt = max(maxd, d), sum+d, cnt+1
				}
				mean := sum / cnt
				t.Logf("%dx%d -> %dx%d: max |diff| %.1f levels, mean %.2f", info.Width, info.Height, w, h, maxd, mean)
				maxLimit, meanLimit := reducedColourMax[n], reducedColourMean
				if tc.grey {
					maxLimit, meanLimit = reducedGreyMax, reducedGreyMean
				}
				if maxd > maxLimit || mean > meanLimit {
					t.Errorf("max |diff| %.1f (limit %.0f), mean %.2f (limit %.1f)", maxd, maxLimit, mean, meanLimit)
				}
				worst, worstMean = max(worst, maxd), max(worstMean, mean)
			})
		}
	}
	t.Logf("worst: max %.1f levels, mean %.2f", worst, worstMean)
}

// TestDecodeJPEGReducedDeclines checks the JPEGs the reduced decoder leaves to
// the full decoder: other codings and colour spaces, and broken data,
// which must never come out as an image.
func TestDecodeJPEGReducedDeclines(t *testing.T) {
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
			if m, _, ok := DecodeJPEGReduced(tc.data, 0, 0, 0); ok {
				t.Errorf("decoded a %dx%d image", m.Width, m.Height)
			}
		})
	}
	// The scale is the smallest of 1/8, 2/8 and 4/8 that covers the
	// minimum, upright: 160x120 gives 20x15, 40x30 or 80x60, and with Exif
	// orientation 6 (a quarter turn) 15x20, 30x40 or 60x80.
	rotated := withSegment(base, 0xE1, exifPayload(binary.BigEndian, 3, 6))
	for _, c := range []struct {
		data         []byte
		minW, minH   int
		wantW, wantH int // 0: declined
	}{
		{base, 0, 0, 20, 15}, {base, 20, 15, 20, 15}, {base, 21, 15, 40, 30}, {base, 20, 16, 40, 30},
		{base, 41, 1, 80, 60}, {base, 80, 60, 80, 60}, {base, 81, 60, 0, 0}, {base, 1, 61, 0, 0},
		{rotated, 15, 20, 15, 20}, {rotated, 20, 15, 30, 40}, {rotated, 80, 60, 0, 0},
	} {
		m, _, ok := DecodeJPEGReduced(c.data, 0, c.minW, c.minH)
		switch {
		case ok != (c.wantW > 0):
			t.Errorf("minimum %dx%d: ok %v", c.minW, c.minH, ok)
		case ok && (m.Width != c.wantW || m.Height != c.wantH):
			t.Errorf("minimum %dx%d: decoded %dx%d, want %dx%d", c.minW, c.minH, m.Width, m.Height, c.wantW, c.wantH)
		}
	}
	if _, _, ok := DecodeJPEGReduced(base, 160*120-1, 0, 0); ok {
		t.Error("decoded an image over maxPixels")
	}
}

// TestDecodeJPEGReducedBoundsMemory checks, on a header that declares
// 60000x60000 over the data of a 160x120 JPEG (what the fuzzer first
// found slow: the DC planes were allocated from the header alone), that
// the reduced decoder declines after allocating about the size of the data.
func TestDecodeJPEGReducedBoundsMemory(t *testing.T) {
	data := jpegSOFSize(t, readFixture(t, "jpeg_420_160x120.jpg"), 60000, 60000)
	for _, n := range []int{1, 2, 4} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, ok := decodeJPEGReduced(data, n)
		runtime.ReadMemStats(&after)
		if ok {
			t.Fatalf("%d/8: decoded", n)
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > 64*uint64(len(data))+1<<16 {
			t.Errorf("%d/8: allocated %d bytes for %d bytes of data", n, a, len(data))
		}
	}
}

// FuzzDecodeJPEGReduced feeds the reduced decoder arbitrary bytes at each
// scale: it must not panic, and an image it returns must have the size of
// n/8 of the header's.
func FuzzDecodeJPEGReduced(f *testing.F) {
	for _, name := range []string{"jpeg_420_160x120.jpg", "jpeg_422_q50_161x119.jpg", "jpeg_gray_160x120.jpg", "jpeg_444_160x120.jpg", "jpeg_prog_160x120.jpg"} {
		f.Add(readFixture(f, name))
	}
	f.Add(readJpegtranFixture(f, "jpeg_420_restart3_160x120.jpg"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, n := range []int{1, 2, 4} {
			m, ok := decodeJPEGReduced(data, n)
			if !ok {
				continue
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
			if err != nil {
				continue // the reduced decoder reads less than DecodeConfig checks
			}
			if m.Width != (cfg.Width*n+7)/8 || m.Height != (cfg.Height*n+7)/8 || len(m.Pix) != 3*m.Width*m.Height {
				t.Fatalf("%dx%d (%d bytes) at %d/8 of a %dx%d JPEG", m.Width, m.Height, len(m.Pix), n, cfg.Width, cfg.Height)
			}
		}
	})
}

// BenchmarkDecodeJPEGReduced times the reduced decoder on generated
// photo-like JPEGs, at 4/8 of 640x480, 2/8 of 1280x800 and 1/8 of
// 4000x3000, the scales a 128x128 model input needs, against Decode.
func BenchmarkDecodeJPEGReduced(b *testing.B) {
	for _, sz := range [][3]int{{640, 480, 4}, {1280, 800, 2}, {4000, 3000, 1}} {
		data := sceneJPEG(b, sz[0], sz[1], false)
		b.Run(fmt.Sprintf("%dx%d/reduced", sz[0], sz[1]), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, ok := decodeJPEGReduced(data, sz[2]); !ok {
					b.Fatal("declined")
				}
			}
		})
		b.Run(fmt.Sprintf("%dx%d/decode", sz[0], sz[1]), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, _, _, err := decode(data, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
