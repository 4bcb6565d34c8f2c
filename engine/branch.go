package engine

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/huskyai/huskyai/engine/internal/kernels"
)

// Add sums its inputs element by element, then applies Activation (TFLite
// fuses one into its ADD). The inputs have the same shape, or some are a
// single value per channel (1x1xC), which is added at every position.
type Add struct {
	Name       string
	Activation Activation
}

// Multiply multiplies its inputs element by element; like Add, an input of
// 1x1xC applies at every position (the gate of a squeeze-and-excitation
// block).
type Multiply struct{ Name string }

// Concatenate joins its inputs along the channel axis; their heights and
// widths must agree.
type Concatenate struct{ Name string }

// DepthwiseConv2D convolves each input channel on its own with Multiplier
// filters: output channel c*Multiplier+m is input channel c convolved with
// filter m of that channel. Dilation 1.
type DepthwiseConv2D struct {
	Name             string
	KernelH, KernelW int
	StrideH, StrideW int
	Pad              Padding
	Multiplier       int
	// Weights are KernelH x KernelW x InC x Multiplier (Keras' layout; a
	// TFLite depthwise kernel 1 x KH x KW x InC*Multiplier is the same
	// order).
	Weights []float32
	// Bias has InC*Multiplier elements or is nil.
	Bias       []float32
	Activation Activation
}

// LayerName implements Layer.
func (l *Add) LayerName() string { return l.Name }

// LayerName implements Layer.
func (l *Multiply) LayerName() string { return l.Name }

// LayerName implements Layer.
func (l *Concatenate) LayerName() string { return l.Name }

// LayerName implements Layer.
func (l *DepthwiseConv2D) LayerName() string { return l.Name }

// broadcastShape is the shape of an element-wise combination of ins: the
// largest input, every other being equal to it or 1x1 with its channels.
func broadcastShape(ins []Shape) (Shape, error) {
	out := ins[0]
	for _, s := range ins[1:] {
		if s.Size() > out.Size() {
			out = s
		}
	}
	for _, s := range ins {
		if s != out && (s.H != 1 || s.W != 1 || s.C != out.C) {
			return Shape{}, fmt.Errorf("inputs %v and %v cannot be combined element by element", s, out)
		}
	}
	return out, nil
}

// combine computes dst = src[0] op src[1] op ... over shape out, where a
// 1x1xC input repeats at every position.
func combine(dst []float32, srcs [][]float32, ins []Shape, out Shape, mul bool) {
	n, c := out.Size(), out.C
	first := true
	for i, src := range srcs {
		full := ins[i].Size() == n
		for off := 0; off < n; off += c {
			s := src[:c]
			if full {
				s = src[off : off+c]
			}
			d := dst[off : off+c]
			switch {
			case first:
				copy(d, s)
			case mul:
				for j, v := range s {
					d[j] *= v
				}
			default:
				for j, v := range s {
					d[j] += v
				}
			}
		}
		first = false
	}
}

func (l *Add) outShape(in Shape) (Shape, error) { return in, nil }
func (l *Add) outShapes(ins []Shape) (Shape, error) {
	return broadcastShape(ins)
}
func (l *Add) scratch(kernels.Backend, Shape) int { return 0 }
func (l *Add) forward(_ kernels.Backend, dst, src []float32, in, _ Shape, _ []float32) {
	copy(dst, src[:in.Size()])
	l.Activation.apply(dst[:in.Size()], in.C)
}
func (l *Add) forwardN(dst []float32, srcs [][]float32, ins []Shape, out Shape) {
	combine(dst, srcs, ins, out, false)
	l.Activation.apply(dst[:out.Size()], out.C)
}
func (l *Add) params(in, _ Shape) (int, int64) { return 0, int64(in.Size()) }

func (l *Multiply) outShape(in Shape) (Shape, error) { return in, nil }
func (l *Multiply) outShapes(ins []Shape) (Shape, error) {
	return broadcastShape(ins)
}
func (l *Multiply) scratch(kernels.Backend, Shape) int { return 0 }
func (l *Multiply) forward(_ kernels.Backend, dst, src []float32, in, _ Shape, _ []float32) {
	copy(dst, src[:in.Size()])
}
func (l *Multiply) forwardN(dst []float32, srcs [][]float32, ins []Shape, out Shape) {
	combine(dst, srcs, ins, out, true)
}
func (l *Multiply) params(in, _ Shape) (int, int64) { return 0, int64(in.Size()) }

func (l *Concatenate) outShape(in Shape) (Shape, error) { return in, nil }
func (l *Concatenate) outShapes(ins []Shape) (Shape, error) {
	out := ins[0]
	for _, s := range ins[1:] {
		if s.H != out.H || s.W != out.W {
			return Shape{}, fmt.Errorf("inputs %v and %v differ in height or width", ins[0], s)
		}
		out.C += s.C
		if out.C > MaxActivation {
			return Shape{}, fmt.Errorf("%d channels is too many", out.C)
		}
	}
	return out, nil
}
func (l *Concatenate) scratch(kernels.Backend, Shape) int { return 0 }
func (l *Concatenate) forward(_ kernels.Backend, dst, src []float32, in, _ Shape, _ []float32) {
	copy(dst, src[:in.Size()])
}
func (l *Concatenate) forwardN(dst []float32, srcs [][]float32, ins []Shape, out Shape) {
	for p := range out.H * out.W {
		d := dst[p*out.C:]
		for i, src := range srcs {
			c := ins[i].C
			d = d[copy(d, src[p*c:(p+1)*c]):]
		}
	}
}
func (l *Concatenate) params(Shape, Shape) (int, int64) { return 0, 0 }

func (l *DepthwiseConv2D) outShape(in Shape) (Shape, error) {
	if l.Multiplier < 1 || l.Multiplier > MaxWindow {
		return Shape{}, fmt.Errorf("depth multiplier %d is outside 1..%d", l.Multiplier, MaxWindow)
	}
	oh, ow, err := windowShape(in, l.KernelH, l.KernelW, l.StrideH, l.StrideW, l.Pad)
	if err != nil {
		return Shape{}, err
	}
	oc, ok := mulCapped(MaxActivation, in.C, l.Multiplier)
	if !ok {
		return Shape{}, fmt.Errorf("%d channels x multiplier %d is too many", in.C, l.Multiplier)
	}
	if want, ok := mulCapped(len(l.Weights), l.KernelH, l.KernelW, oc); !ok || len(l.Weights) != want {
		return Shape{}, fmt.Errorf("kernel has %d weights, want %dx%dx%dx%d",
			len(l.Weights), l.KernelH, l.KernelW, in.C, l.Multiplier)
	}
	if l.Bias != nil && len(l.Bias) != oc {
		return Shape{}, fmt.Errorf("bias has %d values, want %d", len(l.Bias), oc)
	}
	return Shape{oh, ow, oc}, nil
}

func (l *DepthwiseConv2D) scratch(kernels.Backend, Shape) int { return 0 }

// forward runs the convolution pixel by pixel: each output pixel is the
// bias plus, over the window's taps inside the input, input pixel times
// tap weights, channel by channel along the contiguous channels
// (kernels.DepthwiseTaps, vectorized). A multiplier above 1, or a window
// of more than kernels.MaxTaps taps, goes through the channels one by one.
// The output rows are shared among the goroutines the backend may use
// (kernels.Workers) when there is enough work.
func (l *DepthwiseConv2D) forward(k kernels.Backend, dst, src []float32, in, out Shape, _ []float32) {
	w := min(kernels.Workers(k), out.H)
	if w < 2 || int64(out.Size())*int64(l.KernelH*l.KernelW) < 1<<16 {
		l.rows(dst, src, in, out, 0, out.H)
		return
	}
	j := dwJobs.Get().(*dwJob)
	j.l, j.dst, j.src, j.in, j.out = l, dst, src, in, out
	j.next.Store(0)
	kernels.Parallel(j, w)
	j.l, j.dst, j.src = nil, nil, nil
	dwJobs.Put(j)
}

// dwJob is a depthwise convolution whose output rows goroutines share
// (kernels.Parallel), taking them one by one from an atomic counter.
type dwJob struct {
	l        *DepthwiseConv2D
	dst, src []float32
	in, out  Shape
	next     atomic.Int64
	kernels.Group
}

var dwJobs = sync.Pool{New: func() any { return new(dwJob) }}

// Run implements kernels.Task.
func (j *dwJob) Run() {
	for {
		y := int(j.next.Add(1) - 1)
		if y >= j.out.H {
			return
		}
		j.l.rows(j.dst, j.src, j.in, j.out, y, y+1)
	}
}

// rows computes output rows [y0, y1), activation included.
func (l *DepthwiseConv2D) rows(dst, src []float32, in, out Shape, y0, y1 int) {
	oc, m := out.C, l.Multiplier
	fast := m == 1 && l.KernelH*l.KernelW <= kernels.MaxTaps && len(l.Bias) == oc
	act, fused := l.Activation.kernel()
	var offs [2 * kernels.MaxTaps]int
	for oy := y0; oy < y1; oy++ {
		iy := oy*l.StrideH - l.Pad.Top
		for ox := range out.W {
			ix := ox*l.StrideW - l.Pad.Left
			o := dst[(oy*out.W+ox)*oc:][:oc]
			if fast {
				n := 0
				for ky := max(0, -iy); ky < l.KernelH && iy+ky < in.H; ky++ {
					for kx := max(0, -ix); kx < l.KernelW && ix+kx < in.W; kx++ {
						offs[n], offs[n+1] = ((iy+ky)*in.W+ix+kx)*in.C, (ky*l.KernelW+kx)*oc
						n += 2
					}
				}
				kernels.DepthwiseTaps(o, src, l.Weights, l.Bias, offs[:n], oc, act)
				continue
			}
			l.pixel(o, src, in, iy, ix)
		}
	}
	if !fast || !fused {
		l.Activation.apply(dst[y0*out.W*oc:y1*out.W*oc], oc)
	}
}

// pixel computes the output pixel o at input position (iy, ix) channel by
// channel, for any multiplier and window.
func (l *DepthwiseConv2D) pixel(o, src []float32, in Shape, iy, ix int) {
	m := l.Multiplier
	if l.Bias != nil {
		copy(o, l.Bias)
	} else {
		clear(o)
	}
	for ky := max(0, -iy); ky < l.KernelH && iy+ky < in.H; ky++ {
		for kx := max(0, -ix); kx < l.KernelW && ix+kx < in.W; kx++ {
			s := src[((iy+ky)*in.W+ix+kx)*in.C:][:in.C]
			w := l.Weights[(ky*l.KernelW+kx)*len(o):][:len(o)]
			for c, v := range s {
				for j := range m {
					o[c*m+j] += v * w[c*m+j]
				}
			}
		}
	}
}

func (l *DepthwiseConv2D) params(_, out Shape) (int, int64) {
	return len(l.Weights) + len(l.Bias), int64(out.Size()) * int64(l.KernelH*l.KernelW)
}
