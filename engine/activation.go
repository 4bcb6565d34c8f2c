package engine

import (
	"fmt"
	"math"

	"github.com/huskyai/huskyai/engine/internal/kernels"
)

// Activation is an element-wise (or, for Softmax, per-position) function
// applied after a layer.
type Activation int

// The activations the engine implements.
const (
	Linear Activation = iota
	ReLU
	ReLU6
	Sigmoid
	Tanh
	Softmax // over the channel axis
	ELU     // alpha = 1, as Keras' "elu"
	// SiLU is x*sigmoid(x) (Keras' "swish" and "silu").
	SiLU
	// HardSigmoid is relu6(x+3)/6 = clip(x/6 + 1/2, 0, 1), as Keras 3,
	// PyTorch and MobileNetV3 define it (Keras 2's "hard_sigmoid",
	// clip(0.2x + 0.5, 0, 1), is another function).
	HardSigmoid
	// HardSwish is x*relu6(x+3)/6 (Keras 3's "hard_silu").
	HardSwish
)

var activationNames = [...]string{
	Linear:      "linear",
	ReLU:        "relu",
	ReLU6:       "relu6",
	Sigmoid:     "sigmoid",
	Tanh:        "tanh",
	Softmax:     "softmax",
	ELU:         "elu",
	SiLU:        "silu",
	HardSigmoid: "hard_sigmoid",
	HardSwish:   "hard_silu",
}

// activationAliases are other Keras names of the same functions.
var activationAliases = map[string]Activation{"swish": SiLU, "hard_swish": HardSwish}

// String returns the Keras name of a.
func (a Activation) String() string {
	if a >= 0 && int(a) < len(activationNames) {
		return activationNames[a]
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

// ParseActivation maps a Keras activation name to an Activation.
func ParseActivation(name string) (Activation, error) {
	if a, ok := activationAliases[name]; ok {
		return a, nil
	}
	for a, n := range activationNames {
		if n == name {
			return Activation(a), nil
		}
	}
	return 0, fmt.Errorf("unsupported activation %q", name)
}

// kernel returns the kernels' fused form of a, and whether there is one
// (ReLU, ReLU6; else the layer applies a after the kernel).
func (a Activation) kernel() (kernels.Act, bool) {
	switch a {
	case ReLU:
		return kernels.ActReLU, true
	case ReLU6:
		return kernels.ActReLU6, true
	}
	return kernels.ActNone, a == Linear
}

// apply runs a in place over x, whose innermost axis has c elements.
func (a Activation) apply(x []float32, c int) {
	switch a {
	case Linear:
	case ReLU:
		for i, v := range x {
			if v < 0 {
				x[i] = 0
			}
		}
	case ReLU6:
		for i, v := range x {
			x[i] = min(max(v, 0), 6)
		}
	case Sigmoid:
		for i, v := range x {
			x[i] = sigmoid(v)
		}
	case Tanh:
		for i, v := range x {
			x[i] = float32(math.Tanh(float64(v)))
		}
	case ELU:
		for i, v := range x {
			if v < 0 {
				x[i] = float32(math.Expm1(float64(v)))
			}
		}
	case SiLU:
		for i, v := range x {
			x[i] = v * sigmoid(v)
		}
	case HardSigmoid:
		for i, v := range x {
			x[i] = min(max(v+3, 0), 6) / 6
		}
	case HardSwish:
		for i, v := range x {
			x[i] = v * (min(max(v+3, 0), 6) / 6)
		}
	case Softmax:
		for off := 0; off+c <= len(x); off += c {
			softmax(x[off : off+c])
		}
	default:
		panic("model: unknown activation " + a.String())
	}
}

// sigmoid is the logistic function, computed in float64 so that it is
// accurate at both ends.
func sigmoid(v float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(v))))
}

// softmax normalises x in place, subtracting the maximum for stability.
func softmax(x []float32) {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	var sum float64
	for i, v := range x {
		e := math.Exp(float64(v - m))
		x[i] = float32(e)
		sum += e
	}
	for i := range x {
		x[i] = float32(float64(x[i]) / sum)
	}
}
