package imageprep

import "encoding/binary"

// Cost is what decoding an image into a model's input may allocate, from
// its header alone (DecodeCost).
type Cost struct {
	// Expected bounds the decode when its cheaper path runs to the end: a
	// baseline JPEG decoded reduced, from its coefficients
	// (DecodeJPEGReduced, in builds without libjpeg). It equals Max where
	// there is no cheaper path.
	Expected int64
	// Max bounds the decode whatever path runs: the full decode after the
	// cheaper path gave up included (DecodeResized's hook tells when).
	Max int64
}

// DecodeCost estimates, from the header alone, the most memory that
// DecodeResized(data, opt, _) allocates: an upper bound for a server to
// admit the decode against a memory budget before it starts. Its errors
// are the header errors of Decode (the same *Error), so a refused image
// costs nothing.
//
// Max follows the decoder the image will go through in full, by the
// declared size (which is what a decoder allocates for, whatever data
// follows):
//   - PNG: Go's image/png holds the whole image in the type of its colour
//     layout (1 to 8 bytes a pixel: Gray, Paletted, RGBA, NRGBA64...; a
//     tRNS chunk turns gray and RGB into NRGBA), 2.25 times for an
//     interlaced one (each Adam7 pass is an image of its own before the
//     merge);
//   - GIF: the first frame's paletted image on its logical screen;
//   - JPEG: the component planes, plus for a progressive JPEG the
//     coefficients (4 bytes a sample), plus a CMYK image for 4
//     components;
//   - then, where the resize cannot read the decoded rows (a GIF, a JPEG
//     turned by a quarter, an extreme aspect ratio), the RGB image (3
//     bytes a pixel), a second one for an Exif rotation and a third for a
//     centre crop; else a few rows;
//   - and the resize's buffers.
//
// For a baseline JPEG that the reduced decoder takes, Expected is what
// that decoder needs (jpegReducedMemory): its DC values and block means,
// and the image at 1/8, 2/8 or 4/8 of the size, far less than the full
// decode at 1/8 and 2/8, a little more at 4/8. A file can still make that
// decoder give up half-way, and the full decode then needs Max, the larger
// of the two.
//
// TestDecodeCost checks both bounds against what decoding allocates.
func DecodeCost(data []byte, opt Options) (Cost, Info, error) {
	cfg, info, err := header(data, opt.MaxPixels)
	if err != nil {
		return Cost{}, info, err
	}
	w, h := cfg.Width, cfg.Height
	px := int64(w) * int64(h)
	var decoded int64 // what the format's decoder holds
	o := 1
	switch info.Format {
	case "png":
		decoded = pngMemory(data, px, w)
	case "gif":
		decoded = px // a Paletted image of at most the screen
	case "jpeg":
		decoded = jpegMemory(data, w, h)
		o = exifOrientation(data)
	}
	total := decoded
	kern, kerr := opt.Filter.get()
	if info.Format == "gif" || o >= 5 || kerr != nil || !tableFits(w, max(opt.Width, 1), kern) {
		total += 3 * px // the RGB image
		if o != 1 {
			total += 3 * px
		}
		if opt.cropping() {
			total += 3 * px
		}
	} else {
		total += 8 * int64(w) // a row as RGB, its mirror, YCbCr scratch
	}
	// The resize's buffers, and the decoders' readers and tables.
	total += resizeMemory(w, h, opt.Width, opt.Height) + decoderSlack
	c := Cost{Expected: total, Max: total}
	minW, minH := opt.decodeSize()
	if info.Format == "jpeg" && !LibJPEG && minW > 0 && minH > 0 {
		if r, rpx, ok := jpegReducedMemory(data, w, h, minW, minH); ok {
			if opt.cropping() {
				r += 3 * rpx
			}
			// At 4/8 the reduced decoder can take more than the full
			// decode read by rows; either can be what runs last.
			c.Expected, c.Max = r, max(r, total)
		}
	}
	return c, info, nil
}

// decoderSlack is what a decoder allocates whatever the image's size:
// readers, tables, Huffman and zlib state.
const decoderSlack = 256 << 10

// resizeMemory bounds the buffers of resizing a w x h image to dw x dh:
// the horizontal pass's dw columns of every source row, the output, and
// the filter tables (a few words per source pixel of a row and a column).
func resizeMemory(w, h, dw, dh int) int64 {
	dw, dh = max(dw, 1), max(dh, 1)
	return 3*int64(dw)*int64(h) + 3*int64(dw)*int64(dh) + 32*int64(w+h)
}

// pngMemory is the memory image/png allocates for the image of a PNG
// of px pixels, w wide: the decoded image, twice if interlaced, and two
// rows of raw samples.
func pngMemory(data []byte, px int64, w int) int64 {
	// The IHDR chunk comes first (png.DecodeConfig has checked it): bit
	// depth at byte 24, colour type at 25, interlace at 28.
	depth, ctype, interlaced := data[24], data[25], data[28] == 1
	trns := pngHasChunk(data, "tRNS")
	var perPixel int64
	switch ctype {
	case 3: // paletted
		perPixel = 1
	case 0: // gray: Gray, Gray16, or NRGBA(64) with tRNS
		perPixel = 1
		if depth == 16 {
			perPixel = 2
		}
		if trns {
			perPixel *= 4
		}
	default: // RGB, gray+alpha, RGBA: RGBA/NRGBA or their 64-bit kinds
		perPixel = 4
		if depth == 16 {
			perPixel = 8
		}
	}
	image := perPixel * px
	if interlaced {
		// Each Adam7 pass is decoded into an image of its own (together
		// one image's worth), then merged into the image, and the passes'
		// row buffers add a quarter more (measured).
		image = image*2 + image/4
	}
	return image + 2*8*int64(w)
}

// pngHasChunk reports whether the PNG has a chunk of type typ before its
// first IDAT.
func pngHasChunk(data []byte, typ string) bool {
	for p := 8; p+8 <= len(data); {
		n := int64(binary.BigEndian.Uint32(data[p:]))
		t := string(data[p+4 : p+8])
		if t == typ {
			return true
		}
		if t == "IDAT" || n > int64(len(data)) {
			return false
		}
		p += 12 + int(n)
	}
	return false
}

// jpegMemory is the memory image/jpeg allocates for a w x h JPEG: the
// planes of its components (rounded up to whole MCUs), the coefficients
// of a progressive one (a 64 x int32 block per 64 samples), and a CMYK
// image for 4 components. Where the SOF cannot be read (DecodeConfig
// read it, so only for odd files) it assumes the costliest layout: four
// progressive components at full resolution.
func jpegMemory(data []byte, w, h int) int64 {
	sof, ok := jpegSOF(data)
	if !ok {
		sof = jpegFrame{progressive: true, h: []int{1, 1, 1, 1}, v: []int{1, 1, 1, 1}}
	}
	hmax, vmax := 1, 1
	for i := range sof.h {
		hmax, vmax = max(hmax, sof.h[i]), max(vmax, sof.v[i])
	}
	mxx, myy := int64((w+8*hmax-1)/(8*hmax)), int64((h+8*vmax-1)/(8*vmax))
	var planes int64
	for i := range sof.h {
		planes += mxx * myy * 64 * int64(sof.h[i]*sof.v[i])
	}
	total := planes
	if sof.progressive {
		total += 4 * planes
	}
	if len(sof.h) == 4 {
		total += 4 * int64(w) * int64(h)
	}
	return total
}

// jpegFrame is what jpegMemory needs of a JPEG's SOF: whether it is
// progressive, and each component's sampling factors.
type jpegFrame struct {
	progressive bool
	h, v        []int
}

// jpegSOF finds and reads the first SOF segment of a JPEG.
func jpegSOF(data []byte) (jpegFrame, bool) {
	var f jpegFrame
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xFF {
			return f, false
		}
		m := data[p+1]
		if m == 0xFF { // fill byte
			p++
			continue
		}
		if m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01 {
			p += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return f, false
		}
		seg := data[p+4 : p+2+n]
		switch m {
		case 0xC0, 0xC1, 0xC2:
			if len(seg) < 6 {
				return f, false
			}
			nc := int(seg[5])
			if nc < 1 || nc > 4 || len(seg) < 6+3*nc {
				return f, false
			}
			f.progressive = m == 0xC2
			for i := range nc {
				hv := seg[6+3*i+1]
				f.h, f.v = append(f.h, max(1, int(hv>>4))), append(f.v, max(1, int(hv&15)))
			}
			return f, true
		case 0xDA: // a scan before any SOF
			return f, false
		}
		p += 2 + n
	}
	return f, false
}

// jpegReducedMemory bounds what DecodeJPEGReduced(data, _, minW, minH) and
// a resize of its result to at most minW x minH allocate, for a w x h
// JPEG, and the pixels it decodes to; ok is false where that decoder will
// not take the JPEG (progressive, not 1 or 3 components, a size it cannot
// reduce to). It follows jpegscale.Decode: a DC value (int32) per block,
// the means of the block's parts at 2/8 and 4/8 (a byte each), the
// entropy-coded data without its stuffing and the restart offsets, a plane
// per component at the output size, the RGB image, its rotated copy for
// an Exif orientation, and the resize.
func jpegReducedMemory(data []byte, w, h, minW, minH int) (total, pixels int64, ok bool) {
	sof, ok := jpegSOF(data)
	if !ok || sof.progressive || len(sof.h) != 1 && len(sof.h) != 3 {
		return 0, 0, false
	}
	o := exifOrientation(data)
	n := 1
	for ; n <= 4; n *= 2 {
		ow, oh := (w*n+7)/8, (h*n+7)/8
		if o >= 5 {
			ow, oh = oh, ow
		}
		if ow >= minW && oh >= minH {
			break
		}
	}
	if n > 4 {
		return 0, 0, false
	}
	hmax, vmax := 1, 1
	for i := range sof.h {
		hmax, vmax = max(hmax, sof.h[i]), max(vmax, sof.v[i])
	}
	mcusX, mcusY := int64((w+8*hmax-1)/(8*hmax)), int64((h+8*vmax-1)/(8*vmax))
	if len(sof.h) == 1 { // not interleaved: a block per MCU
		sof.h[0], sof.v[0], mcusX, mcusY = 1, 1, int64((w+7)/8), int64((h+7)/8)
		hmax, vmax = 1, 1
	}
	for i := range sof.h {
		blocks := mcusX * int64(sof.h[i]) * mcusY * int64(sof.v[i])
		kx, ky := n*hmax/sof.h[i], n*vmax/sof.v[i]
		total += 4 * blocks
		if kx*ky > 1 {
			total += int64(kx*ky) * blocks
		}
	}
	total += int64(len(data)) + 16 + 8*(mcusX*mcusY+2) // unstuffed data, restart offsets
	ow, oh := int64((w*n+7)/8), int64((h*n+7)/8)
	pixels = ow * oh
	total += int64(len(sof.h))*pixels + 3*pixels // planes, RGB
	if o != 1 {
		total += 3 * pixels
	}
	total += resizeMemory(int(ow), int(oh), minW, minH) + decoderSlack
	return total, pixels, true
}
