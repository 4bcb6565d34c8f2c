package kernels

import (
	"fmt"
	"testing"
)

// BenchmarkDenseBatch runs the Husky CNN's first dense layer (25088 x 128
// packed weights, 12.8 MB) on 1 to 8 rows, as a batch of that many images
// does: the weights are read from memory once per pass of the
// micro-kernel's rows (6, 4 or 2 at a time, else 1), so the time per row
// falls with the batch. us/row is per image.
func BenchmarkDenseBatch(b *testing.B) {
	k, n := 25088, 128
	w := make([]float32, k*n)
	for i := range w {
		w[i] = float32(i%7-3) * 0.01
	}
	pw := Packed{}.PackWeights(w, k, n)
	for _, m := range []int{1, 2, 4, 6, 8} {
		a, c := make([]float32, m*k), make([]float32, m*n)
		for i := range a {
			a[i] = float32(i%5+1) * 0.1 // no zeros, which the portable kernel skips
		}
		b.Run(fmt.Sprint(m), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Packed{}.DensePacked(c, a, pw, nil, m, ActReLU)
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/float64(m)*1e6, "us/row")
		})
	}
}
