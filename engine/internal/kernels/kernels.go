// Package kernels holds the numeric kernels of the inference engine behind
// one small interface, so that a faster implementation (blocked GEMM, SIMD,
// assembly) can replace the portable one without touching the graph code in
// package engine.
//
// All tensors are float32, channels-last (HWC) and densely packed.
package kernels

// ConvGeom describes one 2-D convolution of a single image: the input is
// InH x InW x InC, the output OutH x OutW x OutC, and the weights are laid
// out KH x KW x InC x OutC (Keras' HWIO order). PadT and PadL are the zero
// rows and columns added above and to the left; the bottom and right
// padding follow from the output size.
type ConvGeom struct {
	InH, InW, InC    int
	OutH, OutW, OutC int
	KH, KW           int
	StrideH, StrideW int
	PadT, PadL       int
}

// Backend computes the two operations that carry nearly all of a CNN's
// arithmetic. Implementations must be safe for concurrent use; all mutable
// state lives in the scratch buffers the caller passes in.
type Backend interface {
	// Name identifies the implementation in logs and benchmarks.
	Name() string
	// ConvScratch returns how many float32 of scratch Conv2D needs for g.
	ConvScratch(g *ConvGeom) int
	// Conv2D computes dst = conv(src, w) + bias for one image. bias may be
	// nil. scratch has at least ConvScratch(g) elements.
	Conv2D(dst, src, w, bias []float32, g *ConvGeom, scratch []float32)
	// Dense computes dst[r] = src[r] * w + bias for rows r of a
	// rows x in matrix src and an in x out matrix w. bias may be nil.
	Dense(dst, src, w, bias []float32, rows, in, out int)
}

// Default is the backend the engine uses unless told otherwise: Packed,
// which allocates nothing per call and, on an amd64 CPU with AVX-512 or
// AVX2 and FMA, runs its assembly micro-kernels, several times faster than
// Gonum (built with -tags purego, or on other architectures, it runs
// portable Go at about Gonum's speed).
var Default Backend = Packed{}
