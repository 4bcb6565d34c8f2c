package imageprep

import "github.com/huskyai/huskyai/imageprep/internal/jpegscale"

// DecodeJPEGReduced decodes a JPEG at 1/8, 2/8 or 4/8 of its size, the
// smallest that is at least minW x minH upright, from its coefficients
// alone (see package internal/jpegscale): ceil(w*n/8) x ceil(h*n/8) pixels,
// each the mean of the pixels it stands for, to within a few levels
// (TestDecodeJPEGReduced bounds the difference). Decode's header checks
// come first, and the Exif orientation is applied. ok is false, before
// anything is decoded, when even 4/8 is smaller than minW x minH or the
// header is one Decode refuses; and it is false when the data is not a
// JPEG this path decodes (progressive, CMYK, Adobe RGB, several scans,
// ...) or anything in it is wrong. The caller then decodes the image in
// full, which decides. DecodeForSize uses it in builds without libjpeg.
func DecodeJPEGReduced(data []byte, maxPixels int64, minW, minH int) (*RGB, Info, bool) {
	cfg, o, ok := scalableJPEG(data, maxPixels)
	if !ok {
		return nil, Info{}, false
	}
	n := 1
	for ; n <= 4; n *= 2 {
		w, h := (cfg.Width*n+7)/8, (cfg.Height*n+7)/8
		if o >= 5 {
			w, h = h, w
		}
		if w >= minW && h >= minH {
			break
		}
	}
	if n > 4 {
		return nil, Info{}, false
	}
	m, ok := decodeJPEGReduced(data, n)
	if !ok || m.Width != (cfg.Width*n+7)/8 || m.Height != (cfg.Height*n+7)/8 {
		return nil, Info{}, false
	}
	m, info := upright(m, cfg, o)
	return m, info, true
}

// decodeJPEGReduced decodes data at scale/8 of its size (see
// jpegscale.Decode) into an RGB image.
func decodeJPEGReduced(data []byte, scale int) (*RGB, bool) {
	pix, w, h, ok := jpegscale.Decode(data, scale)
	if !ok {
		return nil, false
	}
	return &RGB{Width: w, Height: h, Pix: pix}, true
}
