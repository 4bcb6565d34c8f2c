//go:build amd64 && !purego

package kernels

//go:generate python3 micro_amd64_gen.py

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// asmKernels returns the assembly micro-kernels (micro_amd64.s) this CPU
// can run, best first. They need no GOEXPERIMENT, so the default build
// gets them; build with -tags purego to leave them out.
//
// asm-avx512 computes 12x32 tiles: 24 of the 32 ZMM registers hold the
// accumulators, two a row of the 32-wide B panel, and the rest the
// broadcast elements of A. asm-avx2 computes 6x16 tiles in the 16 YMM
// registers (12 accumulators). Both read B in the panels PackWeights makes
// for nr = 32 and 16, the layout of the archsimd kernels of the same
// width, and have 4-, 2- and 1-row variants for the rows left over.
func asmKernels() []microKernel {
	var ks []microKernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, microKernel{"asm-avx512", 12, 32, asm512x12, asm512x4, asm512x2, asmRow512,
			asmStrip(12, 32, gemm512x12, gemm512x4, gemm512x2, gemm512x1)})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, microKernel{"asm-avx2", 6, 16, asm256x6, asm256x4, asm256x2, asmRow256,
			asmStrip(6, 16, gemm256x6, gemm256x4, gemm256x2, gemm256x1)})
	}
	return ks
}

// The assembly kernels compute c = bias + a*b, then max(c, 0) if relu, for
// an mr x nr tile (mr in the name; nr 32 for 512, 16 for 256): row i of a
// starts at a+i*lda, row p of b at b+p*ldb and row i of c at c+i*ldc, in
// elements. bias points to nr elements (zeros for none). They check
// nothing: the Go functions below do, before calling them. Every one sums
// each element in the same order (one fused multiply-add per step of k,
// then the bias), so a row's result does not depend on the size of the
// tile it falls in: a batch of images gives, bit for bit, what each image
// gives alone (TestInferBatch in package classifier relies on it).

//go:noescape
func gemm512x12(c *float32, ldc int, a *float32, lda int, b *float32, ldb, k int, bias *float32, flags int)

//go:noescape
func gemm512x4(c *float32, ldc int, a *float32, lda int, b *float32, ldb, k int, bias *float32, flags int)

//go:noescape
func gemm512x2(c *float32, ldc int, a *float32, lda int, b *float32, ldb, k int, bias *float32, flags int)

//go:noescape
func gemm512x1(c *float32, ldc int, a *float32, lda int, b *float32, ldb, k int, bias *float32, flags int)

//go:noescape
func gemm256x6(c *float32, ldc int, a *float32, lda int, b *float32, ldb, k int, bias *float32, flags int)

//go:noescape
func gemm256x4(c *float32, ldc int, a *float32, lda int, b *float32, ldb, k int, bias *float32, flags int)

//go:noescape
func gemm256x2(c *float32, ldc int, a *float32, lda int, b *float32, ldb, k int, bias *float32, flags int)

//go:noescape
func gemm256x1(c *float32, ldc int, a *float32, lda int, b *float32, ldb, k int, bias *float32, flags int)

// zeroBias stands in for a nil bias.
var zeroBias [32]float32

// biasPtr is what the assembly kernels take for bias: its first of nr
// elements (checked), or zeroBias's for nil.
func biasPtr(bias []float32, nr int) *float32 {
	if bias == nil {
		return &zeroBias[0]
	}
	return &bias[:nr][0]
}

type asmFunc func(c *float32, ldc int, a *float32, lda int, b *float32, ldb, k int, bias *float32, flags int)

// callAsm checks that the mr x nr tile and its operands lie within the
// slices, then runs f on them.
func callAsm(f asmFunc, mr, nr int, c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act) {
	if k < 0 || ldc < nr || (mr > 1 && lda < k) || ldb < nr {
		panic("kernels: bad micro-kernel strides")
	}
	_ = c[(mr-1)*ldc+nr-1]
	if k > 0 {
		_ = a[(mr-1)*lda+k-1]
		_ = b[(k-1)*ldb+nr-1]
	}
	f(&c[0], ldc, unsafe.SliceData(a), lda, unsafe.SliceData(b), ldb, k, biasPtr(bias, nr), actFlags(act))
}

// asmStrip returns the strip function of the kernel set with the given
// full-tile rows: it computes `rows` rows of an nr-wide tile of c with the
// kernel's flags, through as many full, 4-, 2- and 1-row calls as it
// takes. Unlike callAsm it lets rows of a overlap (lda < k): an implicit
// convolution reads each input pixel in several rows.
func asmStrip(mr, nr int, full, x4, x2, x1 asmFunc) stripFunc {
	return func(rows int, c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, flags int) {
		if rows <= 0 || k <= 0 || ldc < nr || lda < 0 || ldb < nr {
			panic("kernels: bad strip")
		}
		_ = c[(rows-1)*ldc+nr-1]
		_ = a[(rows-1)*lda+k-1]
		_ = b[(k-1)*ldb+nr-1]
		bp := biasPtr(bias, nr)
		pb := unsafe.SliceData(b)
		for i := 0; i < rows; {
			f, n := x1, 1
			switch r := rows - i; {
			case r >= mr:
				f, n = full, mr
			case r >= 4:
				f, n = x4, 4
			case r >= 2:
				f, n = x2, 2
			}
			f(&c[i*ldc], ldc, &a[i*lda], lda, pb, ldb, k, bp, flags)
			i += n
		}
	}
}

func asm512x12(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act) {
	callAsm(gemm512x12, 12, 32, c, ldc, a, lda, b, ldb, k, bias, act)
}

func asm512x4(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act) {
	callAsm(gemm512x4, 4, 32, c, ldc, a, lda, b, ldb, k, bias, act)
}

func asm512x2(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act) {
	callAsm(gemm512x2, 2, 32, c, ldc, a, lda, b, ldb, k, bias, act)
}

func asmRow512(c, a, b []float32, ldb, k int, bias []float32, act Act) {
	callAsm(gemm512x1, 1, 32, c, 32, a, k, b, ldb, k, bias, act)
}

func asm256x6(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act) {
	callAsm(gemm256x6, 6, 16, c, ldc, a, lda, b, ldb, k, bias, act)
}

func asm256x4(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act) {
	callAsm(gemm256x4, 4, 16, c, ldc, a, lda, b, ldb, k, bias, act)
}

func asm256x2(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act) {
	callAsm(gemm256x2, 2, 16, c, ldc, a, lda, b, ldb, k, bias, act)
}

func asmRow256(c, a, b []float32, ldb, k int, bias []float32, act Act) {
	callAsm(gemm256x1, 1, 16, c, 16, a, k, b, ldb, k, bias, act)
}

//go:noescape
func maxPool2x2Row(dst, row0, row1 *float32, c, ow int)

// maxPoolRowAsm is maxPoolRow in assembly, when the CPU has AVX and c is
// a multiple of 8; it reports whether it did the row.
func maxPoolRowAsm(dst, row0, row1 []float32, c, ow int) bool {
	if !cpu.X86.HasAVX || c <= 0 || c%8 != 0 || ow <= 0 {
		return false
	}
	_ = dst[ow*c-1]
	_ = row0[2*ow*c-1]
	_ = row1[2*ow*c-1]
	maxPool2x2Row(&dst[0], &row0[0], &row1[0], c, ow)
	return true
}
