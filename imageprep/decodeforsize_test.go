package imageprep

// Tests of DecodeForSize, run in both builds: the default (pure Go, where
// DecodeForSize must be exactly Decode) and -tags libjpeg (where JPEGs are
// decoded by libjpeg-turbo with DCT scaling, and must give the same model
// input within a tolerance and the same refusals).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// Tolerance of the libjpeg path's model input (the 128x128 bicubic tensor,
// values in [0,1]) against the pure-Go path's. The two differ by libjpeg's
// DCT-domain downscaling (an n/8 reduction computed by a reduced-size IDCT
// instead of the full decode followed by the antialiased resize doing all
// of the reduction) and by the IDCT itself (libjpeg-turbo's vs Go's, as
// against Pillow: a few levels, see jpegMaxDiff).
//
// Measured (go test -tags libjpeg -run DecodeForSize -v ./imageprep/) on
// the generated scenes (640x480, 1600x1200, 4000x3000; colour, gray, Exif
// orientation 6), the fixtures and the hostile corpus:
// max |diff| 0.0667 (17 levels, on a hard edge of the 1600x1200 colour
// scene, decoded at 1/8: 200x150), mean |diff| 0.0021 (0.5 levels); the
// 4000x3000 scene (decoded at 500x375) 0.0078 and 0.0008; JPEG fixtures
// (not reduced, IDCT only) 0.0118 and 0.0002. The bounds leave room above
// that.
const (
	libjpegTensorMaxDiff  = 0.08
	libjpegTensorMeanDiff = 0.004
)

// The fixtures are tiny (97x61 to 161x119) and full of sharp detail;
// reduced to 32x24 they are decoded at only 1.3 to 1.5 times that size,
// so the final resize does little antialiasing and the partial last block
// (a 161-pixel width at 2/8 gives 41 pixels, the last from one source
// column) shifts the geometry by a fraction of an output pixel. Measured:
// max |diff| 0.3686 (94 levels, at a sharp edge of the 97x61 4:2:0
// fixture), mean 0.0261. This looser bound covers that stress case only;
// at the real model input (128x128) these fixtures are not reduced.
const (
	libjpegSmallMaxDiff  = 0.40
	libjpegSmallMeanDiff = 0.03
)

// tensorDiff returns the max and mean absolute difference of two tensors.
func tensorDiff(a, b []float32) (maxd, mean float64) {
	var sum float64
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		sum += d
		maxd = max(maxd, d)
	}
	return maxd, sum / float64(len(a))
}

// sceneRGBA is a photo-like w x h scene that looks the same at every size:
// smooth gradients, a hard-edged disc and bars, and a fine texture.
func sceneRGBA(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		v := float64(y) / float64(h)
		for x := 0; x < w; x++ {
			u := float64(x) / float64(w)
			r := 200*u + 30*math.Sin(40*v)
			g := 180*v + 40*math.Sin(25*u+10*v)
			b := 120 + 100*math.Sin(6*u*v*math.Pi)
			if dx, dy := u-0.6, v-0.45; dx*dx+dy*dy < 0.04 {
				r, g, b = 240, 220-80*v, 30
			}
			if int(u*20)%5 == 0 && v > 0.7 {
				r, g, b = 20, 20, 40
			}
			// Texture about 1/100 of the width: kept by a 4000-pixel
			// image, averaged away at 128.
			t := 25 * math.Sin(float64(x)*600/float64(w)) * math.Sin(float64(y)*500/float64(h))
			m.Pix[m.PixOffset(x, y)+0] = clampByte(r + t)
			m.Pix[m.PixOffset(x, y)+1] = clampByte(g + t)
			m.Pix[m.PixOffset(x, y)+2] = clampByte(b - t)
			m.Pix[m.PixOffset(x, y)+3] = 255
		}
	}
	return m
}

func clampByte(v float64) uint8 { return uint8(max(0, min(255, math.Round(v)))) }

var (
	sceneMu    sync.Mutex
	sceneCache = map[string][]byte{}
)

// sceneJPEG encodes sceneRGBA(w, h) (gray when gray is set) at quality 90,
// cached: a 12 MP encode takes a while.
func sceneJPEG(t testing.TB, w, h int, gray bool) []byte {
	t.Helper()
	key := fmt.Sprintf("%dx%d/%v", w, h, gray)
	sceneMu.Lock()
	defer sceneMu.Unlock()
	if b, ok := sceneCache[key]; ok {
		return b
	}
	var img image.Image = sceneRGBA(w, h)
	if gray {
		g := image.NewGray(img.Bounds())
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				g.Set(x, y, color.GrayModel.Convert(img.At(x, y)))
			}
		}
		img = g
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	sceneCache[key] = buf.Bytes()
	return buf.Bytes()
}

// checkForSize decodes data with DecodeForSize for a w x h model input and
// compares the result with Decode's: the same Info, a decoded image of at
// least w x h (unless the image is smaller), and the same image (default
// build, unless its JPEG decoder reduced it) or a tensor within the
// tolerance of the scaled decoders. It returns the difference.
func checkForSize(t *testing.T, data []byte, w, h int, maxLimit, meanLimit float64) (maxd, mean float64) {
	t.Helper()
	want, wantInfo, _, err := decode(data, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, info, err := DecodeForSize(data, 0, w, h)
	if err != nil {
		t.Fatalf("DecodeForSize: %v", err)
	}
	if info != wantInfo {
		t.Errorf("Info %+v, want %+v", info, wantInfo)
	}
	if m.Width < min(w, want.Width) || m.Height < min(h, want.Height) || m.Width > want.Width || m.Height > want.Height {
		t.Errorf("decoded %dx%d for %dx%d, full size %dx%d", m.Width, m.Height, w, h, want.Width, want.Height)
	}
	if len(m.Pix) != 3*m.Width*m.Height {
		t.Fatalf("%d bytes for %dx%d", len(m.Pix), m.Width, m.Height)
	}
	// Without libjpeg, a JPEG the reduced decoder handles (baseline, not
	// CMYK: TestDecodeJPEGReduced*) is decoded at 1/8, 2/8 or 4/8, the
	// smallest that covers w x h, if one does, anything else as Decode does.
	scale := 0
	if _, handled := decodeJPEGReduced(data, 1); handled && !LibJPEG && info.Format == "jpeg" {
		for n := 1; n <= 4 && scale == 0; n *= 2 {
			if (want.Width*n+7)/8 >= w && (want.Height*n+7)/8 >= h {
				scale = n
			}
		}
	}
	switch {
	case scale > 0:
		if m.Width != (want.Width*scale+7)/8 || m.Height != (want.Height*scale+7)/8 {
			t.Errorf("decoded at %dx%d, want %d/8 of %dx%d", m.Width, m.Height, scale, want.Width, want.Height)
		}
	case !LibJPEG || info.Format != "jpeg":
		if d := firstDiff(m, want); d != "" {
			t.Errorf("differs from Decode: %s", d)
		}
	}
	got := Resize(m, w, h, Bicubic).Tensor(nil)
	maxd, mean = tensorDiff(got, Resize(want, w, h, Bicubic).Tensor(nil))
	t.Logf("%dx%d %s -> decoded at %dx%d -> %dx%d: max |diff| %.4f, mean %.5f",
		info.Width, info.Height, info.Format, m.Width, m.Height, w, h, maxd, mean)
	if maxd > maxLimit || mean > meanLimit {
		t.Errorf("tensor differs from the pure-Go path's by max %.4f (limit %.2f), mean %.5f (limit %.3f)",
			maxd, maxLimit, mean, meanLimit)
	}
	return maxd, mean
}

// TestDecodeForSizeScenes checks generated photos of several sizes, colour
// and gray, upright and with Exif orientation 6, for a 128x128 input.
func TestDecodeForSizeScenes(t *testing.T) {
	sizes := [][2]int{{640, 480}, {1600, 1200}, {4000, 3000}}
	if testing.Short() {
		sizes = sizes[:2]
	}
	var worst, worstMean float64
	for _, s := range sizes {
		for _, variant := range []string{"color", "gray", "orientation 6"} {
			if variant != "color" && s[0] > 2000 {
				continue
			}
			t.Run(fmt.Sprintf("%dx%d %s", s[0], s[1], variant), func(t *testing.T) {
				data := sceneJPEG(t, s[0], s[1], variant == "gray")
				if variant == "orientation 6" {
					data = withSegment(data, 0xE1, exifPayload(binary.BigEndian, 3, 6))
				}
				maxd, mean := checkForSize(t, data, 128, 128, libjpegTensorMaxDiff, libjpegTensorMeanDiff)
				worst, worstMean = max(worst, maxd), max(worstMean, mean)
				if LibJPEG {
					// The largest n/8 reduction that keeps both sides >= 128.
					m, _, _ := DecodeForSize(data, 0, 128, 128)
					n := 1
					for ; n < 8; n++ {
						if (s[0]*n+7)/8 >= 128 && (s[1]*n+7)/8 >= 128 {
							break
						}
					}
					w, h := (s[0]*n+7)/8, (s[1]*n+7)/8
					if variant == "orientation 6" {
						w, h = h, w
					}
					if m.Width != w || m.Height != h {
						t.Errorf("decoded at %dx%d, want %dx%d (scale %d/8)", m.Width, m.Height, w, h, n)
					}
				}
			})
		}
	}
	t.Logf("worst: max |diff| %.4f, mean %.5f", worst, worstMean)
}

// TestDecodeForSizeFixtures checks every fixture for 128x128 (where the
// fixtures, at most 161x119, are not reduced) and for 32x24, where the
// small JPEG fixtures are reduced by 2/8 to 4/8 (see libjpegSmallMaxDiff).
func TestDecodeForSizeFixtures(t *testing.T) {
	var worst, worstMean float64
	for _, im := range loadManifest(t).Images {
		for _, sz := range [][2]int{{128, 128}, {32, 24}} {
			maxLimit, meanLimit := libjpegTensorMaxDiff, libjpegTensorMeanDiff
			if sz[0] < 128 {
				maxLimit, meanLimit = libjpegSmallMaxDiff, libjpegSmallMeanDiff
			}
			t.Run(fmt.Sprintf("%s %dx%d", im.File, sz[0], sz[1]), func(t *testing.T) {
				maxd, mean := checkForSize(t, readFixture(t, im.File), sz[0], sz[1], maxLimit, meanLimit)
				if sz[0] < 128 {
					worst, worstMean = max(worst, maxd), max(worstMean, mean)
				}
			})
		}
	}
	t.Logf("worst at 32x24: max |diff| %.4f, mean %.5f", worst, worstMean)
}

// sameRefusal checks that DecodeForSize refuses data exactly as Decode
// does (Kind, format, declared size), or decodes it when Decode does.
func sameRefusal(t *testing.T, name string, data []byte, w, h int) {
	t.Helper()
	_, wantInfo, _, wantErr := decode(data, 0)
	m, info, err := DecodeForSize(data, 0, w, h)
	if kindOf(err) != kindOf(wantErr) {
		t.Errorf("%s: %v, Decode: %v", name, err, wantErr)
		return
	}
	if info != wantInfo {
		t.Errorf("%s: Info %+v, Decode's %+v", name, info, wantInfo)
	}
	if err != nil {
		e, we := err.(*Error), wantErr.(*Error)
		if e.Format != we.Format || e.Width != we.Width || e.Height != we.Height {
			t.Errorf("%s: %v, Decode: %v", name, err, wantErr)
		}
		return
	}
	if len(m.Pix) != 3*m.Width*m.Height || m.Width <= 0 || m.Height <= 0 {
		t.Errorf("%s: decoded %dx%d with %d bytes", name, m.Width, m.Height, len(m.Pix))
	}
}

// TestDecodeForSizeRefusals runs the hostile corpus, truncations of every
// JPEG, lying headers and random mutations through DecodeForSize: the same
// refusals as Decode, and no crash.
func TestDecodeForSizeRefusals(t *testing.T) {
	for _, tc := range hostileCorpus() {
		data := tc.gen(t)
		sameRefusal(t, tc.name, data, 128, 128)
		sameRefusal(t, tc.name+" (16x12)", data, 16, 12)
	}
	scene := sceneJPEG(t, 640, 480, false)
	progressive := readFixture(t, "jpeg_prog_160x120.jpg")
	for name, data := range map[string][]byte{
		"header says 1280x960, data is 640x480": jpegSOFSize(t, scene, 1280, 960),
		"header says 320x240, data is 640x480":  jpegSOFSize(t, scene, 320, 240),
		"header says 640x481":                   jpegSOFSize(t, scene, 640, 481),
		"header says 0x480":                     jpegSOFSize(t, scene, 0, 480),
		"header says 65535x65535":               jpegSOFSize(t, scene, 65535, 65535),
		"progressive, header says 320x240":      jpegSOFSize(t, progressive, 320, 240),
		"corrupt scan data":                     corrupt(scene, len(scene)/2),
		"EOI missing":                           scene[:len(scene)-2],
	} {
		sameRefusal(t, name, data, 128, 128)
	}
	n, lenient := 0, 0
	jpegs := [][]byte{scene}
	for _, im := range loadManifest(t).Images {
		if im.Format == "jpeg" {
			jpegs = append(jpegs, readFixture(t, im.File))
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i, data := range jpegs {
		step := max(1, len(data)/61)
		for cut := 0; cut < len(data); cut += step {
			n++
			sameRefusal(t, fmt.Sprintf("jpeg %d [:%d] of %d", i, cut, len(data)), data[:cut], 32, 24)
		}
		for j := 0; j < 40; j++ {
			b := bytes.Clone(data)
			for k := 0; k < 1+rng.IntN(8); k++ {
				b[rng.IntN(len(b))] = byte(rng.Uint32())
			}
			n++
			// Mutations may decode differently (both decoders guess at
			// corrupt data); they must not crash, and refusals must agree.
			_, _, err := DecodeForSize(b, 0, 32, 24)
			_, _, wantErr := Decode(b, 0)
			switch {
			case LibJPEG && err == nil && wantErr != nil:
				// libjpeg-turbo (like Pillow) decodes some corrupt
				// entropy data that Go's decoder refuses.
				lenient++
			case kindOf(err) != kindOf(wantErr):
				t.Errorf("mutation %d of jpeg %d: %v, Decode: %v", j, i, err, wantErr)
			}
		}
	}
	t.Logf("%d truncations and mutations; %d mutations decoded by libjpeg but refused by Decode", n, lenient)
}

// TestDecodeForSizeMaxPixels checks that the pixel limit applies to the
// declared size, not the scaled one, before decoding.
func TestDecodeForSizeMaxPixels(t *testing.T) {
	data := sceneJPEG(t, 1600, 1200, false)
	_, info, err := DecodeForSize(data, 1600*1200-1, 128, 128)
	if e, ok := err.(*Error); !ok || e.Kind != TooLarge || e.Width != 1600 || e.Height != 1200 || info.Format != "jpeg" {
		t.Fatalf("%+v %v, want TooLarge 1600x1200", info, err)
	}
	if !strings.Contains(err.Error(), "1600x1200") {
		t.Errorf("message %q", err)
	}
	if _, _, err := DecodeForSize(data, 1600*1200, 128, 128); err != nil {
		t.Fatal(err)
	}
	// No minimum: the full-size image.
	m, _, err := DecodeForSize(data, 0, 0, 0)
	if err != nil || m.Width != 1600 || m.Height != 1200 {
		t.Fatalf("no minimum: %v", err)
	}
}

// BenchmarkDecodeForSize measures decode + resize to 128x128 per image:
// the pure-Go path (Decode, Resize) and DecodeForSize (libjpeg with DCT
// scaling under -tags libjpeg; the pure-Go path otherwise).
func BenchmarkDecodeForSize(b *testing.B) {
	for _, s := range []struct {
		name string
		w, h int
	}{{"0.3MP", 640, 480}, {"2MP", 1600, 1200}, {"12MP", 4000, 3000}} {
		data := sceneJPEG(b, s.w, s.h, false)
		b.Run(s.name+"/purego", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				m, _, _, err := decode(data, 0)
				if err != nil {
					b.Fatal(err)
				}
				Resize(m, 128, 128, Bicubic)
			}
		})
		name := "/DecodeForSize"
		if LibJPEG {
			name = "/libjpeg"
			// libjpeg without DCT scaling (a minimum larger than the
			// image), to tell the two gains apart.
			b.Run(s.name+"/libjpeg-fullsize", func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					m, _, err := DecodeForSize(data, 0, 1<<20, 1<<20)
					if err != nil {
						b.Fatal(err)
					}
					Resize(m, 128, 128, Bicubic)
				}
			})
		}
		b.Run(s.name+name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				m, _, err := DecodeForSize(data, 0, 128, 128)
				if err != nil {
					b.Fatal(err)
				}
				Resize(m, 128, 128, Bicubic)
			}
		})
	}
}
