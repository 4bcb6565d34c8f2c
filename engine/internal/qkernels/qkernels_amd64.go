//go:build amd64 && !purego

package qkernels

//go:generate python3 qkernels_amd64_gen.py

import "golang.org/x/sys/cpu"

// useAsm reports whether the assembly kernels run: on CPUs with AVX-512
// (F, BW) and its VNNI extension. Tests turn it off to compare them with
// the portable Go.
var useAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI

// Kernel names the kernels in use: "avx512-vnni" or "go".
func Kernel() string {
	if useAsm {
		return "avx512-vnni"
	}
	return "go"
}

//go:noescape
func qgemm1(c *int32, ldc int, a *uint8, lda int, b *int8, kq int)

//go:noescape
func qgemm2(c *int32, ldc int, a *uint8, lda int, b *int8, kq int)

//go:noescape
func qgemm3(c *int32, ldc int, a *uint8, lda int, b *int8, kq int)

//go:noescape
func qgemm4(c *int32, ldc int, a *uint8, lda int, b *int8, kq int)

//go:noescape
func qgemm5(c *int32, ldc int, a *uint8, lda int, b *int8, kq int)

//go:noescape
func qgemm6(c *int32, ldc int, a *uint8, lda int, b *int8, kq int)

//go:noescape
func qgemm7(c *int32, ldc int, a *uint8, lda int, b *int8, kq int)

//go:noescape
func qgemm8(c *int32, ldc int, a *uint8, lda int, b *int8, kq int)

//go:noescape
func qgemm9(c *int32, ldc int, a *uint8, lda int, b *int8, kq int)

//go:noescape
func qgemm10(c *int32, ldc int, a *uint8, lda int, b *int8, kq int)

//go:noescape
func qgemm11(c *int32, ldc int, a *uint8, lda int, b *int8, kq int)

//go:noescape
func qgemm12(c *int32, ldc int, a *uint8, lda int, b *int8, kq int)

//go:noescape
func requant16(dst *uint8, acc *int32, tab *int32, n, row, zero, lo, hi int)

//go:noescape
func rowsum64(a *uint8, n int) int

//go:noescape
func dwq16(acc *int32, src *uint8, w *int32, offs *int, ntaps, c, zero int)

// requantAsm runs Requant.Row in assembly; false where there is none.
func requantAsm(r *Requant, dst []uint8, acc []int32, row int32) bool {
	if !useAsm || r.N == 0 {
		return false
	}
	requant16(&dst[0], &acc[0], &r.tab[0], r.N, int(row), int(r.Zero), int(r.Lo), int(r.Hi))
	return true
}

// gemmAsm runs one micro-kernel call of Gemm (checked by Gemm) in
// assembly; false where there is none.
func gemmAsm(c []int32, ldc int, a []uint8, lda, rows int, panel []int8, kpad int) bool {
	if !useAsm {
		return false
	}
	switch rows {
	case 1:
		qgemm1(&c[0], ldc, &a[0], lda, &panel[0], kpad/4)
	case 2:
		qgemm2(&c[0], ldc, &a[0], lda, &panel[0], kpad/4)
	case 3:
		qgemm3(&c[0], ldc, &a[0], lda, &panel[0], kpad/4)
	case 4:
		qgemm4(&c[0], ldc, &a[0], lda, &panel[0], kpad/4)
	case 5:
		qgemm5(&c[0], ldc, &a[0], lda, &panel[0], kpad/4)
	case 6:
		qgemm6(&c[0], ldc, &a[0], lda, &panel[0], kpad/4)
	case 7:
		qgemm7(&c[0], ldc, &a[0], lda, &panel[0], kpad/4)
	case 8:
		qgemm8(&c[0], ldc, &a[0], lda, &panel[0], kpad/4)
	case 9:
		qgemm9(&c[0], ldc, &a[0], lda, &panel[0], kpad/4)
	case 10:
		qgemm10(&c[0], ldc, &a[0], lda, &panel[0], kpad/4)
	case 11:
		qgemm11(&c[0], ldc, &a[0], lda, &panel[0], kpad/4)
	case 12:
		qgemm12(&c[0], ldc, &a[0], lda, &panel[0], kpad/4)
	default:
		return false
	}
	return true
}

// rowSumAsm sums the whole blocks of 64 bytes of row in assembly and
// returns the sum and how many bytes it summed.
func rowSumAsm(row []uint8) (int32, int) {
	n := len(row) &^ 63
	if !useAsm || n == 0 {
		return 0, 0
	}
	return int32(rowsum64(&row[0], n)), n
}

// dwAsm runs DepthwiseTaps (checked by it) over the whole vectors of 16
// channels in assembly and returns how many channels it did.
func dwAsm(acc []int32, src []uint8, w []int32, offs []int, c int, zero int32) int {
	n := c &^ 15
	if !useAsm || n == 0 || len(offs) == 0 {
		return 0
	}
	dwq16(&acc[0], &src[0], &w[0], &offs[0], len(offs)/2, n, int(zero))
	return n
}

// useAsmFlag and setUseAsm let tests switch the assembly off.
func useAsmFlag() bool { return useAsm }

func setUseAsm(on bool) { useAsm = on }
