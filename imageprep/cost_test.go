package imageprep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// costCase is an image for TestDecodeCost; reduced is set for a baseline
// JPEG that the reduced decoder decodes, for a fraction of the full
// decode's memory (DecodeCost's Expected against its Max).
type costCase struct {
	name    string
	data    []byte
	reduced bool
}

// costCases are images of every decoder path and colour layout, 640x480,
// honest (the decoders allocate the most when the data is all there).
func costCases(t *testing.T) []costCase {
	const w, h = 640, 480
	sample := func(n int, scale uint16) func(x, y int) []uint16 {
		return func(x, y int) []uint16 {
			s := []uint16{uint16(x) * scale, uint16(y) * scale, uint16(x^y) * scale, 0xfff0}
			if n == 2 {
				return []uint16{s[0], 0xff00}
			}
			return s[:n]
		}
	}
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "cost", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	goJPEG := func(gray bool) []byte {
		return encodeJPEG(t, gray, w, h)
	}
	pal := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 3 / 2)
	}
	var g bytes.Buffer
	if err := gif.Encode(&g, pal, nil); err != nil {
		t.Fatal(err)
	}
	return []costCase{
		{name: "png gray 8", data: rawPNG(w, h, 8, 0, false, sample(1, 1))},
		{name: "png gray 16 interlaced", data: rawPNG(w, h, 16, 0, true, sample(1, 90))},
		{name: "png gray+alpha 16 interlaced", data: rawPNG(w, h, 16, 4, true, sample(2, 90))},
		{name: "png RGB 8", data: rawPNG(w, h, 8, 2, false, sample(3, 1))},
		{name: "png RGB 8 interlaced", data: rawPNG(w, h, 8, 2, true, sample(3, 1))},
		{name: "png RGB 16", data: rawPNG(w, h, 16, 2, false, sample(3, 60))},
		{name: "png RGBA 8", data: rawPNG(w, h, 8, 6, false, sample(4, 1))},
		{name: "png RGBA 16 interlaced", data: rawPNG(w, h, 16, 6, true, sample(4, 60))},
		{name: "gif", data: g.Bytes()},
		{name: "jpeg 4:2:0 (reduced decode)", data: goJPEG(false), reduced: true},
		{name: "jpeg gray (reduced decode)", data: goJPEG(true), reduced: true},
		{name: "jpeg 4:2:0 Exif-rotated", data: withExifOrientation(t, goJPEG(false), 6), reduced: true},
		{name: "jpeg 4:2:0 2048x1536 (at 1/8)", data: encodeJPEG(t, false, 2048, 1536), reduced: true},
		{name: "jpeg progressive 4:2:0", data: fixture("jpeg_420_prog_640x480.jpg")},
		{name: "jpeg progressive 4:4:4", data: fixture("jpeg_444_prog_640x480.jpg")},
		{name: "jpeg CMYK", data: fixture("jpeg_cmyk_640x480.jpg")},
		{name: "jpeg progressive CMYK", data: fixture("jpeg_cmyk_prog_640x480.jpg")},
	}
}

// TestDecodeCost checks DecodeCost against what DecodeResized allocates
// (runtime.MemStats.TotalAlloc, which counts every allocation, so it is at
// least the peak of what is live), for a model input of 128x128 and one of
// 224x224 from a centre crop: Expected against DecodeResized, and for the
// JPEGs the reduced decoder takes, Max against the full decode it falls
// back to. Each estimate must be at least what was allocated, and at most
// 1.5 times it, so that admission by it refuses no more than it must.
func TestDecodeCost(t *testing.T) {
	for _, opt := range []Options{{Width: 128, Height: 128}, {Width: 224, Height: 224, CenterCrop: 0.875}} {
		for _, tc := range costCases(t) {
			name := fmt.Sprintf("%s, %dx%d crop %v", tc.name, opt.Width, opt.Height, opt.CenterCrop)
			c, info, err := DecodeCost(tc.data, opt)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			px := float64(info.Width * info.Height)
			check := func(what string, est int64, reduce bool, most float64) {
				used, err := allocation(func() error {
					_, _, err := decodeResized(tc.data, opt, nil, reduce)
					return err
				})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				t.Logf("%-50s %-8s allocated %5.2f B/px, estimated %5.2f B/px (%.2fx)", name, what, float64(used)/px, float64(est)/px, float64(est)/float64(used))
				if LibJPEG && info.Format == "jpeg" && what == "Expected" {
					// libjpeg-turbo decodes in C memory, which TotalAlloc does not
					// see: the estimate (of the pure-Go path) only bounds it.
					most = math.Inf(1)
				}
				if est < used || float64(est) > most*float64(used) {
					t.Errorf("%s: %s %d bytes; decoding allocated %d: want the estimate within [1, %g] times it", name, what, est, used, most)
				}
			}
			check("Expected", c.Expected, true, 1.5)
			if !tc.reduced && c.Expected != c.Max {
				t.Errorf("%s: Expected %d, Max %d: want them equal but for the reduced decoder's JPEGs", name, c.Expected, c.Max)
			}
			if tc.reduced && !LibJPEG {
				// Max is the full decode's, or the reduced decoder's where
				// that takes more (at 4/8): only a bound of the full decode.
				most := 1.5
				if c.Max == c.Expected {
					most = math.Inf(1)
				}
				check("Max", c.Max, false, most)
			}
		}
	}
}

// TestDecodeCostLyingHeaders checks the bound where the header lies:
// the decoders allocate for the size it declares, then fail.
func TestDecodeCostLyingHeaders(t *testing.T) {
	rgba16 := func(x, y int) []uint16 { return []uint16{uint16(x * 60), uint16(y * 60), uint16(x ^ y), 0xfff0} }
	png16 := func(interlace bool) []byte {
		d := rawPNG(2, 2, 16, 6, interlace, rgba16)
		ihdr := binary.BigEndian.AppendUint32(nil, 1000)
		ihdr = binary.BigEndian.AppendUint32(ihdr, 1000)
		il := byte(0)
		if interlace {
			il = 1
		}
		return joinBytes(d[:8], pngChunk("IHDR", append(ihdr, 16, 6, 0, 0, il)), d[33:])
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"png RGBA 16-bit header over 2x2 data", png16(false)},
		{"png RGBA 16-bit interlaced header over 2x2 data", png16(true)},
		{"progressive jpeg SOF over 160x120 data", jpegSOFSize(t, readFixture(t, "jpeg_prog_160x120.jpg"), 1000, 1000)},
		{"progressive CMYK jpeg SOF over 640x480 data", jpegSOFSize(t, func() []byte {
			b, err := os.ReadFile(filepath.Join("testdata", "cost", "jpeg_cmyk_prog_640x480.jpg"))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}(), 1000, 1000)},
		{"gif 42-byte file with a 1000x1000 screen", gifOnScreen(t, 1000, 1000, 0, 0)},
	} {
		c, _, err := DecodeCost(tc.data, Options{Width: 128, Height: 128})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		est := c.Max
		used, err := allocation(func() error {
			_, _, err := DecodeResized(tc.data, Options{Width: 128, Height: 128}, nil)
			return err
		})
		t.Logf("%-48s allocated %5.2f B/px, estimated %5.2f B/px (%v)", tc.name, float64(used)/1e6, float64(est)/1e6, err)
		if est < used {
			t.Errorf("%s: estimated %d bytes; decoding allocated %d", tc.name, est, used)
		}
	}
}

// TestDecodeCostErrors checks that DecodeCost refuses what Decode
// refuses from the header, with the same errors.
func TestDecodeCostErrors(t *testing.T) {
	big := jpegSOFSize(t, realJPEG(t, 64, 48), 9000, 9000)
	for _, tc := range []struct {
		name string
		data []byte
		kind Kind
	}{
		{"not an image", []byte("hello, world"), Unsupported},
		{"png cut in its header", append(bytes.Clone(magicPNG), 0, 0, 0, 13), Undecodable},
		{"over the pixel limit", big, TooLarge},
	} {
		_, _, want := Decode(tc.data, 40_000_000)
		_, _, got := DecodeCost(tc.data, Options{Width: 128, Height: 128, MaxPixels: 40_000_000})
		ge, ok1 := got.(*Error)
		we, ok2 := want.(*Error)
		if !ok1 || !ok2 || ge.Kind != tc.kind || ge.Kind != we.Kind || ge.Error() != we.Error() {
			t.Errorf("%s: DecodeCost error %v, Decode's %v, want kind %v", tc.name, got, want, tc.kind)
		}
	}
}

// encodeJPEG encodes a w x h picture (gray: a grey pattern) as a baseline
// 4:2:0 JPEG with image/jpeg.
func encodeJPEG(t *testing.T, gray bool, w, h int) []byte {
	t.Helper()
	var m image.Image = realJPEGImage(w, h)
	if gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := range g.Pix {
			g.Pix[i] = uint8(i * 7)
		}
		m = g
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// realJPEGImage is the picture realJPEG encodes.
func realJPEGImage(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := corpusPixel(x, y)
			m.SetRGBA(x, y, color.RGBA{p[0], p[1], p[2], 255})
		}
	}
	return m
}

// withExifOrientation inserts an Exif segment with orientation o after a
// JPEG's SOI.
func withExifOrientation(t *testing.T, data []byte, o uint32) []byte {
	t.Helper()
	p := exifPayload(binary.BigEndian, 3, o)
	seg := joinBytes(binary.BigEndian.AppendUint16([]byte{0xFF, 0xE1}, uint16(len(p)+2)), p)
	out := joinBytes(data[:2], seg, data[2:])
	if got := exifOrientation(out); got != int(o) {
		t.Fatalf("Exif orientation %d, want %d", got, o)
	}
	return out
}

// allocation is what f allocates (runtime.MemStats.TotalAlloc), and its
// error.
func allocation(f func() error) (int64, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := f()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc), err
}

// TestDecodeResizedFallback checks when DecodeResized calls its hook:
// once, before the full decode of a JPEG that DecodeCost counted at the
// reduced decoder's cost and that decoder gave up on (here an Adobe RGB
// JPEG, which image/jpeg decodes and the reduced decoder does not), and
// never for a JPEG the reduced decoder takes or another format. An error
// from the hook is returned and nothing is decoded.
func TestDecodeResizedFallback(t *testing.T) {
	if LibJPEG {
		t.Skip("the libjpeg build decodes JPEGs without the reduced decoder")
	}
	plain := encodeJPEG(t, false, 640, 480)
	// An APP14 "Adobe" segment with transform 0 after the SOI: the
	// components are RGB, not YCbCr.
	adobe := joinBytes(plain[:2], []byte{0xFF, 0xEE, 0, 14}, []byte("Adobe"), []byte{0, 100, 0, 0, 0, 0, 0}, plain[2:])
	png8 := rawPNG(64, 48, 8, 2, false, func(x, y int) []uint16 { return []uint16{uint16(x), uint16(y), 0} })
	errStop := errors.New("no memory for the full decode")
	for _, tc := range []struct {
		name     string
		data     []byte
		hookErr  error
		wantCall bool
		decoded  bool // false: the hook's error
	}{
		{"reduced decoder takes it", plain, nil, false, true},
		{"Adobe RGB falls back", adobe, nil, true, true},
		{"Adobe RGB, the hook refuses", adobe, errStop, true, false},
		{"png", png8, errStop, false, true},
	} {
		calls := 0
		m, _, err := DecodeResized(tc.data, Options{Width: 128, Height: 128}, func() error { calls++; return tc.hookErr })
		if (calls == 1) != tc.wantCall || calls > 1 {
			t.Errorf("%s: hook called %d times, want it called: %v", tc.name, calls, tc.wantCall)
		}
		if !tc.decoded {
			if !errors.Is(err, errStop) || m != nil {
				t.Errorf("%s: %v, want the hook's error and no image", tc.name, err)
			}
			continue
		}
		if err != nil || m.Width != 128 {
			t.Errorf("%s: decoded %v, %v; want the 128x128 input", tc.name, m != nil, err)
		}
	}
}

// TestDecodeResized checks that reading the decoded rows gives the pixels
// of the whole-image path (decode to RGB, turn upright, centre crop,
// Resize), for every layout of costCases, every Exif orientation of a
// progressive JPEG (which the reduced decoder does not take), and model
// inputs with and without a crop, of odd sizes too.
func TestDecodeResized(t *testing.T) {
	cases := costCases(t)
	prog := readFixture(t, "jpeg_prog_160x120.jpg")
	for o := uint32(2); o <= 8; o++ {
		cases = append(cases, costCase{name: fmt.Sprintf("progressive jpeg, orientation %d", o), data: withExifOrientation(t, prog, o)})
	}
	for _, opt := range []Options{
		{Width: 128, Height: 128},
		{Width: 224, Height: 224, CenterCrop: 0.875},
		{Width: 37, Height: 23, CenterCrop: 0.5, Filter: Bilinear},
		{Width: 640, Height: 17},
	} {
		for _, tc := range cases {
			got, info, err := decodeResized(tc.data, opt, nil, false)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			m, want, err := Decode(tc.data, 0)
			if err != nil {
				t.Fatal(err)
			}
			if info.Format != want || got.Width != opt.Width || got.Height != opt.Height {
				t.Errorf("%s: %+v, %dx%d", tc.name, info, got.Width, got.Height)
			}
			if ref := opt.finish(m); !slices.Equal(got.Pix, ref.Pix) {
				t.Errorf("%s, %+v: the pixels differ from the whole-image path's", tc.name, opt)
			}
		}
	}
}
