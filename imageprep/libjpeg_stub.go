//go:build !cgo || !libjpeg

package imageprep

// The default build: no cgo, every image goes through the pure-Go decoder.

const libjpegBuild = false

// decodeJPEGScaled never decodes without libjpeg; DecodeForSize then uses
// the pure-Go path.
func decodeJPEGScaled(data []byte, maxPixels int64, minW, minH int) (*RGB, Info, bool) {
	return nil, Info{}, false
}
