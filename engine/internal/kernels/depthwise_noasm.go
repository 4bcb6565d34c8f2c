//go:build !amd64 || purego

package kernels

// dwCall is never called: without assembly dwKernel stays 0.
func dwCall(int, *float32, *float32, *float32, *float32, *int, int, int, int) {
	panic("kernels: no depthwise assembly in this build")
}
