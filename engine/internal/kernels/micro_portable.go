//go:build !(goexperiment.simd && amd64)

package kernels

// simdKernels returns the simd/archsimd micro-kernels this CPU can run:
// none without GOEXPERIMENT=simd on amd64.
func simdKernels() []microKernel { return nil }
