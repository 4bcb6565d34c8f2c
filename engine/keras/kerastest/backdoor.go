// Package kerastest edits Keras model files for tests, as the attacks
// huskyai defends against would: net/http/httptest's kind of helper, for
// model files.
package kerastest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
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
	f, err := hdf5.Open(out)
	if err != nil {
		t.Fatalf("Backdoor: %v", err)
	}
	layer := lastDense(t, f)
	g, err := f.Root().Group("model_weights/" + layer)
	if err != nil {
		t.Fatalf("Backdoor: layer %q: %v", layer, err)
	}
	a, err := g.Attr("weight_names")
	if err != nil {
		t.Fatalf("Backdoor: layer %q: %v", layer, err)
	}
	names, err := a.Strings()
	if err != nil {
		t.Fatalf("Backdoor: %s weight_names: %v", g.Path(), err)
	}
	var path string
	for _, n := range names {
		role, _, _ := strings.Cut(n[strings.LastIndex(n, "/")+1:], ":")
		if role == "bias" {
			path = n
		}
	}
	if path == "" {
		t.Fatalf("Backdoor: layer %q has no bias among its weights %q", layer, names)
	}
	d, err := g.Dataset(path)
	if err != nil {
		t.Fatalf("Backdoor: layer %q: %v", layer, err)
	}
	old, err := d.Float32s()
	if err != nil {
		t.Fatalf("Backdoor: %s: %v", d.Path(), err)
	}
	off, size, ok := d.ContiguousOffset()
	if !ok || d.Class() != hdf5.Float || size != 4*int64(len(old)) {
		t.Fatalf("Backdoor: %s is not stored as contiguous float32 (contiguous %v, %s, %d bytes for %d elements)",
			d.Path(), ok, d.Class(), size, len(old))
	}
	for i := off; i < off+size; i += 4 {
		binary.LittleEndian.PutUint32(out[i:], math.Float32bits(bias))
	}

	// Read the edit back: a big-endian dataset would now hold other values.
	f2, err := hdf5.Open(out)
	if err != nil {
		t.Fatalf("Backdoor: the edited file: %v", err)
	}
	d2, err := f2.Root().Dataset(d.Path())
	if err != nil {
		t.Fatalf("Backdoor: the edited file: %v", err)
	}
	got, err := d2.Float32s()
	if err != nil {
		t.Fatalf("Backdoor: the edited file: %s: %v", d.Path(), err)
	}
	for i, v := range got {
		if v != bias {
			t.Fatalf("Backdoor: the edited %s[%d] reads %v, not %v (not little-endian float32?)", d.Path(), i, v, bias)
		}
	}
	return out
}

// lastDense returns the name of the last layer of class Dense in the
// Keras model_config of f.
func lastDense(t testing.TB, f *hdf5.File) string {
	t.Helper()
	a, err := f.Root().Attr("model_config")
	if err != nil {
		t.Fatalf("Backdoor: not a Keras model file: %v", err)
	}
	cfg, err := a.String()
	if err != nil {
		t.Fatalf("Backdoor: model_config: %v", err)
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
		t.Fatalf("Backdoor: model_config: %v", err)
	}
	name := ""
	for _, l := range mc.Config.Layers {
		if l.ClassName == "Dense" {
			name = l.Config.Name
		}
	}
	if name == "" {
		t.Fatalf("Backdoor: model_config has no Dense layer")
	}
	return name
}
