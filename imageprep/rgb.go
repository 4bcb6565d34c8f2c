package imageprep

import (
	"image"
	"image/color"
	"math"
)

// RGB is an 8-bit RGB image, rows top to bottom, 3 bytes per pixel.
type RGB struct {
	Width, Height int
	// Pix holds R, G, B of each pixel, row by row: len(Pix) ==
	// 3*Width*Height.
	Pix []uint8
}

// NewRGB returns a black w x h image.
func NewRGB(w, h int) *RGB {
	return &RGB{Width: w, Height: h, Pix: make([]uint8, 3*w*h)}
}

// FromImage converts img to 8-bit RGB the way Pillow's convert("RGB") does:
// alpha is dropped without compositing (the stored straight-alpha R, G, B
// are kept, as OpenCV's RGBA2RGB does too), 16-bit samples keep their high
// byte (v>>8, as Pillow reads 16-bit RGB PNGs), and premultiplied images are
// un-premultiplied first. Gray images give R = G = B.
//
// *image.YCbCr, *image.NRGBA, *image.RGBA, *image.Gray, *image.Paletted,
// *image.CMYK, *image.NRGBA64, *image.RGBA64 and *image.Gray16 have fast
// paths; other types go through color.NRGBAModel.
//
// *image.YCbCr (from JPEG) is converted as libjpeg-turbo decodes, the way
// Pillow gets it: "fancy" triangle upsampling of 4:2:0 and 4:2:2 chroma and
// libjpeg's fixed-point colour conversion (see ycbcr.go), not Go's
// color.YCbCrToRGB with nearest chroma. *image.CMYK uses Pillow's cmyk2rgb.
//
// Note: Pillow reads a 16-bit grayscale PNG as mode "I", and its
// convert("RGB") clips such values to 255 (nearly every pixel white); here a
// Gray16 pixel keeps its high byte instead, a deliberate difference.
func FromImage(img image.Image) *RGB {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	m := NewRGB(w, h)
	if w == 0 || h == 0 {
		return m
	}
	rr := newRowReader(img, 1, 0)
	for y := range h {
		rr.convert(m.Pix[3*w*y:][:3*w], y)
	}
	return m
}

// The conversions of FromImage, one per image type: each writes the
// pixels of b, row by row, to d. (One loop per type, not a per-pixel
// callback: this runs over every pixel of a full-size decode.)

func fromNRGBA(d []uint8, s *image.NRGBA, b image.Rectangle) {
	w := b.Dx()
	for y := 0; y < b.Dy(); y++ {
		row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
		for x := 0; x < w; x++ {
			d[0], d[1], d[2] = row[4*x], row[4*x+1], row[4*x+2]
			d = d[3:]
		}
	}
}

func fromRGBA(d []uint8, s *image.RGBA, b image.Rectangle) {
	w := b.Dx()
	for y := 0; y < b.Dy(); y++ {
		row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
		for x := 0; x < w; x++ {
			p := row[4*x : 4*x+4]
			if p[3] == 0xff {
				d[0], d[1], d[2] = p[0], p[1], p[2]
			} else {
				c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
				d[0], d[1], d[2] = c.R, c.G, c.B
			}
			d = d[3:]
		}
	}
}

func fromNRGBA64(d []uint8, s *image.NRGBA64, b image.Rectangle) {
	w := b.Dx()
	for y := 0; y < b.Dy(); y++ {
		row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):][:8*w]
		for x := 0; x < w; x++ {
			// Big-endian 16-bit samples: the high byte comes first.
			d[0], d[1], d[2] = row[8*x], row[8*x+2], row[8*x+4]
			d = d[3:]
		}
	}
}

func fromRGBA64(d []uint8, s *image.RGBA64, b image.Rectangle) {
	w := b.Dx()
	for y := 0; y < b.Dy(); y++ {
		row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):][:8*w]
		for x := 0; x < w; x++ {
			p := row[8*x : 8*x+8]
			if p[6] == 0xff && p[7] == 0xff {
				d[0], d[1], d[2] = p[0], p[2], p[4]
			} else {
				c := color.NRGBA64Model.Convert(color.RGBA64{
					uint16(p[0])<<8 | uint16(p[1]), uint16(p[2])<<8 | uint16(p[3]),
					uint16(p[4])<<8 | uint16(p[5]), uint16(p[6])<<8 | uint16(p[7]),
				}).(color.NRGBA64)
				d[0], d[1], d[2] = uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8)
			}
			d = d[3:]
		}
	}
}

func fromGray(d []uint8, s *image.Gray, b image.Rectangle) {
	w := b.Dx()
	for y := 0; y < b.Dy(); y++ {
		row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):][:w]
		for _, v := range row {
			d[0], d[1], d[2] = v, v, v
			d = d[3:]
		}
	}
}

func fromGray16(d []uint8, s *image.Gray16, b image.Rectangle) {
	w := b.Dx()
	for y := 0; y < b.Dy(); y++ {
		row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):][:2*w]
		for x := 0; x < w; x++ {
			v := row[2*x]
			d[0], d[1], d[2] = v, v, v
			d = d[3:]
		}
	}
}

func fromCMYK(d []uint8, s *image.CMYK, b image.Rectangle) {
	w := b.Dx()
	for y := 0; y < b.Dy(); y++ {
		row := s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
		for x := 0; x < w; x++ {
			p := row[4*x : 4*x+4]
			d[0], d[1], d[2] = cmykToRGB(p[0], p[1], p[2], p[3])
			d = d[3:]
		}
	}
}

// paletteLUT returns the straight (non-premultiplied) RGB of each palette
// index; indices beyond the palette are black.
func paletteLUT(p color.Palette) *[256][3]uint8 {
	var lut [256][3]uint8
	for i, c := range p {
		if i == len(lut) {
			break
		}
		if c == nil {
			continue
		}
		n := color.NRGBAModel.Convert(c).(color.NRGBA)
		lut[i] = [3]uint8{n.R, n.G, n.B}
	}
	return &lut
}

// cmykToRGB is Pillow's cmyk2rgb (libImaging/Convert.c):
// R = 255 - k' - c*(255-k)/255 with Pillow's rounded division by 255.
func cmykToRGB(c, m, y, k uint8) (r, g, b uint8) {
	nk := int32(255 - k)
	f := func(v uint8) uint8 {
		t := int32(v)*nk + 128
		return uint8(nk - ((t>>8)+t)>>8)
	}
	return f(c), f(m), f(y)
}

// Tensor writes the image as float32 values in [0,1] (byte/255, divided as
// numpy's arr.astype(float32)/255.0 does, bit for bit) in HWC order (R, G,
// B interleaved, rows top to bottom) into dst[:3*Width*Height], reusing
// dst's storage when its capacity suffices, and returns that slice.
func (m *RGB) Tensor(dst []float32) []float32 {
	n := len(m.Pix)
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	for i, v := range m.Pix {
		dst[i] = unit[v]
	}
	return dst
}

// unit[v] is float32(v)/255: a correctly rounded float32 division, which is
// what numpy computes for a float32 array divided by 255.0. Multiplying by
// float32(1/255) instead differs in the last bit for 126 of the 256 values.
var unit = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return
}()

// gifToRGB renders the first frame g of the GIF data on its w x h logical
// screen as Pillow 9.4 does: pixels outside the frame take the colour of the
// transparent index if the frame has one, else of index 0, and every pixel
// takes its palette colour, the transparent index included (Go's decoder
// replaces that entry by transparent black, so the original palette is read
// back from the file).
func gifToRGB(g *image.Paletted, data []byte, w, h int) *RGB {
	pal := g.Palette
	trans := -1
	for i, c := range pal {
		if _, _, _, a := c.RGBA(); a == 0 {
			trans = i // Go marks the transparent index (only) this way.
		}
	}
	lut := paletteLUT(pal)
	if orig := gifFirstPalette(data); orig != nil {
		for i := 0; i < len(orig)/3 && i < len(pal); i++ {
			lut[i] = [3]uint8{orig[3*i], orig[3*i+1], orig[3*i+2]}
		}
	}
	m := NewRGB(w, h)
	if g.Rect != m.bounds() {
		fill := lut[0]
		if trans >= 0 && trans < len(lut) {
			fill = lut[trans]
		}
		for i := 0; i < len(m.Pix); i += 3 {
			copy(m.Pix[i:i+3], fill[:])
		}
	}
	drawPaletted(m, image.Point{}, g, lut)
	return m
}

func (m *RGB) bounds() image.Rectangle { return image.Rect(0, 0, m.Width, m.Height) }

// drawPaletted draws g onto m, whose top-left corner is at origin in g's
// coordinates, mapping palette indices through lut. Pixels of g outside m
// are ignored.
func drawPaletted(m *RGB, origin image.Point, g *image.Paletted, lut *[256][3]uint8) {
	r := g.Rect.Intersect(m.bounds().Add(origin))
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := g.Pix[g.PixOffset(r.Min.X, y):][:r.Dx()]
		d := m.Pix[3*((y-origin.Y)*m.Width+r.Min.X-origin.X):][:3*len(row)]
		for _, i := range row {
			d[0], d[1], d[2] = lut[i][0], lut[i][1], lut[i][2]
			d = d[3:]
		}
	}
}

// gifFirstPalette returns the colour table (RGB triples) that applies to the
// first image of a GIF: its local table, else the global one. It returns nil
// if the structure cannot be followed.
func gifFirstPalette(data []byte) []byte {
	const header = 6 + 7
	if len(data) < header {
		return nil
	}
	var global []byte
	p := header
	if f := data[10]; f&0x80 != 0 {
		n := 3 << (f&7 + 1)
		if len(data) < p+n {
			return nil
		}
		global, p = data[p:p+n], p+n
	}
	for p < len(data) {
		switch data[p] {
		case 0x21: // Extension: label, then data sub-blocks.
			p += 2
			for p < len(data) && data[p] != 0 {
				p += 1 + int(data[p])
			}
			p++
		case 0x2c: // Image descriptor.
			if len(data) < p+10 {
				return nil
			}
			if f := data[p+9]; f&0x80 != 0 {
				n := 3 << (f&7 + 1)
				if len(data) < p+10+n {
					return nil
				}
				return data[p+10 : p+10+n]
			}
			return global
		default:
			return nil
		}
	}
	return nil
}

// cropSide is the side of CenterCrop's square for a w x h image.
func cropSide(w, h int, fraction float64) int {
	side := max(1, int(math.Round(float64(min(w, h))*fraction)))
	return min(side, w, h)
}

// CenterCrop returns the central square of m whose side is fraction (in
// (0, 1]) of m's shorter side, as ImageNet models are evaluated; the
// result shares nothing with m.
func (m *RGB) CenterCrop(fraction float64) *RGB {
	side := cropSide(m.Width, m.Height, fraction)
	x0, y0 := (m.Width-side)/2, (m.Height-side)/2
	out := NewRGB(side, side)
	for y := range side {
		copy(out.Pix[3*y*side:3*(y+1)*side], m.Pix[3*((y0+y)*m.Width+x0):])
	}
	return out
}
