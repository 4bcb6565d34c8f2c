package qkernels

import "fmt"

// NR is the width of a panel of packed weights: the micro-kernel computes
// NR output channels at a time.
const NR = 32

// MR is the most rows (output pixels) one micro-kernel call computes.
const MR = 12

// PackedB is an int8 K x N weight matrix packed for Gemm: panels of NR
// columns (the last one padded with zero columns), each a run of groups
// of 4 rows (K padded with zero rows to Kpad, a multiple of 4) in which
// column j's 4 bytes are consecutive, the layout VPDPBUSD reads.
type PackedB struct {
	K, Kpad, N, Npad int
	data             []int8
	// wide is data in int16 for the AVX2 tier's Gemm (packWide), nil
	// elsewhere: per pair of rows of K, column j's two weights at 2j and
	// 2j+1 of the panel's 2*NR.
	wide []int16
	// ColSum is each column's sum of weights, for the zero-point
	// correction of the accumulators.
	ColSum []int32
}

// PackB packs the weights w, given as N rows of K (output channel by
// output channel, as TFLite stores a convolution's filters).
func PackB(w []int8, k, n int) *PackedB {
	if k < 1 || n < 1 || len(w) != k*n {
		panic(fmt.Sprintf("qkernels: PackB: %d weights for %d x %d", len(w), k, n))
	}
	p := &PackedB{K: k, Kpad: (k + 3) &^ 3, N: n, Npad: (n + NR - 1) / NR * NR, ColSum: make([]int32, n)}
	p.data = make([]int8, p.Kpad*p.Npad)
	for j := range n {
		panel := p.data[j/NR*p.Kpad*NR:]
		for q := range k {
			v := w[j*k+q]
			panel[q/4*4*NR+j%NR*4+q%4] = v
			p.ColSum[j] += int32(v)
		}
	}
	if packWide() {
		p.wide = make([]int16, len(p.data))
		for j := range n {
			panel := p.wide[j/NR*p.Kpad*NR:]
			for q := range k {
				panel[q/2*2*NR+j%NR*2+q%2] = int16(w[j*k+q])
			}
		}
	}
	return p
}

// Gemm computes c[i*ldc+j] = sum over q < Kpad of a[i*lda+q] * B[q][j],
// the int32 products of m rows of uint8 activations with the packed
// int8 weights, for all Npad columns j. Each row of a must have Kpad
// readable bytes (the bytes after K multiply zero weights).
func Gemm(c []int32, ldc int, a []uint8, lda, m int, b *PackedB) {
	if m < 1 {
		return
	}
	if ldc < b.Npad || lda < b.Kpad || len(c) < (m-1)*ldc+b.Npad || len(a) < (m-1)*lda+b.Kpad {
		panic(fmt.Sprintf("qkernels: Gemm: %d rows of %d (lda %d, %d bytes) by %dx%d into ldc %d, %d values",
			m, b.Kpad, lda, len(a), b.Kpad, b.Npad, ldc, len(c)))
	}
	for i := 0; i < m; i += MR {
		rows := min(MR, m-i)
		for p := 0; p < b.Npad; p += NR {
			panel := b.data[p*b.Kpad : (p+NR)*b.Kpad]
			var wide []int16
			if b.wide != nil {
				wide = b.wide[p*b.Kpad : (p+NR)*b.Kpad]
			}
			if gemmAsm(c[i*ldc+p:], ldc, a[i*lda:], lda, rows, panel, wide, b.Kpad) {
				continue
			}
			gemmTile(c[i*ldc+p:], ldc, a[i*lda:], lda, rows, panel, b.Kpad)
		}
	}
}

// gemmTile is the portable micro-kernel: rows x NR of c from rows of a
// and one panel.
func gemmTile(c []int32, ldc int, a []uint8, lda, rows int, panel []int8, kpad int) {
	var acc [NR]int32
	for i := range rows {
		acc = [NR]int32{}
		ar := a[i*lda : i*lda+kpad]
		for g := 0; g < kpad; g += 4 {
			x0, x1, x2, x3 := int32(ar[g]), int32(ar[g+1]), int32(ar[g+2]), int32(ar[g+3])
			blk := panel[g*NR : g*NR+4*NR]
			for j := range NR {
				w := blk[4*j : 4*j+4]
				acc[j] += x0*int32(w[0]) + x1*int32(w[1]) + x2*int32(w[2]) + x3*int32(w[3])
			}
		}
		copy(c[i*ldc:i*ldc+NR], acc[:])
	}
}

// RowSums sets dst[i] to the sum of the k bytes of row i of a, for m
// rows lda apart.
func RowSums(dst []int32, a []uint8, lda, m, k int) {
	if m < 1 {
		return
	}
	if len(dst) < m || lda < k || len(a) < (m-1)*lda+k {
		panic(fmt.Sprintf("qkernels: RowSums: %d rows of %d (lda %d) from %d bytes into %d", m, k, lda, len(a), len(dst)))
	}
	if rowSumsAsm(dst, a, lda, m, k) {
		return
	}
	for i := range m {
		var s int32
		for _, v := range a[i*lda : i*lda+k] {
			s += int32(v)
		}
		dst[i] = s
	}
}
