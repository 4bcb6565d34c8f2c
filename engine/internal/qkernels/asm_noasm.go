//go:build !amd64 || purego

package qkernels

// Without assembly every kernel runs in Go.

func requantAsm(*Requant, []uint8, []int32, int32) bool { return false }

func gemmAsm([]int32, int, []uint8, int, int, []int8, int) bool { return false }

func rowSumAsm([]uint8) (int32, int) { return 0, 0 }

func dwAsm([]int32, []uint8, []int32, []int, int, int32) int { return 0 }

// Kernel names the kernels in use: "go" without assembly.
func Kernel() string { return "go" }

func useAsmFlag() bool { return false }

func setUseAsm(bool) {}
