//go:build amd64 && !purego

package kernels

//go:generate python3 depthwise_amd64_gen.py

import "golang.org/x/sys/cpu"

//go:noescape
func dwTaps512(dst, src, w, bias *float32, offs *int, ntaps, c, act int)

//go:noescape
func dwTaps256(dst, src, w, bias *float32, offs *int, ntaps, c, act int)

// The kernels, by dwKernel.
const (
	dwAVX512 = 1
	dwAVX2   = 2
)

func init() {
	if cpu.X86.HasAVX512F {
		dwKernels = append(dwKernels, dwImpl{dwAVX512, 16})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		dwKernels = append(dwKernels, dwImpl{dwAVX2, 8})
	}
	if len(dwKernels) > 0 {
		dwKernel, dwLanes = dwKernels[0].kernel, dwKernels[0].lanes
	}
}

func dwCall(kernel int, dst, src, w, bias *float32, offs *int, ntaps, c, act int) {
	if kernel == dwAVX512 {
		dwTaps512(dst, src, w, bias, offs, ntaps, c, act)
		return
	}
	dwTaps256(dst, src, w, bias, offs, ntaps, c, act)
}
