package jpegscale

import (
	"image/color"
	"math"
)

// zigzag maps the zigzag index of a coefficient to its natural index
// (row * 8 + column).
var zigzag = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

// segMean[i][j][u], for a block cut into k = 1 << i equal segments along
// an axis, is C(u)/2 times the mean of cos((2x+1) u pi/16) over segment j
// (C(0) = 1/sqrt 2, else 1). With the IDCT f(x,y) = sum_u sum_v C(u)/2
// C(v)/2 F(v,u) cos((2x+1) u pi/16) cos((2y+1) v pi/16), the mean of f
// over segment jx along x and jy along y is sum_v sum_u F(v,u)
// segMean[.][jx][u] segMean[.][jy][v]. Over the whole block (k = 1) only
// u = 0 is left; over halves, only u = 0 and the odd u.
var segMean = func() (m [4][8][8]float32) {
	for i := range 4 {
		k := 1 << i
		for j := range k {
			for u := range 8 {
				c := 0.5
				if u == 0 {
					c = 0.5 / math.Sqrt2
				}
				var sum float64
				for x := j * 8 / k; x < (j+1)*8/k; x++ {
					sum += math.Cos(float64(2*x+1) * float64(u) * math.Pi / 16)
				}
				v := c * sum / float64(8/k)
				if math.Abs(v) < 1e-9 {
					v = 0 // exactly, where the cosines cancel
				}
				m[i][j][u] = float32(v)
			}
		}
	}
	return m
}()

// log2 of 1, 2, 4 and 8.
var log2 = [9]int{1: 0, 2: 1, 4: 2, 8: 3}

// pixel is a mean as an output pixel: plus 128, rounded, clamped (in
// integers: float min and max are slow, for their NaN rules).
func pixel(m float32) uint8 {
	v := int32(m + 128.5) // truncation: only values that clamp to 0 round the wrong way
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return uint8(v)
}

// partMeans writes to part the means of the kx x ky parts (1, 2, 4 or 8
// each) of the block of natural-order coefficients coef, row by row, as
// output pixels.
func partMeans(coef *[64]int32, kx, ky int, part []uint8) {
	// The segments mirror each other: segment k-1-j weighs frequency u
	// by (-1)^u times what segment j does, so the first half of them give
	// the even and odd sums for all (the whole block, k = 1, has only u = 0).
	sx, sy := &segMean[log2[kx]], &segMean[log2[ky]]
	hx, hy := max(kx/2, 1), max(ky/2, 1)
	var along [8][8]float32 // along[v][jx]: row v of frequencies, meaned along x
	var rows [8]int         // the rows v that count, in order
	nrows := 0
	for v := range 8 {
		r := (*[8]int32)(coef[8*v : 8*v+8])
		if *r == [8]int32{} || sy[0][v] == 0 && (ky == 1 || sy[1][v] == 0) {
			continue
		}
		rows[nrows] = v
		nrows++
		f0, f1, f2, f3 := float32(r[0]), float32(r[1]), float32(r[2]), float32(r[3])
		f4, f5, f6, f7 := float32(r[4]), float32(r[5]), float32(r[6]), float32(r[7])
		for jx := range hx {
			w := &sx[jx]
			e := f0*w[0] + f2*w[2] + f4*w[4] + f6*w[6]
			o := f1*w[1] + f3*w[3] + f5*w[5] + f7*w[7]
			along[v][jx] = e + o
			along[v][kx-1-jx] = e - o // the same when kx = 1 (o is 0)
		}
	}
	for jy := range hy {
		w := &sy[jy]
		for jx := range kx {
			var e, o float32
			for _, v := range rows[:nrows] {
				if v%2 == 0 {
					e += along[v][jx] * w[v]
				} else {
					o += along[v][jx] * w[v]
				}
			}
			part[jy*kx+jx] = pixel(e + o)
			part[(ky-1-jy)*kx+jx] = pixel(e - o)
		}
	}
}

// quarterMeans is partMeans for kx = ky = 2 (4:2:0 chroma at 1/8, luma at
// 2/8), unrolled: only u, v in {0, 1, 3, 5, 7} count.
func quarterMeans(coef *[64]int32, part []uint8) {
	h := &segMean[1][0]
	_ = part[3]
	// Along x, for rows v = 0, 1, 3, 5, 7: the mean over the left half
	// is e + o, over the right half e - o.
	var e, o [5]float32
	for i, v := range [5]int{0, 1, 3, 5, 7} {
		r := (*[8]int32)(coef[8*v : 8*v+8])
		e[i] = float32(r[0]) * h[0]
		o[i] = float32(r[1])*h[1] + float32(r[3])*h[3] + float32(r[5])*h[5] + float32(r[7])*h[7]
	}
	l0, r0 := (e[0]+o[0])*h[0], (e[0]-o[0])*h[0]
	lo := (e[1]+o[1])*h[1] + (e[2]+o[2])*h[3] + (e[3]+o[3])*h[5] + (e[4]+o[4])*h[7]
	ro := (e[1]-o[1])*h[1] + (e[2]-o[2])*h[3] + (e[3]-o[3])*h[5] + (e[4]-o[4])*h[7]
	part[0], part[1], part[2], part[3] = pixel(l0+lo), pixel(r0+ro), pixel(l0-lo), pixel(r0-ro)
}

// pixels makes the RGB pixels at n/8 scale from the components' planes:
// ceil(w*n/8) x ceil(h*n/8) of them, R, G, B of each, row by row.
func pixels(comps []scanComp, w, h, n int) (pix []uint8, ow, oh int) {
	ow, oh = (w*n+7)/8, (h*n+7)/8
	planes := make([][]uint8, len(comps))
	for ci := range comps {
		planes[ci] = plane(&comps[ci], ow, oh)
	}
	pix = make([]uint8, 3*ow*oh)
	for i := range ow * oh {
		p := pix[3*i : 3*i+3]
		if len(comps) == 1 {
			p[0], p[1], p[2] = planes[0][i], planes[0][i], planes[0][i]
			continue
		}
		p[0], p[1], p[2] = color.YCbCrToRGB(planes[0][i], planes[1][i], planes[2][i])
	}
	return pix, ow, oh
}

// plane returns component c's samples at the output resolution ow x oh:
// its blocks' DC pixels, or the means of their parts.
func plane(c *scanComp, ow, oh int) []uint8 {
	out := make([]uint8, ow*oh)
	kx, ky := c.kx, c.ky
	for y := range oh {
		row := out[y*ow : (y+1)*ow]
		if c.part == nil {
			for x, dc := range c.dc[y*c.bw : y*c.bw+ow] {
				row[x] = uint8(min(max((dc+4)>>3+128, 0), 255))
			}
			continue
		}
		by, jy := y/ky, y%ky
		for x := range row {
			b := by*c.bw + x/kx
			row[x] = c.part[b*kx*ky+jy*kx+x%kx]
		}
	}
	return out
}
