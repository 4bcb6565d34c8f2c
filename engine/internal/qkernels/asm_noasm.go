//go:build !amd64 || purego

package qkernels

// Without assembly every kernel runs in Go.

func requantAsm(*Requant, []uint8, int, []int32, int, int, []int32) bool { return false }

func gemmAsm([]int32, int, []uint8, int, int, []int8, []int16, int) bool { return false }

func packWide() bool { return false }

func rowSumsAsm([]int32, []uint8, int, int, int) bool { return false }

func addAsm([]uint8, []uint8, []uint8, *Add) int { return 0 }

func pixelsAsm([]uint8, []float32) int { return 0 }

func dwAsm([]int32, int, []uint8, int, int, []int32, []int, int, int32) int { return 0 }

// Kernel names the kernels in use: "go" without assembly.
func Kernel() string { return "go" }

// SetKernel makes the named kernels run: only "go" is here (returned as
// the previous one too, with true); false for any other name.
func SetKernel(name string) (prev string, ok bool) { return "go", name == "go" }

// SetAssembly does nothing: there is no assembly here. It returns false.
func SetAssembly(bool) bool { return false }
