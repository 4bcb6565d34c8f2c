package onnx

// The translation of each supported operator into engine layers (or into
// how the loader reads what follows), called by loader.op.

import (
	"fmt"
	"math"
	"slices"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/internal/onnxproto"
)

// padOp records the zero padding of a Pad node over the spatial axes, to
// be merged into the next operator.
func (ld *loader) padOp(n *onnxproto.Node, a *attrs) error {
	if err := ld.need(nchw); err != nil {
		return err
	}
	if m := a.str("mode", "constant"); m != "constant" {
		a.fail("mode", "%q is not supported (only constant)", m)
	}
	pads := a.ints("pads", nil)
	value := a.float("value", 0)
	if len(n.Inputs) > 1 && n.Inputs[1] != "" {
		var err error
		if pads, err = ld.constInt(n.Inputs[1]); err != nil {
			return err
		}
	}
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		v, _, err := ld.floats(n.Inputs[2])
		if err != nil || len(v) > 1 {
			return fmt.Errorf("constant_value is not a scalar constant")
		}
		if len(v) == 1 {
			value = v[0]
		}
	}
	if len(n.Inputs) > 3 && n.Inputs[3] != "" {
		return fmt.Errorf("the axes input is not supported")
	}
	if value != 0 {
		return fmt.Errorf("padding with %g is not supported (only 0)", value)
	}
	// [N, C, H, W] begins, then ends; only H and W may be padded.
	if len(pads) != 8 || pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0 ||
		slices.ContainsFunc(pads, func(v int64) bool { return v < 0 || v > engine.MaxWindow }) {
		return fmt.Errorf("pads %v are not supported (only non-negative spatial padding)", pads)
	}
	if slices.Max(pads) > 0 {
		ld.pad = &engine.Padding{Top: int(pads[2]), Left: int(pads[3]), Bottom: int(pads[6]), Right: int(pads[7])}
	}
	return nil
}

// takePad adds a pending Pad node's padding to p and clears it.
func (ld *loader) takePad(p engine.Padding) engine.Padding {
	if ld.pad != nil {
		p, ld.pad = p.Plus(*ld.pad), nil
	}
	return p
}

func (ld *loader) transpose(a *attrs) error {
	perm := a.ints("perm", nil)
	switch {
	case ld.lay == nhwc && slices.Equal(perm, []int64{0, 3, 1, 2}):
		ld.lay = nchw
	case ld.lay == nchw && slices.Equal(perm, []int64{0, 2, 3, 1}):
		ld.lay = nhwc
	case ld.lay == flat && (perm == nil || slices.Equal(perm, []int64{0, 1})) && ld.shape.C == 1:
	default:
		a.fail("perm", "%v on a %v tensor is not supported (only the NHWC<->NCHW adapters)", perm, ld.lay)
	}
	return nil
}

// window reads the kernel_shape, strides, pads, auto_pad and dilations of a
// Conv or pooling node.
func (ld *loader) window(a *attrs, kernel [2]int) (k, s [2]int, pad engine.Padding) {
	if ks := a.ints("kernel_shape", nil); ks != nil {
		if len(ks) != 2 || (kernel[0] > 0 && (int(ks[0]) != kernel[0] || int(ks[1]) != kernel[1])) {
			a.fail("kernel_shape", "%v does not match the weights %v", ks, kernel)
		} else {
			kernel = [2]int{int(ks[0]), int(ks[1])}
		}
	}
	k = kernel
	s = [2]int{1, 1}
	if st := a.ints("strides", nil); st != nil {
		if len(st) != 2 || st[0] < 1 || st[1] < 1 || st[0] > engine.MaxWindow || st[1] > engine.MaxWindow {
			a.fail("strides", "%v is not supported", st)
		} else {
			s = [2]int{int(st[0]), int(st[1])}
		}
	}
	if d := a.ints("dilations", nil); d != nil && !slices.Equal(d, []int64{1, 1}) {
		a.fail("dilations", "%v is not supported (only 1)", d)
	}
	if k[0] < 1 || k[1] < 1 || k[0] > engine.MaxWindow || k[1] > engine.MaxWindow {
		a.fail("kernel_shape", "%v is missing or out of range", k)
		return
	}
	switch ap := a.str("auto_pad", "NOTSET"); ap {
	case "NOTSET":
		if p := a.ints("pads", nil); p != nil {
			if len(p) != 4 || slices.ContainsFunc(p, func(v int64) bool { return v < 0 || v > engine.MaxWindow }) {
				a.fail("pads", "%v is not supported", p)
			} else {
				pad = engine.Padding{Top: int(p[0]), Left: int(p[1]), Bottom: int(p[2]), Right: int(p[3])}
			}
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		pad.Top, pad.Bottom = engine.SamePadding(ld.shape.H, k[0], s[0])
		pad.Left, pad.Right = engine.SamePadding(ld.shape.W, k[1], s[1])
		if ap == "SAME_LOWER" {
			pad.Top, pad.Bottom = pad.Bottom, pad.Top
			pad.Left, pad.Right = pad.Right, pad.Left
		}
	default:
		a.fail("auto_pad", "%q is not supported", ap)
	}
	return
}

func (ld *loader) conv(n *onnxproto.Node, a *attrs) (engine.Layer, error) {
	if err := ld.need(nchw); err != nil {
		return nil, err
	}
	if len(n.Inputs) < 2 {
		return nil, fmt.Errorf("has no weights")
	}
	w, dims, err := ld.floats(n.Inputs[1])
	if err != nil {
		return nil, err
	}
	g := a.int("group", 1)
	if g == int64(ld.shape.C) && g > 1 && len(dims) == 4 {
		return ld.depthwise(n, a, w, dims)
	}
	if g < 1 || g > int64(ld.shape.C) || int64(ld.shape.C)%g != 0 {
		a.fail("group", "%d does not divide the %d input channels", g, ld.shape.C)
		return nil, a.err
	}
	if len(dims) != 4 || int64(dims[1])*g != int64(ld.shape.C) || dims[0]%g != 0 {
		return nil, fmt.Errorf("weights have shape %v; want [filters, %d, kh, kw] with filters a multiple of %d groups", dims, int64(ld.shape.C)/g, g)
	}
	o, ci, kh, kw := int(dims[0]), int(dims[1]), int(dims[2]), int(dims[3])
	k, s, pad := ld.window(a, [2]int{kh, kw})
	if a.err != nil {
		return nil, a.err
	}
	// OIHW -> HWIO.
	hwio := make([]float32, len(w))
	for oc := range o {
		for c := range ci {
			for y := range kh {
				for x := range kw {
					hwio[((y*kw+x)*ci+c)*o+oc] = w[((oc*ci+c)*kh+y)*kw+x]
				}
			}
		}
	}
	l := &engine.Conv2D{Name: n.Name, KernelH: k[0], KernelW: k[1], StrideH: s[0], StrideW: s[1], Pad: ld.takePad(pad), Filters: o, Groups: int(g), Weights: hwio}
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		if l.Bias, _, err = ld.floats(n.Inputs[2]); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (ld *loader) pool(n *onnxproto.Node, a *attrs) (engine.Layer, error) {
	if err := ld.need(nchw); err != nil {
		return nil, err
	}
	k, s, pad := ld.window(a, [2]int{})
	if c := a.int("ceil_mode", 0); c != 0 {
		a.fail("ceil_mode", "%d is not supported (only 0)", c)
	}
	if so := a.int("storage_order", 0); so != 0 {
		a.fail("storage_order", "%d is not supported", so)
	}
	l := &engine.Pool2D{Name: n.Name, Max: n.OpType == "MaxPool", KernelH: k[0], KernelW: k[1], StrideH: s[0], StrideW: s[1], Pad: pad}
	if !l.Max {
		l.CountPad = a.int("count_include_pad", 0) != 0
		if ld.pad != nil {
			if pad != (engine.Padding{}) && !l.CountPad {
				return nil, fmt.Errorf("padding both by a Pad node and by pads with count_include_pad=0 is not supported")
			}
			// Zeros from a Pad node count in the average.
			l.Pad, l.CountPad = ld.takePad(pad), true
		}
	}
	return l, a.err
}

func (ld *loader) batchNorm(n *onnxproto.Node, a *attrs) (engine.Layer, error) {
	if ld.lay == nhwc {
		return nil, fmt.Errorf("normalizes axis 1 of an NHWC tensor, which is not the channel axis")
	}
	if len(n.Inputs) != 5 {
		return nil, fmt.Errorf("has %d inputs; want 5", len(n.Inputs))
	}
	if slices.ContainsFunc(n.Outputs[1:], func(s string) bool { return s != "" }) {
		return nil, fmt.Errorf("training outputs are not supported")
	}
	eps := float64(a.float("epsilon", 1e-5))
	a.float("momentum", 0) // training only
	if tm := a.int("training_mode", 0); tm != 0 {
		a.fail("training_mode", "%d is not supported", tm)
	}
	if sp := a.int("spatial", 1); sp != 1 {
		a.fail("spatial", "%d is not supported", sp)
	}
	a.used["is_test"] = true // opset < 7, irrelevant
	var v [4][]float32
	for i := range v {
		var err error
		if v[i], _, err = ld.floats(n.Inputs[i+1]); err != nil {
			return nil, err
		}
		if len(v[i]) != ld.shape.C {
			return nil, fmt.Errorf("input %q has %d values for %d channels", n.Inputs[i+1], len(v[i]), ld.shape.C)
		}
	}
	return engine.BatchNorm(n.Name, v[0], v[1], v[2], v[3], eps)
}

func (ld *loader) activation(n *onnxproto.Node, a *attrs) (engine.Layer, error) {
	act := map[string]engine.Activation{"Relu": engine.ReLU, "Sigmoid": engine.Sigmoid, "Tanh": engine.Tanh, "Elu": engine.ELU,
		"Softmax": engine.Softmax, "HardSigmoid": engine.HardSigmoid, "HardSwish": engine.HardSwish}[n.OpType]
	switch n.OpType {
	case "HardSigmoid":
		// max(0, min(1, alpha*x + beta)): the engine's is alpha 1/6, beta
		// 1/2 (PyTorch's export); ONNX's defaults, 0.2 and 0.5, are
		// another function.
		al, be := a.float("alpha", 0.2), a.float("beta", 0.5)
		if math.Abs(float64(al)-1.0/6) > 1e-6 || be != 0.5 {
			a.fail("alpha", "HardSigmoid(alpha %g, beta %g) is not supported (only alpha 1/6, beta 0.5)", al, be)
		}
	case "Elu":
		if al := a.float("alpha", 1); al != 1 {
			a.fail("alpha", "%g is not supported (only 1)", al)
		}
	case "Softmax":
		def := int64(1)
		if ld.opset >= 13 {
			def = -1
		}
		ax := a.int("axis", def)
		spatial1 := ld.shape.H == 1 && ld.shape.W == 1
		ok := false
		switch ld.lay {
		case flat:
			ok = ax == 1 || ax == -1
		case nchw:
			ok = (ax == 1 || ax == -3) && (ld.opset >= 13 || spatial1)
		case nhwc:
			ok = (ax == 3 || ax == -1) || (ax == 1 && ld.opset < 13 && spatial1)
		}
		if !ok {
			a.fail("axis", "%d on a %v tensor at opset %d is not supported (only the channel axis)", ax, ld.lay, ld.opset)
		}
	case "Clip":
		lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
		if ld.opset < 11 {
			lo, hi = a.float("min", lo), a.float("max", hi)
		} else {
			for i, p := range []*float32{&lo, &hi} {
				if len(n.Inputs) > i+1 && n.Inputs[i+1] != "" {
					v, _, err := ld.floats(n.Inputs[i+1])
					if err != nil || len(v) != 1 {
						return nil, fmt.Errorf("bound %q is not a scalar constant", n.Inputs[i+1])
					}
					*p = v[0]
				}
			}
		}
		switch {
		case lo == 0 && hi == 6:
			act = engine.ReLU6
		case lo == 0 && math.IsInf(float64(hi), 1):
			act = engine.ReLU
		default:
			return nil, fmt.Errorf("Clip(%g, %g) is not supported (only ReLU and ReLU6 forms)", lo, hi)
		}
	}
	return &engine.Act{Name: n.Name, Activation: act}, nil
}

// flatten turns the current tensor into [N, K] in the order its layout
// defines.
func (ld *loader) flatten(name string) engine.Layer {
	// Over one channel or one position, C,H,W and H,W,C order agree.
	l := &engine.Flatten{Name: name, ChannelsFirst: ld.lay == nchw && ld.shape.H*ld.shape.W > 1 && ld.shape.C > 1}
	if l.ChannelsFirst && !ld.noFold {
		ld.chw, ld.chwShape = l, ld.shape
	}
	// A Flatten of a flat tensor keeps its order, and any pending chw.
	ld.lay = flat
	return l
}

// foldCHW is called with the weights w (in.C rows of units values, a new
// slice) of a Gemm or MatMul over the current flat tensor. If that tensor
// is a C,H,W Flatten's output, it reorders the rows from C,H,W to H,W,C
// order and makes the Flatten a plain copy of the H,W,C-stored activations:
// the same products, without the per-inference permutation. scratch, if it
// holds len(w) values that are no longer needed, is overwritten instead of
// copying w.
func (ld *loader) foldCHW(w []float32, units int, scratch []float32) {
	f, s := ld.chw, ld.chwShape
	ld.chw = nil
	if f == nil || s.Size() != ld.shape.C || len(w) != s.Size()*units {
		return
	}
	hw := s.H * s.W
	var src []float32
	if len(scratch) >= len(w) {
		src = scratch[:len(w)]
		copy(src, w)
	} else {
		src = slices.Clone(w)
	}
	for c := range s.C {
		for p := range hw {
			copy(w[(p*s.C+c)*units:][:units], src[(c*hw+p)*units:][:units])
		}
	}
	f.ChannelsFirst = false
}

func (ld *loader) reshape(n *onnxproto.Node, a *attrs) (engine.Layer, error) {
	if len(n.Inputs) < 2 {
		return nil, fmt.Errorf("has no shape input")
	}
	shape, err := ld.constInt(n.Inputs[1])
	if err != nil {
		return nil, err
	}
	a.int("allowzero", 0)
	total := int64(ld.shape.Size())
	if len(shape) == 2 && (shape[0] == -1 || shape[0] == 0 || shape[0] == 1) &&
		(shape[1] == total || (shape[1] == -1 && shape[0] != -1)) {
		return ld.flatten(n.Name), nil
	}
	return nil, fmt.Errorf("reshape of %v %v to %v is not supported (only flattening to [N, %d])", ld.lay, ld.shape, shape, total)
}

// squeeze drops the 1x1 spatial axes left by global pooling.
func (ld *loader) squeeze(n *onnxproto.Node, a *attrs) error {
	axes := a.ints("axes", nil)
	if len(n.Inputs) > 1 && n.Inputs[1] != "" {
		var err error
		if axes, err = ld.constInt(n.Inputs[1]); err != nil {
			return err
		}
	}
	slices.Sort(axes)
	want := map[layout][]int64{nchw: {2, 3}, nhwc: {1, 2}}[ld.lay]
	if ld.shape.H != 1 || ld.shape.W != 1 || want == nil || !slices.Equal(axes, want) {
		return fmt.Errorf("squeeze of axes %v of a %v %v tensor is not supported (only 1x1 spatial axes)", axes, ld.lay, ld.shape)
	}
	ld.lay = flat
	return nil
}

func (ld *loader) gemm(n *onnxproto.Node, a *attrs) (engine.Layer, error) {
	if err := ld.need(flat); err != nil {
		return nil, err
	}
	if len(n.Inputs) < 2 {
		return nil, fmt.Errorf("has no B input")
	}
	if ta := a.int("transA", 0); ta != 0 {
		a.fail("transA", "%d is not supported", ta)
	}
	transB := a.int("transB", 0) != 0
	alpha, beta := a.float("alpha", 1), a.float("beta", 1)
	if a.err != nil {
		return nil, a.err
	}
	b, dims, err := ld.floats(n.Inputs[1])
	if err != nil {
		return nil, err
	}
	in := int64(ld.shape.C)
	if len(dims) != 2 {
		return nil, fmt.Errorf("input B has shape %v; want a matrix", dims)
	}
	k, units := dims[0], dims[1]
	if transB {
		k, units = units, k
	}
	if k != in {
		return nil, fmt.Errorf("input B has shape %v (transB=%v); want %d input features", dims, transB, in)
	}
	w := make([]float32, len(b))
	for i := range k {
		for j := range units {
			v := b[i*units+j]
			if transB {
				v = b[j*k+i]
			}
			w[i*units+j] = alpha * v
		}
	}
	ld.foldCHW(w, int(units), b) // b is read: the fold's scratch
	l := &engine.Dense{Name: n.Name, Units: int(units), Weights: w}
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		c, _, err := ld.floats(n.Inputs[2])
		if err != nil {
			return nil, err
		}
		if l.Bias, err = broadcastVector(c, int(units)); err != nil {
			return nil, fmt.Errorf("input C: %w", err)
		}
		for i := range l.Bias {
			l.Bias[i] *= beta
		}
	}
	return l, nil
}

func (ld *loader) matmul(n *onnxproto.Node) (engine.Layer, error) {
	if ld.lay == nchw {
		return nil, fmt.Errorf("multiplies the last axis of an NCHW tensor, which is not the channel axis")
	}
	b, dims, err := ld.floats(n.Inputs[1])
	if err != nil {
		return nil, err
	}
	if len(dims) != 2 || dims[0] != int64(ld.shape.C) {
		return nil, fmt.Errorf("input B has shape %v; want [%d, units]", dims, ld.shape.C)
	}
	ld.foldCHW(b, int(dims[1]), nil)
	return &engine.Dense{Name: n.Name, Units: int(dims[1]), Weights: b}, nil
}

// add folds a constant bias into the preceding Dense or Conv2D.
func (ld *loader) add(n *onnxproto.Node) error {
	c, _, err := ld.floats(n.Inputs[1])
	if err != nil {
		return err
	}
	if ld.id == 0 || !ld.direct {
		return fmt.Errorf("an Add of a constant is only supported as the bias of a Gemm, MatMul or Conv whose output nothing else reads")
	}
	var bias *[]float32
	switch l := ld.nodes[ld.id-1].Layer.(type) {
	case *engine.Dense:
		if l.Activation != engine.Linear {
			return fmt.Errorf("an Add after an activation is not supported")
		}
		bias = &l.Bias
	case *engine.Conv2D:
		if l.Activation != engine.Linear {
			return fmt.Errorf("an Add after an activation is not supported")
		}
		bias = &l.Bias
	default:
		return fmt.Errorf("an Add is only supported as the bias of a Gemm, MatMul or Conv")
	}
	v, err := broadcastVector(c, ld.shape.C)
	if err != nil {
		return err
	}
	if *bias == nil {
		*bias = v
		return nil
	}
	for i := range v {
		(*bias)[i] += v[i]
	}
	return nil
}

// broadcastVector returns c as a vector of n values: c has n values (in
// any shape such as [n], [1,n] or [n,1,1]) or one.
func broadcastVector(c []float32, n int) ([]float32, error) {
	switch len(c) {
	case n:
		return slices.Clone(c), nil
	case 1:
		v := make([]float32, n)
		for i := range v {
			v[i] = c[0]
		}
		return v, nil
	}
	return nil, fmt.Errorf("has %d values; want %d or 1", len(c), n)
}
