package kernels

import "fmt"

// MaxTaps bounds the taps of one DepthwiseTaps call (a 7x7 window).
const MaxTaps = 49

// DepthwiseTaps computes one output pixel of a depthwise convolution over
// its c channels: dst[i] = bias[i] + the sum over taps t of
// src[offs[2t]+i] * w[offs[2t+1]+i], offs holding each tap's offset into
// src (the input pixel) and into w (the tap's weights), in float32s. It
// checks every offset, then runs the assembly kernel of the CPU (AVX-512
// or AVX2 with FMA) over the whole vectors of channels and Go over the
// rest, summing each channel in tap order either way; then act.
func DepthwiseTaps(dst, src, w, bias []float32, offs []int, c int, act Act) {
	taps := len(offs) / 2
	if len(offs)%2 != 0 || taps > MaxTaps || c < 0 || len(dst) < c || len(bias) < c {
		panic(fmt.Sprintf("kernels: DepthwiseTaps: %d offsets, %d channels", len(offs), c))
	}
	for t := range taps {
		so, wo := offs[2*t], offs[2*t+1]
		if so < 0 || wo < 0 || so+c > len(src) || wo+c > len(w) {
			panic(fmt.Sprintf("kernels: DepthwiseTaps: tap %d at %d, %d outside %d, %d", t, so, wo, len(src), len(w)))
		}
	}
	done := 0
	if dwKernel != 0 && c >= dwLanes && taps > 0 {
		done = c - c%dwLanes
		dwCall(dwKernel, &dst[0], &src[0], &w[0], &bias[0], &offs[0], taps, done, int(act))
	}
	for i := done; i < c; i++ {
		s := bias[i]
		for t := range taps {
			s += src[offs[2*t]+i] * w[offs[2*t+1]+i]
		}
		dst[i] = s
	}
	act.Apply(dst[done:c])
}

// dwKernel is the assembly of DepthwiseTaps for this CPU (dwCall runs it
// over c, a multiple of dwLanes, channels); 0 where there is none.
// dwKernels are all those the CPU can run, best first (tests run each).
// dwCall calls the assembly directly rather than through a function
// value, so that the offsets, on the caller's stack, stay there.
var (
	dwKernel  int
	dwLanes   int
	dwKernels []dwImpl
)

type dwImpl struct{ kernel, lanes int }

// UseAVX2 makes the float32 kernels run their AVX2 assembly only, the
// asm-avx2 micro-kernel (UseMicroKernel) and the 8-lane depthwise
// kernel, and returns a function that puts the previous ones back, or
// false where there is no AVX2 assembly. It is for benchmarks that
// measure an AVX2-only CPU on a newer one, with UseMicroKernel's
// restrictions: not while kernels run, and load models after.
func UseAVX2() (restore func(), ok bool) {
	restoreMicro, ok := UseMicroKernel("asm-avx2")
	if !ok {
		return nil, false
	}
	savedKernel, savedLanes := dwKernel, dwLanes
	for _, d := range dwKernels {
		if d.lanes == 8 {
			dwKernel, dwLanes = d.kernel, d.lanes
		}
	}
	return func() {
		restoreMicro()
		dwKernel, dwLanes = savedKernel, savedLanes
	}, true
}
