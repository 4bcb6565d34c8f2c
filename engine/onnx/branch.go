package onnx

// Operators that combine computed tensors (the branches of a graph), and
// the operators of the mobile families: grouped (depthwise) convolution
// and ReduceMean.

import (
	"fmt"
	"slices"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/internal/onnxproto"
)

// branches reports whether n combines two or more computed tensors (an
// Add of a constant is a bias instead).
func (ld *loader) branches(n *onnxproto.Node) bool {
	switch n.OpType {
	case "Add", "Mul", "Sum", "Concat":
	default:
		return false
	}
	computed := 0
	for _, in := range n.Inputs {
		if _, ok := ld.vals[in]; ok {
			computed++
		}
	}
	return computed >= 2
}

// merge translates an Add, Mul, Sum or Concat of computed tensors into the
// engine's Add, Multiply or Concatenate over their engine tensors. The
// inputs must have the same layout; element-wise operands the same shape
// or one value per channel (1x1, as a squeeze-and-excitation gate);
// Concat joins along the channel axis.
func (ld *loader) merge(n *onnxproto.Node) error {
	a := &attrs{n: n, used: map[string]bool{}}
	var ins []int
	var shapes []engine.Shape
	var lay layout
	for i, name := range n.Inputs {
		v, ok := ld.vals[name]
		if !ok {
			return fmt.Errorf("input %q is not a computed tensor; a constant operand is not supported here", name)
		}
		if v.pad != nil {
			return fmt.Errorf("input %q comes from a Pad; only Conv and AveragePool may follow one", name)
		}
		if i == 0 {
			lay = v.lay
		} else if v.lay != lay {
			return fmt.Errorf("inputs in layouts %v and %v", lay, v.lay)
		}
		ins = append(ins, v.id)
		shapes = append(shapes, v.shape)
	}
	var l engine.Layer
	switch n.OpType {
	case "Add", "Sum":
		l = &engine.Add{Name: n.Name}
	case "Mul":
		l = &engine.Multiply{Name: n.Name}
	case "Concat":
		ax := a.int("axis", 1)
		if ok := map[layout][]int64{nchw: {1, -3}, nhwc: {3, -1}, flat: {1, -1}}[lay]; !slices.Contains(ok, ax) {
			a.fail("axis", "%d of a %v tensor is not supported (only the channel axis)", ax, lay)
		}
		l = &engine.Concatenate{Name: n.Name}
	}
	if err := a.check(); err != nil {
		return err
	}
	out, err := engine.MergedShape(l, shapes)
	if err != nil {
		return err
	}
	ld.nodes = append(ld.nodes, engine.Node{Layer: l, Inputs: ins})
	ld.id, ld.direct, ld.shape, ld.lay, ld.pad, ld.chw = len(ld.nodes), true, out, lay, nil, nil
	ld.store(n.Outputs[0])
	return nil
}

// depthwise translates a Conv with one group per input channel: weights
// [C*M, 1, kh, kw] become the engine's KH x KW x C x M.
func (ld *loader) depthwise(n *onnxproto.Node, a *attrs, w []float32, dims []int64) (engine.Layer, error) {
	c := ld.shape.C
	o, kh, kw := int(dims[0]), int(dims[2]), int(dims[3])
	if dims[1] != 1 || o%c != 0 {
		return nil, fmt.Errorf("weights of shape %v for a depthwise convolution of %d channels", dims, c)
	}
	m := o / c
	k, s, pad := ld.window(a, [2]int{kh, kw})
	if a.err != nil {
		return nil, a.err
	}
	dw := make([]float32, len(w))
	for oc := range o {
		for y := range kh {
			for x := range kw {
				dw[(y*kw+x)*o+oc] = w[(oc*kh+y)*kw+x]
			}
		}
	}
	l := &engine.DepthwiseConv2D{Name: n.Name, KernelH: k[0], KernelW: k[1], StrideH: s[0], StrideW: s[1],
		Pad: ld.takePad(pad), Multiplier: m, Weights: dw}
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		var err error
		if l.Bias, _, err = ld.floats(n.Inputs[2]); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// reduceMean translates a mean over the spatial axes (global average
// pooling, as Keras and TFLite converters write it) with or without
// keepdims.
func (ld *loader) reduceMean(n *onnxproto.Node, a *attrs) (engine.Layer, error) {
	axes := a.ints("axes", nil)
	if len(n.Inputs) > 1 && n.Inputs[1] != "" {
		var err error
		if axes, err = ld.constInt(n.Inputs[1]); err != nil {
			return nil, err
		}
	}
	keep := a.int("keepdims", 1)
	if a.int("noop_with_empty_axes", 0) != 0 {
		a.fail("noop_with_empty_axes", "is not supported")
	}
	axes = slices.Clone(axes)
	for i, ax := range axes {
		if ax < 0 {
			axes[i] = ax + 4
		}
	}
	slices.Sort(axes)
	want := map[layout][]int64{nchw: {2, 3}, nhwc: {1, 2}}[ld.lay]
	if want == nil || !slices.Equal(axes, want) {
		return nil, fmt.Errorf("mean over axes %v of a %v tensor is not supported (only the spatial axes)", axes, ld.lay)
	}
	if keep == 0 {
		defer func() { ld.lay = flat }()
	}
	return &engine.GlobalAvgPool{Name: n.Name}, nil
}
