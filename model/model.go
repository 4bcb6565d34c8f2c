// Package model is huskyai's inference engine: a chain of layers over
// float32 channels-last tensors, checked and planned when it is built and
// safe for concurrent use once built.
//
// Loaders for model files (Keras .h5 and .keras in package keras, ONNX in
// package onnx) translate a file into the layer types of this package and
// call New. The arithmetic runs through the small kernels.Backend interface
// so that faster kernels can replace the portable ones.
package model

import (
	"errors"
	"fmt"
	"sync"

	"github.com/huskyai/huskyai/internal/kernels"
)

// Limits on what New accepts, so that a hostile model file cannot make the
// engine allocate without bound. They are far above any image classifier
// huskyai serves.
const (
	// MaxInputPixels bounds the model's input height x width.
	MaxInputPixels = 4096 * 4096
	// MaxActivation bounds the number of float32 values any layer produces
	// for one image (256 MiB).
	MaxActivation = 1 << 26
	// MaxScratch bounds the per-image scratch any layer needs (512 MiB).
	MaxScratch = 1 << 27
	// MaxWindow bounds kernel, stride and padding sizes.
	MaxWindow = 1 << 12
)

// Model is a loaded, checked network. Its methods are safe for concurrent
// use.
type Model struct {
	// Name is the model's name as its file gives it.
	Name string
	// Format names the file format it was loaded from ("keras-h5", ...).
	Format string

	input   Shape
	layers  []Layer
	shapes  []Shape // shapes[i] is the input of layers[i]; last is the output
	backend kernels.Backend
	maxAct  int // largest activation, in float32s
	maxScr  int // largest scratch, in float32s
	params  int
	macs    int64
	pool    sync.Pool
}

// workspace is the per-inference memory: two activation buffers used in
// turn and the scratch of the largest layer.
type workspace struct{ a, b, scratch []float32 }

// Option configures New.
type Option func(*Model)

// WithBackend makes the model compute with k instead of kernels.Default.
func WithBackend(k kernels.Backend) Option { return func(m *Model) { m.backend = k } }

// New checks layers against the input shape and returns a Model ready to
// run. Models take RGB images, so input must have 3 channels. Identity
// layers are dropped and an activation that follows a convolution or dense
// layer with a linear activation is fused into it.
func New(name, format string, input Shape, layers []Layer, opts ...Option) (*Model, error) {
	m := &Model{Name: name, Format: format, input: input, backend: kernels.Default}
	for _, o := range opts {
		o(m)
	}
	if input.C != 3 {
		return nil, fmt.Errorf("model %q: input has %d channels; huskyai models take RGB images (3 channels)", name, input.C)
	}
	if input.H < 1 || input.W < 1 || input.H > MaxInputPixels/input.W {
		return nil, fmt.Errorf("model %q: input size %dx%d is outside 1..%d pixels", name, input.H, input.W, MaxInputPixels)
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("model %q: no layers", name)
	}
	m.layers = fuse(layers)
	in := input
	m.shapes = append(m.shapes, in)
	m.maxAct = in.Size()
	for i, l := range m.layers {
		if err := checkWindow(l); err != nil {
			return nil, fmt.Errorf("model %q: layer %d %q: %w", name, i, l.LayerName(), err)
		}
		out, err := l.outShape(in)
		if err != nil {
			return nil, fmt.Errorf("model %q: layer %d %q (input %v): %w", name, i, l.LayerName(), in, err)
		}
		size, ok := mulCapped(MaxActivation, out.H, out.W, out.C)
		if !ok || out.H < 1 || out.W < 1 || out.C < 1 {
			return nil, fmt.Errorf("model %q: layer %d %q: output %v is empty or larger than %d values", name, i, l.LayerName(), out, MaxActivation)
		}
		// Private copies of the layers with weights, which remember their
		// geometry and the weights as the backend packs them.
		pk, packs := m.backend.(kernels.WeightPacker)
		switch c := l.(type) {
		case *Conv2D:
			cc := *c
			cc.plan, cc.packed = nil, nil
			cc.plan = cc.geom(in, out)
			if packs {
				cc.packed = pk.PackWeights(cc.Weights, cc.KernelH*cc.KernelW*in.C, cc.Filters)
			}
			m.layers[i] = &cc
		case *Dense:
			d := *c
			d.packed = nil
			if packs {
				d.packed = pk.PackWeights(d.Weights, in.C, d.Units)
			}
			m.layers[i] = &d
		}
		scr := l.scratch(m.backend, in)
		if scr > MaxScratch {
			return nil, fmt.Errorf("model %q: layer %d %q: needs %d values of scratch, more than %d", name, i, l.LayerName(), scr, MaxScratch)
		}
		w, macs := l.params(in, out)
		m.params += w
		m.macs += macs
		m.maxAct = max(m.maxAct, size)
		m.maxScr = max(m.maxScr, scr)
		m.shapes = append(m.shapes, out)
		in = out
	}
	m.pool.New = func() any {
		return &workspace{
			a:       make([]float32, m.maxAct),
			b:       make([]float32, m.maxAct),
			scratch: make([]float32, m.maxScr),
		}
	}
	return m, nil
}

// fuse drops identities and folds a standalone activation into a preceding
// convolution or dense layer whose own activation is linear.
func fuse(layers []Layer) []Layer {
	var out []Layer
	for _, l := range layers {
		switch l := l.(type) {
		case *Identity:
			continue
		case *Act:
			if len(out) > 0 {
				switch p := out[len(out)-1].(type) {
				case *Conv2D:
					if p.Activation == Linear {
						c := *p
						c.Activation = l.Activation
						out[len(out)-1] = &c
						continue
					}
				case *Dense:
					if p.Activation == Linear {
						d := *p
						d.Activation = l.Activation
						out[len(out)-1] = &d
						continue
					}
				}
			}
		}
		out = append(out, l)
	}
	return out
}

// checkWindow bounds the sizes of a windowed layer before any arithmetic
// is done with them.
func checkWindow(l Layer) error {
	var vals []int
	switch l := l.(type) {
	case *Conv2D:
		vals = []int{l.KernelH, l.KernelW, l.StrideH, l.StrideW, l.Pad.Top, l.Pad.Bottom, l.Pad.Left, l.Pad.Right}
		if l.Filters > MaxActivation {
			return fmt.Errorf("%d filters is too many", l.Filters)
		}
	case *Pool2D:
		vals = []int{l.KernelH, l.KernelW, l.StrideH, l.StrideW, l.Pad.Top, l.Pad.Bottom, l.Pad.Left, l.Pad.Right}
	case *Dense:
		if l.Units > MaxActivation {
			return fmt.Errorf("%d units is too many", l.Units)
		}
	}
	for _, v := range vals {
		if v < 0 || v > MaxWindow {
			return fmt.Errorf("window size, stride or padding %d is outside 0..%d", v, MaxWindow)
		}
	}
	return nil
}

// mulCapped multiplies non-negative factors, reporting false if the product
// exceeds limit (or a factor is negative).
func mulCapped(limit int, factors ...int) (int, bool) {
	p := 1
	for _, f := range factors {
		if f < 0 {
			return 0, false
		}
		if f != 0 && p > limit/f {
			return 0, false
		}
		p *= f
	}
	return p, true
}

// InputShape returns the shape of one input image.
func (m *Model) InputShape() Shape { return m.input }

// OutputShape returns the shape of one image's output.
func (m *Model) OutputShape() Shape { return m.shapes[len(m.shapes)-1] }

// Layers returns the model's layers after fusion, in order. The caller must
// not modify them.
func (m *Model) Layers() []Layer { return m.layers }

// Params returns the number of weights.
func (m *Model) Params() int { return m.params }

// MACs returns the multiply-accumulates of one inference; FLOPs are twice
// that.
func (m *Model) MACs() int64 { return m.macs }

// Backend returns the name of the kernels the model runs on.
func (m *Model) Backend() string { return m.backend.Name() }

// ErrInputSize is returned when an input tensor has the wrong length.
var ErrInputSize = errors.New("model: input has the wrong number of values")

// Predict runs one image, given as InputShape().Size() float32 values in
// HWC order, and appends its outputs to dst.
func (m *Model) Predict(dst, input []float32) ([]float32, error) {
	if len(input) != m.input.Size() {
		return dst, fmt.Errorf("%w: got %d, want %v = %d", ErrInputSize, len(input), m.input, m.input.Size())
	}
	ws := m.pool.Get().(*workspace)
	defer m.pool.Put(ws)
	src, buf := input, ws.a
	for i, l := range m.layers {
		in, out := m.shapes[i], m.shapes[i+1]
		l.forward(m.backend, buf, src, in, out, ws.scratch)
		src = buf
		if &buf[0] == &ws.a[0] {
			buf = ws.b
		} else {
			buf = ws.a
		}
	}
	return append(dst, src[:m.OutputShape().Size()]...), nil
}

// PredictBatch runs n images laid out one after another in inputs and
// returns their outputs, one after another.
func (m *Model) PredictBatch(inputs []float32, n int) ([]float32, error) {
	size := m.input.Size()
	if n < 0 || len(inputs) != n*size {
		return nil, fmt.Errorf("%w: got %d values for %d images of %v", ErrInputSize, len(inputs), n, m.input)
	}
	out := make([]float32, 0, n*m.OutputShape().Size())
	var err error
	for i := range n {
		if out, err = m.Predict(out, inputs[i*size:(i+1)*size]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
