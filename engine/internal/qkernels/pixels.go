package qkernels

import "fmt"

// QuantizePixels sets dst[i] to src[i]*255 + 0.5, computed in float32,
// truncated and clamped to 0..255: the engine's [0,1] pixels back to the
// bytes they came from (p/255 gives p back exactly; a value within
// float32 rounding of a half-way point may go either way).
func QuantizePixels(dst []uint8, src []float32) {
	if len(dst) < len(src) {
		panic(fmt.Sprintf("qkernels: QuantizePixels: %d values into %d", len(src), len(dst)))
	}
	done := pixelsAsm(dst, src)
	for i := done; i < len(src); i++ {
		dst[i] = uint8(min(max(src[i]*255+0.5, 0), 255))
	}
}
