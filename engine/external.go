package engine

import "github.com/huskyai/huskyai/engine/internal/kernels"

// Op is a computation that a loader runs as one layer of its own, outside
// the engine's layer types and float32 kernels: package tflite's integer
// path runs a whole quantized network as one Op. Its methods must be safe
// for concurrent use, and Run should allocate nothing in steady state.
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
