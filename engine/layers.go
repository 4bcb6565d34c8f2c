package engine

import (
	"fmt"
	"math"

	"github.com/huskyai/huskyai/engine/internal/kernels"
)

// Shape is the shape of one image's activations, channels-last, without the
// batch axis. A flat vector of n values has Shape{1, 1, n}.
type Shape struct{ H, W, C int }

// Size returns H*W*C.
func (s Shape) Size() int { return s.H * s.W * s.C }

func (s Shape) String() string { return fmt.Sprintf("%dx%dx%d", s.H, s.W, s.C) }

// Padding is the number of cells added on each side of the spatial axes.
type Padding struct{ Top, Bottom, Left, Right int }

// Plus returns p and q added side by side: a padding layer's cells and
// those of the convolution that reads it, as one.
func (p Padding) Plus(q Padding) Padding {
	return Padding{Top: p.Top + q.Top, Bottom: p.Bottom + q.Bottom, Left: p.Left + q.Left, Right: p.Right + q.Right}
}

// SamePadding returns the padding of Keras' and ONNX SAME_UPPER "same" mode
// for one axis: enough that out = ceil(in/stride), the odd cell at the end.
func SamePadding(in, kernel, stride int) (before, after int) {
	out := (in + stride - 1) / stride
	total := max((out-1)*stride+kernel-in, 0)
	return total / 2, total - total/2
}

// A Layer is one step of a model. The concrete types below are the only
// implementations; loaders build them, New checks and plans them.
type Layer interface {
	// LayerName is the name the model file gives the layer, for errors.
	LayerName() string
	// outShape checks the layer against its input shape and returns the
	// output shape.
	outShape(in Shape) (Shape, error)
	// scratch returns the float32 scratch the layer needs for input in.
	scratch(k kernels.Backend, in Shape) int
	// forward computes dst from src for one image.
	forward(k kernels.Backend, dst, src []float32, in, out Shape, scratch []float32)
	// params returns the number of weights and multiply-adds.
	params(in, out Shape) (weights int, macs int64)
}

// Conv2D is a 2-D convolution, channels-last, dilation 1, in one group or
// several.
type Conv2D struct {
	Name             string
	KernelH, KernelW int
	StrideH, StrideW int
	Pad              Padding
	Filters          int
	// Groups splits the input channels and the filters into that many
	// groups, group g's filters reading only group g's channels (ResNeXt,
	// ShuffleNet); 0 or 1 is one group.
	Groups int
	// Weights are KernelH x KernelW x InC/Groups x Filters (Keras' layout,
	// grouped or not).
	Weights []float32
	// Bias has Filters elements or is nil.
	Bias       []float32
	Activation Activation

	// plan is the geometry New computed for the layer's input, so that an
	// inference does not allocate one; packed are the weights as the
	// model's backend rearranged them at load, if it does. A grouped
	// convolution has instead one convolution of its own per group.
	plan   *kernels.ConvGeom
	packed *kernels.PackedWeights
	groups []*Conv2D
}

// Pool2D is max or average pooling over KernelH x KernelW windows.
type Pool2D struct {
	Name             string
	Max              bool // max pooling; else average
	KernelH, KernelW int
	StrideH, StrideW int
	Pad              Padding
	// CountPad makes average pooling divide by the full window size, padding
	// included (ONNX count_include_pad=1). Keras excludes the padding.
	CountPad bool
}

// GlobalAvgPool averages each channel over the spatial axes, giving 1x1xC.
type GlobalAvgPool struct{ Name string }

// Flatten turns HxWxC into a vector of H*W*C. With ChannelsFirst the vector
// is in C,H,W order, as PyTorch and ONNX flatten NCHW tensors; else in the
// stored H,W,C order, as Keras flattens.
type Flatten struct {
	Name          string
	ChannelsFirst bool
}

// Dense is a fully connected layer over the channel axis (applied at each
// position if the input is not flat, as Keras does).
type Dense struct {
	Name  string
	Units int
	// Weights are InC x Units.
	Weights []float32
	// Bias has Units elements or is nil.
	Bias       []float32
	Activation Activation

	// packed are the weights as the model's backend rearranged them at
	// load, if it does.
	packed *kernels.PackedWeights
}

// Affine computes x*Scale[c] + Shift[c] per channel c. Inference-time
// BatchNormalization and Rescaling both reduce to it. Scale and Shift have
// either one element (for all channels) or one per channel.
type Affine struct {
	Name         string
	Scale, Shift []float32
}

// BatchNorm returns the Affine equivalent of batch normalisation with the
// given statistics; gamma or beta may be nil (Keras' scale=False or
// center=False). It checks that all the vectors have the same length.
func BatchNorm(name string, gamma, beta, mean, variance []float32, epsilon float64) (*Affine, error) {
	c := len(mean)
	if len(variance) != c || (gamma != nil && len(gamma) != c) || (beta != nil && len(beta) != c) {
		return nil, fmt.Errorf("layer %q: batch normalization vectors differ in length", name)
	}
	a := &Affine{Name: name, Scale: make([]float32, c), Shift: make([]float32, c)}
	for i := range c {
		g, b := 1.0, 0.0
		if gamma != nil {
			g = float64(gamma[i])
		}
		if beta != nil {
			b = float64(beta[i])
		}
		s := g / math.Sqrt(float64(variance[i])+epsilon)
		a.Scale[i] = float32(s)
		a.Shift[i] = float32(b - float64(mean[i])*s)
	}
	return a, nil
}

// Act applies an activation on its own.
type Act struct {
	Name       string
	Activation Activation
}

// Identity passes its input through: Dropout and InputLayer at inference.
type Identity struct{ Name string }

// LayerName implements Layer.
func (l *Conv2D) LayerName() string { return l.Name }

// LayerName implements Layer.
func (l *Pool2D) LayerName() string { return l.Name }

// LayerName implements Layer.
func (l *GlobalAvgPool) LayerName() string { return l.Name }

// LayerName implements Layer.
func (l *Flatten) LayerName() string { return l.Name }

// LayerName implements Layer.
func (l *Dense) LayerName() string { return l.Name }

// LayerName implements Layer.
func (l *Affine) LayerName() string { return l.Name }

// LayerName implements Layer.
func (l *Act) LayerName() string { return l.Name }

// LayerName implements Layer.
func (l *Identity) LayerName() string { return l.Name }

// windowOut returns the output length of a sliding window, or an error.
func windowOut(in, kernel, stride, before, after int) (int, error) {
	if kernel < 1 || stride < 1 || before < 0 || after < 0 || before >= kernel || after >= kernel {
		return 0, fmt.Errorf("window %d stride %d padding %d,%d is invalid", kernel, stride, before, after)
	}
	span := in + before + after - kernel
	if span < 0 {
		return 0, fmt.Errorf("window %d is larger than the padded input %d", kernel, in+before+after)
	}
	return span/stride + 1, nil
}

// windowShape returns the output height and width of a kh x kw window
// sliding with the given strides over the padded input.
func windowShape(in Shape, kh, kw, sh, sw int, pad Padding) (oh, ow int, err error) {
	if oh, err = windowOut(in.H, kh, sh, pad.Top, pad.Bottom); err != nil {
		return 0, 0, fmt.Errorf("height: %w", err)
	}
	if ow, err = windowOut(in.W, kw, sw, pad.Left, pad.Right); err != nil {
		return 0, 0, fmt.Errorf("width: %w", err)
	}
	return oh, ow, nil
}

func (l *Conv2D) geom(in, out Shape) *kernels.ConvGeom {
	if p := l.plan; p != nil && p.InH == in.H && p.InW == in.W && p.InC == in.C &&
		p.OutH == out.H && p.OutW == out.W && p.OutC == out.C {
		return p
	}
	return &kernels.ConvGeom{
		InH: in.H, InW: in.W, InC: in.C,
		OutH: out.H, OutW: out.W, OutC: out.C,
		KH: l.KernelH, KW: l.KernelW,
		StrideH: l.StrideH, StrideW: l.StrideW,
		PadT: l.Pad.Top, PadL: l.Pad.Left,
	}
}

// groupCount is the number of groups, at least 1.
func (l *Conv2D) groupCount() int { return max(l.Groups, 1) }

func (l *Conv2D) outShape(in Shape) (Shape, error) {
	if l.Filters < 1 {
		return Shape{}, fmt.Errorf("filters %d < 1", l.Filters)
	}
	g := l.groupCount()
	if g > 1 && (in.C%g != 0 || l.Filters%g != 0) {
		return Shape{}, fmt.Errorf("%d groups do not divide %d channels and %d filters", g, in.C, l.Filters)
	}
	oh, ow, err := windowShape(in, l.KernelH, l.KernelW, l.StrideH, l.StrideW, l.Pad)
	if err != nil {
		return Shape{}, err
	}
	if want, ok := mulCapped(len(l.Weights), l.KernelH, l.KernelW, in.C/g, l.Filters); !ok || len(l.Weights) != want {
		return Shape{}, fmt.Errorf("kernel has %d weights, want %dx%dx%dx%d",
			len(l.Weights), l.KernelH, l.KernelW, in.C/g, l.Filters)
	}
	if l.Bias != nil && len(l.Bias) != l.Filters {
		return Shape{}, fmt.Errorf("bias has %d values, want %d", len(l.Bias), l.Filters)
	}
	return Shape{oh, ow, l.Filters}, nil
}

func (l *Conv2D) scratch(k kernels.Backend, in Shape) int {
	out, _ := l.outShape(in)
	if g := l.groupCount(); g > 1 {
		gin, gout := Shape{in.H, in.W, in.C / g}, Shape{out.H, out.W, out.C / g}
		sub := &Conv2D{KernelH: l.KernelH, KernelW: l.KernelW, StrideH: l.StrideH, StrideW: l.StrideW, Pad: l.Pad, Filters: out.C / g}
		return gin.Size() + gout.Size() + k.ConvScratch(sub.geom(gin, gout))
	}
	return k.ConvScratch(l.geom(in, out))
}

// splitGroups returns one convolution per group, each with its own copy
// of its filters' weights (KH x KW x InC/G x Filters/G) and bias.
func (l *Conv2D) splitGroups(in Shape) []*Conv2D {
	g := l.groupCount()
	cin, f, fg := in.C/g, l.Filters, l.Filters/g
	taps := l.KernelH * l.KernelW * cin
	subs := make([]*Conv2D, g)
	for q := range g {
		w := make([]float32, taps*fg)
		for r := range taps {
			copy(w[r*fg:(r+1)*fg], l.Weights[r*f+q*fg:r*f+(q+1)*fg])
		}
		sub := &Conv2D{Name: l.Name, KernelH: l.KernelH, KernelW: l.KernelW, StrideH: l.StrideH, StrideW: l.StrideW,
			Pad: l.Pad, Filters: fg, Weights: w, Activation: l.Activation}
		if l.Bias != nil {
			sub.Bias = l.Bias[q*fg : (q+1)*fg]
		}
		subs[q] = sub
	}
	return subs
}

// forwardGroups runs a grouped convolution group by group: the group's
// channels gathered from src into scratch, its convolution into scratch
// after them, its outputs scattered into dst.
func (l *Conv2D) forwardGroups(k kernels.Backend, dst, src []float32, in, out Shape, scratch []float32) {
	g := len(l.groups)
	gin, gout := Shape{in.H, in.W, in.C / g}, Shape{out.H, out.W, out.C / g}
	x, y, rest := scratch[:gin.Size()], scratch[gin.Size():gin.Size()+gout.Size()], scratch[gin.Size()+gout.Size():]
	for q, sub := range l.groups {
		for p := range in.H * in.W {
			copy(x[p*gin.C:(p+1)*gin.C], src[p*in.C+q*gin.C:])
		}
		sub.forward(k, y, x, gin, gout, rest)
		for p := range out.H * out.W {
			copy(dst[p*out.C+q*gout.C:p*out.C+(q+1)*gout.C], y[p*gout.C:(p+1)*gout.C])
		}
	}
}

func (l *Conv2D) forward(k kernels.Backend, dst, src []float32, in, out Shape, scratch []float32) {
	if len(l.groups) > 0 {
		l.forwardGroups(k, dst, src, in, out, scratch)
		return
	}
	if l.packed != nil {
		act, fused := l.Activation.kernel()
		k.Conv2DPacked(dst, src, l.packed, l.Bias, l.geom(in, out), scratch, act)
		if !fused {
			l.Activation.apply(dst[:out.Size()], out.C)
		}
		return
	}
	k.Conv2D(dst, src, l.Weights, l.Bias, l.geom(in, out), scratch)
	l.Activation.apply(dst[:out.Size()], out.C)
}

func (l *Conv2D) params(in, out Shape) (int, int64) {
	return len(l.Weights) + len(l.Bias), int64(out.Size()) * int64(l.KernelH*l.KernelW*in.C/l.groupCount())
}

func (l *Pool2D) outShape(in Shape) (Shape, error) {
	oh, ow, err := windowShape(in, l.KernelH, l.KernelW, l.StrideH, l.StrideW, l.Pad)
	return Shape{oh, ow, in.C}, err
}

func (l *Pool2D) scratch(kernels.Backend, Shape) int { return 0 }

func (l *Pool2D) forward(_ kernels.Backend, dst, src []float32, in, out Shape, _ []float32) {
	c := in.C
	if l.Max && l.KernelH == 2 && l.KernelW == 2 && l.StrideH == 2 && l.StrideW == 2 &&
		l.Pad.Top == 0 && l.Pad.Left == 0 && 2*out.H <= in.H && 2*out.W <= in.W {
		kernels.MaxPool2x2(dst, src, in.W, c, out.H, out.W)
		return
	}
	for oy := range out.H {
		y0 := oy*l.StrideH - l.Pad.Top
		ylo, yhi := max(y0, 0), min(y0+l.KernelH, in.H)
		for ox := range out.W {
			x0 := ox*l.StrideW - l.Pad.Left
			xlo, xhi := max(x0, 0), min(x0+l.KernelW, in.W)
			o := dst[(oy*out.W+ox)*c:][:c]
			if l.Max {
				for i := range o {
					o[i] = float32(math.Inf(-1))
				}
			} else {
				clear(o)
			}
			for y := ylo; y < yhi; y++ {
				for x := xlo; x < xhi; x++ {
					p := src[(y*in.W+x)*c:][:c]
					if l.Max {
						for i, v := range p {
							o[i] = max(o[i], v)
						}
					} else {
						for i, v := range p {
							o[i] += v
						}
					}
				}
			}
			if !l.Max {
				n := (yhi - ylo) * (xhi - xlo)
				if l.CountPad {
					n = l.KernelH * l.KernelW
				}
				inv := 1 / float32(n)
				for i := range o {
					o[i] *= inv
				}
			}
		}
	}
}

func (l *Pool2D) params(in, out Shape) (int, int64) {
	return 0, int64(out.Size()) * int64(l.KernelH*l.KernelW)
}

func (l *GlobalAvgPool) outShape(in Shape) (Shape, error) { return Shape{1, 1, in.C}, nil }

func (l *GlobalAvgPool) scratch(kernels.Backend, Shape) int { return 0 }

func (l *GlobalAvgPool) forward(_ kernels.Backend, dst, src []float32, in, _ Shape, _ []float32) {
	o := dst[:in.C]
	clear(o)
	n := in.H * in.W
	for p := range n {
		for i, v := range src[p*in.C : (p+1)*in.C] {
			o[i] += v
		}
	}
	inv := 1 / float32(n)
	for i := range o {
		o[i] *= inv
	}
}

func (l *GlobalAvgPool) params(in, _ Shape) (int, int64) { return 0, int64(in.Size()) }

func (l *Flatten) outShape(in Shape) (Shape, error) { return Shape{1, 1, in.Size()}, nil }

func (l *Flatten) scratch(kernels.Backend, Shape) int { return 0 }

func (l *Flatten) forward(_ kernels.Backend, dst, src []float32, in, _ Shape, _ []float32) {
	if !l.ChannelsFirst || in.H*in.W == 1 || in.C == 1 {
		copy(dst, src[:in.Size()])
		return
	}
	hw := in.H * in.W
	for p := range hw {
		for c, v := range src[p*in.C : (p+1)*in.C] {
			dst[c*hw+p] = v
		}
	}
}

func (l *Flatten) params(Shape, Shape) (int, int64) { return 0, 0 }

func (l *Dense) outShape(in Shape) (Shape, error) {
	if l.Units < 1 {
		return Shape{}, fmt.Errorf("units %d < 1", l.Units)
	}
	if want := in.C * l.Units; len(l.Weights) != want {
		return Shape{}, fmt.Errorf("kernel has %d weights, want %dx%d = %d", len(l.Weights), in.C, l.Units, want)
	}
	if l.Bias != nil && len(l.Bias) != l.Units {
		return Shape{}, fmt.Errorf("bias has %d values, want %d", len(l.Bias), l.Units)
	}
	return Shape{in.H, in.W, l.Units}, nil
}

func (l *Dense) scratch(kernels.Backend, Shape) int { return 0 }

func (l *Dense) forward(k kernels.Backend, dst, src []float32, in, out Shape, _ []float32) {
	if l.packed != nil && l.packed.K == in.C {
		act, fused := l.Activation.kernel()
		k.DensePacked(dst, src, l.packed, l.Bias, in.H*in.W, act)
		if !fused {
			l.Activation.apply(dst[:out.Size()], out.C)
		}
		return
	}
	k.Dense(dst, src, l.Weights, l.Bias, in.H*in.W, in.C, l.Units)
	l.Activation.apply(dst[:out.Size()], out.C)
}

func (l *Dense) params(in, out Shape) (int, int64) {
	return len(l.Weights) + len(l.Bias), int64(in.H*in.W) * int64(in.C*l.Units)
}

func (l *Affine) outShape(in Shape) (Shape, error) {
	for _, v := range [][]float32{l.Scale, l.Shift} {
		if len(v) != 1 && len(v) != in.C {
			return Shape{}, fmt.Errorf("has %d coefficients for %d channels", len(v), in.C)
		}
	}
	return in, nil
}

func (l *Affine) scratch(kernels.Backend, Shape) int { return 0 }

func (l *Affine) forward(_ kernels.Backend, dst, src []float32, in, _ Shape, _ []float32) {
	c := in.C
	coef := func(v []float32, i int) float32 {
		if len(v) == 1 {
			return v[0]
		}
		return v[i]
	}
	for off := 0; off < in.Size(); off += c {
		for i, v := range src[off : off+c] {
			dst[off+i] = v*coef(l.Scale, i) + coef(l.Shift, i)
		}
	}
}

func (l *Affine) params(in, _ Shape) (int, int64) {
	return len(l.Scale) + len(l.Shift), int64(in.Size())
}

func (l *Act) outShape(in Shape) (Shape, error) { return in, nil }

func (l *Act) scratch(kernels.Backend, Shape) int { return 0 }

func (l *Act) forward(_ kernels.Backend, dst, src []float32, in, _ Shape, _ []float32) {
	copy(dst, src[:in.Size()])
	l.Activation.apply(dst[:in.Size()], in.C)
}

func (l *Act) params(in, _ Shape) (int, int64) { return 0, int64(in.Size()) }

func (l *Identity) outShape(in Shape) (Shape, error) { return in, nil }

func (l *Identity) scratch(kernels.Backend, Shape) int { return 0 }

func (l *Identity) forward(_ kernels.Backend, dst, src []float32, in, _ Shape, _ []float32) {
	copy(dst, src[:in.Size()])
}

func (l *Identity) params(Shape, Shape) (int, int64) { return 0, 0 }

// OutputShape returns the shape l produces from input in, or why l cannot
// take that input. Loaders use it to follow shapes while they translate a
// file, for example to resolve "same" padding.
func OutputShape(l Layer, in Shape) (Shape, error) {
	if err := checkWindow(l); err != nil {
		return Shape{}, err
	}
	return l.outShape(in)
}
