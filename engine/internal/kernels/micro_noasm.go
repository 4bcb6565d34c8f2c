//go:build !amd64 || purego

package kernels

// asmKernels returns no kernels: the assembly ones are for amd64 only, and
// the purego tag leaves them out.
func asmKernels() []microKernel { return nil }

// maxPoolRowAsm does nothing: there is no assembly here.
func maxPoolRowAsm(dst, row0, row1 []float32, c, ow int) bool { return false }
