// Package keras loads Keras models into huskyai's engine: the HDF5 files
// that tf.keras 2.x writes with model.save("model.h5") and the Keras 3
// ".keras" zip archives (config.json + model.weights.h5).
//
// Sequential and Functional models load, Functional ones with branches
// (Add, Multiply, Concatenate) too, made of the layers the engine
// implements; any other layer type or option, a shared layer or a second
// input, is refused with an error that names the layer and the option, so
// a model is never run differently from how Keras would run it.
package keras

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/internal/hdf5"
)

// Format names, as reported in engine.Model.Format.
const (
	FormatH5    = "keras-h5"
	FormatKeras = "keras-v3"
)

var (
	hdf5Magic = []byte("\x89HDF\r\n\x1a\n")
	zipMagic  = []byte("PK\x03\x04")
)

// IsH5 reports whether data starts like an HDF5 file.
func IsH5(data []byte) bool { return bytes.HasPrefix(data, hdf5Magic) }

// IsKeras reports whether data starts like a zip archive, as .keras files do.
func IsKeras(data []byte) bool { return bytes.HasPrefix(data, zipMagic) }

// Load loads a Keras model from the bytes of a .h5 or .keras file.
func Load(data []byte, opts ...engine.Option) (*engine.Model, error) {
	switch {
	case IsH5(data):
		return LoadH5(data, opts...)
	case IsKeras(data):
		return LoadKeras(data, opts...)
	}
	return nil, errors.New("keras: not an HDF5 file or a .keras archive")
}

// LoadH5 loads a model saved by tf.keras 2.x in the HDF5 format: the
// model_config attribute of the root group and the weights under
// model_weights/<layer>/<weight name>.
func LoadH5(data []byte, opts ...engine.Option) (*engine.Model, error) {
	f, err := hdf5.OpenWithOptions(data, weightBudget(data))
	if err != nil {
		return nil, fmt.Errorf("keras: %w", err)
	}
	root := f.Root()
	a, err := root.Attr("model_config")
	if errors.Is(err, hdf5.ErrNotFound) {
		return nil, errors.New("keras: the file has no model_config attribute: it holds only weights (save the whole model, not save_weights)")
	}
	if err != nil {
		return nil, fmt.Errorf("keras: %w", err)
	}
	cfg, err := a.String()
	if err != nil {
		return nil, fmt.Errorf("keras: model_config: %w", err)
	}
	weights, err := root.Group("model_weights")
	if err != nil {
		return nil, fmt.Errorf("keras: %w", err)
	}
	m, err := build([]byte(cfg), FormatH5, &h5Weights{g: weights}, opts)
	if err != nil {
		return nil, err
	}
	// The file's description of itself, if it has one: huskyai's files
	// carry it in a root attribute that Keras ignores.
	if a, err := root.Attr(NoteAttr); err == nil {
		if note, err := a.String(); err == nil {
			m.Note = note
		}
	}
	return m, nil
}

// NoteAttr is the root attribute of a .h5 file in which huskyai's training
// pipeline describes the model (engine.Model.Note). Keras ignores it.
const NoteAttr = "huskyai_note"

// LoadKeras loads a Keras 3 ".keras" archive.
func LoadKeras(data []byte, opts ...engine.Option) (*engine.Model, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("keras: .keras archive: %w", err)
	}
	cfg, err := readZipFile(zr, "config.json", 16<<20)
	if err != nil {
		return nil, err
	}
	wdata, err := readZipFile(zr, "model.weights.h5", int64(len(data))*64+(64<<20))
	if err != nil {
		return nil, err
	}
	f, err := hdf5.OpenWithOptions(wdata, weightBudget(wdata))
	if err != nil {
		return nil, fmt.Errorf("keras: model.weights.h5: %w", err)
	}
	return build(cfg, FormatKeras, &v3Weights{root: f.Root()}, opts)
}

// readZipFile reads one member of a zip archive, refusing more than limit
// bytes after decompression.
func readZipFile(zr *zip.Reader, name string, limit int64) ([]byte, error) {
	for _, zf := range zr.File {
		if zf.Name != name {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, fmt.Errorf("keras: .keras archive: %s: %w", name, err)
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, limit+1))
		if err != nil {
			return nil, fmt.Errorf("keras: .keras archive: %s: %w", name, err)
		}
		if int64(len(b)) > limit {
			return nil, fmt.Errorf("keras: .keras archive: %s decompresses to more than %d bytes", name, limit)
		}
		return b, nil
	}
	return nil, fmt.Errorf("keras: .keras archive has no %s", name)
}

// build translates a config and its weights into a model.
func build(cfg []byte, format string, ws weightSource, opts []engine.Option) (*engine.Model, error) {
	mc, graph, err := parseModelConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("keras: %w", err)
	}
	ws.setLayers(mc.Config.Layers)
	b := &builder{ws: ws, vals: map[string]kval{}, keras2: format == FormatH5}
	for _, gl := range graph {
		if err := b.add(gl); err != nil {
			return nil, fmt.Errorf("keras: %w", err)
		}
	}
	if b.pad != nil {
		return nil, fmt.Errorf("keras: the model ends with a ZeroPadding2D")
	}
	m, err := engine.NewGraph(mc.Config.Name, format, b.input, b.nodes, opts...)
	if err != nil {
		return nil, fmt.Errorf("keras: %w", err)
	}
	return m, nil
}

// h5Weights reads tf.keras 2.x weights: group model_weights/<layer> lists
// its datasets in the weight_names attribute ("conv2d/kernel:0", ...).
type h5Weights struct{ g *hdf5.Group }

// setLayers does nothing: tf.keras 2.x files name each layer's group.
func (h *h5Weights) setLayers([]layerConfig) {}

func (h *h5Weights) weights(layer string, roles []string, shapes map[string][]int) (map[string]tensor, error) {
	g, err := h.g.Group(layer)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	a, err := g.Attr("weight_names")
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	var names []string
	if a.Class() == hdf5.String {
		if names, err = a.Strings(); err != nil {
			return nil, fmt.Errorf("weights: %s weight_names: %w", g.Path(), err)
		}
	} else if n := numElems(a.Shape()); n != 0 {
		return nil, fmt.Errorf("weights: %s weight_names is not a list of strings", g.Path())
	}
	out := make(map[string]tensor, len(names))
	for _, n := range names {
		role := n[strings.LastIndex(n, "/")+1:]
		role, _, _ = strings.Cut(role, ":")
		if !slices.Contains(roles, role) {
			return nil, fmt.Errorf("weights: unexpected weight %q (this layer has %s)", n, strings.Join(roles, ", "))
		}
		if _, dup := out[role]; dup {
			return nil, fmt.Errorf("weights: two weights named %q", role)
		}
		t, err := readDataset(g, n, role, shapes[role])
		if err != nil {
			return nil, err
		}
		out[role] = t
	}
	return out, nil
}

// v3Weights reads Keras 3 weights: layers/<key>/vars/0, 1, ... in the
// order the layer created its variables. Keras 3 does not key a layer by
// its name but by its class in snake case, numbered among the model's
// layers of that class in config order: conv2d, conv2d_1, ...
// (keras/src/saving/saving_lib.py, _save_container_state).
type v3Weights struct {
	root *hdf5.Group
	keys map[string]string // layer name -> storage key
}

func (v *v3Weights) setLayers(layers []layerConfig) {
	v.keys = make(map[string]string, len(layers))
	used := map[string]int{}
	for _, l := range layers {
		key := snakeCase(l.ClassName)
		if n, ok := used[key]; ok {
			used[key] = n + 1
			key = fmt.Sprintf("%s_%d", key, n+1)
		} else {
			used[key] = 0
		}
		v.keys[layerName(l)] = key
	}
}

var (
	nonWord    = regexp.MustCompile(`\W+`)
	capWord    = regexp.MustCompile(`(.)([A-Z][a-z]+)`)
	lowerUpper = regexp.MustCompile(`([a-z])([A-Z])`)
)

// snakeCase is Keras' naming.to_snake_case: "MaxPooling2D" ->
// "max_pooling2d".
func snakeCase(s string) string {
	s = nonWord.ReplaceAllString(s, "")
	s = capWord.ReplaceAllString(s, "${1}_${2}")
	return strings.ToLower(lowerUpper.ReplaceAllString(s, "${1}_${2}"))
}

func (v *v3Weights) weights(layer string, roles []string, shapes map[string][]int) (map[string]tensor, error) {
	key, ok := v.keys[layer]
	if !ok {
		return nil, fmt.Errorf("weights: layer %q is not in the config", layer)
	}
	g, err := v.root.Group("layers/" + key + "/vars")
	if err != nil {
		// Keras 2.13-2.15's ".keras" files used this name for the same tree.
		var err2 error
		if g, err2 = v.root.Group("_layer_checkpoint_dependencies/" + layer + "/vars"); err2 != nil {
			return nil, fmt.Errorf("weights: %w", err)
		}
	}
	members, err := g.Members()
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	if len(members) != len(roles) {
		return nil, fmt.Errorf("weights: %s holds %d variables, the config implies %d (%s)", g.Path(), len(members), len(roles), strings.Join(roles, ", "))
	}
	out := make(map[string]tensor, len(roles))
	for i, role := range roles {
		t, err := readDataset(g, strconv.Itoa(i), role, shapes[role])
		if err != nil {
			return nil, err
		}
		out[role] = t
	}
	return out, nil
}

// weightBudget bounds the weights decoded from an HDF5 file of that size:
// 32 times its bytes, plus 64 MiB. Real weights compress far less (gzip
// leaves random float32s at about their size), so only a file that
// declares weights it does not hold (fill values, compression bombs) meets
// the limit, and meets it after at most that much memory.
func weightBudget(data []byte) hdf5.OpenOptions {
	return hdf5.OpenOptions{MaxTotalBytes: 32*int64(len(data)) + 64<<20}
}

// readDataset reads dataset name of g as float32s; with want, only after
// its declared shape was checked against it, so that a dataset the config
// does not imply is refused before a byte of it is read.
func readDataset(g *hdf5.Group, name, role string, want []int) (tensor, error) {
	d, err := g.Dataset(name)
	if err != nil {
		return tensor{}, fmt.Errorf("weights: %w", err)
	}
	if want != nil && !slices.Equal(d.Shape(), want) {
		return tensor{}, fmt.Errorf("weight %q has shape %v, the config implies %v", role, d.Shape(), want)
	}
	data, err := d.Float32s()
	if err != nil {
		return tensor{}, fmt.Errorf("weights: %w", err)
	}
	return tensor{shape: d.Shape(), data: data}, nil
}

func numElems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
