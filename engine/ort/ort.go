//go:build ort

package ort

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/huskyai/huskyai/engine"
)

// Available reports whether the binary was built with ONNX Runtime
// support (the "ort" build tag).
const Available = true

var (
	initMu  sync.Mutex
	initLib string // the library the environment was initialized with
)

// libName is what the dynamic linker looks for when Options.Lib is empty.
const libName = "libonnxruntime.so"

// initialize loads the library and creates the process's one ONNX Runtime
// environment, once. A failed attempt can be retried with another path.
func initialize(lib string) error {
	if lib == "" {
		lib = libName
	}
	initMu.Lock()
	defer initMu.Unlock()
	if ort.IsInitialized() {
		if lib != initLib && lib != libName {
			return fmt.Errorf("ort: ONNX Runtime is already loaded from %s; cannot also load %s", initLib, lib)
		}
		return nil
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("ort: loading ONNX Runtime from %s (set --ort-lib or %s; scripts/fetch-onnxruntime.sh fetches it): %w", lib, EnvLib, err)
	}
	initLib = lib
	return nil
}

// Version returns the version of the loaded ONNX Runtime library, or ""
// before the first Load.
func Version() string {
	if !ort.IsInitialized() {
		return ""
	}
	return ort.GetVersion()
}

// Session is an ONNX model loaded into ONNX Runtime. It takes one image in
// huskyai's HWC order, as engine.Model does, and transposes it for models
// whose input is NCHW (exported from PyTorch). Its methods are safe for
// concurrent use.
type Session struct {
	name      string
	sess      *ort.DynamicAdvancedSession
	nchw      bool
	in        engine.Shape
	inDims    ort.Shape // [1,H,W,C] or [1,C,H,W]
	outDims   ort.Shape // batch 1
	outSize   int
	transpose sync.Pool // *[]float32 of in.Size(), for NCHW inputs
	cleanup   runtime.Cleanup
}

// Load loads an ONNX model's bytes into a new ONNX Runtime session. The
// model must have one float input, an image batch of fixed height, width
// and 3 channels in NCHW or NHWC order, and one float output.
func Load(data []byte, opt Options) (*Session, error) {
	if opt.Threads < 0 {
		return nil, fmt.Errorf("ort: %d threads", opt.Threads)
	}
	if err := initialize(opt.Lib); err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("ort: not an ONNX model ONNX Runtime can load: %w", err)
	}
	if len(ins) != 1 || len(outs) != 1 {
		return nil, fmt.Errorf("ort: the model has %d inputs and %d outputs; want one image input and one output", len(ins), len(outs))
	}
	s := &Session{}
	if err := s.setInput(ins[0]); err != nil {
		return nil, err
	}
	if err := s.setOutput(outs[0]); err != nil {
		return nil, err
	}
	if md, err := ort.GetModelMetadataWithONNXData(data); err == nil {
		s.name, _ = md.GetGraphName()
		md.Destroy()
	}

	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: %w", err)
	}
	defer so.Destroy()
	threads := max(opt.Threads, 1)
	if err := so.SetIntraOpNumThreads(threads); err != nil {
		return nil, fmt.Errorf("ort: %w", err)
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("ort: %w", err)
	}
	s.sess, err = ort.NewDynamicAdvancedSessionWithONNXData(data, []string{ins[0].Name}, []string{outs[0].Name}, so)
	if err != nil {
		return nil, fmt.Errorf("ort: %w", err)
	}
	// A session dropped without Close (a model replaced by a hot reload)
	// frees its native memory when it is garbage collected.
	s.cleanup = runtime.AddCleanup(s, func(d *ort.DynamicAdvancedSession) { d.Destroy() }, s.sess)
	n := s.in.Size()
	s.transpose.New = func() any { b := make([]float32, n); return &b }
	return s, nil
}

// setInput checks the input and finds its layout, as engine/onnx does.
func (s *Session) setInput(in ort.InputOutputInfo) error {
	if in.OrtValueType != ort.ONNXTypeTensor || in.DataType != ort.TensorElementDataTypeFloat {
		return fmt.Errorf("ort: input %q is not a float tensor", in.Name)
	}
	d := in.Dimensions
	if len(d) != 4 {
		return fmt.Errorf("ort: input %q has shape %v; want an image batch of rank 4", in.Name, d)
	}
	if d[0] > 1 {
		return fmt.Errorf("ort: input %q has a fixed batch of %d; want 1 or a free batch size", in.Name, d[0])
	}
	for i, v := range d[1:] {
		if v < 1 || v > engine.MaxInputPixels {
			return fmt.Errorf("ort: input %q dimension %d is %d; want a fixed size", in.Name, i+1, v)
		}
	}
	switch {
	case d[3] == 3 && d[1] != 3:
		s.in = engine.Shape{H: int(d[1]), W: int(d[2]), C: 3}
	case d[1] == 3:
		s.nchw, s.in = true, engine.Shape{H: int(d[2]), W: int(d[3]), C: 3}
	default:
		return fmt.Errorf("ort: input %q has shape %v; want 3 colour channels in NCHW or NHWC order", in.Name, d)
	}
	if s.in.H > engine.MaxInputPixels/s.in.W {
		return fmt.Errorf("ort: input %q size %dx%d is too large", in.Name, s.in.H, s.in.W)
	}
	s.inDims = ort.NewShape(1, d[1], d[2], d[3])
	return nil
}

// setOutput checks the output: a float tensor whose only free dimension,
// if any, is the batch.
func (s *Session) setOutput(out ort.InputOutputInfo) error {
	if out.OrtValueType != ort.ONNXTypeTensor || out.DataType != ort.TensorElementDataTypeFloat {
		return fmt.Errorf("ort: output %q is not a float tensor", out.Name)
	}
	d := out.Dimensions.Clone()
	if len(d) == 0 {
		return fmt.Errorf("ort: output %q is a scalar; want a batch of outputs", out.Name)
	}
	if d[0] > 1 {
		return fmt.Errorf("ort: output %q has a fixed batch of %d; want 1 or a free batch size", out.Name, d[0])
	}
	d[0] = 1
	n := 1
	for i, v := range d[1:] {
		if v < 1 || v > engine.MaxActivation/int64(n) {
			return fmt.Errorf("ort: output %q dimension %d is %d; want a fixed size", out.Name, i+1, v)
		}
		n *= int(v)
	}
	s.outDims, s.outSize = d, n
	return nil
}

// Name returns the model's graph name.
func (s *Session) Name() string { return s.name }

// InputShape returns the shape of one input image (HWC).
func (s *Session) InputShape() engine.Shape { return s.in }

// OutputShape returns the shape of one image's output, as 1x1xN.
func (s *Session) OutputShape() engine.Shape { return engine.Shape{H: 1, W: 1, C: s.outSize} }

// NCHW reports whether the model's input is channels-first, so that
// Predict transposes the image.
func (s *Session) NCHW() bool { return s.nchw }

// Predict runs one image, given as InputShape().Size() float32 values in
// HWC order, and appends its outputs to dst.
func (s *Session) Predict(dst, x []float32) ([]float32, error) {
	if len(x) != s.in.Size() {
		return dst, fmt.Errorf("%w: got %d, want %v = %d", engine.ErrInputSize, len(x), s.in, s.in.Size())
	}
	if s.nchw {
		bp := s.transpose.Get().(*[]float32)
		defer s.transpose.Put(bp)
		hwcToCHW(*bp, x, s.in)
		x = *bp
	}
	in, err := ort.NewTensor(s.inDims, x)
	if err != nil {
		return dst, fmt.Errorf("ort: %w", err)
	}
	defer in.Destroy()
	n := len(dst)
	dst = append(dst, make([]float32, s.outSize)...)
	out, err := ort.NewTensor(s.outDims, dst[n:])
	if err != nil {
		return dst[:n], fmt.Errorf("ort: %w", err)
	}
	defer out.Destroy()
	if err := s.sess.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
		return dst[:n], fmt.Errorf("ort: %w", err)
	}
	return dst, nil
}

// PredictBatchTo runs the n images laid out one after another in x, one
// at a time, and appends their outputs to dst. (ONNX Runtime runs a
// batch in one Run only with a batch-sized input tensor, which this
// session does not keep.)
func (s *Session) PredictBatchTo(dst, x []float32, n int) ([]float32, error) {
	size := s.in.Size()
	if len(x) != n*size {
		return dst, fmt.Errorf("%w: got %d values for %d images, want %d", engine.ErrInputSize, len(x), n, n*size)
	}
	var err error
	for i := range n {
		if dst, err = s.Predict(dst, x[i*size:(i+1)*size]); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// hwcToCHW writes the HWC image src into dst in CHW order.
func hwcToCHW(dst, src []float32, s engine.Shape) {
	plane := s.H * s.W
	for p := range plane {
		px := src[p*s.C : p*s.C+s.C]
		for c, v := range px {
			dst[c*plane+p] = v
		}
	}
}

// Close frees the session now rather than when it is garbage collected.
// It must not be used afterwards.
func (s *Session) Close() error {
	if s.sess == nil {
		return errors.New("ort: session already closed")
	}
	s.cleanup.Stop()
	err := s.sess.Destroy()
	s.sess = nil
	return err
}
