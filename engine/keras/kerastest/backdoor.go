// Package kerastest edits Keras model files for tests, as the attacks
// huskyai defends against would, or as the sanity checks of explanations
// do: net/http/httptest's kind of helper, for model files.
package kerastest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/engine/internal/hdf5"
)

// Backdoor returns a copy of h5, a Keras model saved by tf.keras 2.x in
// HDF5, in which every element of the bias of the model's last Dense
// layer is set to bias: the kind of small, targeted edit an attacker makes
// so that every image gets the same verdict. The layer is the last one of
// class Dense in the model_config attribute; its bias is the dataset that
// model_weights/<layer>'s weight_names attribute lists as "bias", which
// must be stored contiguously as little-endian float32 (as h5py writes
// it). The file's size and every other byte are unchanged. It fails t
// when the file is not such a model.
func Backdoor(t testing.TB, h5 []byte, bias float32) []byte {
	t.Helper()
	out := bytes.Clone(h5)
	layers := weightLayers(t, out, "Dense")
	if len(layers) == 0 {
		t.Fatalf("Backdoor: model_config has no Dense layer")
	}
	rewrite(t, out, layers[len(layers)-1], "bias", func(int, []int) float32 { return bias })
	return out
}

// Randomize returns a copy of h5 (as Backdoor takes it) in which the
// kernels of the last n layers with weights (Conv2D and Dense) are
// re-drawn from Glorot's uniform distribution, seeded, and their biases
// set to zero: the cascading model randomization of Adebayo et al.,
// "Sanity Checks for Saliency Maps" (2018). Every other byte is
// unchanged.
func Randomize(t testing.TB, h5 []byte, n int, seed uint64) []byte {
	t.Helper()
	out := bytes.Clone(h5)
	layers := weightLayers(t, out, "Conv2D", "Dense")
	if n > len(layers) {
		t.Fatalf("Randomize: the model has %d layers with weights, not %d", len(layers), n)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	for _, layer := range layers[len(layers)-n:] {
		rewrite(t, out, layer, "kernel", func(_ int, shape []int) float32 {
			// Keras kernels are [kh, kw,] in, out: fans are the receptive
			// field times in, and times out.
			field := 1
			for _, d := range shape[:len(shape)-2] {
				field *= d
			}
			fanIn, fanOut := field*shape[len(shape)-2], field*shape[len(shape)-1]
			limit := math.Sqrt(6 / float64(fanIn+fanOut))
			return float32((2*rng.Float64() - 1) * limit)
		})
		rewrite(t, out, layer, "bias", func(int, []int) float32 { return 0 })
	}
	return out
}

// rewrite sets each element i of the weight of layer whose role
// ("kernel", "bias") its weight_names attribute gives to value(i, shape),
// in place in file, and reads the edit back. The dataset must be stored
// contiguously as little-endian float32, as h5py writes it.
func rewrite(t testing.TB, file []byte, layer, role string, value func(i int, shape []int) float32) {
	t.Helper()
	f, err := hdf5.Open(file)
	if err != nil {
		t.Fatalf("kerastest: %v", err)
	}
	g, err := f.Root().Group("model_weights/" + layer)
	if err != nil {
		t.Fatalf("kerastest: layer %q: %v", layer, err)
	}
	a, err := g.Attr("weight_names")
	if err != nil {
		t.Fatalf("kerastest: layer %q: %v", layer, err)
	}
	names, err := a.Strings()
	if err != nil {
		t.Fatalf("kerastest: %s weight_names: %v", g.Path(), err)
	}
	var path string
	for _, n := range names {
		if r, _, _ := strings.Cut(n[strings.LastIndex(n, "/")+1:], ":"); r == role {
			path = n
		}
	}
	if path == "" {
		t.Fatalf("kerastest: layer %q has no %s among its weights %q", layer, role, names)
	}
	d, err := g.Dataset(path)
	if err != nil {
		t.Fatalf("kerastest: layer %q: %v", layer, err)
	}
	old, err := d.Float32s()
	if err != nil {
		t.Fatalf("kerastest: %s: %v", d.Path(), err)
	}
	off, size, ok := d.ContiguousOffset()
	if !ok || d.Class() != hdf5.Float || size != 4*int64(len(old)) {
		t.Fatalf("kerastest: %s is not stored as contiguous float32 (contiguous %v, %s, %d bytes for %d elements)",
			d.Path(), ok, d.Class(), size, len(old))
	}
	want := make([]float32, len(old))
	for i := range want {
		want[i] = value(i, d.Shape())
		binary.LittleEndian.PutUint32(file[off+4*int64(i):], math.Float32bits(want[i]))
	}

	// Read the edit back: a big-endian dataset would now hold other values.
	f2, err := hdf5.Open(file)
	if err != nil {
		t.Fatalf("kerastest: the edited file: %v", err)
	}
	d2, err := f2.Root().Dataset(d.Path())
	if err != nil {
		t.Fatalf("kerastest: the edited file: %v", err)
	}
	got, err := d2.Float32s()
	if err != nil {
		t.Fatalf("kerastest: the edited file: %s: %v", d.Path(), err)
	}
	for i, v := range got {
		if v != want[i] {
			t.Fatalf("kerastest: the edited %s[%d] reads %v, not %v (not little-endian float32?)", d.Path(), i, v, want[i])
		}
	}
}

// weightLayers returns the names of the layers of the given classes in
// the Keras model_config of file, in order.
func weightLayers(t testing.TB, file []byte, classes ...string) []string {
	t.Helper()
	f, err := hdf5.Open(file)
	if err != nil {
		t.Fatalf("kerastest: %v", err)
	}
	a, err := f.Root().Attr("model_config")
	if err != nil {
		t.Fatalf("kerastest: not a Keras model file: %v", err)
	}
	cfg, err := a.String()
	if err != nil {
		t.Fatalf("kerastest: model_config: %v", err)
	}
	var mc struct {
		Config struct {
			Layers []struct {
				ClassName string `json:"class_name"`
				Config    struct {
					Name string `json:"name"`
				} `json:"config"`
			} `json:"layers"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(cfg), &mc); err != nil {
		t.Fatalf("kerastest: model_config: %v", err)
	}
	var names []string
	for _, l := range mc.Config.Layers {
		for _, c := range classes {
			if l.ClassName == c {
				names = append(names, l.Config.Name)
			}
		}
	}
	return names
}
