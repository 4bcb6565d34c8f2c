package imageprep

import (
	"fmt"
	"image"
	"image/color"
)

// DecodeResized decodes data into the model input that opt describes: the
// central square of opt.CenterCrop of the upright image (none for 0 or 1),
// resized to opt.Width x opt.Height with opt.Filter. Its pixels are those
// of DecodeForSize(data, opt.MaxPixels, minW, minH) followed by
// RGB.CenterCrop and Resize (TestDecodeResized), where minW x minH is what
// the crop needs (opt.decodeSize), for less memory:
//   - a JPEG that the reduced or libjpeg decoder takes is decoded small,
//     as DecodeForSize does. full, when not nil, is called before a JPEG
//     that the reduced decoder gave up on is decoded in full, so that a
//     caller admitting decodes by their DecodeCost can reserve the rest of
//     its Max; an error from full ends the decode and is returned as it
//     is;
//   - any other image, unless a GIF or a JPEG its Exif orientation turns by
//     a quarter, is resized from its decoded rows, each converted to RGB
//     as the resize reads it: it is never held whole as RGB (3 bytes a
//     pixel less; DecodeCost counts what it holds).
//
// Errors are DecodeForSize's; invalid options give a plain error.
func DecodeResized(data []byte, opt Options, full func() error) (*RGB, Info, error) {
	return decodeResized(data, opt, full, true)
}

// decodeResized is DecodeResized; with reduce false, it decodes a JPEG in
// full as after the reduced decoder gave up (for tests).
func decodeResized(data []byte, opt Options, full func() error, reduce bool) (*RGB, Info, error) {
	if opt.Width <= 0 || opt.Height <= 0 {
		return nil, Info{}, fmt.Errorf("imageprep: invalid output size %dx%d", opt.Width, opt.Height)
	}
	kern, err := opt.Filter.get()
	if err != nil {
		return nil, Info{}, err
	}
	minW, minH := opt.decodeSize()
	if !reduce {
		minW, minH = 0, 0
	}
	if m, info, ok := decodeReduced(data, opt.MaxPixels, minW, minH); ok {
		return opt.finish(m), info, nil
	}
	if full != nil && reducible(data, opt.MaxPixels, minW, minH) {
		if err := full(); err != nil {
			return nil, Info{}, err
		}
	}
	d, info, _, err := decodeImage(data, opt.MaxPixels)
	if err != nil {
		return nil, info, err
	}
	if !d.readsByRows(kern, opt) {
		return opt.finish(d.toRGB()), info, nil
	}
	rr := newRowReader(d.img, d.orientation, opt.CenterCrop)
	return resizeRows(rr.w, rr.h, rr.row, opt.Width, opt.Height, kern), info, nil
}

// cropping reports whether opt takes a centre crop.
func (opt Options) cropping() bool { return opt.CenterCrop > 0 && opt.CenterCrop < 1 }

// decodeSize is the smallest image DecodeResized decodes to: the model's
// input, or what its centre crop is taken from.
func (opt Options) decodeSize() (w, h int) {
	if opt.cropping() {
		return int(float64(opt.Width)/opt.CenterCrop) + 1, int(float64(opt.Height)/opt.CenterCrop) + 1
	}
	return opt.Width, opt.Height
}

// finish takes opt's centre crop of m and resizes it to opt's size.
func (opt Options) finish(m *RGB) *RGB {
	if opt.cropping() {
		m = m.CenterCrop(opt.CenterCrop)
	}
	if m.Width != opt.Width || m.Height != opt.Height {
		m = Resize(m, opt.Width, opt.Height, opt.Filter)
	}
	return m
}

// readsByRows reports whether DecodeResized resizes d from its rows: not a
// GIF (already RGB), not turned by a quarter (its rows would be columns),
// and with the horizontal pass's weights in a table.
func (d decoded) readsByRows(kern kernel, opt Options) bool {
	return d.img != nil && d.orientation <= 4 && tableFits(d.img.Bounds().Dx(), opt.Width, kern)
}

// rowReader reads a decoded image's rows as RGB, one at a time: those of
// its centre crop, flipped as Exif orientations 2 to 4 say.
type rowReader struct {
	img          image.Image
	w, h         int // the crop's size
	x0, y0       int // the crop's top-left corner, in img's upright frame
	mirror, flip bool
	full, out    []uint8 // a whole row of img as RGB; the crop's row
	cb, cr       []uint8 // scratch of YCbCr rows
	lut          *[256][3]uint8
}

// newRowReader reads img turned by orientation o (1 to 4) and cropped as
// RGB.CenterCrop(crop) would crop the upright image.
func newRowReader(img image.Image, o int, crop float64) *rowReader {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	rr := &rowReader{img: img, w: w, h: h, mirror: o == 2 || o == 3, flip: o == 3 || o == 4}
	if crop > 0 && crop < 1 {
		side := cropSide(w, h, crop)
		rr.x0, rr.y0, rr.w, rr.h = (w-side)/2, (h-side)/2, side, side
	}
	switch s := img.(type) {
	case *image.YCbCr:
		rr.cb, rr.cr = make([]uint8, w), make([]uint8, w)
	case *image.Paletted:
		rr.lut = paletteLUT(s.Palette)
	}
	return rr
}

// row returns row y of the upright crop; the slice is reused by the next
// call.
func (rr *rowReader) row(y int) []uint8 {
	b := rr.img.Bounds()
	w, h := b.Dx(), b.Dy()
	uy := rr.y0 + y // in the upright image
	sy := uy
	if rr.flip {
		sy = h - 1 - uy
	}
	if rr.full == nil {
		rr.full, rr.out = make([]uint8, 3*w), make([]uint8, 3*rr.w)
	}
	rr.convert(rr.full, sy)
	if !rr.mirror {
		return rr.full[3*rr.x0:][:3*rr.w]
	}
	for x := range rr.w {
		sx := w - 1 - (rr.x0 + x)
		copy(rr.out[3*x:3*x+3], rr.full[3*sx:3*sx+3])
	}
	return rr.out
}

// convert writes row sy (from the top of the image) of img into d, 3
// bytes a pixel of its width. (FromImage converts a whole image with it.)
func (rr *rowReader) convert(d []uint8, sy int) {
	b := rr.img.Bounds()
	r := image.Rect(b.Min.X, b.Min.Y+sy, b.Max.X, b.Min.Y+sy+1)
	switch s := rr.img.(type) {
	case *image.NRGBA:
		fromNRGBA(d, s, r)
	case *image.RGBA:
		fromRGBA(d, s, r)
	case *image.NRGBA64:
		fromNRGBA64(d, s, r)
	case *image.RGBA64:
		fromRGBA64(d, s, r)
	case *image.Gray:
		fromGray(d, s, r)
	case *image.Gray16:
		fromGray16(d, s, r)
	case *image.CMYK:
		fromCMYK(d, s, r)
	case *image.YCbCr:
		ycbcrRow(d, s, sy, rr.cb, rr.cr)
	case *image.Paletted:
		for i, p := range s.Pix[s.PixOffset(r.Min.X, r.Min.Y):][:r.Dx()] {
			d[3*i], d[3*i+1], d[3*i+2] = rr.lut[p][0], rr.lut[p][1], rr.lut[p][2]
		}
	default:
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.NRGBAModel.Convert(rr.img.At(x, r.Min.Y)).(color.NRGBA)
			d[0], d[1], d[2] = c.R, c.G, c.B
			d = d[3:]
		}
	}
}
