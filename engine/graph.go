package engine

import (
	"fmt"
	"slices"

	"github.com/huskyai/huskyai/engine/internal/kernels"
)

// Node is one operation of a graph model: a layer and the tensors it
// reads. Tensor 0 is the model's input and tensor k+1 is the output of
// node k, so a node can only read tensors made before it: the nodes are
// in a topological order by construction. The output of the last node is
// the model's output. A layer with several inputs (Add, Multiply,
// Concatenate) reads them in the order of Inputs; every other layer reads
// exactly one.
type Node struct {
	Layer  Layer
	Inputs []int
}

// MergedShape returns the shape l (Add, Multiply or Concatenate) makes of
// inputs of the given shapes, or why it cannot combine them. Loaders use
// it to follow shapes through a graph, as OutputShape for one input.
func MergedShape(l Layer, ins []Shape) (Shape, error) {
	mg, ok := l.(merger)
	if !ok || len(ins) == 0 {
		return Shape{}, fmt.Errorf("layer %q does not combine tensors", l.LayerName())
	}
	return mg.outShapes(ins)
}

// merger is a layer with several inputs.
type merger interface {
	Layer
	// outShapes checks the inputs' shapes and returns the output's.
	outShapes(ins []Shape) (Shape, error)
	// forwardN computes dst from srcs for one image.
	forwardN(dst []float32, srcs [][]float32, ins []Shape, out Shape)
}

// graph is the plan of a model whose layers are not a single chain: each
// node's input tensors and output tensor, and which buffer of the
// workspace holds each tensor.
type graph struct {
	inputs   [][]int // inputs[k]: the tensors node k reads
	inShape  [][]Shape
	outShape []Shape
	slot     []int // slot[t]: the workspace buffer of tensor t (-1: the caller's input)
	sizes    []int // sizes[s]: the float32s of buffer s
	srcs     int   // the most inputs of one node
}

// NewGraph checks a graph of layers against the input shape and returns a
// Model ready to run, as New does for a chain. The plan is made once, here:
// the nodes run in the order given, and each tensor lives in a workspace
// buffer from the node that makes it to the last node that reads it, after
// which another tensor reuses the buffer, so a model keeps a few
// activations in memory, not all of them, and an inference allocates
// nothing. A graph that is a plain chain (each node reads the previous
// node's output, and nothing else reads it) becomes a chain model, which
// New fuses and batches.
func NewGraph(name, format string, input Shape, nodes []Node, opts ...Option) (*Model, error) {
	if len(nodes) == 0 {
		return nil, fmt.Errorf("model %q: no layers", name)
	}
	if err := checkNodes(nodes); err != nil {
		return nil, fmt.Errorf("model %q: %w", name, err)
	}
	if isChain(nodes) {
		layers := make([]Layer, len(nodes))
		for k, n := range nodes {
			layers[k] = n.Layer
		}
		return New(name, format, input, layers, opts...)
	}
	m, err := newModel(name, format, input, opts)
	if err != nil {
		return nil, err
	}
	nodes = fuseGraph(nodes)
	g := &graph{}
	shapes := []Shape{input} // by tensor
	for k, n := range nodes {
		ins := make([]Shape, len(n.Inputs))
		for i, t := range n.Inputs {
			ins[i] = shapes[t]
		}
		m.layers = append(m.layers, n.Layer)
		m.shapes = append(m.shapes, ins[0])
		out, err := m.plan(k, ins)
		if err != nil {
			return nil, fmt.Errorf("model %q: layer %d %q: %w", name, k, n.Layer.LayerName(), err)
		}
		shapes = append(shapes, out)
		g.inputs = append(g.inputs, slices.Clone(n.Inputs))
		g.inShape = append(g.inShape, ins)
		g.outShape = append(g.outShape, out)
		g.srcs = max(g.srcs, len(n.Inputs))
	}
	m.shapes = append(m.shapes, shapes[len(shapes)-1])
	g.assign(shapes)
	m.graph = g
	return m, nil
}

// checkNodes checks that every node reads tensors made before it, and
// that only layers with several inputs read several.
func checkNodes(nodes []Node) error {
	for k, n := range nodes {
		if n.Layer == nil {
			return fmt.Errorf("node %d has no layer", k)
		}
		_, multi := n.Layer.(merger)
		if len(n.Inputs) == 0 || len(n.Inputs) > 1 && !multi {
			return fmt.Errorf("layer %d %q reads %d tensors", k, n.Layer.LayerName(), len(n.Inputs))
		}
		for _, t := range n.Inputs {
			if t < 0 || t > k {
				return fmt.Errorf("layer %d %q reads tensor %d, which is not made before it", k, n.Layer.LayerName(), t)
			}
		}
	}
	return nil
}

// fuseGraph drops identities, then folds an activation or a batch
// normalization into the convolution, dense layer or addition it follows
// when nothing else reads that layer's output, renumbering the tensors:
// as fuse does for a chain. The readers are counted after the identities
// are gone, so that a tensor read both through an identity and directly
// counts twice.
func fuseGraph(nodes []Node) []Node {
	remap := func(ts, id []int) []int {
		out := make([]int, len(ts))
		for i, t := range ts {
			out[i] = id[t]
		}
		return out
	}
	id := make([]int, len(nodes)+1) // old tensor -> new tensor
	var kept []Node
	for k, n := range nodes {
		ins := remap(n.Inputs, id)
		if _, ok := n.Layer.(*Identity); ok && len(ins) == 1 && k < len(nodes)-1 {
			id[k+1] = ins[0]
			continue
		}
		kept = append(kept, Node{Layer: n.Layer, Inputs: ins})
		id[k+1] = len(kept)
	}
	uses := make([]int, len(kept)+1)
	for _, n := range kept {
		for _, t := range n.Inputs {
			uses[t]++
		}
	}
	id = make([]int, len(kept)+1)
	var out []Node
	for k, n := range kept {
		ins := remap(n.Inputs, id)
		if k < len(kept)-1 && len(ins) == 1 && ins[0] > 0 && uses[n.Inputs[0]] == 1 {
			switch n.Layer.(type) {
			case *Act, *Affine:
				if f := fold(out[ins[0]-1].Layer, n.Layer); f != nil {
					out[ins[0]-1].Layer = f
					id[k+1] = ins[0]
					continue
				}
			}
		}
		out = append(out, Node{Layer: n.Layer, Inputs: ins})
		id[k+1] = len(out)
	}
	return out
}

// fold returns the layer that computes next (an activation or a batch
// normalization's Affine) after l in one: l with the activation, or with
// its weights and bias scaled and shifted; nil where l cannot take it.
func fold(l, next Layer) Layer {
	switch n := next.(type) {
	case *Act:
		return withActivation(l, n.Activation)
	case *Affine:
		return withAffine(l, n)
	}
	return nil
}

// withAffine returns a copy of l (a convolution or dense layer without
// activation) whose output is a's per-channel x*Scale + Shift of l's: each
// output channel's weights scaled and its bias scaled and shifted, once,
// at load (batch normalization after a convolution costs nothing then).
func withAffine(l Layer, a *Affine) Layer {
	var w, b *[]float32
	var out int
	var c Layer
	switch l := l.(type) {
	case *Conv2D:
		if l.Activation != Linear {
			return nil
		}
		cc := *l
		c, w, b, out = &cc, &cc.Weights, &cc.Bias, l.Filters
	case *DepthwiseConv2D:
		if l.Activation != Linear || l.Multiplier < 1 || len(l.Weights)%(l.KernelH*l.KernelW) != 0 {
			return nil
		}
		cc := *l
		c, w, b, out = &cc, &cc.Weights, &cc.Bias, len(l.Weights)/(l.KernelH*l.KernelW)
	case *Dense:
		if l.Activation != Linear {
			return nil
		}
		cc := *l
		c, w, b, out = &cc, &cc.Weights, &cc.Bias, l.Units
	default:
		return nil
	}
	coef := func(v []float32, i int) float32 {
		if len(v) == 1 {
			return v[0]
		}
		return v[i]
	}
	if out < 1 || len(*w)%out != 0 || (len(a.Scale) != 1 && len(a.Scale) != out) || (len(a.Shift) != 1 && len(a.Shift) != out) ||
		(*b != nil && len(*b) != out) {
		return nil
	}
	nw := make([]float32, len(*w))
	for i, v := range *w {
		nw[i] = v * coef(a.Scale, i%out)
	}
	nb := make([]float32, out)
	for i := range nb {
		var v float32
		if *b != nil {
			v = (*b)[i]
		}
		nb[i] = v*coef(a.Scale, i) + coef(a.Shift, i)
	}
	*w, *b = nw, nb
	return c
}

// withActivation returns a copy of l with activation a, for a layer that
// applies one and has none; else nil.
func withActivation(l Layer, a Activation) Layer {
	switch l := l.(type) {
	case *Conv2D:
		if l.Activation == Linear {
			c := *l
			c.Activation = a
			return &c
		}
	case *DepthwiseConv2D:
		if l.Activation == Linear {
			c := *l
			c.Activation = a
			return &c
		}
	case *Dense:
		if l.Activation == Linear {
			c := *l
			c.Activation = a
			return &c
		}
	case *Add:
		if l.Activation == Linear {
			c := *l
			c.Activation = a
			return &c
		}
	}
	return nil
}

// isChain reports whether node k reads exactly tensor k, for every k, and
// no tensor is read twice.
func isChain(nodes []Node) bool {
	for k, n := range nodes {
		if len(n.Inputs) != 1 || n.Inputs[0] != k {
			return false
		}
	}
	return true
}

// assign gives each tensor a workspace buffer by liveness: a node's output
// takes a free buffer (never one of its own inputs'), and the buffers of
// the tensors it was the last to read are freed after it.
func (g *graph) assign(shapes []Shape) {
	last := make([]int, len(shapes))
	for k, ins := range g.inputs {
		for _, t := range ins {
			last[t] = k
		}
	}
	last[len(shapes)-1] = len(g.inputs) // the output outlives every node
	g.slot = make([]int, len(shapes))
	g.slot[0] = -1
	var free []int
	for k, ins := range g.inputs {
		t := k + 1
		if len(free) > 0 {
			// The free buffer closest in size, to keep the large ones
			// for the large tensors.
			best := 0
			for i, s := range free {
				if abs(g.sizes[s]-shapes[t].Size()) < abs(g.sizes[free[best]]-shapes[t].Size()) {
					best = i
				}
			}
			g.slot[t] = free[best]
			free = slices.Delete(free, best, best+1)
		} else {
			g.slot[t] = len(g.sizes)
			g.sizes = append(g.sizes, 0)
		}
		g.sizes[g.slot[t]] = max(g.sizes[g.slot[t]], shapes[t].Size())
		for _, u := range ins {
			if last[u] == k && u != 0 && !slices.Contains(free, g.slot[u]) {
				free = append(free, g.slot[u])
			}
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// runGraph takes one image through the graph with the kernels of kb and
// returns its output, which stays valid until ws is used again.
func (m *Model) runGraph(ws *workspace, kb kernels.Backend, input []float32) []float32 {
	g := m.graph
	tensor := func(t int) []float32 {
		if t == 0 {
			return input
		}
		return ws.slots[g.slot[t]]
	}
	for k, l := range m.layers {
		dst := tensor(k + 1)
		ins := g.inputs[k]
		if mg, ok := l.(merger); ok && len(ins) > 1 {
			srcs := ws.srcs[:len(ins)]
			for i, t := range ins {
				srcs[i] = tensor(t)
			}
			mg.forwardN(dst, srcs, g.inShape[k], g.outShape[k])
			continue
		}
		l.forward(kb, dst, tensor(ins[0]), g.inShape[k][0], g.outShape[k], ws.scratch)
	}
	return tensor(len(m.layers))[:m.OutputShape().Size()]
}
