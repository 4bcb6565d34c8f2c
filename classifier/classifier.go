// Package classifier answers "is this a husky?" for image bytes: it loads a
// model file of any supported format, prepares images the way the model
// expects, runs the engine and words the verdict.
package classifier

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/keras"
	"github.com/huskyai/huskyai/engine/onnx"
	"github.com/huskyai/huskyai/engine/tflite"
	"github.com/huskyai/huskyai/imageprep"
)

// ModelInfo describes the loaded model (huskyai.ModelInfo).
type ModelInfo = huskyai.ModelInfo

// Provenance says where a loaded model came from (huskyai.Provenance).
type Provenance = huskyai.Provenance

// Options configure a Classifier.
type Options struct {
	// Filter is the resampling filter used to resize images to the model's
	// input size.
	Filter imageprep.Filter
	// MaxPixels bounds the pixels of an image before it is decoded; zero
	// means imageprep.DefaultMaxPixels.
	MaxPixels int64
	// ScorePrecision is the number of decimals of the verdict's score.
	ScorePrecision int
	// Model options, such as the kernel backend.
	Model []engine.Option
	// Engine, if set, loads model files instead of the native engine
	// (engine.go).
	Engine EngineLoader
	// PositiveClasses, for a model with several outputs (an ImageNet
	// classifier), are the output indices whose probabilities add up to
	// the husky probability (ParseClasses); empty for a model with one
	// sigmoid output.
	PositiveClasses []int
	// Labels name the outputs of a multi-class model (ParseLabels), for
	// the top class of each answer; optional.
	Labels []string
	// InputMean and InputStd normalize the model's input: it gets
	// (255*x - mean) / std of each channel value x in [0,1] (normalize.go;
	// one value, or one per channel). Empty: the model takes [0,1].
	InputMean, InputStd []float32
	// CenterCrop, in (0, 1), classifies the central square of that
	// fraction of the image's shorter side instead of the whole image
	// (0.875 is how ImageNet models are usually evaluated); 0 or 1 uses
	// the whole image, squashed to the model's input as the original
	// service did.
	CenterCrop float64
}

// DefaultOptions are those of the original service: bicubic antialiased
// resize, 40 MP, two-decimal scores.
func DefaultOptions() Options {
	return Options{Filter: imageprep.Bicubic, ScorePrecision: huskyai.DefaultScorePrecision}
}

// Classifier holds a loaded model. It is safe for concurrent use.
type Classifier struct {
	m    *engine.Model // nil when an EngineLoader loaded the model
	e    Engine
	info ModelInfo
	opt  Options
}

// Model file formats, as Format tells them apart.
const (
	FormatKeras  = "keras" // Keras HDF5 (.h5) or Keras 3 archive (.keras)
	FormatONNX   = "onnx"
	FormatTFLite = "tflite"
)

// Format tells a model file's format from its bytes: FormatKeras by the
// magic bytes of HDF5 or zip, FormatONNX for a protobuf that decodes as an
// ONNX model with a graph, "" for anything else. It is the one place that
// picks the loader.
func Format(data []byte) string {
	switch {
	case isKeras(data):
		return FormatKeras
	case tflite.IsTFLite(data):
		return FormatTFLite
	case onnx.IsONNX(data):
		return FormatONNX
	}
	return ""
}

// isKeras reports whether data starts as Keras files do; Load takes
// everything else for ONNX.
func isKeras(data []byte) bool { return keras.IsH5(data) || keras.IsKeras(data) }

// Load builds a Classifier from a model file's bytes: Keras HDF5 (.h5),
// Keras 3 archive (.keras), TFLite or ONNX, told apart by their content.
func Load(data []byte, opt Options) (*Classifier, error) {
	if opt.Engine != nil {
		return loadEngine(data, opt)
	}
	var m *engine.Model
	var err error
	switch {
	case isKeras(data):
		m, err = keras.Load(data, opt.Model...)
	case tflite.IsTFLite(data):
		m, err = tflite.Load(data, opt.Model...)
	default:
		m, err = onnx.Load(data, opt.Model...)
		if err != nil {
			err = fmt.Errorf("not a Keras .h5 or .keras file or a TFLite file, and as ONNX: %w", err)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := opt.checkOutputs(m.Name, m.OutputShape().Size()); err != nil {
		return nil, err
	}
	if opt.CenterCrop < 0 || opt.CenterCrop > 1 {
		return nil, fmt.Errorf("center crop %g is outside 0..1", opt.CenterCrop)
	}
	sum := sha256.Sum256(data)
	in := m.InputShape()
	e, err := normalize(m, opt.InputMean, opt.InputStd)
	if err != nil {
		return nil, err
	}
	c := &Classifier{m: m, e: e, opt: opt, info: ModelInfo{
		Name:    m.Name,
		Format:  m.Format,
		SHA256:  hex.EncodeToString(sum[:]),
		Size:    len(data),
		Input:   [3]int{in.H, in.W, in.C},
		Params:  m.Params(),
		Kernels: m.Backend(),

		PositiveClasses: classList(opt.PositiveClasses),
	}}
	if strings.HasPrefix(m.Note, huskyai.UntrainedNote) {
		c.info.Placeholder, c.info.Warning = true, huskyai.PlaceholderWarning
	}
	return c, nil
}

// LoadDefault loads the embedded default model.
func LoadDefault(opt Options) (*Classifier, error) {
	c, err := Load(defaultmodel.Bytes(), opt)
	if err != nil {
		return nil, fmt.Errorf("embedded default model: %w", err)
	}
	c.info.Name = defaultmodel.Name
	return c, nil
}

// Info describes the loaded model.
func (c *Classifier) Info() ModelInfo { return c.info }

// WithProvenance returns a copy of c, sharing its model, whose Info
// reports p. c itself is unchanged, so a Classifier already in use can be
// described anew without a data race.
func (c *Classifier) WithProvenance(p Provenance) *Classifier {
	cc := *c
	cc.info.Provenance = p
	return &cc
}

// WithMaxPixels returns a copy of c, sharing its model, that refuses
// images whose header declares more than n pixels (0 means
// imageprep.DefaultMaxPixels). A loader can self-test a model with one
// limit and serve it with another.
func (c *Classifier) WithMaxPixels(n int64) *Classifier {
	cc := *c
	cc.opt.MaxPixels = n
	return &cc
}

// Model returns the native engine's model, or nil when Options.Engine
// loaded it; Engine returns either.
func (c *Classifier) Model() *engine.Model { return c.m }

// Result is the answer for one image (huskyai.Result).
type Result = huskyai.Result

// Timings are the durations of the stages of one classification
// (huskyai.Timings).
type Timings = huskyai.Timings

// ErrModel wraps failures of the engine itself, as opposed to bad images.
var ErrModel = errors.New("classifier: model failed")

// Classify decodes img (PNG, JPEG or GIF), resizes it to the model's input
// and returns the verdict. Errors about the image are *imageprep.Error.
// It is Prepare followed by ClassifyTensor.
func (c *Classifier) Classify(img []byte) (Result, error) {
	return c.ClassifyFallback(img, nil)
}

// ClassifyFallback is Classify with PrepareFallback's hook.
func (c *Classifier) ClassifyFallback(img []byte, full func() error) (Result, error) {
	p, err := c.PrepareFallback(img, full)
	if err != nil {
		return Result{Image: p.Image, Timings: p.Timings}, err
	}
	t := time.Now()
	r, err := c.ClassifyTensor(p.X, p.Image)
	r.Timings = p.Timings
	r.Timings.Inference = time.Since(t)
	r.PHash = p.PHash
	return r, err
}

// Prepared is an image made ready for the model by Prepare
// (huskyai.Prepared).
type Prepared = huskyai.Prepared

// Prepare decodes img (PNG, JPEG or GIF) and resizes it to the model's
// input: the first half of Classify, which InferBatch can finish for
// several images at once. On error, Image and Timings say what is known.
// Errors about the image are *imageprep.Error.
func (c *Classifier) Prepare(img []byte) (Prepared, error) {
	return c.PrepareFallback(img, nil)
}

// PrepareFallback is Prepare for a caller that admits images by their
// PrepareCost: full, when not nil, is called before a JPEG that the
// reduced decoder gave up on is decoded in full (which needs the cost's
// Max rather than its Expected), and an error from it ends Prepare and is
// returned as it is (imageprep.DecodeResized).
func (c *Classifier) PrepareFallback(img []byte, full func() error) (Prepared, error) {
	t0 := time.Now()
	// A JPEG is decoded at a reduced size no smaller than the input (or
	// its crop) where it can be, and other images are resized from their
	// decoded rows (imageprep.DecodeResized).
	rgb, info, err := imageprep.DecodeResized(img, c.prepOptions(), full)
	if err != nil {
		var p Prepared
		if ie, ok := errors.AsType[*imageprep.Error](err); ok {
			p.Image = imageprep.Info{Format: ie.Format, Width: ie.Width, Height: ie.Height}
		}
		p.Timings.Decode = time.Since(t0)
		return p, err
	}
	t1 := time.Now()
	p := Prepared{X: rgb.Tensor(nil), Image: info, PHash: rgb.DHash()}
	p.Timings = Timings{Decode: t1.Sub(t0), Preprocess: time.Since(t1)}
	return p, nil
}

// prepOptions says how Prepare makes the model's input.
func (c *Classifier) prepOptions() imageprep.Options {
	in := c.e.InputShape()
	return imageprep.Options{Width: in.W, Height: in.H, MaxPixels: c.opt.MaxPixels, Filter: c.opt.Filter, CenterCrop: c.opt.CenterCrop}
}

// PrepareCost estimates, from img's header alone, the most memory
// Prepare(img) allocates: imageprep.DecodeCost for the model's input, and
// the tensor; Expected where the reduced JPEG decoder takes the image, Max
// if it gives up (PrepareFallback). Its errors are the header errors
// Prepare would return (*imageprep.Error), with the image described as far
// as the header goes.
func (c *Classifier) PrepareCost(img []byte) (imageprep.Cost, imageprep.Info, error) {
	cost, info, err := imageprep.DecodeCost(img, c.prepOptions())
	if err != nil {
		return cost, info, err
	}
	tensor := 4 * int64(c.e.InputShape().Size())
	cost.Expected += tensor
	cost.Max += tensor
	return cost, info, nil
}

// batchInputs holds the buffers InferBatch lays a batch's tensors out in.
var batchInputs sync.Pool

// InferBatch finishes the classification of prepared images, in one run
// of the engine (Engine.PredictBatchTo),
// and returns their results in order: each with its own verdict, image
// info, hash and timings, Timings.Inference being the whole run's time and
// Timings.Batch its number of images. An error fails the whole batch.
func (c *Classifier) InferBatch(ps []Prepared) ([]Result, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	t := time.Now()
	size, outSize := c.e.InputShape().Size(), c.e.OutputShape().Size()
	var out []float32
	var err error
	if len(ps) > 1 {
		buf, _ := batchInputs.Get().(*[]float32)
		if buf == nil {
			buf = new([]float32)
		}
		defer batchInputs.Put(buf)
		x := (*buf)[:0]
		for _, p := range ps {
			if len(p.X) != size {
				return nil, fmt.Errorf("%w: input has %d values, want %d", ErrModel, len(p.X), size)
			}
			x = append(x, p.X...)
		}
		*buf = x
		out, err = c.e.PredictBatchTo(make([]float32, 0, len(ps)*outSize), x, len(ps))
	} else {
		out = make([]float32, 0, len(ps)*outSize)
		for _, p := range ps {
			if out, err = c.e.Predict(out, p.X); err != nil {
				break
			}
		}
	}
	if err == nil && len(out) != len(ps)*outSize {
		err = fmt.Errorf("engine returned %d outputs for %d images of %d", len(out), len(ps), outSize)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrModel, err)
	}
	d := time.Since(t)
	rs := make([]Result, len(ps))
	for i, p := range ps {
		rs[i] = Result{Verdict: c.verdict(out[i*outSize : (i+1)*outSize]), Image: p.Image, PHash: p.PHash, Timings: p.Timings}
		rs[i].Timings.Inference = d
		rs[i].Timings.Batch = len(ps)
	}
	return rs, nil
}

// ClassifyTensor runs an already prepared input tensor (HWC, [0,1]).
func (c *Classifier) ClassifyTensor(x []float32, info imageprep.Info) (Result, error) {
	var buf [1]float32
	dst := buf[:0]
	if n := c.e.OutputShape().Size(); n > 1 {
		dst = make([]float32, 0, n)
	}
	out, err := c.e.Predict(dst, x)
	if err != nil {
		return Result{Image: info}, fmt.Errorf("%w: %v", ErrModel, err)
	}
	return Result{Verdict: c.verdict(out), Image: info}, nil
}
