//go:build !(goexperiment.simd && amd64)

package kernels

// microKernels returns the micro-kernels this build can run, best first:
// without GOEXPERIMENT=simd on amd64, only the portable one.
func microKernels() []microKernel { return []microKernel{portable} }
