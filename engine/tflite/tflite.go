// Package tflite loads TensorFlow Lite models (.tflite) into huskyai's
// engine: float32 models and quantized ones (uint8 or int8, per-tensor or
// per-channel scales), made of the operators of the MobileNet families.
//
// Quantized models run one of two ways (engine.WithInteger chooses):
//
//   - the integer path: 8-bit activations and weights, int32
//     accumulators and TFLite's fixed-point requantization
//     (MultiplyByQuantizedMultiplier and its rounding), so every tensor up
//     to the softmax equals TFLite's integer kernels' bit for bit; the
//     softmax runs in float32 on the dequantized logits. The whole network
//     is one engine layer (engine.External). It runs CONV_2D,
//     DEPTHWISE_CONV_2D (multiplier 1), FULLY_CONNECTED, ADD,
//     AVERAGE_POOL_2D, MEAN (int8), RESHAPE, SQUEEZE, QUANTIZE, and a
//     final SOFTMAX or DEQUANTIZE.
//   - the float32 path: weights and biases dequantized once, at load
//     (real = scale * (q - zero_point)), QUANTIZE and DEQUANTIZE become
//     identities, and the activations are not rounded to the quantization
//     grid, so the outputs differ from the integer model's by the rounding
//     the integer model does (measured in docs/engine.md).
//
// The default, engine.IntegerAuto, takes the integer path where it is the
// faster (IntegerFaster: CPUs with AVX-512 VNNI) and the model has only
// operators it runs, else the float32 path.
//
// The input: a quantized input tensor declares how pixels map to its values
// (a uint8 MobileNet's scale 1/128 and zero point 128 give [-1, 1)), and
// the loader prepends that mapping, so the model takes the engine's [0,1]
// pixels like every other huskyai model. A float32 input tensor declares
// its normalization, if at all, in the model's optional TFLite metadata
// (the NormalizationOptions among the input tensor's process units,
// metadata_schema.fbs: (v - mean) / std of [0,255] pixel values v), which
// the loader reads and prepends in the same way; without it, the input
// takes the [0,1] pixels as they are. (A quantized input's metadata, which
// states the normalization its quantization already implies, is not
// needed.)
//
// Anything else, such as another operator, a dilation, an option the
// engine does not implement or several subgraphs, is refused with an error
// naming the operator.
package tflite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/internal/qkernels"
	tfl "github.com/huskyai/huskyai/engine/internal/tflite"
)

// Format is the format name reported in engine.Model.Format.
const Format = "tflite"

// IsTFLite reports whether data starts like a TFLite file: a FlatBuffer
// with the file identifier "TFL3".
func IsTFLite(data []byte) bool {
	return len(data) >= 8 && string(data[4:8]) == "TFL3"
}

// Load decodes a .tflite file and builds the model it describes.
func Load(data []byte, opts ...engine.Option) (*engine.Model, error) {
	m, err := tfl.Decode(data)
	if err != nil {
		return nil, err
	}
	switch engine.IntegerOption(opts...) {
	case engine.IntegerOn:
		return buildIntegerModel(m, opts...)
	case engine.IntegerAuto:
		if IntegerFaster() && quantizedInput(m) {
			if im, err := buildIntegerModel(m, opts...); err == nil {
				return im, nil
			} else if !errors.Is(err, errNotInteger) {
				return nil, err
			}
		}
	}
	return build(m, opts...)
}

// IntegerFaster reports whether the integer path is the faster one on
// this CPU, which engine.IntegerAuto (the default) relies on: it is where
// the integer kernels run in assembly, AVX-512 VNNI or AVX2 (measured
// against the float32 path's AVX2 kernels: see docs/engine.md). The
// portable Go integer kernels, elsewhere and under -tags purego, are
// slower than the float32 path's assembly, so there quantized models run
// in float32.
func IntegerFaster() bool { return qkernels.Kernel() != "go" }

// IntegerKernels names the kernels of the integer path on this CPU:
// "avx512-vnni", "avx2" or "go".
func IntegerKernels() string { return qkernels.Kernel() }

// quantizedInput reports whether m's input is a uint8 or int8 tensor, as
// a quantized model's is.
func quantizedInput(m *tfl.Model) bool {
	if len(m.Subgraphs) != 1 || len(m.Subgraphs[0].Inputs) != 1 {
		return false
	}
	g := &m.Subgraphs[0]
	i := g.Inputs[0]
	return i >= 0 && int(i) < len(g.Tensors) && (g.Tensors[i].Type == tfl.Uint8 || g.Tensors[i].Type == tfl.Int8)
}

// buildIntegerModel builds the integer path of a quantized model: one
// engine layer (engine.External) that runs the whole integer program.
func buildIntegerModel(m *tfl.Model, opts ...engine.Option) (*engine.Model, error) {
	p, err := buildInteger(m)
	if err != nil {
		return nil, fmt.Errorf("tflite: %w", err)
	}
	name := m.Subgraphs[0].Name
	if name == "" {
		name = "tflite"
	}
	return engine.New(name, Format, p.in, []engine.Layer{&engine.External{Name: "integer", Op: p}}, opts...)
}

// build translates a decoded file into an engine model.
func build(m *tfl.Model, opts ...engine.Option) (*engine.Model, error) {
	if len(m.Subgraphs) != 1 {
		return nil, fmt.Errorf("tflite: %d subgraphs; huskyai runs models with one", len(m.Subgraphs))
	}
	g := &m.Subgraphs[0]
	if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
		return nil, fmt.Errorf("tflite: %d inputs and %d outputs; huskyai runs models with one of each", len(g.Inputs), len(g.Outputs))
	}
	ld := &loader{m: m, g: g, tensor: map[int32]int{}}
	if err := ld.input(); err != nil {
		return nil, err
	}
	for i, op := range g.Operators {
		if err := ld.operator(op); err != nil {
			return nil, fmt.Errorf("tflite: operator %d (%s): %w", i, ld.opName(op), err)
		}
	}
	out, ok := ld.tensor[g.Outputs[0]]
	if !ok {
		return nil, fmt.Errorf("tflite: the output tensor %d is not computed by any operator", g.Outputs[0])
	}
	if out != len(ld.nodes) {
		// The output is not the last node's: read it once more.
		ld.nodes = append(ld.nodes, engine.Node{Layer: &engine.Identity{Name: "output"}, Inputs: []int{out}})
	}
	name := g.Name
	if name == "" {
		name = "tflite"
	}
	return engine.NewGraph(name, Format, ld.in, ld.nodes, opts...)
}

// loader holds the translation state: the engine nodes so far, and which
// engine tensor holds each TFLite tensor.
type loader struct {
	m      *tfl.Model
	g      *tfl.Subgraph
	in     engine.Shape
	nodes  []engine.Node
	tensor map[int32]int // TFLite tensor index -> engine tensor (0: the model input)
}

// opName is an operator's builtin name, for errors.
func (ld *loader) opName(op tfl.Operator) string {
	if int(op.OpcodeIndex) >= len(ld.m.OperatorCodes) {
		return fmt.Sprintf("opcode index %d", op.OpcodeIndex)
	}
	code := ld.m.OperatorCodes[op.OpcodeIndex]
	if n, ok := opNames[code]; ok {
		return n
	}
	return fmt.Sprintf("builtin operator %d", code)
}

var opNames = map[int32]string{
	tfl.OpAdd: "ADD", tfl.OpAveragePool2D: "AVERAGE_POOL_2D", tfl.OpConcatenation: "CONCATENATION",
	tfl.OpConv2D: "CONV_2D", tfl.OpDepthwiseConv2D: "DEPTHWISE_CONV_2D", tfl.OpDequantize: "DEQUANTIZE",
	tfl.OpFullyConnected: "FULLY_CONNECTED", tfl.OpLogistic: "LOGISTIC", tfl.OpMaxPool2D: "MAX_POOL_2D",
	tfl.OpMul: "MUL", tfl.OpRelu: "RELU", tfl.OpRelu6: "RELU6", tfl.OpReshape: "RESHAPE",
	tfl.OpSoftmax: "SOFTMAX", tfl.OpPad: "PAD", tfl.OpMean: "MEAN", tfl.OpSqueeze: "SQUEEZE",
	tfl.OpQuantize: "QUANTIZE", tfl.OpHardSwish: "HARD_SWISH", -1: "a custom operator",
}

// input reads the input tensor ([1,H,W,3]) and, for a quantized one,
// prepends the mapping from [0,1] pixels to its real values.
func (ld *loader) input() error {
	idx := ld.g.Inputs[0]
	t, err := ld.at(idx)
	if err != nil {
		return err
	}
	s, err := imageShape(t)
	if err != nil {
		return fmt.Errorf("tflite: input %q: %w", t.Name, err)
	}
	ld.in = s
	switch t.Type {
	case tfl.Float32:
		return ld.floatInput(idx, t)
	case tfl.Uint8, tfl.Int8:
	default:
		return fmt.Errorf("tflite: input %q has element type %d; huskyai takes float32, uint8 or int8 images", t.Name, t.Type)
	}
	if len(t.Scale) != 1 || len(t.ZeroPoint) != 1 || !(t.Scale[0] > 0) {
		return fmt.Errorf("tflite: quantized input %q has no single positive scale", t.Name)
	}
	// pixel p in 0..255 is the stored value q = p (uint8) or p-128 (int8),
	// whose real value is scale*(q-zero); the engine's input is x = p/255.
	sc, zero := float64(t.Scale[0]), float64(t.ZeroPoint[0])
	if t.Type == tfl.Int8 {
		zero += 128
	}
	ld.nodes = append(ld.nodes, engine.Node{
		Layer:  &engine.Affine{Name: t.Name + "/dequantize", Scale: []float32{float32(255 * sc)}, Shift: []float32{float32(-sc * zero)}},
		Inputs: []int{0},
	})
	ld.tensor[idx] = 1
	return nil
}

// floatInput maps the engine's [0,1] pixels to what the float32 input
// tensor idx takes: the normalization its TFLite metadata gives, for
// [0,255] pixels, prepended as an Affine layer; the pixels as they are
// when there is none.
func (ld *loader) floatInput(idx int32, t *tfl.Tensor) error {
	n, ok, err := ld.m.InputNormalization(0)
	if err != nil {
		return fmt.Errorf("tflite: input %q: metadata: %w", t.Name, err)
	}
	if !ok {
		ld.tensor[idx] = 0
		return nil
	}
	scale, shift, err := n.Affine(ld.in.C)
	if err != nil {
		return fmt.Errorf("tflite: input %q: metadata: %w", t.Name, err)
	}
	ld.nodes = append(ld.nodes, engine.Node{
		Layer:  &engine.Affine{Name: t.Name + "/normalize", Scale: scale, Shift: shift},
		Inputs: []int{0},
	})
	ld.tensor[idx] = 1
	return nil
}

// at returns tensor i of the subgraph, checked.
func (ld *loader) at(i int32) (*tfl.Tensor, error) {
	if i < 0 || int(i) >= len(ld.g.Tensors) {
		return nil, fmt.Errorf("tensor index %d outside 0..%d", i, len(ld.g.Tensors)-1)
	}
	return &ld.g.Tensors[i], nil
}

// imageShape reads [1,H,W,C] (or [1,N], [N]: one vector) as an engine
// shape.
func imageShape(t *tfl.Tensor) (engine.Shape, error) {
	d := t.Shape
	for _, v := range d {
		if v < 1 || v > engine.MaxActivation {
			return engine.Shape{}, fmt.Errorf("shape %v has a dimension outside 1..%d", d, engine.MaxActivation)
		}
	}
	switch {
	case len(d) == 4 && d[0] == 1:
		return engine.Shape{H: int(d[1]), W: int(d[2]), C: int(d[3])}, nil
	case len(d) == 2 && d[0] == 1:
		return engine.Shape{H: 1, W: 1, C: int(d[1])}, nil
	case len(d) == 1:
		return engine.Shape{H: 1, W: 1, C: int(d[0])}, nil
	}
	return engine.Shape{}, fmt.Errorf("shape %v is not one image [1,H,W,C] or one vector [1,N]", d)
}

// constant returns tensor i's data as float32s (dequantized), and its
// shape; an error if the tensor has no data.
func (ld *loader) constant(i int32) ([]float32, []int32, error) {
	t, err := ld.at(i)
	if err != nil {
		return nil, nil, err
	}
	if int(t.Buffer) >= len(ld.m.Buffers) || len(ld.m.Buffers[t.Buffer]) == 0 {
		return nil, nil, fmt.Errorf("tensor %q has no constant data", t.Name)
	}
	data := ld.m.Buffers[t.Buffer]
	n := 1
	for _, d := range t.Shape {
		if d < 0 || d > 0 && n > engine.MaxActivation/int(d) {
			return nil, nil, fmt.Errorf("tensor %q: shape %v is too large", t.Name, t.Shape)
		}
		n *= int(d)
	}
	size := map[tfl.TensorType]int{tfl.Float32: 4, tfl.Int32: 4, tfl.Uint8: 1, tfl.Int8: 1}[t.Type]
	if size == 0 {
		return nil, nil, fmt.Errorf("tensor %q: element type %d is not supported for constants", t.Name, t.Type)
	}
	if len(data) != n*size {
		return nil, nil, fmt.Errorf("tensor %q: %d bytes of data for shape %v", t.Name, len(data), t.Shape)
	}
	out := make([]float32, n)
	if t.Type == tfl.Int32 && len(t.Scale) == 0 {
		// Plain integers: axes, shapes.
		for k := range out {
			out[k] = float32(int32(binary.LittleEndian.Uint32(data[4*k:])))
		}
		return out, t.Shape, nil
	}
	if t.Type == tfl.Float32 {
		for k := range out {
			out[k] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*k:]))
		}
		return out, t.Shape, nil
	}
	raw := func(k int) float64 {
		switch t.Type {
		case tfl.Int32:
			return float64(int32(binary.LittleEndian.Uint32(data[4*k:])))
		case tfl.Uint8:
			return float64(data[k])
		}
		return float64(int8(data[k]))
	}
	// Per-channel quantization: the scale of element k is that of its
	// index along QuantizedDimension.
	nq := len(t.Scale)
	if nq == 0 || len(t.ZeroPoint) != nq && len(t.ZeroPoint) != 1 {
		return nil, nil, fmt.Errorf("tensor %q: quantized data without matching scales and zero points", t.Name)
	}
	inner := 1 // elements after the quantized dimension
	if nq > 1 {
		qd := int(t.QuantizedDimension)
		if qd < 0 || qd >= len(t.Shape) || int(t.Shape[qd]) != nq {
			return nil, nil, fmt.Errorf("tensor %q: %d scales along dimension %d of shape %v", t.Name, nq, qd, t.Shape)
		}
		for _, d := range t.Shape[qd+1:] {
			inner *= int(d)
		}
	}
	for k := range out {
		c := (k / inner) % nq
		z := t.ZeroPoint[0]
		if len(t.ZeroPoint) > 1 {
			z = t.ZeroPoint[c]
		}
		out[k] = float32(float64(t.Scale[c]) * (raw(k) - float64(z)))
	}
	return out, t.Shape, nil
}
