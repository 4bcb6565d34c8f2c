package hdf5

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The fixtures under testdata/ are written by testdata/gen.py (h5py), which
// also records in expected.json what h5py reads back from each of them. The
// tests here only read the committed files; they never run Python.

type expFile struct {
	Superblock int                           `json:"superblock"`
	Groups     map[string][]string           `json:"groups"`
	Datasets   map[string]expDataset         `json:"datasets"`
	Attrs      map[string]map[string]expAttr `json:"attrs"`
	AttrNames  map[string][]string           `json:"attr_names"`
}

type expDataset struct {
	Shape  []int     `json:"shape"`
	Class  string    `json:"class"`
	Values []float64 `json:"values"`
	Error  string    `json:"error"`
}

type expAttr struct {
	Shape   []int         `json:"shape"`
	Class   string        `json:"class"`
	Strings []string      `json:"strings"`
	Ints    []json.Number `json:"ints"`
	Floats  []float64     `json:"floats"`
}

func loadExpected(t testing.TB) map[string]expFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]expFile
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// readFixture reads testdata/name, or testdata/name.gz decompressed (gen.py
// gzips large but compressible fixtures).
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var z []byte
		if z, err = os.ReadFile(path + ".gz"); err == nil {
			var zr *gzip.Reader
			if zr, err = gzip.NewReader(bytes.NewReader(z)); err == nil {
				b, err = io.ReadAll(zr)
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	exp := loadExpected(t)
	names := make([]string, 0, len(exp))
	for name := range exp {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) < 9 {
		t.Fatalf("expected.json lists %d files", len(names))
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			checkFile(t, readFixture(t, name), exp[name])
		})
	}
}

func checkFile(t *testing.T, data []byte, e expFile) {
	f, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.SuperblockVersion(); got != e.Superblock {
		t.Errorf("superblock version %d, want %d", got, e.Superblock)
	}
	root := f.Root()
	for path, want := range e.Groups {
		g, err := root.Group(path)
		if err != nil {
			t.Errorf("Group(%q): %v", path, err)
			continue
		}
		if g.Path() != path {
			t.Errorf("Group(%q).Path() = %q", path, g.Path())
		}
		got, err := g.Members()
		if err != nil {
			t.Errorf("%s: Members: %v", path, err)
			continue
		}
		if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s: Members = %q, want %q", path, got, want)
		}
	}
	for path, want := range e.Datasets {
		checkDataset(t, root, path, want)
	}
	for path, wantNames := range e.AttrNames {
		var names []string
		var get func(string) (*Attribute, error)
		if _, isGroup := e.Groups[path]; isGroup {
			g, err := root.Group(path)
			if err != nil {
				t.Errorf("Group(%q): %v", path, err)
				continue
			}
			names, err = g.Attrs()
			if err != nil {
				t.Errorf("%s: Attrs: %v", path, err)
				continue
			}
			get = g.Attr
		} else {
			d, err := root.Dataset(path)
			if err != nil {
				t.Errorf("Dataset(%q): %v", path, err)
				continue
			}
			if names, err = d.Attrs(); err != nil {
				t.Errorf("%s: Attrs: %v", path, err)
				continue
			}
			get = d.Attr
		}
		if !reflect.DeepEqual(names, wantNames) && !(len(names) == 0 && len(wantNames) == 0) {
			t.Errorf("%s: Attrs = %q, want %q", path, names, wantNames)
		}
		for name, want := range e.Attrs[path] {
			a, err := get(name)
			if err != nil {
				t.Errorf("%s: Attr(%q): %v", path, name, err)
				continue
			}
			checkAttr(t, path+"@"+name, a, want)
		}
		if _, err := get("no such attribute"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Attr(missing) = %v, want ErrNotFound", path, err)
		}
	}
}

func checkDataset(t *testing.T, root *Group, path string, want expDataset) {
	t.Helper()
	d, err := root.Dataset(path)
	if want.Error != "" {
		if err == nil {
			_, err = d.Float32s()
		}
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want.Error)) {
			t.Errorf("%s: got error %v, want one containing %q", path, err, want.Error)
		}
		return
	}
	if err != nil {
		t.Errorf("Dataset(%q): %v", path, err)
		return
	}
	if d.Path() != path {
		t.Errorf("Dataset(%q).Path() = %q", path, d.Path())
	}
	if !slices.Equal(d.Shape(), want.Shape) {
		t.Errorf("%s: Shape = %v, want %v", path, d.Shape(), want.Shape)
	}
	if d.Class().String() != want.Class {
		t.Errorf("%s: Class = %v, want %v", path, d.Class(), want.Class)
	}
	got, err := d.Float32s()
	if err != nil {
		t.Errorf("%s: Float32s: %v", path, err)
		return
	}
	if len(got) != len(want.Values) {
		t.Errorf("%s: %d values, want %d", path, len(got), len(want.Values))
		return
	}
	for i, v := range want.Values {
		if math.Float32bits(got[i]) != math.Float32bits(float32(v)) {
			t.Errorf("%s: value %d = %v, want %v", path, i, got[i], float32(v))
			return
		}
	}
}

func checkAttr(t *testing.T, where string, a *Attribute, want expAttr) {
	t.Helper()
	if !slices.Equal(a.Shape(), want.Shape) {
		t.Errorf("%s: Shape = %v, want %v", where, a.Shape(), want.Shape)
	}
	if want.Class == "float" && len(want.Floats) == 0 {
		// Keras's empty np.array([]): reads as no strings.
		if ss, err := a.Strings(); err != nil || len(ss) != 0 {
			t.Errorf("%s: Strings = %q, %v; want none", where, ss, err)
		}
	}
	if a.Class().String() != want.Class {
		t.Errorf("%s: Class = %v, want %v", where, a.Class(), want.Class)
		return
	}
	switch want.Class {
	case "string":
		got, err := a.Strings()
		if err != nil {
			t.Errorf("%s: %v", where, err)
		} else if !reflect.DeepEqual(got, want.Strings) {
			t.Errorf("%s: Strings = %q, want %q", where, got, want.Strings)
		}
		s, err := a.String()
		if (err == nil) != (len(want.Strings) == 1) || (err == nil && s != want.Strings[0]) {
			t.Errorf("%s: String = %q, %v", where, s, err)
		}
	case "int":
		got, err := a.Int64s()
		if err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		if len(got) != len(want.Ints) {
			t.Errorf("%s: Int64s = %v, want %v", where, got, want.Ints)
			return
		}
		for i, n := range want.Ints {
			w, err := strconv.ParseInt(string(n), 10, 64)
			if err != nil || got[i] != w {
				t.Errorf("%s: Int64s = %v, want %v", where, got, want.Ints)
				return
			}
		}
		if _, err := a.Strings(); err == nil && len(want.Ints) > 0 {
			t.Errorf("%s: Strings on an int attribute succeeded", where)
		}
	case "float":
		got, err := a.Float64s()
		if err != nil {
			t.Errorf("%s: %v", where, err)
		} else if !reflect.DeepEqual(got, want.Floats) && !(len(got) == 0 && len(want.Floats) == 0) {
			t.Errorf("%s: Float64s = %v, want %v", where, got, want.Floats)
		}
	}
}

// TestKerasWalk reads the weights the way a Keras HDF5 loader does: the
// layer_names attribute, each layer's weight_names, then each weight.
func TestKerasWalk(t *testing.T) {
	for _, name := range []string{"earliest.h5", "latest.h5", "v18.h5", "sb1.h5"} {
		t.Run(name, func(t *testing.T) {
			f, err := Open(readFixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := f.Root().Attr("model_config")
			if err != nil {
				t.Fatal(err)
			}
			if s, err := cfg.String(); err != nil || !strings.Contains(s, `"Sequential"`) {
				t.Fatalf("model_config = %q, %v", s, err)
			}
			mw, err := f.Root().Group("model_weights")
			if err != nil {
				t.Fatal(err)
			}
			a, err := mw.Attr("layer_names")
			if err != nil {
				t.Fatal(err)
			}
			layers, err := a.Strings()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int{"conv2d": 2, "dense": 2, "flatten": 0}
			if len(layers) != len(want) {
				t.Fatalf("layer_names = %q", layers)
			}
			for _, layer := range layers {
				g, err := mw.Group(layer)
				if err != nil {
					t.Fatal(err)
				}
				a, err := g.Attr("weight_names")
				if err != nil {
					t.Fatal(err)
				}
				weights, err := a.Strings()
				if err != nil {
					t.Fatal(err)
				}
				if len(weights) != want[layer] {
					t.Errorf("%s: weight_names = %q", layer, weights)
				}
				for _, w := range weights {
					d, err := g.Dataset(w)
					if err != nil {
						t.Fatal(err)
					}
					v, err := d.Float32s()
					if err != nil {
						t.Fatal(err)
					}
					n := 1
					for _, s := range d.Shape() {
						n *= s
					}
					if len(v) != n || d.Path() != "/model_weights/"+layer+"/"+w {
						t.Errorf("%s: %d values for shape %v at %q", w, len(v), d.Shape(), d.Path())
					}
				}
			}
		})
	}
}
