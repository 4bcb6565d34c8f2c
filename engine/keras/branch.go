package keras

// The layers of graphs and of the mobile families: merges (Add, Multiply,
// Concatenate), ZeroPadding2D, DepthwiseConv2D, SeparableConv2D, Reshape.

import (
	"encoding/json"
	"fmt"

	"github.com/huskyai/huskyai/engine"
)

// merging are the layer classes that read several tensors.
var merging = map[string]bool{"Add": true, "Multiply": true, "Concatenate": true}

// merge translates an Add, Multiply or Concatenate of the outputs of
// gl.inputs: element-wise operands of one shape, or one value per channel
// (a squeeze-and-excitation gate, 1x1xC); concatenation along the
// channels.
func (b *builder) merge(gl graphLayer, name string) error {
	o, err := newOptions(gl.ClassName, name, gl.Config)
	if err != nil {
		return err
	}
	o.dtype()
	var ins []int
	var shapes []engine.Shape
	rank := 0
	for _, src := range gl.inputs {
		v, ok := b.vals[src]
		if !ok {
			return fmt.Errorf("%s: reads layer %q before it is computed", o.layer, src)
		}
		if v.pad != nil {
			return fmt.Errorf("%s: reads a ZeroPadding2D; only Conv2D and DepthwiseConv2D may", o.layer)
		}
		if rank != 0 && v.rank != rank {
			return fmt.Errorf("%s: inputs of rank %d and %d", o.layer, rank, v.rank)
		}
		rank = v.rank
		ins = append(ins, v.id)
		shapes = append(shapes, v.shape)
	}
	var l engine.Layer
	switch gl.ClassName {
	case "Add":
		l = &engine.Add{Name: name}
	case "Multiply":
		l = &engine.Multiply{Name: name}
	case "Concatenate":
		if ax := o.number("axis", -1); ax != -1 && ax != float64(rank-1) {
			o.fail("axis", "%v is not supported (only the channel axis, -1)", ax)
		}
		l = &engine.Concatenate{Name: name}
	}
	if err := o.check(); err != nil {
		return err
	}
	out, err := engine.MergedShape(l, shapes)
	if err != nil {
		return fmt.Errorf("%s: %w", o.layer, err)
	}
	b.nodes = append(b.nodes, engine.Node{Layer: l, Inputs: ins})
	b.id, b.shape, b.rank, b.pad = len(b.nodes), out, rank, nil
	b.store(name)
	return nil
}

// zeroPadding records a ZeroPadding2D's padding ((top, bottom), (left,
// right), or one number or pair for both sides) for the convolution that
// reads it.
func (b *builder) zeroPadding(name string, o *options) error {
	b.need4D(o)
	o.want("data_format", `"channels_last"`)
	var p engine.Padding
	if raw, ok := o.raw("padding"); ok {
		var n int
		var pair [2]int
		var pairs [2][2]int
		switch {
		case json.Unmarshal(raw, &n) == nil:
			p = engine.Padding{Top: n, Bottom: n, Left: n, Right: n}
		case json.Unmarshal(raw, &pairs) == nil:
			p = engine.Padding{Top: pairs[0][0], Bottom: pairs[0][1], Left: pairs[1][0], Right: pairs[1][1]}
		case json.Unmarshal(raw, &pair) == nil:
			p = engine.Padding{Top: pair[0], Bottom: pair[0], Left: pair[1], Right: pair[1]}
		default:
			o.fail("padding", "%s is not a padding", truncate(raw))
		}
	} else {
		p = engine.Padding{Top: 1, Bottom: 1, Left: 1, Right: 1}
	}
	for _, v := range []int{p.Top, p.Bottom, p.Left, p.Right} {
		if v < 0 || v > engine.MaxWindow {
			o.fail("padding", "%d is outside 0..%d", v, engine.MaxWindow)
		}
	}
	if err := o.check(); err != nil {
		return err
	}
	if b.pad != nil {
		return fmt.Errorf("%s: two ZeroPadding2D in a row are not supported", o.layer)
	}
	b.pad = &p
	b.store(name)
	return nil
}

// takePad adds the padding of a ZeroPadding2D before the layer to p.
func (b *builder) takePad(p engine.Padding) engine.Padding {
	if b.pad != nil {
		p, b.pad = p.Plus(*b.pad), nil
	}
	return p
}

// dwOptions are the options DepthwiseConv2D and SeparableConv2D share.
type dwOptions struct {
	k, s    [2]int
	m       int // depth multiplier
	pad     engine.Padding
	act     engine.Activation
	useBias bool
}

// depthwiseOptions reads a depthwise convolution's options (a
// SeparableConv2D's depthwise part) and checks their ranges.
func (b *builder) depthwiseOptions(o *options) (dwOptions, error) {
	b.need4D(o)
	var d dwOptions
	d.k = o.pair("kernel_size", [2]int{0, 0})
	d.s = o.pair("strides", [2]int{1, 1})
	d.m = int(o.number("depth_multiplier", 1))
	d.pad = b.padding(o, d.k, d.s)
	o.want("dilation_rate", "[1,1]", "1")
	o.want("data_format", `"channels_last"`)
	d.act = b.activation(o)
	d.useBias = o.boolean("use_bias", true)
	if o.err != nil {
		return d, o.err
	}
	if d.m < 1 || d.m > engine.MaxWindow || d.k[0] < 1 || d.k[1] < 1 {
		return d, fmt.Errorf("%s: kernel %v or depth multiplier %d is out of range", o.layer, d.k, d.m)
	}
	return d, nil
}

// depthwise translates DepthwiseConv2D (depthwise_kernel KH x KW x C x M).
func (b *builder) depthwise(name string, o *options) (engine.Layer, error) {
	d, err := b.depthwiseOptions(o)
	if err != nil {
		return nil, err
	}
	c := b.shape.C
	w, err := b.fetch(o, name, d.useBias, map[string][]int{
		"depthwise_kernel": {d.k[0], d.k[1], c, d.m},
		"bias":             {c * d.m},
	})
	if err != nil {
		return nil, err
	}
	return &engine.DepthwiseConv2D{Name: name, KernelH: d.k[0], KernelW: d.k[1], StrideH: d.s[0], StrideW: d.s[1],
		Pad: b.takePad(d.pad), Multiplier: d.m, Weights: w["depthwise_kernel"].data, Bias: w["bias"].data, Activation: d.act}, nil
}

// separable translates SeparableConv2D into its two layers: a depthwise
// convolution without bias, then a 1x1 convolution with the bias and the
// activation.
func (b *builder) separable(name string, o *options) error {
	filters := int(o.number("filters", 0))
	d, err := b.depthwiseOptions(o)
	if err != nil {
		return err
	}
	if filters < 1 || filters > engine.MaxActivation {
		return fmt.Errorf("%s: filters %d is out of range", o.layer, filters)
	}
	c := b.shape.C
	w, err := b.fetch(o, name, d.useBias, map[string][]int{
		"depthwise_kernel": {d.k[0], d.k[1], c, d.m},
		"pointwise_kernel": {1, 1, c * d.m, filters},
		"bias":             {filters},
	})
	if err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	dw := &engine.DepthwiseConv2D{Name: name + "/depthwise", KernelH: d.k[0], KernelW: d.k[1], StrideH: d.s[0], StrideW: d.s[1],
		Pad: b.takePad(d.pad), Multiplier: d.m, Weights: w["depthwise_kernel"].data}
	if err := b.emit(o, dw); err != nil {
		return err
	}
	pw := &engine.Conv2D{Name: name + "/pointwise", KernelH: 1, KernelW: 1, StrideH: 1, StrideW: 1, Filters: filters,
		Weights: w["pointwise_kernel"].data, Bias: w["bias"].data, Activation: d.act}
	if err := b.emit(o, pw); err != nil {
		return err
	}
	b.store(name)
	return nil
}

// reshape translates a Reshape to one value per channel, (1, 1, C) or
// (C,): a copy in the engine's channels-last storage.
func (b *builder) reshape(name string, o *options) engine.Layer {
	var dims []int
	if raw, ok := o.raw("target_shape"); !ok || json.Unmarshal(raw, &dims) != nil {
		o.fail("target_shape", "is missing or not a list of sizes")
		return nil
	}
	n := b.shape.Size()
	switch {
	case len(dims) == 3 && dims[0] == 1 && dims[1] == 1 && (dims[2] == n || dims[2] == -1):
		b.rank = 4
		return &engine.Flatten{Name: name} // 1x1xC is stored as a vector is
	case len(dims) == 1 && (dims[0] == n || dims[0] == -1):
		b.rank = 2
		return &engine.Flatten{Name: name}
	}
	o.fail("target_shape", "%v of a %v tensor is not supported (only (1, 1, C) or (C,))", dims, b.shape)
	return nil
}
