package classifier

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Input normalization: the model takes (255*x - mean) / std of each
// pixel's channel value x in [0,1], for models trained on other inputs
// than huskyai's [0,1] (a float MobileNet's [-1,1]: mean 127.5, std 127.5;
// a torchvision export's ImageNet statistics: mean 123.675,116.28,103.53,
// std 58.395,57.12,57.375). The values are in pixel units, as TFLite's
// metadata and most model cards give them.

// ParseNormalization reads a mean or std: one number, or one per channel
// (comma-separated).
func ParseNormalization(spec string) ([]float32, error) {
	var out []float32
	for _, f := range strings.Split(spec, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
		if err != nil {
			return nil, fmt.Errorf("%q: want a number or one per channel, comma-separated", spec)
		}
		out = append(out, float32(v))
	}
	return out, nil
}

// normalized is an Engine whose input is normalized before the inner
// engine runs it.
type normalized struct {
	Engine
	scale, shift []float32 // per channel: x' = x*scale + shift
	bufs         sync.Pool // *[]float32
}

// normalize wraps e with the normalization of mean and std (each one
// value or one per input channel), or returns e when both are empty.
func normalize(e Engine, mean, std []float32) (Engine, error) {
	if len(mean) == 0 && len(std) == 0 {
		return e, nil
	}
	c := e.InputShape().C
	per := func(v []float32, def float32, what string) ([]float32, error) {
		switch len(v) {
		case 0:
			v = []float32{def}
			fallthrough
		case 1:
			out := make([]float32, c)
			for i := range out {
				out[i] = v[0]
			}
			return out, nil
		case c:
			return v, nil
		}
		return nil, fmt.Errorf("input %s has %d values; the model's input has %d channels", what, len(v), c)
	}
	m, err := per(mean, 0, "mean")
	if err != nil {
		return nil, err
	}
	s, err := per(std, 1, "std")
	if err != nil {
		return nil, err
	}
	n := &normalized{Engine: e, scale: make([]float32, c), shift: make([]float32, c)}
	for i := range c {
		if !(s[i] > 0) {
			return nil, fmt.Errorf("input std %v: want positive values", std)
		}
		n.scale[i], n.shift[i] = 255/s[i], -m[i]/s[i]
	}
	return n, nil
}

// apply returns x normalized, in a buffer to give back with put.
func (n *normalized) apply(x []float32) *[]float32 {
	b, _ := n.bufs.Get().(*[]float32)
	if b == nil {
		b = new([]float32)
	}
	if cap(*b) < len(x) {
		*b = make([]float32, len(x))
	}
	y := (*b)[:len(x)]
	c := len(n.scale)
	for i, v := range x {
		k := i % c
		y[i] = v*n.scale[k] + n.shift[k]
	}
	*b = y
	return b
}

// Predict runs x normalized.
func (n *normalized) Predict(dst, x []float32) ([]float32, error) {
	b := n.apply(x)
	defer n.bufs.Put(b)
	return n.Engine.Predict(dst, *b)
}

// PredictBatchTo runs the n images of x normalized.
func (n *normalized) PredictBatchTo(dst, x []float32, count int) ([]float32, error) {
	b := n.apply(x)
	defer n.bufs.Put(b)
	return n.Engine.PredictBatchTo(dst, *b, count)
}
