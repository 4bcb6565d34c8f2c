//go:build !ort

package ort

import "github.com/huskyai/huskyai/engine"

// Available reports whether the binary was built with ONNX Runtime
// support (the "ort" build tag).
const Available = false

// Session is an ONNX model loaded into ONNX Runtime. Without the "ort"
// build tag none can be made.
type Session struct{}

// Load fails with ErrNotBuilt: this binary was built without the "ort" tag.
func Load(data []byte, opt Options) (*Session, error) { return nil, ErrNotBuilt }

// Name returns the model's name.
func (s *Session) Name() string { return "" }

// InputShape returns the shape of one input image.
func (s *Session) InputShape() engine.Shape { return engine.Shape{} }

// OutputShape returns the shape of one image's output.
func (s *Session) OutputShape() engine.Shape { return engine.Shape{} }

// Predict fails with ErrNotBuilt.
func (s *Session) Predict(dst, x []float32) ([]float32, error) { return dst, ErrNotBuilt }

// PredictBatchTo fails with ErrNotBuilt.
func (s *Session) PredictBatchTo(dst, x []float32, n int) ([]float32, error) { return dst, ErrNotBuilt }

// Close does nothing.
func (s *Session) Close() error { return nil }

// Version returns "".
func Version() string { return "" }
