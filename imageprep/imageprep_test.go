package imageprep

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// opaque hides an image's concrete type, forcing FromImage's generic path.
type opaque struct{ image.Image }

// TestFromImageFastPaths compares each fast path with the generic
// color.NRGBAModel path on opaque pixels, on sub-images whose origin is not
// (0,0).
func TestFromImageFastPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	r := image.Rect(0, 0, 13, 9)
	sub := image.Rect(3, 2, 12, 9)
	b := func() uint8 { return uint8(rng.Uint32()) }
	pal := color.Palette{}
	for range 40 {
		pal = append(pal, color.RGBA{b(), b(), b(), 0xff})
	}
	var imgs []image.Image
	nrgba, rgba, n64, r64 := image.NewNRGBA(r), image.NewRGBA(r), image.NewNRGBA64(r), image.NewRGBA64(r)
	gray, g16, cmyk, p := image.NewGray(r), image.NewGray16(r), image.NewCMYK(r), image.NewPaletted(r, pal)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			nrgba.Set(x, y, color.NRGBA{b(), b(), b(), 0xff})
			rgba.Set(x, y, color.RGBA{b(), b(), b(), 0xff})
			n64.Set(x, y, color.NRGBA64{uint16(rng.Uint32()), uint16(rng.Uint32()), uint16(rng.Uint32()), 0xffff})
			r64.Set(x, y, color.RGBA64{uint16(rng.Uint32()), uint16(rng.Uint32()), uint16(rng.Uint32()), 0xffff})
			gray.Set(x, y, color.Gray{b()})
			g16.Set(x, y, color.Gray16{uint16(rng.Uint32())})
			p.SetColorIndex(x, y, uint8(rng.IntN(len(pal))))
			cmyk.Set(x, y, color.CMYK{b(), b(), b(), b()})
		}
	}
	imgs = append(imgs, nrgba, rgba, n64, r64, gray, g16, p)
	type subImager interface {
		SubImage(image.Rectangle) image.Image
	}
	for _, img := range imgs {
		for _, im := range []image.Image{img, img.(subImager).SubImage(sub)} {
			got, want := FromImage(im), FromImage(opaque{im})
			if d := firstDiff(got, want); d != "" {
				t.Errorf("%T %v: %s", im, im.Bounds(), d)
			}
		}
	}
	// CMYK follows Pillow's cmyk2rgb, which rounds a little differently
	// from color.CMYKToRGB.
	for _, im := range []image.Image{cmyk, cmyk.SubImage(sub)} {
		got, want := FromImage(im), FromImage(opaque{im})
		if maxd, _ := pixDiff(got.Pix, want.Pix); maxd > 1 {
			t.Errorf("CMYK %v differs from color.CMYKToRGB by %d", im.Bounds(), maxd)
		}
	}
	if r, g, b := cmykToRGB(0, 0, 0, 0); r != 255 || g != 255 || b != 255 {
		t.Errorf("white: %d %d %d", r, g, b)
	}
	if r, g, b := cmykToRGB(255, 128, 0, 255); r != 0 || g != 0 || b != 0 {
		t.Errorf("black: %d %d %d", r, g, b)
	}
	if r, g, b := cmykToRGB(255, 128, 0, 0); r != 0 || g != 127 || b != 255 {
		t.Errorf("cmyk(255,128,0,0): %d %d %d", r, g, b)
	}
}

// TestAlphaDropped checks that alpha is dropped without compositing, as
// Pillow's convert("RGB") does.
func TestAlphaDropped(t *testing.T) {
	n := image.NewNRGBA(image.Rect(0, 0, 3, 1))
	n.Pix = []uint8{10, 20, 30, 0, 200, 100, 50, 128, 1, 2, 3, 255}
	if got := FromImage(n).Pix; !bytes.Equal(got, []uint8{10, 20, 30, 200, 100, 50, 1, 2, 3}) {
		t.Errorf("NRGBA: %v", got)
	}
	n64 := image.NewNRGBA64(image.Rect(0, 0, 1, 1))
	n64.SetNRGBA64(0, 0, color.NRGBA64{0x1234, 0x5678, 0x9abc, 0})
	if got := FromImage(n64).Pix; !bytes.Equal(got, []uint8{0x12, 0x56, 0x9a}) {
		t.Errorf("NRGBA64: %x", got)
	}
	// Premultiplied: un-premultiplied as color.NRGBAModel does.
	r := image.NewRGBA(image.Rect(0, 0, 2, 1))
	r.Pix = []uint8{100, 50, 0, 128, 0, 0, 0, 0}
	want := color.NRGBAModel.Convert(color.RGBA{100, 50, 0, 128}).(color.NRGBA)
	if got := FromImage(r).Pix; !bytes.Equal(got, []uint8{want.R, want.G, want.B, 0, 0, 0}) {
		t.Errorf("RGBA: %v", got)
	}
}

func TestResizeBasics(t *testing.T) {
	src := NewRGB(5, 4)
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 7)
	}
	for f := range filterNames {
		same := Resize(src, 5, 4, Filter(f))
		if !bytes.Equal(same.Pix, src.Pix) || &same.Pix[0] == &src.Pix[0] {
			t.Errorf("%v: same-size Resize is not a copy", Filter(f))
		}
		// A constant image stays constant whatever the filter.
		c := NewRGB(7, 3)
		for i := range c.Pix {
			c.Pix[i] = 77
		}
		for _, sz := range [][2]int{{1, 1}, {3, 2}, {16, 9}, {7, 20}} {
			for _, v := range Resize(c, sz[0], sz[1], Filter(f)).Pix {
				if v != 77 {
					t.Fatalf("%v: constant image resized to %v has %d", Filter(f), sz, v)
				}
			}
		}
	}
	if m := Resize(&RGB{}, 4, 3, Bicubic); m.Width != 4 || m.Height != 3 || len(m.Pix) != 36 {
		t.Errorf("empty source: %+v", m)
	}
	for _, s := range []string{"bicubic", "BILINEAR", "Box"} {
		f, err := ParseFilter(s)
		if err != nil || !bytes.EqualFold([]byte(f.String()), []byte(s)) {
			t.Errorf("ParseFilter(%q) = %v, %v", s, f, err)
		}
	}
	if _, err := ParseFilter("lanczos"); err == nil {
		t.Error("ParseFilter(lanczos) succeeded")
	}
	if Filter(0) != Bicubic {
		t.Error("zero Filter is not Bicubic")
	}
}

func TestTensorReuse(t *testing.T) {
	m := &RGB{Width: 2, Height: 1, Pix: []uint8{0, 51, 102, 153, 204, 255}}
	buf := make([]float32, 1, 100)
	x := m.Tensor(buf)
	if &x[0] != &buf[0] || len(x) != 6 {
		t.Errorf("Tensor did not reuse dst")
	}
	if x[1] != 0.2 || x[5] != 1 {
		t.Errorf("Tensor = %v", x)
	}
	if y := m.Tensor(make([]float32, 2)); len(y) != 6 {
		t.Errorf("Tensor into short dst: len %d", len(y))
	}
	if _, _, err := Prepare(nil, Options{Width: 0, Height: 5}, nil); err == nil {
		t.Error("Prepare with 0x5 output succeeded")
	}
	if _, _, err := Prepare(nil, Options{Width: 5, Height: 5, Filter: 9}, nil); err == nil {
		t.Error("Prepare with Filter(9) succeeded")
	}
}

func FuzzPrepare(f *testing.F) {
	files, _ := filepath.Glob("testdata/pillow/*")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Add(pngHeader(50000, 50000))
	f.Add(jpegHeader(64, 48))
	f.Add(gifHeader(64, 48))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The memory admission reads the same header first: it must not
		// panic, and must refuse exactly what the header check refuses.
		opt := Options{Width: 16, Height: 12, MaxPixels: 1 << 20}
		cost, _, costErr := DecodeCost(data, opt)
		_, _, headerErr := header(data, 1<<20)
		if (costErr == nil) != (headerErr == nil) || (costErr == nil && (cost.Expected <= 0 || cost.Expected > cost.Max)) {
			t.Fatalf("DecodeCost %+v, %v; header check %v", cost, costErr, headerErr)
		}
		x, info, err := Prepare(data, opt, nil)
		// DecodeResized's full decode (rows read as they are converted)
		// gives Prepare's pixels, and its errors.
		m, _, rerr := decodeResized(data, opt, nil, false)
		if (err == nil) != (rerr == nil) || err == nil && !slices.Equal(m.Tensor(nil), x) {
			t.Fatalf("DecodeResized %v, Prepare %v, or their pixels differ", rerr, err)
		}
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T: %v", err, err)
			}
			return
		}
		if len(x) != 16*12*3 || info.Width*info.Height > 1<<20 || info.Width <= 0 {
			t.Fatalf("len %d, info %+v", len(x), info)
		}
		for _, v := range x {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("value %v", v)
			}
		}
	})
}

// synthJPEG encodes a w x h synthetic photo-like image.
func synthJPEG(b *testing.B, w, h int) []byte {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	rng := rand.New(rand.NewPCG(7, 8))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Y[y*img.YStride+x] = uint8((x*x/(w/8+1)+y*3)%256) ^ uint8(rng.IntN(16))
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = uint8(i/7), uint8(255-i/11)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func BenchmarkPrepare(b *testing.B) {
	for _, sz := range []struct {
		name string
		w, h int
	}{{"640x480", 640, 480}, {"2MP_1632x1224", 1632, 1224}} {
		data := synthJPEG(b, sz.w, sz.h)
		b.Run(sz.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var dst []float32
			for b.Loop() {
				var err error
				dst, _, err = Prepare(data, Options{Width: 128, Height: 128}, dst)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestColumnPath checks the horizontal pass's column-by-column variant,
// used when the weight table would be too large, against the table one.
func TestColumnPath(t *testing.T) {
	m := loadManifest(t)
	defer func(v int) { maxTable = v }(maxTable)
	for _, im := range m.Images[:5] {
		src, _, err := Decode(readFixture(t, im.File), 0)
		if err != nil {
			t.Fatal(err)
		}
		for f := range filterNames {
			maxTable = 4 << 20
			want := Resize(src, 37, 23, Filter(f))
			maxTable = 0
			if d := firstDiff(Resize(src, 37, 23, Filter(f)), want); d != "" {
				t.Errorf("%s %v: %s", im.File, Filter(f), d)
			}
		}
	}
}
