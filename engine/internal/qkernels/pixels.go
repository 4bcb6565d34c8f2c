package qkernels

import "fmt"

// QuantizePixels sets dst[i] to src[i]*255 rounded (half up) and clamped
// to 0..255: the engine's [0,1] pixels back to the bytes they came from.
func QuantizePixels(dst []uint8, src []float32) {
	if len(dst) < len(src) {
		panic(fmt.Sprintf("qkernels: QuantizePixels: %d values into %d", len(src), len(dst)))
	}
	done := pixelsAsm(dst, src)
	for i := done; i < len(src); i++ {
		dst[i] = uint8(min(max(src[i]*255+0.5, 0), 255))
	}
}
