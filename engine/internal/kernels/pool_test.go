package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxPool2x2 checks MaxPool2x2 (the assembly rows where the CPU and c
// allow) bit for bit against Go's max over the four inputs, with NaNs,
// infinities and signed zeros among the values, for channel counts on and
// off the assembly's multiple of 8 and odd input sizes.
func TestMaxPool2x2(t *testing.T) {
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), 1, -1}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ h, w, c int }{
		{2, 2, 8}, {4, 6, 16}, {5, 7, 32}, {126, 126, 32}, {61, 61, 64}, {3, 3, 3}, {4, 4, 12}, {2, 4, 1},
	} {
		src := make([]float32, tc.h*tc.w*tc.c)
		for i := range src {
			if rng.IntN(4) == 0 {
				src[i] = special[rng.IntN(len(special))]
			} else {
				src[i] = rng.Float32()*2 - 1
			}
		}
		oh, ow := tc.h/2, tc.w/2
		got := make([]float32, oh*ow*tc.c)
		MaxPool2x2(got, src, tc.w, tc.c, oh, ow)
		at := func(y, x, ch int) float32 { return src[(y*tc.w+x)*tc.c+ch] }
		for y := range oh {
			for x := range ow {
				for ch := range tc.c {
					want := max(max(at(2*y, 2*x, ch), at(2*y, 2*x+1, ch)), max(at(2*y+1, 2*x, ch), at(2*y+1, 2*x+1, ch)))
					g := got[(y*ow+x)*tc.c+ch]
					if math.IsNaN(float64(want)) != math.IsNaN(float64(g)) ||
						!math.IsNaN(float64(want)) && math.Float32bits(want) != math.Float32bits(g) {
						t.Fatalf("%dx%dx%d: output (%d,%d,%d) = %v (bits %#x), want %v (bits %#x)",
							tc.h, tc.w, tc.c, y, x, ch, g, math.Float32bits(g), want, math.Float32bits(want))
					}
				}
			}
		}
	}
}

func BenchmarkMaxPool2x2(b *testing.B) {
	src := make([]float32, 126*126*32)
	for i := range src {
		src[i] = float32(i%97) - 40
	}
	dst := make([]float32, 63*63*32)
	b.SetBytes(int64(len(src) * 4))
	for b.Loop() {
		MaxPool2x2(dst, src, 126, 32, 63, 63)
	}
}
