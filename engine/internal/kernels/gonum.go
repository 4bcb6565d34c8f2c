package kernels

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Gonum lowers convolutions to a matrix product (im2col) and runs it, like
// Dense, through gonum's float32 BLAS. It is the portable default: pure Go,
// no cgo, and several times faster than Reference.
type Gonum struct{}

// Name implements Backend.
func (Gonum) Name() string { return "gonum-im2col" }

// ConvScratch implements Backend: the im2col matrix, unless the convolution
// is a plain 1x1 one that can multiply the input directly.
func (Gonum) ConvScratch(g *ConvGeom) int {
	if pointwise(g) {
		return 0
	}
	return g.OutH * g.OutW * g.KH * g.KW * g.InC
}

// pointwise reports whether g is a 1x1, stride-1, unpadded convolution, for
// which the input already is the im2col matrix.
func pointwise(g *ConvGeom) bool {
	return g.KH == 1 && g.KW == 1 && g.StrideH == 1 && g.StrideW == 1 && g.PadT == 0 && g.PadL == 0
}

// Conv2D implements Backend.
func (Gonum) Conv2D(dst, src, w, bias []float32, g *ConvGeom, scratch []float32) {
	k := g.KH * g.KW * g.InC
	a := src
	if !pointwise(g) {
		a = scratch[:g.OutH*g.OutW*k]
		im2col(a, src, g)
	}
	gemmBias(dst, a, w, bias, g.OutH*g.OutW, k, g.OutC)
}

// Dense implements Backend.
func (Gonum) Dense(dst, src, w, bias []float32, rows, in, out int) {
	gemmBias(dst, src, w, bias, rows, in, out)
}

// gemmBias computes c = a*b + bias for row-major a (m x k), b (k x n).
func gemmBias(c, a, b, bias []float32, m, k, n int) {
	c = c[:m*n]
	if bias != nil {
		for r := 0; r < m; r++ {
			copy(c[r*n:(r+1)*n], bias)
		}
	} else {
		clear(c)
	}
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1,
		blas32.General{Rows: m, Cols: k, Stride: k, Data: a[:m*k]},
		blas32.General{Rows: k, Cols: n, Stride: n, Data: b[:k*n]},
		1,
		blas32.General{Rows: m, Cols: n, Stride: n, Data: c})
}

// im2col writes, for every output pixel, the KH x KW x InC input patch it
// sees (zeros where the patch hangs over the padding) as one row of dst.
func im2col(dst, src []float32, g *ConvGeom) { im2colRows(dst, src, g, 0, g.OutH*g.OutW) }

// im2colRows writes the im2col rows of output pixels p0 to p1-1 (counted
// row by row) to dst.
func im2colRows(dst, src []float32, g *ConvGeom, p0, p1 int) {
	// The geometry in locals: the compiler would reload g's fields after
	// every store to dst.
	inH, inW, inC, outW := g.InH, g.InW, g.InC, g.OutW
	kh, kw, sh, sw, pt, pl := g.KH, g.KW, g.StrideH, g.StrideW, g.PadT, g.PadL
	rowLen := kw * inC
	i := 0
	oy, ox := p0/outW, p0%outW
	for range p1 - p0 {
		x0 := ox*sw - pl
		inside := x0 >= 0 && x0+kw <= inW
		for ky := 0; ky < kh; ky++ {
			row := dst[i : i+rowLen]
			i += rowLen
			iy := oy*sh + ky - pt
			if iy < 0 || iy >= inH {
				clear(row)
				continue
			}
			if inside {
				s := src[(iy*inW+x0)*inC:]
				switch len(row) {
				case 9:
					// 3 RGB pixels, a first layer's 3x3 kernel: moves the
					// compiler inlines, not a call to memmove for 36 bytes.
					r, s := row[:9:9], s[:9:9]
					r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8] = s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8]
				default:
					copy(row, s)
				}
				continue
			}
			for kx := 0; kx < kw; kx++ {
				cell := row[kx*inC : (kx+1)*inC]
				ix := x0 + kx
				if ix < 0 || ix >= inW {
					clear(cell)
				} else {
					copy(cell, src[(iy*inW+ix)*inC:])
				}
			}
		}
		if ox++; ox == outW {
			ox, oy = 0, oy+1
		}
	}
}

// PackWeights returns nil: Gonum does not pack weights.
func (Gonum) PackWeights([]float32, int, int) *PackedWeights { return nil }

// Conv2DPacked is Conv2D on the unpacked weights, then ReLU if relu.
func (b Gonum) Conv2DPacked(dst, src []float32, w *PackedWeights, bias []float32, g *ConvGeom, scratch []float32, act Act) {
	conv2DUnpacked(b, dst, src, w, bias, g, scratch, act)
}

// DensePacked is Dense on the unpacked weights, then ReLU if relu.
func (b Gonum) DensePacked(dst, src []float32, w *PackedWeights, bias []float32, rows int, act Act) {
	denseUnpacked(b, dst, src, w, bias, rows, act)
}
