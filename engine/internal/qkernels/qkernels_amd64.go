//go:build amd64 && !purego

package qkernels

//go:generate python3 qkernels_amd64_gen.py

import "golang.org/x/sys/cpu"

// The tiers of kernels: tierVNNI runs every kernel in AVX-512 (F, BW,
// VNNI) assembly; tierAVX2 runs Gemm in AVX2 assembly (qgemmw*, exact:
// int16 products by VPMADDWD) and the rest in Go; tierGo all in Go.
const (
	tierGo = iota
	tierAVX2
	tierVNNI
)

// tierNames are the tiers' names, as Kernel and SetKernel spell them.
var tierNames = [...]string{tierGo: "go", tierAVX2: "avx2", tierVNNI: "avx512-vnni"}

// hasVNNI and hasAVX2 say which tiers this CPU can run; tier is the one
// in use (the best, unless a test forces another); useAsm whether the
// AVX-512 kernels run (the VNNI tier).
var (
	hasVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI
	hasAVX2 = cpu.X86.HasAVX2
	tier    = bestTier()
	useAsm  = tier == tierVNNI
)

// bestTier is the best tier this CPU runs.
func bestTier() int {
	switch {
	case hasVNNI:
		return tierVNNI
	case hasAVX2:
		return tierAVX2
	}
	return tierGo
}

// Kernel names the kernels in use: "avx512-vnni", "avx2" or "go".
func Kernel() string { return tierNames[tier] }

// SetKernel makes the kernels of the named tier ("avx512-vnni", "avx2"
// or "go") run from now on and returns the name of the previous one, or
// false if this CPU cannot run it. It is for tests and benchmarks: not
// to be called while kernels run, and weights packed (PackB) under
// another tier than "avx2" lack what the AVX2 Gemm reads (it then runs
// in Go), so load models after.
func SetKernel(name string) (prev string, ok bool) {
	for t, n := range tierNames {
		if n == name && (t == tierGo || t == tierAVX2 && hasAVX2 || t == tierVNNI && hasVNNI) {
			prev = Kernel()
			tier, useAsm = t, t == tierVNNI
			return prev, true
		}
	}
	return "", false
}

// packWide reports whether PackB makes the AVX2 tier's int16 panels.
func packWide() bool { return tier == tierAVX2 }

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

//go:noescape
func requantRows8(dst *uint8, ldd int, acc *int32, lda, rows int, terms *int32, tab *int32, n, zero, lo, hi int)

//go:noescape
func requantRowsFast8(dst *uint8, ldd int, acc *int32, lda, rows int, terms *int32, tab *int32, n, zero, lo, hi int)

//go:noescape
func requantRowsPlainFast8(dst *uint8, ldd int, acc *int32, lda, rows int, terms *int32, tab *int32, n, zero, lo, hi int)

//go:noescape
func requantRowsPlain8(dst *uint8, ldd int, acc *int32, lda, rows int, terms *int32, tab *int32, n, zero, lo, hi int)

// requantAVX2 is requantAsm in the AVX2 tier: the whole blocks of 8
// channels in assembly, the rest (fewer than 8 a row) in Go.
func requantAVX2(r *Requant, dst []uint8, ldd int, acc []int32, lda, rows int, terms []int32) {
	plain := terms == nil && !r.left
	if terms == nil {
		terms = zeroTerms[:rows]
	}
	if n := r.N &^ 7; n > 0 {
		switch {
		case plain && r.fast:
			requantRowsPlainFast8(&dst[0], ldd, &acc[0], lda, rows, nil, &r.tab[0], n, int(r.Zero), int(r.Lo), int(r.Hi))
		case plain:
			requantRowsPlain8(&dst[0], ldd, &acc[0], lda, rows, nil, &r.tab[0], n, int(r.Zero), int(r.Lo), int(r.Hi))
		case r.fast:
			requantRowsFast8(&dst[0], ldd, &acc[0], lda, rows, &terms[0], &r.tab[0], n, int(r.Zero), int(r.Lo), int(r.Hi))
		default:
			requantRows8(&dst[0], ldd, &acc[0], lda, rows, &terms[0], &r.tab[0], n, int(r.Zero), int(r.Lo), int(r.Hi))
		}
	}
	for i := range rows {
		for j := r.N &^ 7; j < r.N; j++ {
			dst[i*ldd+j] = r.One(acc[i*lda+j]+terms[i], j)
		}
	}
}

// requantAsm runs Requant.Rows (checked by it) in assembly; false where
// there is none.
func requantAsm(r *Requant, dst []uint8, ldd int, acc []int32, lda, rows int, terms []int32) bool {
	if tier == tierAVX2 {
		requantAVX2(r, dst, ldd, acc, lda, rows, terms)
		return true
	}
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

//go:noescape
func qgemmw1(c *int32, ldc int, a *uint8, lda int, b *int16, kq int)

//go:noescape
func qgemmw2(c *int32, ldc int, a *uint8, lda int, b *int16, kq int)

//go:noescape
func qgemmw3(c *int32, ldc int, a *uint8, lda int, b *int16, kq int)

// gemmAVX2 runs one micro-kernel call of Gemm (checked by Gemm) in the
// AVX2 tier's kernels, 3 rows at a time, from the int16 panel wide.
func gemmAVX2(c []int32, ldc int, a []uint8, lda, rows int, wide []int16, kpad int) {
	for i := 0; i < rows; i += 3 {
		ci, ai := &c[i*ldc], &a[i*lda]
		switch min(3, rows-i) {
		case 1:
			qgemmw1(ci, ldc, ai, lda, &wide[0], kpad/4)
		case 2:
			qgemmw2(ci, ldc, ai, lda, &wide[0], kpad/4)
		default:
			qgemmw3(ci, ldc, ai, lda, &wide[0], kpad/4)
		}
	}
}

// gemmAsm runs one micro-kernel call of Gemm (checked by Gemm) in
// assembly, from panel or, in the AVX2 tier, its int16 copy wide (nil if
// the weights were packed under another tier); false where there is none.
func gemmAsm(c []int32, ldc int, a []uint8, lda, rows int, panel []int8, wide []int16, kpad int) bool {
	if !useAsm {
		if tier != tierAVX2 || wide == nil {
			return false
		}
		gemmAVX2(c, ldc, a, lda, rows, wide, kpad)
		return true
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

//go:noescape
func rowsums8(dst *int32, a *uint8, lda, m, k int)

//go:noescape
func addq8(dst, x, y *uint8, n int, p *int32)

// rowSumsAVX2 is rowSumsAsm in the AVX2 tier: the whole blocks of 8
// bytes in assembly, the rest of each row in Go.
func rowSumsAVX2(dst []int32, a []uint8, lda, m, k int) {
	k32 := k &^ 7
	if k32 > 0 {
		rowsums8(&dst[0], &a[0], lda, m, k32)
	}
	for i := range m {
		s := int32(0)
		if k32 > 0 {
			s = dst[i]
		}
		for _, v := range a[i*lda+k32 : i*lda+k] {
			s += int32(v)
		}
		dst[i] = s
	}
}

// rowSumsAsm runs RowSums (checked by it) in assembly.
func rowSumsAsm(dst []int32, a []uint8, lda, m, k int) bool {
	if tier == tierAVX2 && k > 0 {
		rowSumsAVX2(dst, a, lda, m, k)
		return true
	}
	if !useAsm || k == 0 {
		return false
	}
	rowsums(&dst[0], &a[0], lda, m, k)
	return true
}

// addAsm runs Add.Run (checked by it) over the whole blocks of 16 values
// (8 in the AVX2 tier) in assembly and returns how many values it did.
func addAsm(dst, x, y []uint8, p *Add) int {
	if tier == tierAVX2 {
		n := len(dst) &^ 7
		if n == 0 || !p.asm {
			return 0
		}
		addq8(&dst[0], &x[0], &y[0], n, &p.tab8[0])
		return n
	}
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

//go:noescape
func dwq8(acc *int32, lda int, src *uint8, step, npix int, w *int32, offs *int, ntaps, c, zero int)

// dwAsm runs DepthwiseRow (checked by it) in assembly and returns how
// many channels it did: all of them (VNNI tier), the whole vectors of 8
// (AVX2 tier), or none without assembly.
func dwAsm(acc []int32, lda int, src []uint8, step, npix int, w []int32, offs []int, c int, zero int32) int {
	if tier == tierAVX2 && c >= 8 && len(offs) > 0 {
		dwq8(&acc[0], lda, &src[0], step, npix, &w[0], &offs[0], len(offs)/2, c&^7, int(zero))
		return c &^ 7
	}
	if !useAsm || c == 0 || len(offs) == 0 {
		return 0
	}
	dwq16(&acc[0], lda, &src[0], step, npix, &w[0], &offs[0], len(offs)/2, c, int(zero))
	return c
}

// SetAssembly turns the assembly kernels on (the best tier this CPU
// has) or off, and returns whether they were on; for tests and
// benchmarks that compare them with the portable Go, not to be called
// while kernels run.
func SetAssembly(on bool) bool {
	was := tier != tierGo
	if on {
		tier = bestTier()
	} else {
		tier = tierGo
	}
	useAsm = tier == tierVNNI
	return was
}
