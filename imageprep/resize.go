package imageprep

// Resampling.
//
// This is a transcription of Pillow 9.4's libImaging/Resample.c, 8-bit path
// (precompute_coeffs, normalize_coeffs_8bpc, ImagingResampleHorizontal_8bpc,
// ImagingResampleVertical_8bpc, ImagingResampleInner), so that the tensor
// the server builds is bit-identical to
//
//	PIL.Image.open(f).convert("RGB").resize((w, h), filter)
//
// which is the preprocessing of the training script (and of the later
// version of the original Husky AI server). It is hand-written rather than
// golang.org/x/image/draw because x/image/draw's kernels work on
// premultiplied 16-bit colour and round differently, so they cannot
// reproduce the training-time bytes; and because we need the antialiasing
// guarantee below, which x/image/draw's NearestNeighbor and ApproxBiLinear
// do not give.
//
// Antialiasing: when downscaling by a factor s, the filter's support is
// widened by s, so every source pixel contributes to the output. That is
// what defeats image-scaling attacks (a hidden small image planted on the
// few pixels a non-antialiased sampler reads, as with cv2.resize's default
// bilinear or nearest sampling).
//
// Rounding, exactly as Pillow: the filter weights are computed in float64
// (C double, without fused multiply-adds, which explicit float64 conversions
// prevent), normalised to sum 1, and turned into int32 fixed point with 22
// fractional bits; each output byte is (2^21 + sum(pixel*weight)) >> 22
// clamped to [0,255], computed in int32. The horizontal pass runs first,
// to 8 bits, over only the rows the vertical pass reads; a pass whose size
// does not change is skipped.

import (
	"fmt"
	"math"
	"strings"
)

// Filter is a resampling filter. All filters are antialiased as Pillow's
// are: when downscaling, the kernel is stretched to cover every source
// pixel.
type Filter int

const (
	// Bicubic is cubic convolution with a = -0.5 (Pillow's
	// Image.BICUBIC), support 2. It is the zero value.
	Bicubic Filter = iota
	// Bilinear is the triangle filter (Pillow's Image.BILINEAR), support 1.
	Bilinear
	// Box averages the source area each output pixel covers (Pillow's
	// Image.BOX), support 1/2.
	Box
)

var filterNames = [...]string{Bicubic: "bicubic", Bilinear: "bilinear", Box: "box"}

// String returns "bicubic", "bilinear" or "box".
func (f Filter) String() string {
	if f >= 0 && int(f) < len(filterNames) {
		return filterNames[f]
	}
	return fmt.Sprintf("Filter(%d)", int(f))
}

// ParseFilter returns the Filter named s ("bicubic", "bilinear" or "box",
// in any case).
func ParseFilter(s string) (Filter, error) {
	for f, name := range filterNames {
		if strings.EqualFold(s, name) {
			return Filter(f), nil
		}
	}
	return 0, fmt.Errorf("imageprep: unknown resampling filter %q (want bicubic, bilinear or box)", s)
}

type kernel struct {
	fn      func(float64) float64
	support float64
}

func (f Filter) get() (kernel, error) {
	switch f {
	case Bicubic:
		return kernel{bicubic, 2}, nil
	case Bilinear:
		return kernel{bilinear, 1}, nil
	case Box:
		return kernel{box, 0.5}, nil
	}
	return kernel{}, fmt.Errorf("imageprep: invalid filter %v", f)
}

func box(x float64) float64 {
	if x > -0.5 && x <= 0.5 {
		return 1
	}
	return 0
}

func bilinear(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

func bicubic(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	// The float64 conversions keep the compiler from fusing a multiply and
	// an add (Go may, where FMA instructions exist), which would round
	// differently from Pillow's C on x86-64.
	if x < 1 {
		t := float64((a+2)*x) - (a + 3)
		return float64(float64(t*x)*x) + 1
	}
	if x < 2 {
		t := float64(float64(x-5)*x) + 8
		t = float64(t*x) - 4
		return float64(t * a)
	}
	return 0
}

const precisionBits = 32 - 8 - 2

// A pass computes the weights of one resampling pass (one axis) as
// Pillow's precompute_coeffs and normalize_coeffs_8bpc do, for the whole
// input range [0, inSize).
type pass struct {
	inSize  int
	kern    kernel
	scale   float64
	support float64
	ss      float64
	ksize   int       // the most taps of an output
	w       []float64 // scratch for the float weights
}

func newPass(inSize, outSize int, kern kernel) *pass {
	scale, support, ksize := passSize(inSize, outSize, kern)
	return &pass{inSize: inSize, kern: kern, scale: scale, support: support,
		ss: 1 / max(scale, 1), ksize: ksize, w: make([]float64, ksize)}
}

// passSize is newPass's scale, support and most taps an output has.
func passSize(inSize, outSize int, kern kernel) (scale, support float64, ksize int) {
	// Pillow passes the box edges as C floats.
	scale = float64(float32(inSize)) / float64(outSize)
	support = float64(kern.support * max(scale, 1))
	return scale, support, int(math.Ceil(support))*2 + 1
}

// tableFits reports whether the horizontal pass of resizing an image sw
// wide to dw keeps its weights in a table (within maxTable), as it must
// to read the image a row at a time (resizeRows).
func tableFits(sw, dw int, kern kernel) bool {
	_, _, ksize := passSize(sw, dw, kern)
	return int64(dw)*int64(ksize) <= int64(maxTable)
}

// coeffs returns the first source index of output xx and its fixed-point
// weights, written into k (len(k) >= p.ksize).
func (p *pass) coeffs(xx int, k []int32) (int, []int32) {
	center := float64((float64(xx) + 0.5) * p.scale)
	xmin := int(center - p.support + 0.5)
	if xmin < 0 {
		xmin = 0
	}
	xmax := int(center + p.support + 0.5)
	if xmax > p.inSize {
		xmax = p.inSize
	}
	n := min(max(xmax-xmin, 0), p.ksize)
	w := p.w[:n]
	ww := 0.0
	for x := range w {
		w[x] = p.kern.fn(float64(float64(x+xmin)-center+0.5) * p.ss)
		ww += w[x]
	}
	k = k[:n]
	for x, v := range w {
		if ww != 0 {
			v /= ww
		}
		if v < 0 {
			k[x] = int32(-0.5 + float64(v*(1<<precisionBits)))
		} else {
			k[x] = int32(0.5 + float64(v*(1<<precisionBits)))
		}
	}
	return xmin, k
}

// span returns the source range [lo, hi) that outputs 0..outSize-1 read.
func (p *pass) span(outSize int) (lo, hi int) {
	k := make([]int32, p.ksize)
	lo, _ = p.coeffs(0, k)
	last, kl := p.coeffs(outSize-1, k)
	return lo, last + len(kl)
}

// maxTable bounds the weights kept for a horizontal pass (16 MiB). Only
// extreme aspect ratios (a many-megapixel image a few pixels high) exceed
// it; the pass then goes column by column, keeping one output's weights.
var maxTable = 4 << 20 // a variable for tests

func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// Resize returns src resampled to width x height with filter f, exactly as
// Pillow 9.4's Image.resize((width, height), f) does for an "RGB" image
// (see the comment at the top of resize.go). The result is always a new
// image; if the size is unchanged it is a copy of src. An empty src gives
// a black image. Resize panics if width or height is not positive or f is
// not a valid Filter.
func Resize(src *RGB, width, height int, f Filter) *RGB {
	if width <= 0 || height <= 0 {
		panic(fmt.Sprintf("imageprep: Resize to %dx%d", width, height))
	}
	kern, err := f.get()
	if err != nil {
		panic(err)
	}
	if src.Width <= 0 || src.Height <= 0 {
		return NewRGB(width, height)
	}
	needH, needV := width != src.Width, height != src.Height
	if !needH && !needV {
		return &RGB{Width: width, Height: height, Pix: append([]uint8(nil), src.Pix...)}
	}
	pv := newPass(src.Height, height, kern)
	im, offset := src, 0
	if needH {
		// Only the rows the vertical pass reads.
		first, last := pv.span(height)
		im, offset = NewRGB(width, last-first), first
		resampleHorizontal(im, src, first, newPass(src.Width, width, kern))
	}
	if !needV {
		return im
	}
	out := NewRGB(im.Width, height)
	resampleVertical(out, im, offset, pv)
	return out
}

const half = 1 << (precisionBits - 1)

// resampleHorizontal fills dst's rows from src's rows starting at offset.
func resampleHorizontal(dst, src *RGB, offset int, p *pass) {
	sw, dw := 3*src.Width, 3*dst.Width
	if dst.Width*p.ksize > maxTable {
		k := make([]int32, p.ksize)
		for xx := 0; xx < dst.Width; xx++ {
			xmin, k := p.coeffs(xx, k)
			for y := 0; y < dst.Height; y++ {
				px := src.Pix[(y+offset)*sw+3*xmin:][:3*len(k)]
				o := dst.Pix[y*dw+3*xx:][:3]
				o[0], o[1], o[2] = dot3(px, k)
			}
		}
		return
	}
	horizontalRows(dst, func(y int) []uint8 { return src.Pix[y*sw:][:sw] }, offset, p)
}

// horizontalRows is resampleHorizontal with the weights in a table, for a
// source read a row at a time: row(y) returns row y as RGB.
func horizontalRows(dst *RGB, row func(y int) []uint8, offset int, p *pass) {
	dw := 3 * dst.Width
	xmins := make([]int, dst.Width)
	ks := make([][]int32, dst.Width)
	table := make([]int32, dst.Width*p.ksize)
	for xx := range ks {
		xmins[xx], ks[xx] = p.coeffs(xx, table[xx*p.ksize:])
	}
	for y := 0; y < dst.Height; y++ {
		in := row(y + offset)
		out := dst.Pix[y*dw:][:dw]
		for xx, k := range ks {
			out[3*xx], out[3*xx+1], out[3*xx+2] = dot3(in[3*xmins[xx]:][:3*len(k)], k)
		}
	}
}

// resizeRows is Resize of an image of sw x sh pixels that row(y) returns a
// row at a time (as RGB, valid until the next call), reading each row
// once: only the rows the vertical pass needs, and never the whole image
// at once. The weights of the horizontal pass must fit their table
// (tableFits).
func resizeRows(sw, sh int, row func(y int) []uint8, width, height int, kern kernel) *RGB {
	needH, needV := width != sw, height != sh
	pv := newPass(sh, height, kern)
	first, last := 0, sh
	if needV {
		first, last = pv.span(height)
	}
	im := NewRGB(width, last-first)
	if needH {
		horizontalRows(im, row, first, newPass(sw, width, kern))
	} else {
		for y := range im.Height {
			copy(im.Pix[3*width*y:][:3*width], row(first+y))
		}
	}
	if !needV {
		return im
	}
	out := NewRGB(width, height)
	resampleVertical(out, im, first, pv)
	return out
}

// dot3 is one output pixel of the horizontal pass: px holds len(k) RGB
// pixels.
func dot3(px []uint8, k []int32) (uint8, uint8, uint8) {
	r, g, b := int32(half), int32(half), int32(half)
	for i, w := range k {
		q := px[3*i : 3*i+3]
		r += int32(q[0]) * w
		g += int32(q[1]) * w
		b += int32(q[2]) * w
	}
	return clip8(r), clip8(g), clip8(b)
}

// resampleVertical fills dst from src, whose first row is row offset of the
// image p resamples. It sums a whole row at a time; int32 addition wraps
// and so is associative, so the result equals Pillow's per-pixel loop.
func resampleVertical(dst, src *RGB, offset int, p *pass) {
	rw := 3 * src.Width
	acc := make([]int32, rw)
	k := make([]int32, p.ksize)
	for yy := 0; yy < dst.Height; yy++ {
		ymin, k := p.coeffs(yy, k)
		ymin -= offset
		for i := range acc {
			acc[i] = half
		}
		for i, w := range k {
			row := src.Pix[(ymin+i)*rw:][:rw]
			for j, v := range row {
				acc[j] += int32(v) * w
			}
		}
		out := dst.Pix[yy*rw:][:rw]
		for j, v := range acc {
			out[j] = clip8(v)
		}
	}
}
