package classifier

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/huskyai/huskyai/engine"
)

// Engine runs a loaded model on one image. *engine.Model, huskyai's own
// engine, is one; engine/ort's ONNX Runtime session (built with
// -tags ort) is another. Implementations must be safe for concurrent use.
type Engine interface {
	// InputShape is the shape of one input image (HWC).
	InputShape() engine.Shape
	// OutputShape is the shape of one image's output.
	OutputShape() engine.Shape
	// Predict runs one image of InputShape().Size() values in HWC order
	// and appends its outputs to dst.
	Predict(dst, x []float32) ([]float32, error)
	// PredictBatchTo runs n images laid out one after another in x and
	// appends their outputs, one after another, to dst: in one forward
	// pass where the engine can (*engine.Model), else one image after
	// another.
	PredictBatchTo(dst, x []float32, n int) ([]float32, error)
}

// EngineLoader loads a model file's bytes into an Engine. It returns the
// model's name, its format ("onnx") and the engine's name for ModelInfo.
type EngineLoader func(data []byte) (e Engine, info EngineInfo, err error)

// EngineInfo describes a model loaded by an EngineLoader.
type EngineInfo struct {
	Name, Format, Engine string
	Params               int
}

// Engine returns the engine the classifier runs on.
func (c *Classifier) Engine() Engine { return c.e }

// loadEngine is Load with opt.Engine.
func loadEngine(data []byte, opt Options) (*Classifier, error) {
	e, ei, err := opt.Engine(data)
	if err != nil {
		return nil, err
	}
	if err := opt.checkOutputs(ei.Name, e.OutputShape().Size()); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	in := e.InputShape()
	if e, err = normalize(e, opt.InputMean, opt.InputStd); err != nil {
		return nil, err
	}
	return &Classifier{e: e, opt: opt, info: ModelInfo{
		Name:   ei.Name,
		Format: ei.Format,
		Engine: ei.Engine,
		SHA256: hex.EncodeToString(sum[:]),
		Size:   len(data),
		Input:  [3]int{in.H, in.W, in.C},
		Params: ei.Params,

		PositiveClasses: classList(opt.PositiveClasses),
	}}, nil
}
