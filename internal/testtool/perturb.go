package testtool

import (
	"image"
	"math/rand/v2"
)

// Perturb changes n pixels of img, chosen by r anywhere in its bounds, by
// +3 or -3 on each colour channel: the near-identical copies a probing or
// perturbation attack sends.
func Perturb(img *image.NRGBA, r *rand.Rand, n int) {
	b := img.Bounds()
	for range n {
		x, y := b.Min.X+r.IntN(b.Dx()), b.Min.Y+r.IntN(b.Dy())
		c := img.NRGBAAt(x, y)
		d := uint8(3)
		if r.IntN(2) == 0 {
			c.R, c.G, c.B = c.R+d, c.G+d, c.B+d
		} else {
			c.R, c.G, c.B = c.R-d, c.G-d, c.B-d
		}
		img.SetNRGBA(x, y, c)
	}
}
