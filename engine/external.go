package engine

import "github.com/huskyai/huskyai/engine/internal/kernels"

// Op is a computation that a loader runs as one layer of its own, outside
// the engine's layer types and float32 kernels: package tflite's integer
// path runs a whole quantized network as one Op. Its methods must be safe
// for concurrent use, and Run should allocate nothing in steady state. An
// Op may also name its arithmetic and kernels with a Kernels() string
// method, which Model.Backend reports.
type Op interface {
	// OutShape checks the op against its input shape and returns its
	// output shape.
	OutShape(in Shape) (Shape, error)
	// Run computes dst (OutShape's size) from src (the input's size).
	Run(dst, src []float32)
	// Params returns the number of weights and multiply-adds.
	Params() (weights int, macs int64)
}

// External is a layer whose work an Op does.
type External struct {
	Name string
	Op   Op
}

// LayerName returns the layer's name.
func (l *External) LayerName() string { return l.Name }

func (l *External) outShape(in Shape) (Shape, error) { return l.Op.OutShape(in) }

func (l *External) scratch(kernels.Backend, Shape) int { return 0 }

func (l *External) forward(_ kernels.Backend, dst, src []float32, in, out Shape, _ []float32) {
	l.Op.Run(dst[:out.Size()], src[:in.Size()])
}

func (l *External) params(Shape, Shape) (int, int64) { return l.Op.Params() }

// Integer says how a loader runs a quantized model (a TFLite file with
// uint8 or int8 tensors): IntegerAuto lets the loader choose, IntegerOff
// computes in float32 with dequantized weights, IntegerOn runs the
// integer kernels and fails to load what they do not run.
type Integer uint8

// The choices of WithInteger.
const (
	IntegerAuto Integer = iota
	IntegerOff
	IntegerOn
)

// WithInteger chooses how a quantized model runs (see Integer); models
// that are not quantized ignore it.
func WithInteger(i Integer) Option { return func(m *Model) { m.integer = i } }

// IntegerOption returns the choice that opts make with WithInteger
// (IntegerAuto if none), for loaders.
func IntegerOption(opts ...Option) Integer {
	var m Model
	for _, o := range opts {
		o(&m)
	}
	return m.integer
}
