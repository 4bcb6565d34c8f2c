package keras

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// layerConfig is one entry of a Keras model config's "layers" list.
type layerConfig struct {
	ClassName string          `json:"class_name"`
	Name      string          `json:"name"` // Functional only; Sequential names live in Config
	Config    json.RawMessage `json:"config"`
	// InboundNodes is Keras 2's [[["name", 0, 0, {}]]] or Keras 3's
	// [{"args": [{"class_name": "__keras_tensor__", ...}], "kwargs": {}}].
	InboundNodes json.RawMessage `json:"inbound_nodes"`
}

// modelConfig is the top of a Keras model config.
type modelConfig struct {
	ClassName string `json:"class_name"`
	Config    struct {
		Name         string          `json:"name"`
		Layers       []layerConfig   `json:"layers"`
		InputLayers  json.RawMessage `json:"input_layers"`
		OutputLayers json.RawMessage `json:"output_layers"`
		// BuildInputShape is Keras 3's Sequential "build_input_shape".
		BuildInputShape []*int `json:"build_input_shape"`
	} `json:"config"`
}

// maxConfigLayers bounds the layers a config may list.
const maxConfigLayers = 10000

// graphLayer is a layer of the model in execution order, with the names
// of the layers whose outputs it reads (none for the input layer; for a
// Sequential model, the layer before it).
type graphLayer struct {
	layerConfig
	inputs []string
}

// parseModelConfig decodes the model config JSON and orders its layers
// for execution, each with its inputs.
func parseModelConfig(data []byte) (*modelConfig, []graphLayer, error) {
	var mc modelConfig
	if err := json.Unmarshal(data, &mc); err != nil {
		return nil, nil, fmt.Errorf("model config: %w", err)
	}
	if n := len(mc.Config.Layers); n == 0 || n > maxConfigLayers {
		return nil, nil, fmt.Errorf("model config: %d layers (want 1..%d)", n, maxConfigLayers)
	}
	switch mc.ClassName {
	case "Sequential":
		var g []graphLayer
		prev := ""
		for _, l := range mc.Config.Layers {
			gl := graphLayer{layerConfig: l}
			if prev != "" {
				gl.inputs = []string{prev}
			}
			prev = layerName(l)
			g = append(g, gl)
		}
		return &mc, g, nil
	case "Functional", "Model":
		g, err := functionalGraph(&mc)
		return &mc, g, err
	default:
		return nil, nil, fmt.Errorf("model config: model class %q is not supported (want Sequential or Functional)", mc.ClassName)
	}
}

// functionalGraph returns the layers of a Functional model in an
// execution order (each after the layers it reads), with their inputs:
// one input layer, one output layer, and every layer on a path between
// them.
func functionalGraph(mc *modelConfig) ([]graphLayer, error) {
	byName := make(map[string]int, len(mc.Config.Layers))
	for i, l := range mc.Config.Layers {
		if l.Name == "" {
			return nil, fmt.Errorf("model config: layer %d (%s) has no name", i, l.ClassName)
		}
		if _, dup := byName[l.Name]; dup {
			return nil, fmt.Errorf("model config: two layers named %q", l.Name)
		}
		byName[l.Name] = i
	}
	in, err := endpoints(mc.Config.InputLayers)
	if err != nil || len(in) != 1 {
		return nil, fmt.Errorf("model config: input_layers %s: want exactly one input (%v)", mc.Config.InputLayers, err)
	}
	out, err := endpoints(mc.Config.OutputLayers)
	if err != nil || len(out) != 1 {
		return nil, fmt.Errorf("model config: output_layers %s: want exactly one output (%v)", mc.Config.OutputLayers, err)
	}
	layers := make([]graphLayer, len(mc.Config.Layers))
	for i, l := range mc.Config.Layers {
		srcs, err := inboundLayers(l.InboundNodes)
		if err != nil {
			return nil, fmt.Errorf("model config: layer %q: inbound_nodes: %w", l.Name, err)
		}
		if (l.ClassName == "InputLayer") != (len(srcs) == 0) {
			return nil, fmt.Errorf("model config: layer %q (%s) has %d inputs", l.Name, l.ClassName, len(srcs))
		}
		if l.ClassName == "InputLayer" && l.Name != in[0] {
			return nil, fmt.Errorf("model config: input layer %q is not the model's input %q; models with several inputs are not supported", l.Name, in[0])
		}
		for _, src := range srcs {
			if _, ok := byName[src]; !ok {
				return nil, fmt.Errorf("model config: layer %q takes input from unknown layer %q", l.Name, src)
			}
		}
		layers[i] = graphLayer{layerConfig: l, inputs: srcs}
	}
	// Depth-first from the output: each layer after its inputs.
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, len(layers))
	var order []graphLayer
	var visit func(name string) error
	visit = func(name string) error {
		i, ok := byName[name]
		if !ok {
			return fmt.Errorf("model config: unknown layer %q", name)
		}
		switch state[i] {
		case visiting:
			return fmt.Errorf("model config: layers form a cycle through %q", name)
		case done:
			return nil
		}
		state[i] = visiting
		for _, src := range layers[i].inputs {
			if err := visit(src); err != nil {
				return err
			}
		}
		state[i] = done
		order = append(order, layers[i])
		return nil
	}
	if err := visit(out[0]); err != nil {
		return nil, err
	}
	if len(order) != len(layers) {
		return nil, fmt.Errorf("model config: %d of %d layers do not lead to the output %q", len(layers)-len(order), len(layers), out[0])
	}
	if order[0].Name != in[0] {
		return nil, fmt.Errorf("model config: the output does not depend on input %q alone", in[0])
	}
	return order, nil
}

// endpoints decodes input_layers / output_layers: [["name", 0, 0], ...] or
// a single ["name", 0, 0].
func endpoints(raw json.RawMessage) ([]string, error) {
	var many [][]json.RawMessage
	if err := json.Unmarshal(raw, &many); err == nil {
		var names []string
		for _, e := range many {
			n, err := historyName(e)
			if err != nil {
				return nil, err
			}
			names = append(names, n)
		}
		return names, nil
	}
	var one []json.RawMessage
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, err
	}
	n, err := historyName(one)
	if err != nil {
		return nil, err
	}
	return []string{n}, nil
}

// historyName returns the layer name of a ["name", node, tensor, ...] ref.
func historyName(ref []json.RawMessage) (string, error) {
	if len(ref) < 3 {
		return "", fmt.Errorf("tensor reference has %d fields, want 3 or 4", len(ref))
	}
	var name string
	if err := json.Unmarshal(ref[0], &name); err != nil {
		return "", fmt.Errorf("tensor reference: %w", err)
	}
	var node, tensor int
	if json.Unmarshal(ref[1], &node) != nil || json.Unmarshal(ref[2], &tensor) != nil || node != 0 || tensor != 0 {
		return "", fmt.Errorf("tensor reference to %q: only node 0, tensor 0 is supported (shared layers are not)", name)
	}
	return name, nil
}

// inboundLayers returns the names of the layers whose outputs a layer
// consumes, from either Keras 2's or Keras 3's inbound_nodes encoding.
func inboundLayers(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var nodes []json.RawMessage
	if err := json.Unmarshal(raw, &nodes); err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, nil
	}
	if len(nodes) > 1 {
		return nil, fmt.Errorf("layer is called %d times; shared layers are not supported", len(nodes))
	}
	node := nodes[0]
	// Keras 2: a node is a list of [name, node, tensor, kwargs].
	var k2 [][]json.RawMessage
	if err := json.Unmarshal(node, &k2); err == nil {
		var names []string
		for _, ref := range k2 {
			if len(ref) == 4 && !emptyObject(ref[3]) {
				return nil, fmt.Errorf("call arguments %s are not supported", ref[3])
			}
			n, err := historyName(ref)
			if err != nil {
				return nil, err
			}
			names = append(names, n)
		}
		return names, nil
	}
	// Keras 3: {"args": [tensor...], "kwargs": {}}.
	var k3 struct {
		Args   []json.RawMessage `json:"args"`
		Kwargs json.RawMessage   `json:"kwargs"`
	}
	if err := json.Unmarshal(node, &k3); err != nil {
		return nil, fmt.Errorf("unrecognised node %s", truncate(node))
	}
	if !emptyObject(k3.Kwargs) {
		return nil, fmt.Errorf("call arguments %s are not supported", truncate(k3.Kwargs))
	}
	var names []string
	args := k3.Args
	if len(args) == 1 {
		// A merge layer's one argument is a list of tensors.
		var list []json.RawMessage
		if json.Unmarshal(args[0], &list) == nil {
			args = list
		}
	}
	for _, a := range args {
		var t struct {
			ClassName string `json:"class_name"`
			Config    struct {
				KerasHistory []json.RawMessage `json:"keras_history"`
			} `json:"config"`
		}
		if err := json.Unmarshal(a, &t); err != nil || t.ClassName != "__keras_tensor__" {
			return nil, fmt.Errorf("argument %s is not a single tensor", truncate(a))
		}
		n, err := historyName(t.Config.KerasHistory)
		if err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, nil
}

func emptyObject(raw json.RawMessage) bool {
	s := string(bytes.TrimSpace(raw))
	return s == "" || s == "{}" || s == "null"
}

func truncate(raw []byte) string {
	if len(raw) > 80 {
		return string(raw[:80]) + "..."
	}
	return string(raw)
}

// options reads one layer's "config" object. Each getter marks its key as
// used; check then refuses any key that was neither used nor known to be
// irrelevant at inference, so that an option this engine does not
// implement is an error, never silently ignored.
type options struct {
	layer string // for errors: `layer "conv2d" (Conv2D)`
	m     map[string]json.RawMessage
	used  map[string]bool
	err   error
}

func newOptions(class, name string, raw json.RawMessage) (*options, error) {
	o := &options{layer: fmt.Sprintf("layer %q (%s)", name, class), used: map[string]bool{}}
	if err := json.Unmarshal(raw, &o.m); err != nil {
		return nil, fmt.Errorf("%s: config: %w", o.layer, err)
	}
	return o, nil
}

// ignored are config keys that do not change what a layer computes at
// inference: names, training-time initializers, regularizers, constraints,
// statistics momentum, dropout randomness.
var ignored = map[string]bool{
	"name": true, "trainable": true, "batch_input_shape": true, "batch_shape": true, "input_shape": true,
	"kernel_initializer": true, "bias_initializer": true, "kernel_regularizer": true, "bias_regularizer": true,
	"activity_regularizer": true, "kernel_constraint": true, "bias_constraint": true,
	"beta_initializer": true, "gamma_initializer": true, "moving_mean_initializer": true, "moving_variance_initializer": true,
	"beta_regularizer": true, "gamma_regularizer": true, "beta_constraint": true, "gamma_constraint": true,
	"momentum": true, "fused": true, "noise_shape": true, "seed": true, "rate": true,
	// Only used with renorm, which must be false.
	"renorm_clipping": true, "renorm_momentum": true,
}

func (o *options) raw(key string) (json.RawMessage, bool) {
	o.used[key] = true
	v, ok := o.m[key]
	if ok && string(v) == "null" {
		return nil, false
	}
	return v, ok
}

func (o *options) fail(key string, format string, args ...any) {
	if o.err == nil {
		o.err = fmt.Errorf("%s: option %q: %s", o.layer, key, fmt.Sprintf(format, args...))
	}
}

// str returns a string option, def if absent.
func (o *options) str(key, def string) string {
	v, ok := o.raw(key)
	if !ok {
		return def
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		o.fail(key, "want a string, got %s", truncate(v))
	}
	return s
}

// boolean returns a bool option, def if absent.
func (o *options) boolean(key string, def bool) bool {
	v, ok := o.raw(key)
	if !ok {
		return def
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		o.fail(key, "want true or false, got %s", truncate(v))
	}
	return b
}

// number returns a numeric option, def if absent.
func (o *options) number(key string, def float64) float64 {
	v, ok := o.raw(key)
	if !ok {
		return def
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		o.fail(key, "want a number, got %s", truncate(v))
	}
	return f
}

// numbers returns an option that is a number or a list of numbers.
func (o *options) numbers(key string) ([]float64, bool) {
	v, ok := o.raw(key)
	if !ok {
		return nil, false
	}
	var f float64
	if err := json.Unmarshal(v, &f); err == nil {
		return []float64{f}, true
	}
	var fs []float64
	if err := json.Unmarshal(v, &fs); err != nil {
		o.fail(key, "want a number or a list of numbers, got %s", truncate(v))
	}
	return fs, true
}

// pair returns a 2-D size option given as [a, b] or a single integer; def
// if absent.
func (o *options) pair(key string, def [2]int) [2]int {
	vs, ok := o.numbers(key)
	if !ok {
		return def
	}
	switch len(vs) {
	case 1:
		vs = []float64{vs[0], vs[0]}
	case 2:
	default:
		o.fail(key, "want 2 values, got %d", len(vs))
		return def
	}
	var p [2]int
	for i, v := range vs {
		if v != float64(int(v)) || v < 1 || v > 1<<12 {
			o.fail(key, "value %v is not an integer in 1..4096", v)
			return def
		}
		p[i] = int(v)
	}
	return p
}

// want requires an option to be absent or equal to one of the accepted
// JSON values (compared after compacting).
func (o *options) want(key string, accepted ...string) {
	v, ok := o.raw(key)
	if !ok {
		return
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		o.fail(key, "invalid JSON")
		return
	}
	for _, a := range accepted {
		if buf.String() == a {
			return
		}
	}
	o.fail(key, "value %s is not supported (supported: %s)", truncate(buf.Bytes()), strings.Join(accepted, ", "))
}

// dtype accepts float32, as a string or as a Keras 3 DTypePolicy.
func (o *options) dtype() {
	v, ok := o.raw("dtype")
	if !ok {
		return
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		if s != "float32" {
			o.fail("dtype", "%q is not supported (only float32)", s)
		}
		return
	}
	var p struct {
		Config struct {
			Name string `json:"name"`
		} `json:"config"`
	}
	if json.Unmarshal(v, &p) != nil || p.Config.Name != "float32" {
		o.fail("dtype", "policy %s is not supported (only float32)", truncate(v))
	}
}

// check returns the first error met, or an error naming every option that
// was present, not null, and neither read nor known to be irrelevant.
func (o *options) check() error {
	if o.err != nil {
		return o.err
	}
	var unknown []string
	for k, v := range o.m {
		if o.used[k] || ignored[k] || string(v) == "null" {
			continue
		}
		unknown = append(unknown, fmt.Sprintf("%q = %s", k, truncate(v)))
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("%s: unsupported option %s", o.layer, strings.Join(unknown, ", "))
	}
	return nil
}
