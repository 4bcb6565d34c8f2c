// Package onnx loads ONNX models into huskyai's engine: files exported from
// PyTorch (NCHW) and files converted from Keras by tf2onnx (NHWC input with
// Transpose adapters), made of the operators the engine implements.
//
// The engine stores activations channels-last. The loader follows the
// layout each ONNX tensor is in (NCHW or NHWC) over that storage, so a
// Transpose between the two costs nothing, and a Flatten of an NCHW tensor
// flattens in C,H,W order as ONNX defines it. When such a Flatten feeds a
// Gemm or MatMul (the head of a PyTorch CNN classifier), the loader instead
// permutes that operator's weight rows from C,H,W to H,W,C order, once at
// load, and the Flatten is a plain copy of the stored tensor: the network
// then runs as the same network loaded from Keras does. Anything outside
// that set — another operator, a dilation, a group other than 1 or one
// per channel — is refused with an error naming the node and the
// attribute. Graphs with branches (Add, Mul, Sum, Concat of computed
// tensors) load as engine graphs.
package onnx

import (
	"fmt"
	"slices"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/internal/onnxproto"
)

// Format is the format name reported in engine.Model.Format.
const Format = "onnx"

// Supported default-domain opset versions.
const (
	MinOpset = 7
	MaxOpset = 23
)

// layout is how the ONNX graph sees the current tensor.
type layout int

const (
	nchw layout = iota
	nhwc
	flat // [N, K]
)

func (l layout) String() string { return [...]string{"NCHW", "NHWC", "[N,K]"}[l] }

// loader holds the translation state. Its embedded val is the tensor the
// current node reads (its first input): load sets it from vals before the
// node, and the node's output is stored back in vals after it.
type loader struct {
	opset  int64
	consts map[string]*onnxproto.Tensor
	input  engine.Shape
	nodes  []engine.Node
	vals   map[string]val // every computed tensor by name
	uses   map[string]int // how many nodes read each tensor
	val
	// noFold keeps C,H,W Flattens as run-time permutations (tests).
	noFold bool
}

// val is what the loader knows of a computed tensor.
type val struct {
	// id is its engine tensor (0: the model input); direct says the last
	// node emitted the layer that computes it, so that a bias Add may fold
	// into that layer.
	id     int
	direct bool
	shape  engine.Shape
	lay    layout
	// pad is the zero padding of a Pad node, merged into the Conv or
	// AveragePool that must follow it.
	pad *engine.Padding
	// chw is the last C,H,W-order Flatten while only element-wise
	// operators have followed it, and the NCHW shape it flattened; a Gemm
	// or MatMul then takes its permutation into its weights (see foldCHW).
	chw      *engine.Flatten
	chwShape engine.Shape
}

// load makes the tensor name the current one.
func (ld *loader) load(name string) error {
	v, ok := ld.vals[name]
	if !ok {
		return fmt.Errorf("reads %q, which no earlier operator computes", name)
	}
	ld.val = v
	if ld.uses[name] > 1 {
		// Another node reads the tensor as it is: nothing may be folded
		// into the layer that computes it, or into what it flattens.
		ld.direct, ld.chw = false, nil
	}
	return nil
}

// store records the current tensor under name.
func (ld *loader) store(name string) {
	ld.vals[name] = ld.val
}

// elementwise are the operators that act on each value of a flat tensor
// alone (or, Softmax, on all of them alike), so that permuting the values
// before them is the same as permuting their results.
var elementwise = map[string]bool{
	"Relu": true, "Sigmoid": true, "Tanh": true, "Elu": true, "Clip": true, "Softmax": true,
	"Identity": true, "Dropout": true, "Flatten": true, "Reshape": true,
}

// IsONNX reports whether data decodes as an ONNX model with a graph of at
// least one node (ONNX files have no magic bytes).
func IsONNX(data []byte) bool {
	pm, err := onnxproto.Decode(data)
	return err == nil && pm.Graph != nil && len(pm.Graph.Nodes) > 0
}

// Load decodes an ONNX file and builds the model it describes.
func Load(data []byte, opts ...engine.Option) (*engine.Model, error) {
	return load(data, true, opts...)
}

// load is Load; with fold false, a C,H,W Flatten stays a run-time
// permutation instead of being folded into the next Gemm or MatMul.
func load(data []byte, fold bool, opts ...engine.Option) (*engine.Model, error) {
	pm, err := onnxproto.Decode(data)
	if err != nil {
		return nil, err
	}
	g := pm.Graph
	opset, ok := pm.Opsets[""]
	if !ok || opset < MinOpset || opset > MaxOpset {
		return nil, fmt.Errorf("onnx: default opset version %d is not supported (%d..%d)", opset, MinOpset, MaxOpset)
	}
	ld := &loader{opset: opset, consts: make(map[string]*onnxproto.Tensor), noFold: !fold,
		vals: map[string]val{}, uses: map[string]int{}}
	for _, t := range g.Initializers {
		ld.consts[t.Name] = t
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			ld.uses[in]++
		}
	}
	for _, out := range g.Outputs {
		ld.uses[out.Name]++
	}
	if err := ld.graphInput(g); err != nil {
		return nil, err
	}
	if err := checkOperators(g); err != nil {
		return nil, err
	}
	for i, n := range g.Nodes {
		if err := ld.node(n); err != nil {
			name := n.Name
			if name == "" && len(n.Outputs) > 0 {
				name = n.Outputs[0]
			}
			return nil, fmt.Errorf("onnx: node %d %q (%s): %w", i, name, n.OpType, err)
		}
	}
	if len(g.Outputs) != 1 {
		return nil, fmt.Errorf("onnx: the graph has %d outputs; want one", len(g.Outputs))
	}
	out, ok := ld.vals[g.Outputs[0].Name]
	switch {
	case !ok:
		return nil, fmt.Errorf("onnx: the output %q is not computed by the graph", g.Outputs[0].Name)
	case out.pad != nil:
		return nil, fmt.Errorf("onnx: the graph ends with a Pad")
	case out.id == 0:
		return nil, fmt.Errorf("onnx: the graph computes nothing")
	case out.id != len(ld.nodes):
		// The output is not the last node's: read it once more.
		ld.nodes = append(ld.nodes, engine.Node{Layer: &engine.Identity{Name: "output"}, Inputs: []int{out.id}})
	}
	name := g.Name
	if name == "" {
		name = pm.ProducerName + " model"
	}
	m, err := engine.NewGraph(name, Format, ld.input, ld.nodes, opts...)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return m, nil
}

// operators are the operators the loader translates (loader.op,
// loader.merge, loader.constant). Keep in step with them: the parity
// fixtures, which use every one, would be refused otherwise.
var operators = map[string]bool{
	"Constant": true, "Pad": true, "Identity": true, "Dropout": true, "Transpose": true,
	"Conv": true, "MaxPool": true, "AveragePool": true, "GlobalAveragePool": true,
	"ReduceMean": true, "BatchNormalization": true, "Relu": true, "Sigmoid": true,
	"Tanh": true, "Elu": true, "Softmax": true, "Clip": true, "HardSigmoid": true,
	"HardSwish": true, "Flatten": true, "Reshape": true, "Squeeze": true, "Gemm": true,
	"MatMul": true, "Add": true, "Sum": true, "Mul": true, "Concat": true,
}

// checkOperators refuses a graph with an operator the loader does not
// translate before any weight is converted: a file whose last node is
// unknown would otherwise convert and lay out all the weights before it
// first (issue 15: a refused file must cost little memory).
func checkOperators(g *onnxproto.Graph) error {
	for i, n := range g.Nodes {
		if n.Domain != "" || !operators[n.OpType] {
			name := n.Name
			if name == "" && len(n.Outputs) > 0 {
				name = n.Outputs[0]
			}
			what := fmt.Sprintf("operator %q is not supported", n.OpType)
			if n.Domain != "" {
				what = fmt.Sprintf("operator domain %q is not supported", n.Domain)
			}
			return fmt.Errorf("onnx: node %d %q (%s): %s", i, name, n.OpType, what)
		}
	}
	return nil
}

// graphInput finds the one non-constant input, an image batch in NCHW or
// NHWC order with 3 channels.
func (ld *loader) graphInput(g *onnxproto.Graph) error {
	var in *onnxproto.ValueInfo
	for _, v := range g.Inputs {
		if _, isConst := ld.consts[v.Name]; isConst {
			continue
		}
		if in != nil {
			return fmt.Errorf("onnx: the graph has several inputs (%q, %q); want one image input", in.Name, v.Name)
		}
		in = v
	}
	if in == nil {
		return fmt.Errorf("onnx: the graph has no input")
	}
	if in.ElemType != onnxproto.Float {
		return fmt.Errorf("onnx: input %q has type %v; want FLOAT", in.Name, in.ElemType)
	}
	if len(in.Shape) != 4 {
		return fmt.Errorf("onnx: input %q has rank %d; want an image batch of rank 4", in.Name, len(in.Shape))
	}
	var d [4]int
	for i, dim := range in.Shape[1:] {
		if dim.Value < 1 || dim.Value > engine.MaxInputPixels {
			return fmt.Errorf("onnx: input %q dimension %d is %v; want a fixed size", in.Name, i+1, dimString(dim))
		}
		d[i+1] = int(dim.Value)
	}
	switch {
	case d[3] == 3 && d[1] != 3:
		ld.lay, ld.input = nhwc, engine.Shape{H: d[1], W: d[2], C: d[3]}
	case d[1] == 3:
		ld.lay, ld.input = nchw, engine.Shape{H: d[2], W: d[3], C: d[1]}
	default:
		return fmt.Errorf("onnx: input %q has shape %v; want 3 colour channels in NCHW or NHWC order", in.Name, in.Shape)
	}
	ld.shape = ld.input
	ld.store(in.Name)
	return nil
}

func dimString(d onnxproto.Dim) string {
	if d.Param != "" {
		return fmt.Sprintf("%q", d.Param)
	}
	return fmt.Sprint(d.Value)
}

// node translates one operator.
func (ld *loader) node(n *onnxproto.Node) error {
	if n.Domain != "" {
		return fmt.Errorf("operator domain %q is not supported", n.Domain)
	}
	if n.OpType == "Constant" {
		return ld.constant(n)
	}
	if err := ld.checkOutputs(n); err != nil {
		return err
	}
	if ld.branches(n) {
		return ld.merge(n)
	}
	if err := ld.checkInputs(n); err != nil {
		return err
	}
	if err := ld.load(n.Inputs[0]); err != nil {
		return err
	}
	a := &attrs{n: n, used: map[string]bool{}}
	if !elementwise[n.OpType] && n.OpType != "Gemm" && n.OpType != "MatMul" {
		ld.chw = nil
	}
	if ld.pad != nil && n.OpType != "Conv" && n.OpType != "AveragePool" {
		return fmt.Errorf("follows a Pad; only Conv and AveragePool may")
	}
	l, err := ld.op(n, a)
	if err == nil {
		err = a.check()
	}
	if err != nil {
		return err
	}
	if l != nil {
		out, err := engine.OutputShape(l, ld.shape)
		if err != nil {
			return fmt.Errorf("input %v: %w", ld.shape, err)
		}
		ld.nodes = append(ld.nodes, engine.Node{Layer: l, Inputs: []int{ld.id}})
		ld.id, ld.direct, ld.shape = len(ld.nodes), true, out
	}
	ld.store(n.Outputs[0])
	return nil
}

// checkInputs checks that n reads one computed tensor first, and
// constants after it.
func (ld *loader) checkInputs(n *onnxproto.Node) error {
	if len(n.Inputs) == 0 {
		return fmt.Errorf("has no input")
	}
	if _, ok := ld.consts[n.Inputs[0]]; ok {
		return fmt.Errorf("its first input %q is a constant; operators on constants are not supported", n.Inputs[0])
	}
	for _, in := range n.Inputs[1:] {
		if _, ok := ld.consts[in]; !ok && in != "" {
			return fmt.Errorf("input %q is not a constant; only Add, Mul, Sum and Concat may combine computed tensors", in)
		}
	}
	return nil
}

// checkOutputs checks that n has one output (Dropout's and
// BatchNormalization's optional ones aside).
func (ld *loader) checkOutputs(n *onnxproto.Node) error {
	if len(n.Outputs) == 0 || n.Outputs[0] == "" {
		return fmt.Errorf("has no output")
	}
	extra := n.Outputs[1:]
	if n.OpType != "Dropout" && n.OpType != "BatchNormalization" && slices.ContainsFunc(extra, func(s string) bool { return s != "" }) {
		return fmt.Errorf("optional outputs %q are not supported", extra)
	}
	return nil
}

// op translates one operator: the layer it becomes, or nil for one that
// only changes how the loader reads what follows (Pad, Transpose,
// Squeeze, a bias Add, Identity).
func (ld *loader) op(n *onnxproto.Node, a *attrs) (engine.Layer, error) {
	switch n.OpType {
	case "Pad":
		return nil, ld.padOp(n, a)
	case "Identity", "Dropout":
		a.float("ratio", 0) // Dropout's rate, seed and opset<7 flag do
		a.int("seed", 0)    // not matter at inference.
		a.int("is_test", 0)
		if n.OpType == "Dropout" && len(n.Inputs) > 2 && n.Inputs[2] != "" {
			if t, _ := ld.constInt(n.Inputs[2]); len(t) != 1 || t[0] != 0 {
				return nil, fmt.Errorf("training_mode must be false")
			}
		}
		return nil, nil
	case "Transpose":
		return nil, ld.transpose(a)
	case "Conv":
		return ld.conv(n, a)
	case "MaxPool", "AveragePool":
		return ld.pool(n, a)
	case "GlobalAveragePool":
		return &engine.GlobalAvgPool{Name: n.Name}, ld.need(nchw)
	case "ReduceMean":
		return ld.reduceMean(n, a)
	case "BatchNormalization":
		return ld.batchNorm(n, a)
	case "Relu", "Sigmoid", "Tanh", "Elu", "Softmax", "Clip", "HardSigmoid", "HardSwish":
		return ld.activation(n, a)
	case "Flatten":
		if ax := a.int("axis", 1); ax != 1 {
			a.fail("axis", "%d is not supported (1)", ax)
		}
		return ld.flatten(n.Name), nil
	case "Reshape":
		return ld.reshape(n, a)
	case "Squeeze":
		return nil, ld.squeeze(n, a)
	case "Gemm":
		return ld.gemm(n, a)
	case "MatMul":
		return ld.matmul(n)
	case "Add":
		return nil, ld.add(n)
	}
	return nil, fmt.Errorf("operator %q is not supported", n.OpType)
}

// constant records a Constant node's value tensor.
func (ld *loader) constant(n *onnxproto.Node) error {
	v := n.Attr("value")
	if v == nil || v.T == nil || len(n.Attrs) != 1 || len(n.Outputs) != 1 {
		return fmt.Errorf("only Constant nodes with a tensor value are supported")
	}
	ld.consts[n.Outputs[0]] = v.T
	return nil
}

func (ld *loader) need(l layout) error {
	if ld.lay != l {
		return fmt.Errorf("wants a %v tensor, got %v", l, ld.lay)
	}
	return nil
}

// floats returns a constant's values and dims.
func (ld *loader) floats(name string) ([]float32, []int64, error) {
	t, ok := ld.consts[name]
	if !ok {
		return nil, nil, fmt.Errorf("constant %q is missing", name)
	}
	v, err := t.Float32s()
	return v, t.Dims, err
}

func (ld *loader) constInt(name string) ([]int64, error) {
	t, ok := ld.consts[name]
	if !ok {
		return nil, fmt.Errorf("constant %q is missing", name)
	}
	return t.Int64s()
}
