package tflite

import (
	"fmt"

	"github.com/huskyai/huskyai/engine"
	tfl "github.com/huskyai/huskyai/engine/internal/tflite"
)

// operator translates one TFLite operator into engine nodes.
func (ld *loader) operator(op tfl.Operator) error {
	if int(op.OpcodeIndex) >= len(ld.m.OperatorCodes) {
		return fmt.Errorf("opcode index %d outside 0..%d", op.OpcodeIndex, len(ld.m.OperatorCodes)-1)
	}
	if len(op.Outputs) != 1 {
		return fmt.Errorf("%d outputs; the operators huskyai runs have one", len(op.Outputs))
	}
	code := ld.m.OperatorCodes[op.OpcodeIndex]
	switch code {
	case tfl.OpConv2D:
		return ld.conv(op)
	case tfl.OpDepthwiseConv2D:
		return ld.depthwise(op)
	case tfl.OpFullyConnected:
		return ld.fullyConnected(op)
	case tfl.OpAveragePool2D, tfl.OpMaxPool2D:
		return ld.pool(op, code == tfl.OpMaxPool2D)
	case tfl.OpAdd, tfl.OpMul:
		return ld.elementwise(op, code == tfl.OpMul)
	case tfl.OpConcatenation:
		return ld.concat(op)
	case tfl.OpMean:
		return ld.mean(op)
	case tfl.OpReshape, tfl.OpSqueeze:
		return ld.reshape(op)
	case tfl.OpSoftmax:
		return ld.softmax(op)
	case tfl.OpRelu, tfl.OpRelu6, tfl.OpLogistic, tfl.OpHardSwish:
		act := map[int32]engine.Activation{tfl.OpRelu: engine.ReLU, tfl.OpRelu6: engine.ReLU6, tfl.OpLogistic: engine.Sigmoid,
			tfl.OpHardSwish: engine.HardSwish}[code]
		return ld.unary(op, &engine.Act{Name: ld.outName(op), Activation: act})
	case tfl.OpQuantize, tfl.OpDequantize:
		// The engine computes in float32 throughout.
		return ld.unary(op, &engine.Identity{Name: ld.outName(op)})
	}
	return fmt.Errorf("operator not supported by huskyai's engine")
}

// outName is the name of op's output tensor, which names the engine layer.
func (ld *loader) outName(op tfl.Operator) string {
	if t, err := ld.at(op.Outputs[0]); err == nil {
		return t.Name
	}
	return ""
}

// source returns the engine tensor that holds TFLite tensor i, which an
// earlier operator (or the input) must have computed.
func (ld *loader) source(i int32) (int, error) {
	t, ok := ld.tensor[i]
	if !ok {
		name := ""
		if x, err := ld.at(i); err == nil {
			name = x.Name
		}
		return 0, fmt.Errorf("reads tensor %d %q, which no earlier operator computes (constant inputs are only supported as weights)", i, name)
	}
	return t, nil
}

// emit appends a node that computes op's output from the given engine
// tensors.
func (ld *loader) emit(op tfl.Operator, l engine.Layer, inputs ...int) {
	ld.nodes = append(ld.nodes, engine.Node{Layer: l, Inputs: inputs})
	ld.tensor[op.Outputs[0]] = len(ld.nodes)
}

// unary emits l over op's first input.
func (ld *loader) unary(op tfl.Operator, l engine.Layer) error {
	if len(op.Inputs) < 1 {
		return fmt.Errorf("no input")
	}
	src, err := ld.source(op.Inputs[0])
	if err != nil {
		return err
	}
	ld.emit(op, l, src)
	return nil
}

// inShape is the declared shape of op's first input as one image.
func (ld *loader) inShape(op tfl.Operator) (engine.Shape, error) {
	if len(op.Inputs) < 1 {
		return engine.Shape{}, fmt.Errorf("no input")
	}
	t, err := ld.at(op.Inputs[0])
	if err != nil {
		return engine.Shape{}, err
	}
	return imageShape(t)
}

// fused maps a fused_activation_function to the engine's.
func fused(v int8) (engine.Activation, error) {
	switch v {
	case 0:
		return engine.Linear, nil
	case 1:
		return engine.ReLU, nil
	case 3:
		return engine.ReLU6, nil
	case 4:
		return engine.Tanh, nil
	}
	return 0, fmt.Errorf("fused activation %d is not supported (NONE, RELU, RELU6, TANH are)", v)
}

// window is the geometry of a convolution or pooling: its padding mode
// (options field 0: SAME 0, VALID 1) and strides (fields 1, 2: w, h),
// resolved against the input shape as TensorFlow does: SAME gives
// ceil(in/stride) outputs, any odd padding cell at the bottom and right.
func window(o tfl.Table, in engine.Shape, kh, kw int) (sh, sw int, pad engine.Padding, err error) {
	sw, sh = int(o.Int(1, 0)), int(o.Int(2, 0))
	if sw < 1 || sh < 1 || sw > engine.MaxWindow || sh > engine.MaxWindow {
		return 0, 0, pad, fmt.Errorf("strides %dx%d are outside 1..%d", sh, sw, engine.MaxWindow)
	}
	switch o.Int8(0, 0) {
	case 0:
		pad.Top, pad.Bottom = engine.SamePadding(in.H, kh, sh)
		pad.Left, pad.Right = engine.SamePadding(in.W, kw, sw)
	case 1:
	default:
		return 0, 0, pad, fmt.Errorf("padding mode %d is not SAME or VALID", o.Int8(0, 0))
	}
	return sh, sw, pad, nil
}

// convOptions reads the options CONV_2D and DEPTHWISE_CONV_2D share: the
// window (fields 0-2, see window), the fused activation (field act) and
// the dilations (fields dil, dil+1: w, h), which must be 1.
func convOptions(o tfl.Table, in engine.Shape, kh, kw, act, dil int) (sh, sw int, pad engine.Padding, a engine.Activation, err error) {
	if o.Int(dil, 1) != 1 || o.Int(dil+1, 1) != 1 {
		return 0, 0, pad, 0, fmt.Errorf("dilation %dx%d is not supported", o.Int(dil+1, 1), o.Int(dil, 1))
	}
	if a, err = fused(o.Int8(act, 0)); err != nil {
		return 0, 0, pad, 0, err
	}
	sh, sw, pad, err = window(o, in, kh, kw)
	return sh, sw, pad, a, err
}

// weights returns op's weight tensor (input 1) and its bias (input 2, if
// present) dequantized.
func (ld *loader) weights(op tfl.Operator) (w []float32, shape []int32, bias []float32, err error) {
	if len(op.Inputs) < 2 {
		return nil, nil, nil, fmt.Errorf("no weights")
	}
	if w, shape, err = ld.constant(op.Inputs[1]); err != nil {
		return nil, nil, nil, err
	}
	if len(op.Inputs) > 2 && op.Inputs[2] >= 0 {
		if bias, _, err = ld.constant(op.Inputs[2]); err != nil {
			return nil, nil, nil, err
		}
	}
	return w, shape, bias, nil
}

// conv: CONV_2D, weights [O,KH,KW,I] reordered to the engine's KH,KW,I,O;
// options padding 0, stride_w 1, stride_h 2, activation 3, dilation_w 4,
// dilation_h 5.
func (ld *loader) conv(op tfl.Operator) error {
	in, err := ld.inShape(op)
	if err != nil {
		return err
	}
	w, shape, bias, err := ld.weights(op)
	if err != nil {
		return err
	}
	if len(shape) != 4 || int(shape[3]) != in.C {
		return fmt.Errorf("weights of shape %v for an input of %d channels", shape, in.C)
	}
	oc, kh, kw, ic := int(shape[0]), int(shape[1]), int(shape[2]), int(shape[3])
	sh, sw, pad, act, err := convOptions(op.Options, in, kh, kw, 3, 4)
	if err != nil {
		return err
	}
	hwio := make([]float32, len(w))
	for f := range oc {
		for k := range kh * kw * ic {
			hwio[k*oc+f] = w[f*kh*kw*ic+k]
		}
	}
	return ld.unary(op, &engine.Conv2D{
		Name: ld.outName(op), KernelH: kh, KernelW: kw, StrideH: sh, StrideW: sw, Pad: pad,
		Filters: oc, Weights: hwio, Bias: bias, Activation: act,
	})
}

// depthwise: DEPTHWISE_CONV_2D, weights [1,KH,KW,C*M] (already the engine's
// order); options padding 0, stride_w 1, stride_h 2, depth_multiplier 3,
// activation 4, dilation_w 5, dilation_h 6.
func (ld *loader) depthwise(op tfl.Operator) error {
	in, err := ld.inShape(op)
	if err != nil {
		return err
	}
	w, shape, bias, err := ld.weights(op)
	if err != nil {
		return err
	}
	if len(shape) != 4 || shape[0] != 1 || in.C < 1 || int(shape[3])%in.C != 0 {
		return fmt.Errorf("weights of shape %v for an input of %d channels", shape, in.C)
	}
	kh, kw := int(shape[1]), int(shape[2])
	sh, sw, pad, act, err := convOptions(op.Options, in, kh, kw, 4, 5)
	if err != nil {
		return err
	}
	return ld.unary(op, &engine.DepthwiseConv2D{
		Name: ld.outName(op), KernelH: kh, KernelW: kw, StrideH: sh, StrideW: sw, Pad: pad,
		Multiplier: int(shape[3]) / in.C, Weights: w, Bias: bias, Activation: act,
	})
}

// fullyConnected: FULLY_CONNECTED, weights [O,I] transposed to the
// engine's I,O; an image input is flattened first (TFLite flattens it);
// options activation 0, weights_format 1 (DEFAULT only).
func (ld *loader) fullyConnected(op tfl.Operator) error {
	in, err := ld.inShape(op)
	if err != nil {
		return err
	}
	w, shape, bias, err := ld.weights(op)
	if err != nil {
		return err
	}
	if len(shape) != 2 || int(shape[1]) != in.Size() {
		return fmt.Errorf("weights of shape %v for an input of %d values", shape, in.Size())
	}
	if op.Options.Int8(1, 0) != 0 {
		return fmt.Errorf("weights format %d is not supported", op.Options.Int8(1, 0))
	}
	act, err := fused(op.Options.Int8(0, 0))
	if err != nil {
		return err
	}
	src, err := ld.source(op.Inputs[0])
	if err != nil {
		return err
	}
	if in.H*in.W != 1 {
		ld.nodes = append(ld.nodes, engine.Node{Layer: &engine.Flatten{Name: ld.outName(op) + "/flatten"}, Inputs: []int{src}})
		src = len(ld.nodes)
	}
	n, k := int(shape[0]), int(shape[1])
	io := make([]float32, len(w))
	for u := range n {
		for i := range k {
			io[i*n+u] = w[u*k+i]
		}
	}
	ld.emit(op, &engine.Dense{Name: ld.outName(op), Units: n, Weights: io, Bias: bias, Activation: act}, src)
	return nil
}

// pool: AVERAGE_POOL_2D and MAX_POOL_2D; options padding 0, stride_w 1,
// stride_h 2, filter_width 3, filter_height 4, activation 5. TFLite's SAME
// average excludes the padding, as Keras does.
func (ld *loader) pool(op tfl.Operator, isMax bool) error {
	in, err := ld.inShape(op)
	if err != nil {
		return err
	}
	o := op.Options
	kw, kh := int(o.Int(3, 0)), int(o.Int(4, 0))
	if kw < 1 || kh < 1 || kw > engine.MaxWindow || kh > engine.MaxWindow {
		return fmt.Errorf("filter %dx%d is outside 1..%d", kh, kw, engine.MaxWindow)
	}
	sh, sw, pad, err := window(o, in, kh, kw)
	if err != nil {
		return err
	}
	if act, err := fused(o.Int8(5, 0)); err != nil || act != engine.Linear {
		return fmt.Errorf("a fused activation on pooling is not supported")
	}
	return ld.unary(op, &engine.Pool2D{Name: ld.outName(op), Max: isMax, KernelH: kh, KernelW: kw, StrideH: sh, StrideW: sw, Pad: pad})
}

// elementwise: ADD and MUL of two computed tensors; options activation 0.
func (ld *loader) elementwise(op tfl.Operator, mul bool) error {
	if len(op.Inputs) != 2 {
		return fmt.Errorf("%d inputs, want 2", len(op.Inputs))
	}
	var ins []int
	for _, i := range op.Inputs {
		src, err := ld.source(i)
		if err != nil {
			return err
		}
		ins = append(ins, src)
	}
	act, err := fused(op.Options.Int8(0, 0))
	if err != nil {
		return err
	}
	name := ld.outName(op)
	if mul {
		if act != engine.Linear {
			return fmt.Errorf("a fused activation on MUL is not supported")
		}
		ld.emit(op, &engine.Multiply{Name: name}, ins...)
		return nil
	}
	ld.emit(op, &engine.Add{Name: name, Activation: act}, ins...)
	return nil
}

// concat: CONCATENATION along the channels; options axis 0, activation 1.
func (ld *loader) concat(op tfl.Operator) error {
	if ax := op.Options.Int(0, 0); ax != 3 && ax != -1 {
		return fmt.Errorf("concatenation along axis %d; only the channel axis is supported", ax)
	}
	if act, err := fused(op.Options.Int8(1, 0)); err != nil || act != engine.Linear {
		return fmt.Errorf("a fused activation on CONCATENATION is not supported")
	}
	var ins []int
	for _, i := range op.Inputs {
		src, err := ld.source(i)
		if err != nil {
			return err
		}
		ins = append(ins, src)
	}
	if len(ins) == 0 {
		return fmt.Errorf("no inputs")
	}
	ld.emit(op, &engine.Concatenate{Name: ld.outName(op)}, ins...)
	return nil
}

// mean: MEAN over the spatial axes [1,2] (global average pooling, with or
// without keep_dims).
func (ld *loader) mean(op tfl.Operator) error {
	if len(op.Inputs) != 2 {
		return fmt.Errorf("%d inputs, want 2", len(op.Inputs))
	}
	t, err := ld.at(op.Inputs[1])
	if err != nil {
		return err
	}
	if t.Type != tfl.Int32 {
		return fmt.Errorf("axes of element type %d", t.Type)
	}
	axes, _, err := ld.constant(op.Inputs[1])
	if err != nil {
		return err
	}
	if len(axes) != 2 || axes[0] != 1 || axes[1] != 2 {
		return fmt.Errorf("mean over axes %v; only the spatial axes [1 2] are supported", axes)
	}
	return ld.unary(op, &engine.GlobalAvgPool{Name: ld.outName(op)})
}

// reshape: RESHAPE or SQUEEZE to one vector of the same values, which in
// the engine's channels-last storage is a plain copy.
func (ld *loader) reshape(op tfl.Operator) error {
	in, err := ld.inShape(op)
	if err != nil {
		return err
	}
	out, err := ld.at(op.Outputs[0])
	if err != nil {
		return err
	}
	s, err := imageShape(out)
	if err != nil || s.H*s.W != 1 || s.C != in.Size() {
		return fmt.Errorf("reshape of %v to %v; only a reshape to one vector is supported", in, out.Shape)
	}
	return ld.unary(op, &engine.Flatten{Name: ld.outName(op)})
}

// softmax: SOFTMAX over the channels with beta (options field 0); beta 1
// is the plain softmax, another beta scales the logits first.
func (ld *loader) softmax(op tfl.Operator) error {
	beta := op.Options.Float(0, 0)
	if len(op.Inputs) != 1 {
		return fmt.Errorf("%d inputs, want 1", len(op.Inputs))
	}
	src, err := ld.source(op.Inputs[0])
	if err != nil {
		return err
	}
	if beta != 1 {
		ld.nodes = append(ld.nodes, engine.Node{Layer: &engine.Affine{Name: ld.outName(op) + "/beta", Scale: []float32{beta}, Shift: []float32{0}}, Inputs: []int{src}})
		src = len(ld.nodes)
	}
	ld.emit(op, &engine.Act{Name: ld.outName(op), Activation: engine.Softmax}, src)
	return nil
}
