//go:build amd64 && !purego

package qkernels

//go:generate python3 qkernels_amd64_gen.py

import "golang.org/x/sys/cpu"

// useAsm reports whether the assembly kernels run: on CPUs with AVX-512
// (F, BW) and its VNNI extension. Tests turn it off to compare them with
// the portable Go.
var (
	hasAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI
	useAsm = hasAsm
)

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
func requantRows(dst *uint8, ldd int, acc *int32, lda, rows int, terms *int32, tab *int32, n, zero, lo, hi int)

//go:noescape
func requantRowsFast(dst *uint8, ldd int, acc *int32, lda, rows int, terms *int32, tab *int32, n, zero, lo, hi int)

//go:noescape
func requantRowsPlainFast(dst *uint8, ldd int, acc *int32, lda, rows int, terms *int32, tab *int32, n, zero, lo, hi int)

//go:noescape
func requantRowsPlain(dst *uint8, ldd int, acc *int32, lda, rows int, terms *int32, tab *int32, n, zero, lo, hi int)

//go:noescape
func pixels16(dst *uint8, src *float32, n int)

//go:noescape
func rowsums(dst *int32, a *uint8, lda, m, k int)

//go:noescape
func addq16(dst, x, y *uint8, n int, p *int32)

//go:noescape
func dwq16(acc *int32, lda int, src *uint8, step, npix int, w *int32, offs *int, ntaps, c, zero int)

// requantAsm runs Requant.Rows (checked by it) in assembly; false where
// there is none.
func requantAsm(r *Requant, dst []uint8, ldd int, acc []int32, lda, rows int, terms []int32) bool {
	if !useAsm {
		return false
	}
	plain := terms == nil && !r.left
	if terms == nil {
		terms = zeroTerms[:rows]
	}
	switch {
	case plain && r.fast:
		requantRowsPlainFast(&dst[0], ldd, &acc[0], lda, rows, nil, &r.tab[0], r.N, int(r.Zero), int(r.Lo), int(r.Hi))
	case plain:
		requantRowsPlain(&dst[0], ldd, &acc[0], lda, rows, nil, &r.tab[0], r.N, int(r.Zero), int(r.Lo), int(r.Hi))
	case r.fast:
		requantRowsFast(&dst[0], ldd, &acc[0], lda, rows, &terms[0], &r.tab[0], r.N, int(r.Zero), int(r.Lo), int(r.Hi))
	default:
		requantRows(&dst[0], ldd, &acc[0], lda, rows, &terms[0], &r.tab[0], r.N, int(r.Zero), int(r.Lo), int(r.Hi))
	}
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

// rowSumsAsm runs RowSums (checked by it) in assembly.
func rowSumsAsm(dst []int32, a []uint8, lda, m, k int) bool {
	if !useAsm || k == 0 {
		return false
	}
	rowsums(&dst[0], &a[0], lda, m, k)
	return true
}

// addAsm runs Add.Run (checked by it) over the whole blocks of 16 values
// in assembly and returns how many values it did.
func addAsm(dst, x, y []uint8, p *Add) int {
	n := len(dst) &^ 15
	if !useAsm || n == 0 || !p.asm {
		return 0
	}
	addq16(&dst[0], &x[0], &y[0], n, &p.tab[0])
	return n
}

// pixelsAsm runs QuantizePixels (checked by it) over the whole blocks of
// 16 values in assembly and returns how many it did.
func pixelsAsm(dst []uint8, src []float32) int {
	n := len(src) &^ 15
	if !useAsm || n == 0 {
		return 0
	}
	pixels16(&dst[0], &src[0], n)
	return n
}

// dwAsm runs DepthwiseRow (checked by it) in assembly and returns how
// many channels it did: all of them, or none without assembly.
func dwAsm(acc []int32, lda int, src []uint8, step, npix int, w []int32, offs []int, c int, zero int32) int {
	if !useAsm || c == 0 || len(offs) == 0 {
		return 0
	}
	dwq16(&acc[0], lda, &src[0], step, npix, &w[0], &offs[0], len(offs)/2, c, int(zero))
	return c
}

// useAsmFlag and setUseAsm let tests switch the assembly off.
func useAsmFlag() bool { return useAsm }

func setUseAsm(on bool) { useAsm = on }

// SetAssembly turns the assembly kernels on (where the CPU has them) or
// off, and returns whether they were on; for tests and benchmarks that
// compare them with the portable Go, not to be called while kernels run.
func SetAssembly(on bool) bool {
	was := useAsm
	useAsm = on && hasAsm
	return was
}
