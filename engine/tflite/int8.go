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

// errNotInteger wraps the reasons the integer path does not run a model,
// so that IntegerAuto can fall back to float32.
var errNotInteger = errors.New("not run by the integer path")

// qbuilder translates a quantized subgraph into a qprogram.
type qbuilder struct {
	m      *tfl.Model
	g      *tfl.Subgraph
	p      *qprogram
	tensor map[int32]int // TFLite tensor -> qprogram tensor
	done   bool          // the logits are read: only the output's conversions may follow
	total  int           // bytes of activations so far
}

// maxIntegerBytes bounds the activations of one inference on the integer
// path (all its tensors, before buffers are shared), so that a hostile
// file cannot make it allocate without bound; MobileNetV2's add up to 7 MB.
const maxIntegerBytes = 1 << 30

// buildInteger translates a quantized model into an integer program, or
// returns an error wrapping errNotInteger that says what it cannot run.
func buildInteger(m *tfl.Model) (*qprogram, error) {
	if len(m.Subgraphs) != 1 {
		return nil, fmt.Errorf("%w: %d subgraphs", errNotInteger, len(m.Subgraphs))
	}
	g := &m.Subgraphs[0]
	if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
		return nil, fmt.Errorf("%w: %d inputs, %d outputs", errNotInteger, len(g.Inputs), len(g.Outputs))
	}
	b := &qbuilder{m: m, g: g, p: &qprogram{logits: -1}, tensor: map[int32]int{}}
	if err := b.input(); err != nil {
		return nil, err
	}
	for i, op := range g.Operators {
		if err := b.operator(op); err != nil {
			return nil, fmt.Errorf("%w: operator %d (%s): %w", errNotInteger, i, opNameOf(m, op), err)
		}
	}
	if err := b.output(); err != nil {
		return nil, err
	}
	b.p.plan()
	return b.p, nil
}

// opNameOf is an operator's builtin name, for errors.
func opNameOf(m *tfl.Model, op tfl.Operator) string {
	ld := loader{m: m}
	return ld.opName(op)
}

// at returns tensor i of the subgraph, checked.
func (b *qbuilder) at(i int32) (*tfl.Tensor, error) {
	if i < 0 || int(i) >= len(b.g.Tensors) {
		return nil, fmt.Errorf("tensor index %d outside 0..%d", i, len(b.g.Tensors)-1)
	}
	return &b.g.Tensors[i], nil
}

// quant returns a per-tensor quantized activation's scale and zero point
// in the uint8 domain (int8 values and zero points plus 128), and whether
// it is int8.
func quant(t *tfl.Tensor) (scale float64, zero int32, signed bool, err error) {
	switch t.Type {
	case tfl.Uint8:
	case tfl.Int8:
		signed = true
	default:
		return 0, 0, false, fmt.Errorf("tensor %q has element type %d, not uint8 or int8", t.Name, t.Type)
	}
	if len(t.Scale) != 1 || len(t.ZeroPoint) != 1 || !(t.Scale[0] > 0) {
		return 0, 0, false, fmt.Errorf("tensor %q has no single positive scale and zero point", t.Name)
	}
	z := t.ZeroPoint[0]
	if signed {
		z += 128
	}
	if z < 0 || z > 255 {
		return 0, 0, false, fmt.Errorf("tensor %q: zero point %d outside its type", t.Name, t.ZeroPoint[0])
	}
	return float64(t.Scale[0]), int32(z), signed, nil
}

// newTensor adds the activation tensor t (TFLite index i) to the program.
func (b *qbuilder) newTensor(i int32) (int, error) {
	t, err := b.at(i)
	if err != nil {
		return 0, err
	}
	s, err := imageShape(t)
	if err != nil {
		return 0, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if s.H > engine.MaxActivation/s.W || s.H*s.W > engine.MaxActivation/s.C {
		return 0, fmt.Errorf("tensor %q: %v is larger than %d values", t.Name, s, engine.MaxActivation)
	}
	if b.total += s.Size(); b.total > maxIntegerBytes {
		return 0, fmt.Errorf("tensor %q: the activations take more than %d bytes", t.Name, maxIntegerBytes)
	}
	scale, zero, signed, err := quant(t)
	if err != nil {
		return 0, err
	}
	b.p.tensors = append(b.p.tensors, qtensor{name: t.Name, shape: s, scale: scale, zero: zero, signed: signed, buf: -1})
	k := len(b.p.tensors) - 1
	b.tensor[i] = k
	return k, nil
}

// source returns the program tensor that holds TFLite tensor i.
func (b *qbuilder) source(i int32) (int, error) {
	k, ok := b.tensor[i]
	if !ok {
		return 0, fmt.Errorf("reads tensor %d, which no earlier operator computes", i)
	}
	return k, nil
}

// input adds the model's input: a uint8 or int8 image, whose values are
// the pixels (minus 128 for int8), so that the engine's [0,1] pixels map
// to them exactly.
func (b *qbuilder) input() error {
	t, err := b.at(b.g.Inputs[0])
	if err != nil {
		return err
	}
	if t.Type != tfl.Uint8 && t.Type != tfl.Int8 {
		return fmt.Errorf("%w: input %q has element type %d", errNotInteger, t.Name, t.Type)
	}
	k, err := b.newTensor(b.g.Inputs[0])
	if err != nil {
		return fmt.Errorf("%w: input: %w", errNotInteger, err)
	}
	b.p.in = b.p.tensors[k].shape
	return nil
}

// output checks that the program computes the logits (the softmax's
// input) or the model's output.
func (b *qbuilder) output() error {
	if b.p.logits < 0 {
		k, ok := b.tensor[b.g.Outputs[0]]
		if !ok {
			return fmt.Errorf("%w: the output is not computed by the integer operators", errNotInteger)
		}
		b.p.logits = k
	}
	b.p.outSize = b.p.tensors[b.p.logits].shape.Size()
	return nil
}

// constBytes returns tensor i's constant data, checked against its
// shape and element size.
func (b *qbuilder) constBytes(i int32, size int) (*tfl.Tensor, []byte, error) {
	t, err := b.at(i)
	if err != nil {
		return nil, nil, err
	}
	if int(t.Buffer) >= len(b.m.Buffers) || len(b.m.Buffers[t.Buffer]) == 0 {
		return nil, nil, fmt.Errorf("tensor %q has no constant data", t.Name)
	}
	n := 1
	for _, d := range t.Shape {
		if d < 1 || n > engine.MaxActivation/int(d) {
			return nil, nil, fmt.Errorf("tensor %q: shape %v is empty or too large", t.Name, t.Shape)
		}
		n *= int(d)
	}
	data := b.m.Buffers[t.Buffer]
	if len(data) != n*size {
		return nil, nil, fmt.Errorf("tensor %q: %d bytes of data for shape %v", t.Name, len(data), t.Shape)
	}
	return t, data, nil
}

// qweights are a convolution's weights as int8 (uint8 ones minus 128),
// their zero point likewise (one for all channels) and each output
// channel's scale.
type qweights struct {
	w      []int8
	zero   int32
	scales []float64
	shape  []int32
}

// weights reads op's weight tensor (input 1); channels is the size of
// its output-channel dimension dim.
func (b *qbuilder) weights(op tfl.Operator, dim int) (*qweights, error) {
	if len(op.Inputs) < 2 {
		return nil, fmt.Errorf("no weights")
	}
	t, data, err := b.constBytes(op.Inputs[1], 1)
	if err != nil {
		return nil, err
	}
	if t.Type != tfl.Uint8 && t.Type != tfl.Int8 || dim >= len(t.Shape) {
		return nil, fmt.Errorf("weights %q of type %d, shape %v", t.Name, t.Type, t.Shape)
	}
	nc := int(t.Shape[dim])
	nq := len(t.Scale)
	if nq != 1 && (nq != nc || int(t.QuantizedDimension) != dim) || len(t.ZeroPoint) != nq {
		return nil, fmt.Errorf("weights %q: %d scales and %d zero points for %d channels along dimension %d",
			t.Name, nq, len(t.ZeroPoint), nc, t.QuantizedDimension)
	}
	q := &qweights{w: make([]int8, len(data)), shape: t.Shape, scales: make([]float64, nc)}
	off := int64(0)
	if t.Type == tfl.Uint8 {
		off = 128
	}
	for k, z := range t.ZeroPoint {
		if z != t.ZeroPoint[0] {
			return nil, fmt.Errorf("weights %q: per-channel zero points %d and %d differ", t.Name, t.ZeroPoint[0], z)
		}
		if !(t.Scale[k] > 0) {
			return nil, fmt.Errorf("weights %q: scale %g", t.Name, t.Scale[k])
		}
	}
	if z := t.ZeroPoint[0] - off; z < -128 || z > 127 {
		return nil, fmt.Errorf("weights %q: zero point %d outside its type", t.Name, t.ZeroPoint[0])
	}
	q.zero = int32(t.ZeroPoint[0] - off)
	for k, v := range data {
		q.w[k] = int8(int64(v) - off)
	}
	for c := range nc {
		q.scales[c] = float64(t.Scale[min(c, nq-1)])
	}
	return q, nil
}

// bias reads op's int32 bias (input 2), or zeros for none. Its scale
// must be the input's times the weights' (per channel), as TFLite checks.
func (b *qbuilder) bias(op tfl.Operator, in *qtensor, w *qweights) ([]int32, error) {
	n := len(w.scales)
	out := make([]int32, n)
	if len(op.Inputs) < 3 || op.Inputs[2] < 0 {
		return out, nil
	}
	t, data, err := b.constBytes(op.Inputs[2], 4)
	if err != nil {
		return nil, err
	}
	if t.Type != tfl.Int32 || len(data) != 4*n || len(t.Scale) != 1 && len(t.Scale) != n {
		return nil, fmt.Errorf("bias %q: type %d, %d bytes and %d scales for %d channels", t.Name, t.Type, len(data), len(t.Scale), n)
	}
	for c, ws := range w.scales {
		want, got := in.scale*ws, float64(t.Scale[min(c, len(t.Scale)-1)])
		if math.Abs(want-got) > 1e-6*min(want, got) {
			return nil, fmt.Errorf("bias %q: scale %g, want input scale times weight scale %g", t.Name, got, want)
		}
	}
	for k := range out {
		out[k] = int32(binary.LittleEndian.Uint32(data[4*k:]))
	}
	return out, nil
}

// actRange is the output range of a fused activation in the uint8
// domain, as TFLite's CalculateActivationRangeQuantized computes it.
func actRange(act engine.Activation, t *qtensor) (lo, hi int32, err error) {
	q := func(f float32) int32 {
		return t.zero + int32(math.Round(float64(f/float32(t.scale))))
	}
	switch act {
	case engine.Linear:
		return 0, 255, nil
	case engine.ReLU:
		return max(0, q(0)), 255, nil
	case engine.ReLU6:
		return max(0, q(0)), min(255, q(6)), nil
	}
	return 0, 0, fmt.Errorf("fused activation %v", act)
}

// requant makes the requantization of an operator's accumulators: per
// channel the real multiplier in*w/out (TFLite's effective scale).
func requant(in, out *qtensor, w *qweights, bias []int32, act engine.Activation) (*qkernels.Requant, error) {
	lo, hi, err := actRange(act, out)
	if err != nil {
		return nil, err
	}
	mult, shift := make([]int32, len(w.scales)), make([]int, len(w.scales))
	for c, s := range w.scales {
		mult[c], shift[c] = qkernels.QuantizeMultiplier(in.scale * s / out.scale)
	}
	return qkernels.NewRequant(bias, mult, shift, out.zero, lo, hi), nil
}
