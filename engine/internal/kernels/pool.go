package kernels

// MaxPool2x2 is a 2x2, stride-2, unpadded max pooling of the NHWC image
// src (inH x inW x c) into dst (outH x outW x c), where 2*outH <= inH and
// 2*outW <= inW (a last odd row or column is left out). Each output is
// max(max(a, b), max(c, d)) of Go's max, NaNs and signed zeros included,
// in every build: on amd64 rows go through an AVX assembly loop when c is
// a multiple of 8 (TestMaxPool2x2 checks it bit for bit against the loop).
func MaxPool2x2(dst, src []float32, inW, c, outH, outW int) {
	for oy := range outH {
		row0 := src[2*oy*inW*c : (2*oy+1)*inW*c]
		row1 := src[(2*oy+1)*inW*c : (2*oy+2)*inW*c]
		o := dst[oy*outW*c : (oy+1)*outW*c]
		if !maxPoolRowAsm(o, row0, row1, c, outW) {
			maxPoolRow(o, row0, row1, c, outW)
		}
	}
}

// maxPoolRow is one output row of MaxPool2x2, in Go.
func maxPoolRow(dst, row0, row1 []float32, c, ow int) {
	for ox := range ow {
		o := dst[ox*c : (ox+1)*c]
		x := 2 * ox * c
		p00, p01 := row0[x:x+c], row0[x+c:x+2*c]
		p10, p11 := row1[x:x+c], row1[x+c:x+2*c]
		for i := range o {
			o[i] = max(max(p00[i], p01[i]), max(p10[i], p11[i]))
		}
	}
}
