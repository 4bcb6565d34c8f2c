package keras

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/huskyai/huskyai/engine"
)

// weightSource returns a layer's stored weights by Keras role ("kernel",
// "bias", "gamma", "beta", "moving_mean", "moving_variance"), each with its
// stored shape. The loader checks every role it asks for and that none is
// left over.
type weightSource interface {
	// setLayers gives the source the config's layers, in order, before
	// any weights are asked for: Keras 3 archives locate a layer's
	// weights by its position among its class, not by its name.
	setLayers(layers []layerConfig)
	// shapes are the shapes the config implies, by role: a source checks
	// a weight's declared shape against its before it reads the weight.
	weights(layer string, roles []string, shapes map[string][]int) (map[string]tensor, error)
}

// tensor is one stored weight array.
type tensor struct {
	shape []int
	data  []float32
}

// builder translates Keras layer configs, in execution order, into a
// graph of engine layers, following each tensor's shape so that it can
// resolve "same" padding and check every weight's shape against the
// config. Its embedded kval is the tensor the current layer reads (its
// first input).
type builder struct {
	ws     weightSource
	keras2 bool // an .h5 file, which tf.keras 2.x (or Keras 3) wrote
	input  engine.Shape
	nodes  []engine.Node
	vals   map[string]kval // each layer's output by layer name
	seenIn bool
	kval
}

// kval is what the builder knows of a layer's output.
type kval struct {
	id    int          // engine tensor (0: the model input)
	shape engine.Shape // per image
	rank  int          // Keras rank incl. batch: 4 or 2
	// pad is the padding of a ZeroPadding2D the tensor comes from, which
	// the convolution that reads it takes.
	pad *engine.Padding
}

// load makes the output of layer name the current tensor.
func (b *builder) load(name string) error {
	v, ok := b.vals[name]
	if !ok {
		return fmt.Errorf("layer %q is read before it is computed", name)
	}
	b.kval = v
	return nil
}

// inputShape reads an InputLayer's (or a first layer's) batch shape.
func inputShape(o *options) (engine.Shape, bool) {
	key := "batch_input_shape"
	if _, ok := o.m[key]; !ok {
		key = "batch_shape"
	}
	v, ok := o.raw(key)
	if !ok {
		return engine.Shape{}, false
	}
	var dims []*float64
	if err := json.Unmarshal(v, &dims); err != nil || len(dims) != 4 || dims[0] != nil {
		o.fail(key, "want [null, height, width, channels], got %s", truncate(v))
		return engine.Shape{}, false
	}
	var s [3]int
	for i, d := range dims[1:] {
		if d == nil || *d < 1 || *d > engine.MaxInputPixels || *d != math.Trunc(*d) {
			o.fail(key, "dimension %d is %s; want a fixed size", i+1, truncate(v))
			return engine.Shape{}, false
		}
		s[i] = int(*d)
	}
	return engine.Shape{H: s[0], W: s[1], C: s[2]}, true
}

// layerName returns the layer's name from its config, or, failing that,
// the Functional entry's name.
func layerName(lc layerConfig) string {
	var probe struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(lc.Config, &probe) == nil && probe.Name != "" {
		return probe.Name
	}
	return lc.Name
}

// add translates one layer config.
func (b *builder) add(gl graphLayer) error {
	lc := gl.layerConfig
	name := layerName(lc)
	if len(gl.inputs) > 0 {
		if merging[lc.ClassName] {
			return b.merge(gl, name)
		}
		if len(gl.inputs) > 1 {
			return fmt.Errorf("layer %q (%s) reads %d tensors; only Add, Multiply and Concatenate may", name, lc.ClassName, len(gl.inputs))
		}
		if err := b.load(gl.inputs[0]); err != nil {
			return err
		}
	}
	o, err := b.options(lc, name)
	if err != nil {
		return err
	}
	switch lc.ClassName {
	case "InputLayer":
		b.store(name)
		return o.check()
	case "ZeroPadding2D":
		return b.zeroPadding(name, o)
	case "SeparableConv2D":
		return b.separable(name, o)
	}
	l, err := b.layer(lc.ClassName, name, o)
	if err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := b.emit(o, l); err != nil {
		return err
	}
	b.store(name)
	return nil
}

// options decodes a layer's config, takes the model's input shape from
// the layer that declares it, and checks that the layer may read the
// current tensor.
func (b *builder) options(lc layerConfig, name string) (*options, error) {
	o, err := newOptions(lc.ClassName, name, lc.Config)
	if err != nil {
		return nil, err
	}
	o.dtype()
	if lc.ClassName == "InputLayer" {
		o.want("sparse", "false")
		o.want("ragged", "false")
		o.want("optional", "false")
	}
	if s, ok := inputShape(o); ok {
		if b.seenIn {
			if s != b.input {
				o.fail("batch_input_shape", "%v differs from the model input %v", s, b.input)
			}
		} else {
			b.input, b.shape, b.rank, b.seenIn = s, s, 4, true
		}
	}
	if err := o.err; err != nil {
		return nil, err
	}
	if !b.seenIn {
		return nil, fmt.Errorf("%s: the model does not declare its input shape before this layer", o.layer)
	}
	switch lc.ClassName {
	case "Conv2D", "Convolution2D", "DepthwiseConv2D", "SeparableConv2D":
	default:
		if b.pad != nil {
			return nil, fmt.Errorf("%s: reads a ZeroPadding2D; only convolutions may", o.layer)
		}
	}
	return o, nil
}

// layer translates a layer of one input and one engine layer.
func (b *builder) layer(class, name string, o *options) (engine.Layer, error) {
	switch class {
	case "DepthwiseConv2D":
		return b.depthwise(name, o)
	case "Reshape":
		return b.reshape(name, o), nil
	case "Conv2D", "Convolution2D":
		return b.conv(name, o)
	case "Dense":
		return b.dense(name, o)
	case "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D":
		return b.pool(name, o, class == "MaxPooling2D" || class == "MaxPool2D")
	case "GlobalAveragePooling2D", "GlobalAvgPool2D":
		o.want("data_format", `"channels_last"`)
		if !o.boolean("keepdims", false) {
			b.rank = 2
		}
		return &engine.GlobalAvgPool{Name: name}, nil
	case "Flatten":
		o.want("data_format", `"channels_last"`)
		b.rank = 2
		return &engine.Flatten{Name: name}, nil
	case "Dropout":
		return &engine.Identity{Name: name}, nil
	case "Activation":
		return &engine.Act{Name: name, Activation: b.activation(o)}, nil
	case "ReLU":
		return b.relu(name, o), nil
	case "BatchNormalization":
		return b.batchNorm(name, o)
	case "Rescaling":
		return b.rescaling(name, o), nil
	}
	return nil, fmt.Errorf("%s: layer type %q is not supported (supported: InputLayer, Conv2D, DepthwiseConv2D, SeparableConv2D, ZeroPadding2D, Dense, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Reshape, Dropout, Activation, ReLU, BatchNormalization, Rescaling, Add, Multiply, Concatenate)", o.layer, class)
}

// emit appends layer l reading the current tensor, which becomes its
// output.
func (b *builder) emit(o *options, l engine.Layer) error {
	out, err := engine.OutputShape(l, b.shape)
	if err != nil {
		return fmt.Errorf("%s: input %v: %w", o.layer, b.shape, err)
	}
	b.nodes = append(b.nodes, engine.Node{Layer: l, Inputs: []int{b.id}})
	b.id, b.shape, b.pad = len(b.nodes), out, nil
	return nil
}

// store records the current tensor as layer name's output.
func (b *builder) store(name string) {
	b.vals[name] = b.kval
}

// activation reads the "activation" option.
func (b *builder) activation(o *options) engine.Activation {
	name := o.str("activation", "linear")
	a, err := engine.ParseActivation(name)
	if err != nil {
		o.fail("activation", "%v", err)
	}
	if a == engine.HardSigmoid && b.keras2 {
		// tf.keras 2.x's hard_sigmoid is clip(0.2x + 0.5, 0, 1), Keras
		// 3's relu6(x+3)/6, and an .h5 file may come from either.
		o.fail("activation", "%q in an .h5 file is not supported: Keras 2 and Keras 3 define it differently", name)
	}
	return a
}

// padding resolves Keras' "valid" or "same" padding for the current shape.
func (b *builder) padding(o *options, k, s [2]int) engine.Padding {
	switch p := o.str("padding", "valid"); p {
	case "valid":
		return engine.Padding{}
	case "same":
		// Over the input as a ZeroPadding2D before the layer left it.
		h, w := b.shape.H, b.shape.W
		if b.pad != nil {
			h, w = h+b.pad.Top+b.pad.Bottom, w+b.pad.Left+b.pad.Right
		}
		var pad engine.Padding
		pad.Top, pad.Bottom = engine.SamePadding(h, k[0], s[0])
		pad.Left, pad.Right = engine.SamePadding(w, k[1], s[1])
		return pad
	default:
		o.fail("padding", "%q is not supported (valid, same)", p)
		return engine.Padding{}
	}
}

func (b *builder) need4D(o *options) {
	if b.rank != 4 {
		o.fail("input", "wants an image (rank 4) tensor, got a flat one")
	}
}

func (b *builder) conv(name string, o *options) (engine.Layer, error) {
	b.need4D(o)
	filters := int(o.number("filters", 0))
	k := o.pair("kernel_size", [2]int{0, 0})
	s := o.pair("strides", [2]int{1, 1})
	pad := b.padding(o, k, s)
	o.want("dilation_rate", "[1,1]", "1")
	groups := int(o.number("groups", 1))
	o.want("data_format", `"channels_last"`)
	act := b.activation(o)
	useBias := o.boolean("use_bias", true)
	if o.err != nil {
		return nil, o.err
	}
	if filters < 1 || filters > engine.MaxActivation {
		return nil, fmt.Errorf("%s: filters %d is out of range", o.layer, filters)
	}
	if groups < 1 || b.shape.C%groups != 0 || filters%groups != 0 {
		return nil, fmt.Errorf("%s: %d groups do not divide %d channels and %d filters", o.layer, groups, b.shape.C, filters)
	}
	w, err := b.fetch(o, name, useBias, map[string][]int{
		"kernel": {k[0], k[1], b.shape.C / groups, filters},
		"bias":   {filters},
	})
	if err != nil {
		return nil, err
	}
	return &engine.Conv2D{Name: name, KernelH: k[0], KernelW: k[1], StrideH: s[0], StrideW: s[1],
		Pad: b.takePad(pad), Filters: filters, Groups: groups, Weights: w["kernel"].data, Bias: w["bias"].data, Activation: act}, nil
}

func (b *builder) dense(name string, o *options) (engine.Layer, error) {
	units := int(o.number("units", 0))
	act := b.activation(o)
	useBias := o.boolean("use_bias", true)
	if o.err != nil {
		return nil, o.err
	}
	if units < 1 || units > engine.MaxActivation {
		return nil, fmt.Errorf("%s: units %d is out of range", o.layer, units)
	}
	w, err := b.fetch(o, name, useBias, map[string][]int{
		"kernel": {b.shape.C, units},
		"bias":   {units},
	})
	if err != nil {
		return nil, err
	}
	return &engine.Dense{Name: name, Units: units, Weights: w["kernel"].data, Bias: w["bias"].data, Activation: act}, nil
}

func (b *builder) pool(name string, o *options, isMax bool) (engine.Layer, error) {
	b.need4D(o)
	k := o.pair("pool_size", [2]int{2, 2})
	s := o.pair("strides", k)
	pad := b.padding(o, k, s)
	o.want("data_format", `"channels_last"`)
	return &engine.Pool2D{Name: name, Max: isMax, KernelH: k[0], KernelW: k[1], StrideH: s[0], StrideW: s[1], Pad: pad}, o.err
}

// relu translates the ReLU layer where it is plain relu or relu6.
func (b *builder) relu(name string, o *options) engine.Layer {
	o.want("negative_slope", "0", "0.0")
	o.want("threshold", "0", "0.0")
	a := engine.ReLU
	if v, ok := o.raw("max_value"); ok {
		var f float64
		if json.Unmarshal(v, &f) != nil || f != 6 {
			o.fail("max_value", "%s is not supported (null or 6)", truncate(v))
		}
		a = engine.ReLU6
	}
	return &engine.Act{Name: name, Activation: a}
}

func (b *builder) batchNorm(name string, o *options) (engine.Layer, error) {
	axis, ok := o.numbers("axis")
	if ok && (len(axis) != 1 || (axis[0] != -1 && axis[0] != float64(b.rank-1))) {
		o.fail("axis", "%v is not supported (only the channel axis, -1)", axis)
	}
	eps := o.number("epsilon", 1e-3)
	center := o.boolean("center", true)
	scale := o.boolean("scale", true)
	o.want("renorm", "false")
	o.want("synchronized", "false")
	o.want("virtual_batch_size")
	o.want("adjustment")
	if o.err != nil {
		return nil, o.err
	}
	c := b.shape.C
	shapes := map[string][]int{"moving_mean": {c}, "moving_variance": {c}}
	if scale {
		shapes["gamma"] = []int{c}
	}
	if center {
		shapes["beta"] = []int{c}
	}
	w, err := b.fetch(o, name, true, shapes)
	if err != nil {
		return nil, err
	}
	for i, v := range w["moving_variance"].data {
		if !(v >= 0) {
			return nil, fmt.Errorf("%s: moving_variance[%d] = %g is negative", o.layer, i, v)
		}
	}
	return engine.BatchNorm(name, w["gamma"].data, w["beta"].data, w["moving_mean"].data, w["moving_variance"].data, eps)
}

func (b *builder) rescaling(name string, o *options) engine.Layer {
	l := &engine.Affine{Name: name, Scale: []float32{1}, Shift: []float32{0}}
	for key, dst := range map[string]*[]float32{"scale": &l.Scale, "offset": &l.Shift} {
		if vs, ok := o.numbers(key); ok {
			*dst = (*dst)[:0]
			for _, v := range vs {
				*dst = append(*dst, float32(v))
			}
		}
	}
	return l
}

// fetch loads the weights with the given roles and expected shapes; "bias"
// only when useBias.
func (b *builder) fetch(o *options, name string, useBias bool, shapes map[string][]int) (map[string]tensor, error) {
	if !useBias {
		delete(shapes, "bias")
	}
	roles := make([]string, 0, len(shapes))
	for _, r := range weightOrder {
		if _, ok := shapes[r]; ok {
			roles = append(roles, r)
		}
	}
	w, err := b.ws.weights(name, roles, shapes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.layer, err)
	}
	for _, r := range roles {
		t, ok := w[r]
		if !ok {
			return nil, fmt.Errorf("%s: weight %q is missing", o.layer, r)
		}
		if !slices.Equal(t.shape, shapes[r]) {
			return nil, fmt.Errorf("%s: weight %q has shape %v, the config implies %v", o.layer, r, t.shape, shapes[r])
		}
	}
	return w, nil
}

// weightOrder is the order in which Keras creates a layer's variables,
// which is also the order of Keras 3's numbered "vars" datasets.
var weightOrder = []string{"depthwise_kernel", "pointwise_kernel", "kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"}
