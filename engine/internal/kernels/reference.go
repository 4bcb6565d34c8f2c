package kernels

// Reference is the plainest possible implementation of Backend: direct
// loops, float32 accumulation in the same order as the definition. It is
// slow and exists so that faster backends can be checked against it.
type Reference struct{}

// Name implements Backend.
func (Reference) Name() string { return "reference" }

// ConvScratch implements Backend; Reference needs no scratch.
func (Reference) ConvScratch(*ConvGeom) int { return 0 }

// Conv2D implements Backend.
func (Reference) Conv2D(dst, src, w, bias []float32, g *ConvGeom, _ []float32) {
	for oy := 0; oy < g.OutH; oy++ {
		for ox := 0; ox < g.OutW; ox++ {
			out := dst[(oy*g.OutW+ox)*g.OutC:][:g.OutC]
			if bias != nil {
				copy(out, bias)
			} else {
				clear(out)
			}
			for ky := 0; ky < g.KH; ky++ {
				iy := oy*g.StrideH + ky - g.PadT
				if iy < 0 || iy >= g.InH {
					continue
				}
				for kx := 0; kx < g.KW; kx++ {
					ix := ox*g.StrideW + kx - g.PadL
					if ix < 0 || ix >= g.InW {
						continue
					}
					in := src[(iy*g.InW+ix)*g.InC:][:g.InC]
					wk := w[(ky*g.KW+kx)*g.InC*g.OutC:]
					for ci, v := range in {
						axpy(out, wk[ci*g.OutC:][:g.OutC], v)
					}
				}
			}
		}
	}
}

// Dense implements Backend.
func (Reference) Dense(dst, src, w, bias []float32, rows, in, out int) {
	for r := 0; r < rows; r++ {
		o := dst[r*out:][:out]
		if bias != nil {
			copy(o, bias)
		} else {
			clear(o)
		}
		for i, v := range src[r*in : (r+1)*in] {
			axpy(o, w[i*out:][:out], v)
		}
	}
}

// axpy adds a*x to y.
func axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// PackWeights returns nil: Reference does not pack weights.
func (Reference) PackWeights([]float32, int, int) *PackedWeights { return nil }

// Conv2DPacked is Conv2D on the unpacked weights, then ReLU if relu.
func (b Reference) Conv2DPacked(dst, src []float32, w *PackedWeights, bias []float32, g *ConvGeom, scratch []float32, act Act) {
	conv2DUnpacked(b, dst, src, w, bias, g, scratch, act)
}

// DensePacked is Dense on the unpacked weights, then ReLU if relu.
func (b Reference) DensePacked(dst, src []float32, w *PackedWeights, bias []float32, rows int, act Act) {
	denseUnpacked(b, dst, src, w, bias, rows, act)
}
