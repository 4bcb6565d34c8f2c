package imageprep

import "image"

// JPEG colour: Go's image/jpeg leaves chroma subsampled in an *image.YCbCr,
// and its colour.YCbCrToRGB and nearest-neighbour chroma lookup differ from
// libjpeg(-turbo), which Pillow uses. Near hard colour edges the nearest
// lookup is off by tens of levels. So YCbCr is converted here as
// libjpeg-turbo's default decompression does: "fancy" (triangle filter)
// upsampling of 4:2:0 and 4:2:2 chroma (jdsample.c h2v2_fancy_upsample,
// h2v1_fancy_upsample, with their rounding biases and edge replication) and
// its fixed-point colour conversion (jdcolor.c ycc_rgb_convert). What is
// left is the difference between the two IDCTs, a few levels at most.

// libjpeg's conversion tables (SCALEBITS 16).
var ycc = func() (t struct{ crR, cbB, crG, cbG [256]int32 }) {
	const half = 1 << 15
	fix := func(x float64) int32 { return int32(x*(1<<16) + 0.5) }
	for i := range 256 {
		x := int32(i - 128)
		t.crR[i] = (fix(1.40200)*x + half) >> 16
		t.cbB[i] = (fix(1.77200)*x + half) >> 16
		t.crG[i] = -fix(0.71414) * x
		t.cbG[i] = -fix(0.34414)*x + half
	}
	return
}()

func clamp255(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// yccPixel converts one pixel as libjpeg's ycc_rgb_convert.
func yccPixel(d []uint8, y, cb, cr uint8) {
	yy := int32(y)
	d[0] = clamp255(yy + ycc.crR[cr])
	d[1] = clamp255(yy + (ycc.cbG[cb]+ycc.crG[cr])>>16)
	d[2] = clamp255(yy + ycc.cbB[cb])
}

// ycbcrRow converts row y (from the top of s.Rect) of s into d (3 bytes a
// pixel of its width) as libjpeg-turbo would; cb and cr are scratch of the
// width. (FromImage and DecodeResized convert a YCbCr image with it.)
func ycbcrRow(d []uint8, s *image.YCbCr, y int, cb, cr []uint8) {
	w, h := s.Rect.Dx(), s.Rect.Dy()
	cw, ch := (w+1)/2, (h+1)/2 // libjpeg's downsampled_width, _height
	fancy := s.Rect.Min == (image.Point{}) && cw > 2
	switch {
	case fancy && s.SubsampleRatio == image.YCbCrSubsampleRatio420:
		near := y / 2
		far := near - 1 // above for even rows, below for odd rows
		if y&1 == 1 {
			far = near + 1
		}
		far = min(max(far, 0), ch-1)
		up2(cb[:w], s.Cb[near*s.CStride:], s.Cb[far*s.CStride:], cw)
		up2(cr[:w], s.Cr[near*s.CStride:], s.Cr[far*s.CStride:], cw)
		row(d, s.Y[y*s.YStride:][:w], cb, cr)
	case fancy && s.SubsampleRatio == image.YCbCrSubsampleRatio422:
		up1(cb[:w], s.Cb[y*s.CStride:], cw)
		up1(cr[:w], s.Cr[y*s.CStride:], cw)
		row(d, s.Y[y*s.YStride:][:w], cb, cr)
	default:
		// 4:4:4, or chroma replication as libjpeg does for other ratios
		// and for images too narrow for fancy upsampling.
		b := s.Rect
		sy := b.Min.Y + y
		for x := b.Min.X; x < b.Max.X; x++ {
			ci := s.COffset(x, sy)
			yccPixel(d, s.Y[s.YOffset(x, sy)], s.Cb[ci], s.Cr[ci])
			d = d[3:]
		}
	}
}

func row(d, y, cb, cr []uint8) {
	for i, v := range y {
		yccPixel(d[3*i:3*i+3], v, cb[i], cr[i])
	}
}

// up1 is h2v1_fancy_upsample of the first cw samples of in into out
// (len(out) <= 2*cw).
func up1(out, in []uint8, cw int) {
	in = in[:cw]
	for x := range out {
		c := x / 2
		v := 3 * int32(in[c])
		if x&1 == 0 {
			out[x] = uint8((v + int32(in[max(c-1, 0)]) + 1) >> 2)
		} else {
			out[x] = uint8((v + int32(in[min(c+1, cw-1)]) + 2) >> 2)
		}
	}
}

// up2 is h2v2_fancy_upsample for one output row: near is the nearer chroma
// row, far the next nearer one (the row itself at the image's edges).
func up2(out, near, far []uint8, cw int) {
	near, far = near[:cw], far[:cw]
	sum := func(c int) int32 { return 3*int32(near[c]) + int32(far[c]) }
	for x := range out {
		c := x / 2
		if x&1 == 0 {
			out[x] = uint8((3*sum(c) + sum(max(c-1, 0)) + 8) >> 4)
		} else {
			out[x] = uint8((3*sum(c) + sum(min(c+1, cw-1)) + 7) >> 4)
		}
	}
}
