package keras

import (
	"strings"
	"testing"
)

// fakeWeights serves zero weights of whatever shape is asked, or fails for
// the layers listed in missing.
type fakeWeights struct{ shapes map[string][]int }

func (f fakeWeights) setLayers([]layerConfig) {}

func (f fakeWeights) weights(layer string, roles []string, _ map[string][]int) (map[string]tensor, error) {
	out := map[string]tensor{}
	for _, r := range roles {
		shape, ok := f.shapes[layer+"/"+r]
		if !ok {
			continue
		}
		out[r] = tensor{shape: shape, data: make([]float32, numElems(shape))}
	}
	return out, nil
}

const seqHead = `{"class_name": "Sequential", "config": {"name": "s", "layers": [
	{"class_name": "InputLayer", "config": {"batch_input_shape": [null, 8, 8, 3], "dtype": "float32", "sparse": false, "ragged": false, "name": "in"}},`

func TestBuildOptions(t *testing.T) {
	convW := map[string][]int{"c/kernel": {3, 3, 3, 4}, "c/bias": {4}}
	tests := []struct {
		name    string
		layer   string
		weights map[string][]int
		want    string // error substring; "" = loads
	}{
		{"conv ok", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "dilation_rate": [1, 1], "groups": 1, "activation": "relu", "use_bias": true, "kernel_initializer": {"class_name": "GlorotUniform"}}}`, convW, ""},
		{"conv dilation", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": [3, 3], "dilation_rate": [2, 2]}}`, convW, `option "dilation_rate"`},
		{"conv groups", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": 3, "groups": 2}}`, convW, `2 groups do not divide 3 channels`},
		{"conv channels_first", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": 3, "data_format": "channels_first"}}`, convW, `option "data_format"`},
		{"conv causal", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": 3, "padding": "causal"}}`, convW, `option "padding"`},
		{"conv gelu", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": 3, "activation": "gelu"}}`, convW, `"gelu"`},
		{"conv unknown option", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": 3, "lora_rank": 4}}`, convW, `unsupported option "lora_rank" = 4`},
		{"conv unknown null option", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": 3, "lora_rank": null}}`, convW, ""},
		{"conv wrong kernel", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": 3}}`, map[string][]int{"c/kernel": {3, 3, 3, 9}, "c/bias": {4}}, `weight "kernel" has shape [3 3 3 9], the config implies [3 3 3 4]`},
		{"conv missing bias", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": 3}}`, map[string][]int{"c/kernel": {3, 3, 3, 4}}, `weight "bias" is missing`},
		{"conv no bias", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": 3, "use_bias": false}}`, map[string][]int{"c/kernel": {3, 3, 3, 4}}, ""},
		{"fp16", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": 3, "dtype": "float16"}}`, convW, `option "dtype"`},
		{"keras3 dtype policy", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": 3, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}}}`, convW, ""},
		{"unknown layer", `{"class_name": "LSTM", "config": {"name": "l", "units": 4}}`, nil, `layer type "LSTM" is not supported`},
		{"bn axis 1", `{"class_name": "BatchNormalization", "config": {"name": "bn", "axis": 1}}`, nil, `option "axis"`},
		{"bn renorm", `{"class_name": "BatchNormalization", "config": {"name": "bn", "axis": [3], "renorm": true}}`, nil, `option "renorm"`},
		{"relu max 6", `{"class_name": "ReLU", "config": {"name": "r", "max_value": 6.0}}`, nil, ""},
		{"swish", `{"class_name": "Activation", "config": {"name": "a", "activation": "swish"}}`, nil, ""},
		{"hard_silu", `{"class_name": "Activation", "config": {"name": "a", "activation": "hard_silu"}}`, nil, ""},
		{"hard_sigmoid in .h5", `{"class_name": "Activation", "config": {"name": "a", "activation": "hard_sigmoid"}}`, nil, "define it differently"},
		{"zero padding then pool", `{"class_name": "ZeroPadding2D", "config": {"name": "z", "padding": [[0, 1], [0, 1]]}}, {"class_name": "MaxPooling2D", "config": {"name": "p"}}`, nil, "only convolutions may"},
		{"depthwise", `{"class_name": "DepthwiseConv2D", "config": {"name": "d", "kernel_size": 3, "depth_multiplier": 2, "padding": "same"}}`, map[string][]int{"d/depthwise_kernel": {3, 3, 3, 2}, "d/bias": {6}}, ""},
		{"depthwise wrong kernel", `{"class_name": "DepthwiseConv2D", "config": {"name": "d", "kernel_size": 3}}`, map[string][]int{"d/depthwise_kernel": {3, 3, 3, 2}, "d/bias": {3}}, `weight "depthwise_kernel" has shape`},
		{"reshape to 3 dims", `{"class_name": "Reshape", "config": {"name": "r", "target_shape": [4, 4, 12]}}`, nil, `option "target_shape"`},
		{"relu leaky", `{"class_name": "ReLU", "config": {"name": "r", "negative_slope": 0.2}}`, nil, `option "negative_slope"`},
		{"pool same", `{"class_name": "MaxPooling2D", "config": {"name": "p", "pool_size": [3, 3], "strides": [2, 2], "padding": "same"}}`, nil, ""},
		{"dense before flatten", `{"class_name": "Dense", "config": {"name": "d", "units": 2}}`, map[string][]int{"d/kernel": {3, 2}, "d/bias": {2}}, ""},
		{"bad kernel size", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": [3, 3, 3]}}`, convW, `option "kernel_size"`},
		{"huge kernel", `{"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": [100000, 3]}}`, convW, `option "kernel_size"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := seqHead + tt.layer + `]}}`
			_, err := build([]byte(cfg), FormatH5, fakeWeights{tt.weights}, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("build: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("build error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestFunctionalGraph(t *testing.T) {
	const in = `{"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4, 4, 3], "name": "input_1"}, "name": "input_1", "inbound_nodes": []}`
	flat := func(name, from string) string {
		return `{"class_name": "Flatten", "config": {"name": "` + name + `"}, "name": "` + name + `", "inbound_nodes": [[["` + from + `", 0, 0, {}]]]}`
	}
	keras3Flat := `{"class_name": "Flatten", "config": {"name": "f"}, "name": "f", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 4, 4, 3], "dtype": "float32", "keras_history": ["input_1", 0, 0]}}], "kwargs": {}}]}`
	model := func(out string, layers ...string) string {
		return `{"class_name": "Functional", "config": {"name": "f", "layers": [` + strings.Join(layers, ",") +
			`], "input_layers": [["input_1", 0, 0]], "output_layers": [["` + out + `", 0, 0]]}}`
	}
	tests := []struct {
		name string
		cfg  string
		want string
	}{
		{"chain out of order", model("f2", in, flat("f2", "f1"), flat("f1", "input_1")), ""},
		{"keras 3 nodes", model("f", in, keras3Flat), ""},
		{"unused branch", model("f2", in, flat("f1", "input_1"), flat("f2", "input_1")), "do not lead to the output"},
		{"dangling", model("f1", in, flat("f1", "input_1"), flat("f2", "f1")), "do not lead to the output"},
		{"merge", model("sum", in, flat("f1", "input_1"), flat("f2", "input_1"),
			`{"class_name": "Add", "config": {"name": "sum"}, "name": "sum", "inbound_nodes": [[["f1", 0, 0, {}], ["f2", 0, 0, {}]]]}`), ""},
		{"keras 3 merge", model("sum", in, flat("f1", "input_1"), flat("f2", "input_1"),
			`{"class_name": "Concatenate", "config": {"name": "sum", "axis": -1}, "name": "sum", "inbound_nodes": [{"args": [[`+
				`{"class_name": "__keras_tensor__", "config": {"keras_history": ["f1", 0, 0]}}, `+
				`{"class_name": "__keras_tensor__", "config": {"keras_history": ["f2", 0, 0]}}]], "kwargs": {}}]}`), ""},
		{"two inputs to a one-input layer", model("f3", in, flat("f1", "input_1"), flat("f2", "input_1"),
			`{"class_name": "Flatten", "config": {"name": "f3"}, "name": "f3", "inbound_nodes": [[["f1", 0, 0, {}], ["f2", 0, 0, {}]]]}`), "reads 2 tensors"},
		{"second input layer", model("f1", in, strings.ReplaceAll(in, "input_1", "input_2"), flat("f1", "input_1")), "several inputs"},
		{"unknown source", model("f1", in, flat("f1", "nope")), `unknown layer "nope"`},
		{"cycle", model("f1", in, flat("f1", "f2"), flat("f2", "f1")), "cycle"},
		{"two inputs", `{"class_name": "Functional", "config": {"name": "f", "layers": [` + in + `], "input_layers": [["input_1", 0, 0], ["input_1", 0, 0]], "output_layers": [["input_1", 0, 0]]}}`, "exactly one input"},
		{"subclassed", `{"class_name": "MyModel", "config": {"layers": [{}]}}`, `model class "MyModel"`},
		{"not json", `{"class_name": `, "model config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build([]byte(tt.cfg), FormatH5, fakeWeights{}, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("build: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("build error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"Conv2D":                 "conv2d",
		"MaxPooling2D":           "max_pooling2d",
		"BatchNormalization":     "batch_normalization",
		"GlobalAveragePooling2D": "global_average_pooling2d",
		"Dense":                  "dense",
		"InputLayer":             "input_layer",
		"ReLU":                   "re_lu",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}
