package imageprep

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
)

// DecodeForSize: decoding for a known output size.
//
// A JPEG can be decoded at 1/8, 2/8, ... 8/8 of its size for much less than
// the full decode by scaling in the DCT domain (libjpeg's scale_num /
// scale_denom): a 12 MP photo bound for a 128x128 model need never exist at
// 12 MP in memory. The default build has no cgo: it decodes a baseline
// JPEG of at least 2 minW x 2 minH at 1/8, 2/8 or 4/8, the smallest that
// still leaves it at least minW x minH, from its coefficients, with
// huskyai's own entropy decoder (DecodeJPEGReduced, internal/jpegscale), and every
// other image with the pure-Go path (Decode). A build with the libjpeg tag
// and cgo (go build -tags libjpeg) decodes JPEGs through libjpeg-turbo at
// the largest reduction that still leaves the image at least minW x minH
// (see libjpeg.go). Everything that these scaled decoders do not decode
// cleanly (CMYK and YCCK JPEGs, progressive ones without libjpeg, any
// error or warning, such as truncated or corrupt data) is decoded by the
// pure-Go path instead, which then decides acceptance and error kinds.
// The scaled decoders check less than it (they skip the AC values), so
// some JPEGs with corrupt AC data that Decode refuses are accepted.

// LibJPEG reports whether this binary was built with the libjpeg tag (and
// cgo), so that DecodeForSize decodes JPEGs through libjpeg-turbo with DCT
// scaling.
const LibJPEG = libjpegBuild

// DecodeForSize is Decode for an image that will be resized to (at least)
// minW x minH: the header check (format, declared size, maxPixels) is
// Decode's and comes before any pixel is decoded, and errors are the same
// *Error with the same Kind. The returned image may be smaller than the
// declared size, but never smaller than minW x minH in either dimension
// unless the image itself is (then it is returned at full size): with the
// libjpeg build tag, a JPEG is decoded by libjpeg-turbo at the largest DCT
// scale reduction (1/8 to 8/8) whose output is at least minW x minH after
// the Exif orientation is applied; without it, a baseline JPEG is decoded
// by DecodeJPEGReduced at 1/8, 2/8 or 4/8, the smallest that is at least
// minW x minH, if one is. Every other image is decoded exactly as Decode
// does.
//
// The Info reports the format and the declared size (upright, as Decode's:
// swapped for Exif orientations 5 to 8), not the size of the returned
// image. minW or minH <= 0 means no scaling.
func DecodeForSize(data []byte, maxPixels int64, minW, minH int) (*RGB, Info, error) {
	if m, info, ok := decodeReduced(data, maxPixels, minW, minH); ok {
		return m, info, nil
	}
	m, info, _, err := decode(data, maxPixels)
	return m, info, err
}

// decodeReduced decodes a JPEG at a reduced size no smaller than minW x
// minH: by libjpeg-turbo in a libjpeg build, else by DecodeJPEGReduced;
// ok is false where neither takes data (the caller decodes it in full).
func decodeReduced(data []byte, maxPixels int64, minW, minH int) (*RGB, Info, bool) {
	if minW <= 0 || minH <= 0 {
		return nil, Info{}, false
	}
	if m, info, ok := decodeJPEGScaled(data, maxPixels, minW, minH); ok {
		return m, info, true
	}
	if LibJPEG {
		return nil, Info{}, false
	}
	return DecodeJPEGReduced(data, maxPixels, minW, minH)
}

// reducible reports whether the reduced decoder was to take data (its
// cost, jpegReducedMemory, is what DecodeCost expects), so that a full
// decode after it gave up needs more memory than was expected.
func reducible(data []byte, maxPixels int64, minW, minH int) bool {
	if LibJPEG || minW <= 0 || minH <= 0 {
		return false
	}
	cfg, info, err := header(data, maxPixels)
	if err != nil || info.Format != "jpeg" {
		return false
	}
	_, _, ok := jpegReducedMemory(data, cfg.Width, cfg.Height, minW, minH)
	return ok
}

// scalableJPEG is the header check of the reduced JPEG decoders
// (DecodeJPEGReduced, and libjpeg's decodeJPEGScaled): it reports the
// declared size and Exif orientation of data, and false, before any pixel
// is decoded, when it is not a JPEG, or a header that Decode would refuse
// (so that the refusal is Decode's own), or CMYK or YCCK colour.
func scalableJPEG(data []byte, maxPixels int64) (cfg image.Config, orientation int, ok bool) {
	if format, _ := Sniff(data); format != "jpeg" {
		return cfg, 0, false
	}
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return cfg, 0, false
	}
	if cfg.ColorModel == color.CMYKModel {
		return cfg, 0, false
	}
	return cfg, exifOrientation(data), true
}

// upright applies Exif orientation o to m, a reduced decode of a JPEG
// whose header declared cfg, and returns it with the Info Decode gives
// (the declared size, upright).
func upright(m *RGB, cfg image.Config, o int) (*RGB, Info) {
	info := Info{Format: "jpeg", Width: cfg.Width, Height: cfg.Height}
	if o != 1 {
		m = orient(m, o)
		if o >= 5 {
			info.Width, info.Height = cfg.Height, cfg.Width
		}
	}
	return m, info
}
