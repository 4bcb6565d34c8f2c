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
		for _, act := range []Act{ActNone, ActReLU, ActReLU6} {
			want := make([]float32, g.OutH*g.OutW*g.OutC)
			b.Conv2D(want, src, w, bias, g, scratch)
			got := make([]float32, len(want))
			b.Conv2DPacked(got, src, pw, bias, g, scratch, act)
			checkAct(t, b.Name()+" Conv2DPacked", got, want, act)

			dw := randSlice(r, 15*4)
			x := randSlice(r, 2*15)
			want = make([]float32, 2*4)
			b.Dense(want, x, dw, bias, 2, 15, 4)
			got = make([]float32, len(want))
			b.DensePacked(got, x, &PackedWeights{W: dw, K: 15, N: 4}, bias, 2, act)
			checkAct(t, b.Name()+" DensePacked", got, want, act)
		}
	}
}

// checkAct wants got == want after act, and some output that act changed
// (a negative one for a ReLU).
func checkAct(t *testing.T, what string, got, want []float32, act Act) {
	t.Helper()
	changed := false
	for i, v := range want {
		w := []float32{v}
		act.Apply(w)
		changed = changed || w[0] != v && v < 0
		if got[i] != w[0] {
			t.Fatalf("%s (act %v): [%d] = %v, want %v", what, act, i, got[i], w[0])
		}
	}
	if act != ActNone && !changed {
		t.Fatalf("%s: no negative output to check the activation on", what)
	}
}
