// Package kernels holds the numeric kernels of the inference engine behind
// one small interface, so that a faster implementation (blocked GEMM, SIMD,
// assembly) can replace the portable one without touching the graph code in
// package engine.
//
// All tensors are float32, channels-last (HWC) and densely packed.
package kernels

import "fmt"

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

	// PackWeights rearranges the row-major k x n matrix w (a convolution's
	// KH x KW x InC x OutC weights, or a dense layer's) once, when the
	// model is loaded, for Conv2DPacked and DensePacked; nil for a backend
	// that does not pack (Gonum, Reference), whose callers then use Conv2D
	// and Dense. The result refers to w, which must not change afterwards.
	PackWeights(w []float32, k, n int) *PackedWeights
	// Conv2DPacked is Conv2D with packed weights, followed by max(x, 0)
	// if relu.
	Conv2DPacked(dst, src []float32, w *PackedWeights, bias []float32, g *ConvGeom, scratch []float32, act Act)
	// DensePacked is Dense with packed in x out weights, followed by
	// max(x, 0) if relu.
	DensePacked(dst, src []float32, w *PackedWeights, bias []float32, rows int, act Act)
}

// conv2DUnpacked and denseUnpacked are the packed operations of the
// backends that do not pack (PackWeights returns nil, so the engine does
// not call them): b's Conv2D or Dense on the unpacked weights, then
// max(x, 0) if relu.
func conv2DUnpacked(b Backend, dst, src []float32, w *PackedWeights, bias []float32, g *ConvGeom, scratch []float32, act Act) {
	b.Conv2D(dst, src, w.W, bias, g, scratch)
	act.Apply(dst[:g.OutH*g.OutW*g.OutC])
}

func denseUnpacked(b Backend, dst, src []float32, w *PackedWeights, bias []float32, rows int, act Act) {
	b.Dense(dst, src, w.W, bias, rows, w.K, w.N)
	act.Apply(dst[:rows*w.N])
}

// Act is the activation a kernel applies to its results before it stores
// them: the ones whose cost fusing saves (the engine applies the others
// after the kernel).
type Act uint8

// The fused activations.
const (
	ActNone  Act = iota
	ActReLU      // max(x, 0)
	ActReLU6     // min(max(x, 0), 6)
)

// String names a.
func (a Act) String() string {
	switch a {
	case ActNone:
		return "none"
	case ActReLU:
		return "relu"
	case ActReLU6:
		return "relu6"
	}
	return fmt.Sprintf("Act(%d)", uint8(a))
}

// Apply applies a to x in place.
func (a Act) Apply(x []float32) {
	switch a {
	case ActReLU:
		for i, v := range x {
			x[i] = max(v, 0)
		}
	case ActReLU6:
		for i, v := range x {
			x[i] = min(max(v, 0), 6)
		}
	}
}

// Default is the backend the engine uses unless told otherwise: Packed,
// which allocates nothing per call and, on an amd64 CPU with AVX-512 or
// AVX2 and FMA, runs its assembly micro-kernels, several times faster than
// Gonum (built with -tags purego, or on other architectures, it runs
// portable Go at about Gonum's speed).
var Default Backend = Packed{}
