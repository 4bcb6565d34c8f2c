package qkernels

import "fmt"

// MaxTaps bounds the taps of one DepthwiseTaps call (a 7x7 window).
const MaxTaps = 49

// DepthwiseTaps computes the int32 accumulators of one output pixel of a
// depthwise convolution over its c channels: acc[i] = the sum over taps t
// of (src[offs[2t]+i] - zero) * w[offs[2t+1]+i], offs holding each tap's
// offset into src (the input pixel, in bytes) and into w (the tap's
// weights, minus their zero point, as int32s). Taps in the padding are
// left out by the caller (their input equals the zero point). It checks
// every offset, then runs the assembly kernel where the CPU has one over
// the whole vectors of channels, and Go over the rest.
func DepthwiseTaps(acc []int32, src []uint8, w []int32, offs []int, c int, zero int32) {
	taps := len(offs) / 2
	if len(offs)%2 != 0 || taps > MaxTaps || c < 0 || len(acc) < c {
		panic(fmt.Sprintf("qkernels: DepthwiseTaps: %d offsets, %d channels", len(offs), c))
	}
	for t := range taps {
		so, wo := offs[2*t], offs[2*t+1]
		if so < 0 || wo < 0 || so+c > len(src) || wo+c > len(w) {
			panic(fmt.Sprintf("qkernels: DepthwiseTaps: tap %d at %d, %d outside %d, %d", t, so, wo, len(src), len(w)))
		}
	}
	done := dwAsm(acc, src, w, offs, c, zero)
	for i := done; i < c; i++ {
		var s int32
		for t := range taps {
			s += (int32(src[offs[2*t]+i]) - zero) * w[offs[2*t+1]+i]
		}
		acc[i] = s
	}
}
