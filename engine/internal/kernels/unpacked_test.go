package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestUnpackedPackedOps: the backends that do not pack return no packed
// weights, and their packed operations are their plain ones followed by
// the ReLU, on the unpacked weights.
func TestUnpackedPackedOps(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	g := &ConvGeom{InH: 6, InW: 5, InC: 3, OutH: 6, OutW: 5, OutC: 4, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 1, PadL: 1}
	src := randSlice(r, g.InH*g.InW*g.InC)
	w := randSlice(r, g.KH*g.KW*g.InC*g.OutC)
	bias := randSlice(r, g.OutC)
	for _, b := range []Backend{Gonum{}, Reference{}} {
		if pw := b.PackWeights(w, g.KH*g.KW*g.InC, g.OutC); pw != nil {
			t.Errorf("%s packs weights", b.Name())
		}
		pw := &PackedWeights{W: w, K: g.KH * g.KW * g.InC, N: g.OutC}
		scratch := make([]float32, b.ConvScratch(g))
		for _, relu := range []bool{false, true} {
			want := make([]float32, g.OutH*g.OutW*g.OutC)
			b.Conv2D(want, src, w, bias, g, scratch)
			got := make([]float32, len(want))
			b.Conv2DPacked(got, src, pw, bias, g, scratch, relu)
			checkReLU(t, b.Name()+" Conv2DPacked", got, want, relu)

			dw := randSlice(r, 15*4)
			x := randSlice(r, 2*15)
			want = make([]float32, 2*4)
			b.Dense(want, x, dw, bias, 2, 15, 4)
			got = make([]float32, len(want))
			b.DensePacked(got, x, &PackedWeights{W: dw, K: 15, N: 4}, bias, 2, relu)
			checkReLU(t, b.Name()+" DensePacked", got, want, relu)
		}
	}
}

// checkReLU wants got == want, or max(want, 0) with relu.
func checkReLU(t *testing.T, what string, got, want []float32, relu bool) {
	t.Helper()
	negative := false
	for i, v := range want {
		if relu && v < 0 {
			v, negative = 0, true
		}
		if got[i] != v {
			t.Fatalf("%s (relu %v): [%d] = %v, want %v", what, relu, i, got[i], v)
		}
	}
	if relu && !negative {
		t.Fatalf("%s: no negative output to check the ReLU on", what)
	}
}
