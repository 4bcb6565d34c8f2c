package qkernels

import "fmt"

// MaxTaps bounds the taps of one DepthwiseTaps call (a 7x7 window).
const MaxTaps = 49

// DepthwiseTaps computes the int32 accumulators of one output pixel of a
// depthwise convolution over its c channels: acc[i] = the sum over taps t
// of (src[offs[2t]+i] - zero) * w[offs[2t+1]+i], offs holding each tap's
// offset into src (the input pixel, in bytes) and into w (the tap's
// weights, minus their zero point, as int32s). Taps in the padding are
// left out by the caller (their input equals the zero point).
func DepthwiseTaps(acc []int32, src []uint8, w []int32, offs []int, c int, zero int32) {
	DepthwiseRow(acc, c, src, 0, 1, w, offs, c, zero)
}

// DepthwiseRow is DepthwiseTaps for npix output pixels with the same taps:
// pixel p reads src from p*step on and writes acc from p*lda on. It checks
// every offset, then runs the assembly kernel where the CPU has one (the
// last channels of a partial vector under a mask), else Go.
func DepthwiseRow(acc []int32, lda int, src []uint8, step, npix int, w []int32, offs []int, c int, zero int32) {
	taps := len(offs) / 2
	if len(offs)%2 != 0 || taps > MaxTaps || c < 0 || npix < 1 || step < 0 || lda < c || len(acc) < (npix-1)*lda+c {
		panic(fmt.Sprintf("qkernels: DepthwiseRow: %d offsets, %d channels, %d pixels", len(offs), c, npix))
	}
	last := (npix - 1) * step
	for t := range taps {
		so, wo := offs[2*t], offs[2*t+1]
		if so < 0 || wo < 0 || last+so+c > len(src) || wo+c > len(w) {
			panic(fmt.Sprintf("qkernels: DepthwiseRow: tap %d at %d, %d outside %d, %d", t, last+so, wo, len(src), len(w)))
		}
	}
	done := dwAsm(acc, lda, src, step, npix, w, offs, c, zero)
	for p := range npix {
		a, s := acc[p*lda:], src[p*step:]
		for i := done; i < c; i++ {
			var sum int32
			for t := range taps {
				sum += (int32(s[offs[2*t]+i]) - zero) * w[offs[2*t+1]+i]
			}
			a[i] = sum
		}
	}
}
