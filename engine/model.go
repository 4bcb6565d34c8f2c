// Package engine is huskyai's inference engine: a chain of layers over
// float32 channels-last tensors, checked and planned when it is built and
// safe for concurrent use once built.
//
// Loaders for model files (Keras .h5 and .keras in package keras, ONNX in
// package onnx) translate a file into the layer types of this package and
// call New. The arithmetic runs through the small kernels.Backend interface
// so that faster kernels can replace the portable ones.
package engine

import (
	"errors"
	"fmt"
	"runtime"
	"slices"

	"github.com/huskyai/huskyai/engine/internal/kernels"
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
	// Note is the file's description of itself, where its format has
	// one (keras.NoteAttr), else empty. A model that declares itself
	// untrained starts it with huskyai.UntrainedNote.
	Note string

	input   Shape
	layers  []Layer
	shapes  []Shape // shapes[i] is the input of layers[i]; last is the output
	backend kernels.Backend
	serial  kernels.Backend // backend on one goroutine (kernels.Serial), for images run side by side
	maxAct  int             // largest activation, in float32s
	maxBat  int             // largest activation a batch keeps for all its images (forward)
	maxScr  int             // largest scratch, in float32s
	graph   *graph          // the plan of a model that is not a chain (NewGraph); nil for a chain
	batch   int             // most images one forward pass runs (WithMaxBatch)
	params  int
	macs    int64
	spare   chan *workspace // workspaces between inferences (getWorkspace)
	integer Integer         // WithInteger, for loaders (IntegerOption)
}

// workspace is the per-inference memory: two activation buffers used in
// turn and the scratch of the largest layer, for one image at a time; with
// a max batch above 1, two more buffers used in turn for the activations
// that a batch keeps for all its images at once (see forward).
//
// A graph model's workspace instead holds the buffers its plan assigns to
// its tensors (slots), and room for the inputs of one node (srcs).
type workspace struct {
	a, b, scratch, ba, bb []float32
	slots                 [][]float32
	srcs                  [][]float32
}

// Option configures New.
type Option func(*Model)

// WithBackend makes the model compute with k instead of kernels.Default.
func WithBackend(k kernels.Backend) Option { return func(m *Model) { m.backend = k } }

// WithMaxBatch plans the model's buffers for forward passes of up to n
// images (PredictBatchTo); n < 1 means 1, the default. Each pooled
// workspace then also holds, twice, n images' worth of the activations
// that pass between the dense (and element-wise) layers, which run over
// the whole batch; for a CNN these are its small flattened features, so
// memory barely grows.
func WithMaxBatch(n int) Option { return func(m *Model) { m.batch = max(n, 1) } }

// New checks layers against the input shape and returns a Model ready to
// run. Models take RGB images, so input must have 3 channels. Identity
// layers are dropped and an activation that follows a convolution or dense
// layer with a linear activation is fused into it; a 2x2 max pooling that
// follows a convolution runs with it, in one pass, where the backend can
// (fuseConvPool).
func New(name, format string, input Shape, layers []Layer, opts ...Option) (*Model, error) {
	m, err := newModel(name, format, input, opts)
	if err != nil {
		return nil, err
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("model %q: no layers", name)
	}
	m.layers = fuse(layers)
	in := input
	m.shapes = append(m.shapes, in)
	for i := range m.layers {
		out, err := m.plan(i, []Shape{in})
		if err != nil {
			return nil, fmt.Errorf("model %q: layer %d %q: %w", name, i, m.layers[i].LayerName(), err)
		}
		m.shapes = append(m.shapes, out)
		in = out
	}
	m.fuseConvPool()
	if err := m.planBatch(); err != nil {
		return nil, fmt.Errorf("model %q: %w", name, err)
	}
	return m, nil
}

// newModel applies the options and checks the input shape: the part of
// New and NewGraph before the layers.
func newModel(name, format string, input Shape, opts []Option) (*Model, error) {
	m := &Model{Name: name, Format: format, input: input, backend: kernels.Default, batch: 1}
	for _, o := range opts {
		o(m)
	}
	if input.C != 3 {
		return nil, fmt.Errorf("model %q: input has %d channels; huskyai models take RGB images (3 channels)", name, input.C)
	}
	if input.H < 1 || input.W < 1 || input.H > MaxInputPixels/input.W {
		return nil, fmt.Errorf("model %q: input size %dx%d is outside 1..%d pixels", name, input.H, input.W, MaxInputPixels)
	}
	m.serial = kernels.Serial(m.backend)
	m.maxAct = input.Size()
	m.spare = make(chan *workspace, 2*runtime.GOMAXPROCS(0)+1)
	return m, nil
}

// getWorkspace returns a spare workspace, or a new one. putWorkspace keeps
// up to 2*GOMAXPROCS+1 of them (a batch spread over the CPUs uses one per
// CPU besides its own, see spread). Unlike a sync.Pool, which drops what it
// holds at every other garbage collection, the model keeps its
// workspaces: for a large network (MobileNetV2's are 20 MB) allocating
// them anew is what would trigger the next collection, and an inference
// would allocate again and again.
func (m *Model) getWorkspace() *workspace {
	select {
	case ws := <-m.spare:
		return ws
	default:
		return m.newWorkspace()
	}
}

// putWorkspace gives ws back for the next inference.
func (m *Model) putWorkspace(ws *workspace) {
	select {
	case m.spare <- ws:
	default:
	}
}

// plan checks layer i against the shapes of its inputs, gives it a
// private copy of its weights as the backend packs them, and accounts for
// its output, scratch, parameters and work; it returns the output shape.
func (m *Model) plan(i int, ins []Shape) (Shape, error) {
	l, in := m.layers[i], ins[0]
	if err := checkWindow(l); err != nil {
		return Shape{}, err
	}
	var out Shape
	var err error
	if mg, ok := l.(merger); ok && len(ins) > 1 {
		out, err = mg.outShapes(ins)
	} else {
		out, err = l.outShape(in)
	}
	if err != nil {
		return Shape{}, fmt.Errorf("input %v: %w", ins, err)
	}
	size, ok := mulCapped(MaxActivation, out.H, out.W, out.C)
	if !ok || out.H < 1 || out.W < 1 || out.C < 1 {
		return Shape{}, fmt.Errorf("output %v is empty or larger than %d values", out, MaxActivation)
	}
	// Private copies of the layers with weights, which remember their
	// geometry and the weights as the backend packs them.
	// (nil packed weights for a backend that does not pack.)
	switch c := l.(type) {
	case *Conv2D:
		cc := *c
		cc.plan = nil // the original's, for another input shape
		if cc.groupCount() > 1 {
			gin, gout := Shape{in.H, in.W, in.C / cc.groupCount()}, Shape{out.H, out.W, out.C / cc.groupCount()}
			cc.groups = cc.splitGroups(in)
			for _, sub := range cc.groups {
				sub.plan = sub.geom(gin, gout)
				sub.packed = m.backend.PackWeights(sub.Weights, sub.KernelH*sub.KernelW*gin.C, sub.Filters)
			}
		} else {
			cc.plan = cc.geom(in, out)
			cc.packed = m.backend.PackWeights(cc.Weights, cc.KernelH*cc.KernelW*in.C, cc.Filters)
		}
		m.layers[i] = &cc
	case *Dense:
		d := *c
		d.packed = m.backend.PackWeights(d.Weights, in.C, d.Units)
		m.layers[i] = &d
	case *DepthwiseConv2D:
		d := *c
		if d.Bias == nil {
			d.Bias = make([]float32, out.C) // the vectorized path adds a bias
		}
		m.layers[i] = &d
	}
	scr := l.scratch(m.backend, in)
	if scr > MaxScratch {
		return Shape{}, fmt.Errorf("needs %d values of scratch, more than %d", scr, MaxScratch)
	}
	w, macs := l.params(in, out)
	m.params += w
	m.macs += macs
	m.maxAct = max(m.maxAct, size)
	m.maxScr = max(m.maxScr, scr)
	return out, nil
}

// planBatch sizes the activations a batch keeps for all its images: the
// outputs of the layers that run over the whole batch and the inputs they
// take.
func (m *Model) planBatch() error {
	for k := 1; k <= len(m.layers); k++ {
		if batchable(m.layers[k-1], m.shapes[k-1]) || k == len(m.layers) || batchable(m.layers[k], m.shapes[k]) {
			m.maxBat = max(m.maxBat, m.shapes[k].Size())
		}
	}
	if _, ok := mulCapped(MaxActivation, m.maxBat, m.batch); !ok {
		return fmt.Errorf("a batch of %d images needs more than %d values of activations", m.batch, MaxActivation)
	}
	return nil
}

// newWorkspace allocates the buffers of one inference (of a batch, when
// the model batches); putWorkspace keeps them between inferences.
func (m *Model) newWorkspace() *workspace {
	if g := m.graph; g != nil {
		ws := &workspace{scratch: make([]float32, m.maxScr), srcs: make([][]float32, g.srcs)}
		for _, n := range g.sizes {
			ws.slots = append(ws.slots, make([]float32, n))
		}
		return ws
	}
	ws := &workspace{
		a:       make([]float32, m.maxAct),
		b:       make([]float32, m.maxAct),
		scratch: make([]float32, m.maxScr),
	}
	if m.batch > 1 {
		ws.ba, ws.bb = make([]float32, m.maxBat*m.batch), make([]float32, m.maxBat*m.batch)
	}
	return ws
}

// fuse drops identities and folds a standalone activation, or a batch
// normalization (Affine), into a preceding convolution or dense layer
// whose own activation is linear (see fold).
func fuse(layers []Layer) []Layer {
	var out []Layer
	for _, l := range layers {
		switch l := l.(type) {
		case *Identity:
			continue
		case *Act, *Affine:
			if len(out) > 0 {
				if f := fold(out[len(out)-1], l); f != nil {
					out[len(out)-1] = f
					continue
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
		if l.Groups < 0 || l.Groups > MaxActivation {
			return fmt.Errorf("%d groups is out of range", l.Groups)
		}
	case *Pool2D:
		vals = []int{l.KernelH, l.KernelW, l.StrideH, l.StrideW, l.Pad.Top, l.Pad.Bottom, l.Pad.Left, l.Pad.Right}
	case *DepthwiseConv2D:
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

// Backend names the arithmetic and the kernels the model runs on:
// "float32 " and the float32 kernels' name ("float32 packed-avx512"),
// or what an External layer's Op says of itself where it has a
// Kernels() string method (package tflite's integer path: "int8
// avx512-vnni").
func (m *Model) Backend() string {
	for _, l := range m.layers {
		if e, ok := l.(*External); ok {
			if k, ok := e.Op.(interface{ Kernels() string }); ok {
				return k.Kernels()
			}
		}
	}
	return "float32 " + m.backend.Name()
}

// ErrInputSize is returned when an input tensor has the wrong length.
var ErrInputSize = errors.New("model: input has the wrong number of values")

// MaxBatch returns the most images one forward pass runs (WithMaxBatch).
func (m *Model) MaxBatch() int { return m.batch }

// Predict runs one image, given as InputShape().Size() float32 values in
// HWC order, and appends its outputs to dst.
func (m *Model) Predict(dst, input []float32) ([]float32, error) {
	if len(input) != m.input.Size() {
		return dst, fmt.Errorf("%w: got %d, want %v = %d", ErrInputSize, len(input), m.input, m.input.Size())
	}
	ws := m.getWorkspace()
	defer m.putWorkspace(ws)
	return append(dst, m.forwardOne(ws, m.backend, input)...), nil
}

// PredictBatch runs n images laid out one after another in inputs and
// returns their outputs, one after another, in a new slice.
func (m *Model) PredictBatch(inputs []float32, n int) ([]float32, error) {
	if n < 0 || len(inputs) != n*m.input.Size() {
		return nil, fmt.Errorf("%w: got %d values for %d images of %v", ErrInputSize, len(inputs), n, m.input)
	}
	return m.PredictBatchTo(make([]float32, 0, n*m.OutputShape().Size()), inputs, n)
}

// PredictBatchTo runs n images laid out one after another in inputs (HWC,
// InputShape().Size() values each) and appends their outputs, one after
// another, to dst. Up to MaxBatch images go through each forward pass
// together: convolutions and pooling run image by image, while dense
// layers (and element-wise ones) run once over all of them, so that a
// dense layer's weights are read from memory once per batch instead of
// once per image. A graph model, or a model with a MaxBatch of 1, runs
// its images one by one. When n is at least GOMAXPROCS (and GOMAXPROCS
// at least 2), the images (or, in a batched pass, the image-by-image
// layers) are spread over GOMAXPROCS goroutines, each running whole
// images with single-threaded kernels, instead of every layer of one
// image being split over the CPUs. It allocates nothing when dst has
// room. Each image's outputs equal Predict's to within float32 rounding:
// only the order of the sums in the dense layers' products may differ.
func (m *Model) PredictBatchTo(dst, inputs []float32, n int) ([]float32, error) {
	size := m.input.Size()
	if n < 0 || len(inputs) != n*size {
		return dst, fmt.Errorf("%w: got %d values for %d images of %v", ErrInputSize, len(inputs), n, m.input)
	}
	if n == 0 {
		return dst, nil
	}
	if m.graph != nil || m.batch == 1 {
		return m.predictEach(dst, inputs, n), nil
	}
	ws := m.getWorkspace()
	defer m.putWorkspace(ws)
	for i := 0; i < n; i += m.batch {
		k := min(m.batch, n-i)
		dst = append(dst, m.forward(ws, inputs[i*size:(i+k)*size], k)...)
	}
	return dst, nil
}

// predictEach runs n images one by one, spread over the CPUs (see spread)
// when there are enough of them, and appends their outputs to dst.
func (m *Model) predictEach(dst, inputs []float32, n int) []float32 {
	size, osz := m.input.Size(), m.OutputShape().Size()
	if w := spreadWorkers(n); w > 1 {
		dst = slices.Grow(dst, n*osz)
		out := dst[len(dst) : len(dst)+n*osz]
		m.spread(imageWork{whole: true, src: inputs, dst: out, isz: size, osz: osz, n: n}, w)
		return dst[:len(dst)+n*osz]
	}
	ws := m.getWorkspace()
	defer m.putWorkspace(ws)
	for i := range n {
		dst = append(dst, m.forwardOne(ws, m.backend, inputs[i*size:(i+1)*size])...)
	}
	return dst
}

// forwardOne runs one image through the model in ws, with the kernels
// of k, and returns its output, which stays valid until ws is used again.
func (m *Model) forwardOne(ws *workspace, k kernels.Backend, input []float32) []float32 {
	if m.graph != nil {
		return m.runGraph(ws, k, input)
	}
	return m.run(ws, k, 0, len(m.layers), input, nil)[:m.OutputShape().Size()]
}

// forward runs n <= m.batch images through the layers in ws and returns
// their outputs, which stay valid until ws is used again.
//
// One image goes through the layers in turn, in ws.a and ws.b. A batch
// goes through runs of layers: a run of layers that work on one image at
// a time (convolutions, pooling) takes each image through the whole run
// before the next one, so that the image's activations stay in cache
// from layer to layer as they do for one image, and leaves its output in
// the batch buffers; a run of batchable layers (dense, element-wise)
// runs each layer once over all the images there, so that a dense layer
// becomes one product of n rows and reads its weights once. The images
// of a run of layers that work on one image at a time are spread over the
// CPUs when there are enough of them (runEach).
func (m *Model) forward(ws *workspace, input []float32, n int) []float32 {
	if n == 1 || m.graph != nil {
		return m.forwardOne(ws, m.backend, input)
	}
	src, next := input, ws.ba
	swap := func() {
		src = next
		if &next[0] == &ws.ba[0] {
			next = ws.bb
		} else {
			next = ws.ba
		}
	}
	for i := 0; i < len(m.layers); {
		j := i
		for j < len(m.layers) && !batchable(m.layers[j], m.shapes[j]) {
			j++
		}
		if j > i {
			m.runEach(ws, i, j, src, next, n)
			swap()
			i = j
			continue
		}
		for ; j < len(m.layers) && batchable(m.layers[j], m.shapes[j]); j++ {
			// The images one after another are one tensor of n times
			// the rows.
			m.layers[j].forward(m.backend, next, src, stack(m.shapes[j], n), stack(m.shapes[j+1], n), ws.scratch)
			swap()
		}
		i = j
	}
	return src[:n*m.OutputShape().Size()]
}

// runEach takes each of n images in src through layers [i, j), which work
// on one image at a time, and leaves their outputs one after another in
// dst: spread over the CPUs when there are enough images, else one after
// another in ws.
func (m *Model) runEach(ws *workspace, i, j int, src, dst []float32, n int) {
	is, os := m.shapes[i].Size(), m.shapes[j].Size()
	if w := spreadWorkers(n); w > 1 {
		m.spread(imageWork{lo: i, hi: j, src: src[:n*is], dst: dst[:n*os], isz: is, osz: os, n: n}, w)
		return
	}
	for b := range n {
		m.run(ws, m.backend, i, j, src[b*is:(b+1)*is], dst[b*os:(b+1)*os])
	}
}

// run takes one image through layers [i, j) in ws.a and ws.b with the
// kernels of k, the last of them writing to dst if it is not nil, and
// returns the buffer holding the output.
func (m *Model) run(ws *workspace, k kernels.Backend, i, j int, src, dst []float32) []float32 {
	buf := ws.a
	for l := i; l < j; l++ {
		if l == j-1 && dst != nil {
			buf = dst
		}
		m.layers[l].forward(k, buf, src, m.shapes[l], m.shapes[l+1], ws.scratch)
		src = buf
		if &buf[0] == &ws.a[0] {
			buf = ws.b
		} else {
			buf = ws.a
		}
	}
	return src
}

// stack is the shape of n images of shape s laid out one after another,
// seen as one image n times as high.
func stack(s Shape, n int) Shape { return Shape{s.H * n, s.W, s.C} }

// batchable reports whether l, given n images of shape in stacked along
// the height, computes the same as it does on each image: true for the
// layers that work on each position (or each value) on its own.
func batchable(l Layer, in Shape) bool {
	switch l := l.(type) {
	case *Dense, *Affine, *Act, *Identity:
		return true
	case *Flatten:
		return !l.ChannelsFirst || in.H*in.W == 1 || in.C == 1
	}
	return false
}
