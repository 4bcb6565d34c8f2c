package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestConv2DMaxPoolPacked checks the fused convolution and pooling against
// Conv2DPacked then MaxPool2x2, bit for bit, for each micro-kernel, on
// one goroutine and shared, with odd sizes (a last row and column the
// pooling leaves out), channels in part of a panel, and strides.
func TestConv2DMaxPoolPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	geoms := []ConvGeom{
		{InH: 20, InW: 18, InC: 3, OutH: 18, OutW: 16, OutC: 32, KH: 3, KW: 3, StrideH: 1, StrideW: 1},
		{InH: 15, InW: 13, InC: 8, OutH: 13, OutW: 11, OutC: 40, KH: 3, KW: 3, StrideH: 1, StrideW: 1},
		{InH: 17, InW: 17, InC: 5, OutH: 7, OutW: 7, OutC: 16, KH: 5, KW: 5, StrideH: 2, StrideW: 2},
		{InH: 9, InW: 30, InC: 4, OutH: 8, OutW: 29, OutC: 64, KH: 2, KW: 2, StrideH: 1, StrideW: 1},
	}
	for _, mk := range microKernels() {
		withMicro(t, mk, func() {
			for gi, g := range geoms {
				if !CanConvMaxPool(&g) {
					t.Fatalf("geometry %d: CanConvMaxPool false", gi)
				}
				k := g.KH * g.KW * g.InC
				src, w, bias := randSlice(r, g.InH*g.InW*g.InC), randSlice(r, k*g.OutC), randSlice(r, g.OutC)
				var p Packed
				pw := p.PackWeights(w, k, g.OutC)
				conv := make([]float32, g.OutH*g.OutW*g.OutC)
				p.Conv2DPacked(conv, src, pw, bias, &g, make([]float32, p.ConvScratch(&g)), ActReLU)
				ph, pwid := g.OutH/2, g.OutW/2
				want := make([]float32, ph*pwid*g.OutC)
				MaxPool2x2(want, conv, g.OutW, g.OutC, ph, pwid)
				for _, b := range []Backend{p, Serial(p)} {
					got := make([]float32, len(want))
					scratch := make([]float32, p.ConvMaxPoolScratch(&g))
					b.(Packed).Conv2DMaxPoolPacked(got, src, pw, bias, &g, scratch, ActReLU)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s geometry %d serial %v: [%d] = %g, want %g", mk.name, gi, b.(Packed).serial, i, got[i], want[i])
						}
					}
				}
			}
		})
	}
}

// BenchmarkConvMaxPool compares the Husky CNN's first convolution and
// pooling fused with the two in turn.
func BenchmarkConvMaxPool(b *testing.B) {
	g := ConvGeom{InH: 128, InW: 128, InC: 3, OutH: 126, OutW: 126, OutC: 32, KH: 3, KW: 3, StrideH: 1, StrideW: 1}
	r := rand.New(rand.NewPCG(1, 2))
	k := g.KH * g.KW * g.InC
	src, w := randSlice(r, g.InH*g.InW*g.InC), randSlice(r, k*g.OutC)
	var p Packed
	pw := p.PackWeights(w, k, g.OutC)
	conv := make([]float32, g.OutH*g.OutW*g.OutC)
	dst := make([]float32, g.OutH/2*g.OutW/2*g.OutC)
	for _, fused := range []bool{false, true} {
		b.Run(fmt.Sprintf("fused=%v", fused), func(b *testing.B) {
			scratch := make([]float32, max(p.ConvScratch(&g), p.ConvMaxPoolScratch(&g)))
			for b.Loop() {
				if fused {
					p.Conv2DMaxPoolPacked(dst, src, pw, nil, &g, scratch, ActReLU)
				} else {
					p.Conv2DPacked(conv, src, pw, nil, &g, scratch, ActReLU)
					MaxPool2x2(dst, conv, g.OutW, g.OutC, g.OutH/2, g.OutW/2)
				}
			}
		})
	}
}
