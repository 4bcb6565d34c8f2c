package onnxproto

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"testing"
)

// The types below mirror expected.json, written by testdata/gen.py from
// what onnx's Python API reads out of each fixture.

type expModel struct {
	IRVersion       int64             `json:"ir_version"`
	ProducerName    string            `json:"producer_name"`
	ProducerVersion string            `json:"producer_version"`
	Domain          string            `json:"domain"`
	ModelVersion    int64             `json:"model_version"`
	Opsets          map[string]int64  `json:"opsets"`
	Metadata        map[string]string `json:"metadata"`
	Graph           struct {
		Name         string         `json:"name"`
		Nodes        []expNode      `json:"nodes"`
		Initializers []expTensor    `json:"initializers"`
		Inputs       []expValueInfo `json:"inputs"`
		Outputs      []expValueInfo `json:"outputs"`
		ValueInfo    []expValueInfo `json:"value_info"`
	} `json:"graph"`
}

type expNode struct {
	Name    string    `json:"name"`
	OpType  string    `json:"op_type"`
	Domain  string    `json:"domain"`
	Inputs  []string  `json:"inputs"`
	Outputs []string  `json:"outputs"`
	Attrs   []expAttr `json:"attrs"`
}

type expAttr struct {
	Name    string        `json:"name"`
	Type    string        `json:"type"`
	F       *json.Number  `json:"f"`
	I       *json.Number  `json:"i"`
	S       *string       `json:"s"`
	T       *expTensor    `json:"t"`
	Floats  []json.Number `json:"floats"`
	Ints    []json.Number `json:"ints"`
	Strings []string      `json:"strings"`
	Tensors []expTensor   `json:"tensors"`
}

type expTensor struct {
	Name        string        `json:"name"`
	Dims        []int64       `json:"dims"`
	DataType    string        `json:"data_type"`
	Raw         bool          `json:"raw"`
	NumElements int64         `json:"num_elements"`
	Values      []json.Number `json:"values"` // all values, for small tensors
	First       []json.Number `json:"first"`  // first values, for large ones
	Sum         *float64      `json:"sum"`    // and their sum
}

type expValueInfo struct {
	Name     string `json:"name"`
	ElemType string `json:"elem_type"`
	Shape    []struct {
		Value   *int64  `json:"value"`
		Param   *string `json:"param"`
		Unknown bool    `json:"unknown"`
	} `json:"shape"`
}

// loadExpected reads testdata/expected.json.
func loadExpected(t *testing.T) map[string]*expModel {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var exp map[string]*expModel
	if err := dec.Decode(&exp); err != nil {
		t.Fatal(err)
	}
	if len(exp) == 0 {
		t.Fatal("expected.json lists no fixtures")
	}
	return exp
}

// fixtureNames returns the sorted names of the .onnx fixtures.
func fixtureNames(t testing.TB) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "*.onnx"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	sort.Strings(names)
	return names
}

func TestFixtures(t *testing.T) {
	exp := loadExpected(t)
	files := fixtureNames(t)
	if len(files) != len(exp) {
		t.Errorf("%d .onnx files but expected.json describes %d", len(files), len(exp))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			want, ok := exp[name]
			if !ok {
				t.Fatalf("%s missing from expected.json", name)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			compareModel(t, m, want)
		})
	}
}

func compareModel(t *testing.T, m *Model, want *expModel) {
	t.Helper()
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	check("IRVersion", m.IRVersion, want.IRVersion)
	check("ProducerName", m.ProducerName, want.ProducerName)
	check("ProducerVersion", m.ProducerVersion, want.ProducerVersion)
	check("Domain", m.Domain, want.Domain)
	check("ModelVersion", m.ModelVersion, want.ModelVersion)
	check("Opsets", m.Opsets, want.Opsets)
	check("Metadata", m.Metadata, want.Metadata)

	g, wg := m.Graph, want.Graph
	check("Graph.Name", g.Name, wg.Name)
	if len(g.Nodes) != len(wg.Nodes) {
		t.Fatalf("%d nodes, want %d", len(g.Nodes), len(wg.Nodes))
	}
	for i, n := range g.Nodes {
		wn := wg.Nodes[i]
		p := "node " + strconv.Itoa(i) + " "
		check(p+"Name", n.Name, wn.Name)
		check(p+"OpType", n.OpType, wn.OpType)
		check(p+"Domain", n.Domain, wn.Domain)
		check(p+"Inputs", n.Inputs, nilIfEmpty(wn.Inputs))
		check(p+"Outputs", n.Outputs, nilIfEmpty(wn.Outputs))
		if len(n.Attrs) != len(wn.Attrs) {
			t.Errorf("%s: %d attributes, want %d", p, len(n.Attrs), len(wn.Attrs))
			continue
		}
		for j, wa := range wn.Attrs {
			a := n.Attr(wa.Name)
			if a == nil {
				t.Errorf("%s: no attribute %q", p, wa.Name)
				continue
			}
			if a != n.Attrs[j] {
				t.Errorf("%s: attribute %q out of order", p, wa.Name)
			}
			compareAttr(t, p+"attr "+wa.Name, a, &wa)
		}
	}

	if len(g.Initializers) != len(wg.Initializers) {
		t.Fatalf("%d initializers, want %d", len(g.Initializers), len(wg.Initializers))
	}
	for i, wt := range wg.Initializers {
		it := g.Initializer(wt.Name)
		if it == nil || it != g.Initializers[i] {
			t.Errorf("Initializer(%q) = %p, want initializer %d", wt.Name, it, i)
			continue
		}
		compareTensor(t, "initializer "+wt.Name, it, &wt)
	}
	if g.Initializer("no such tensor") != nil {
		t.Error("Initializer of a missing name is not nil")
	}
	compareValueInfos(t, "input", g.Inputs, wg.Inputs)
	compareValueInfos(t, "output", g.Outputs, wg.Outputs)
	compareValueInfos(t, "value_info", g.ValueInfo, wg.ValueInfo)
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func compareAttr(t *testing.T, p string, a *Attribute, w *expAttr) {
	t.Helper()
	if a.Type.String() != w.Type {
		t.Errorf("%s: type %v, want %s", p, a.Type, w.Type)
		return
	}
	switch a.Type {
	case AttrFloat:
		if want := num(t, *w.F); float64(a.F) != want {
			t.Errorf("%s: f = %v, want %v", p, a.F, want)
		}
	case AttrInt:
		if want := inum(t, *w.I); a.I != want {
			t.Errorf("%s: i = %v, want %v", p, a.I, want)
		}
	case AttrString:
		if string(a.S) != *w.S {
			t.Errorf("%s: s = %q, want %q", p, a.S, *w.S)
		}
	case AttrTensor:
		compareTensor(t, p, a.T, w.T)
	case AttrFloats:
		got := make([]float64, len(a.Floats))
		for i, f := range a.Floats {
			got[i] = float64(f)
		}
		want := make([]float64, len(w.Floats))
		for i, f := range w.Floats {
			want[i] = num(t, f)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: floats = %v, want %v", p, got, want)
		}
	case AttrInts:
		want := make([]int64, len(w.Ints))
		for i, v := range w.Ints {
			want[i] = inum(t, v)
		}
		if !slices.Equal(a.Ints, want) {
			t.Errorf("%s: ints = %v, want %v", p, a.Ints, want)
		}
	case AttrStrings:
		got := make([]string, len(a.Strings))
		for i, s := range a.Strings {
			got[i] = string(s)
		}
		if !slices.Equal(got, w.Strings) {
			t.Errorf("%s: strings = %q, want %q", p, got, w.Strings)
		}
	case AttrTensors:
		if len(a.Tensors) != len(w.Tensors) {
			t.Errorf("%s: %d tensors, want %d", p, len(a.Tensors), len(w.Tensors))
			return
		}
		for i := range w.Tensors {
			compareTensor(t, p+"["+strconv.Itoa(i)+"]", a.Tensors[i], &w.Tensors[i])
		}
	default:
		t.Errorf("%s: unexpected type %v", p, a.Type)
	}
}

func compareTensor(t *testing.T, p string, x *Tensor, w *expTensor) {
	t.Helper()
	if x == nil {
		t.Errorf("%s: nil tensor", p)
		return
	}
	if x.Name != w.Name || !slices.Equal(x.Dims, w.Dims) || x.DataType.String() != w.DataType {
		t.Errorf("%s: %q %v %v, want %q %v %s", p, x.Name, x.Dims, x.DataType, w.Name, w.Dims, w.DataType)
	}
	if got := len(x.raw) > 0; got != w.Raw {
		t.Errorf("%s: raw_data used = %v, want %v", p, got, w.Raw)
	}
	if n, err := x.NumElements(); err != nil || n != w.NumElements {
		t.Errorf("%s: NumElements() = %d, %v; want %d", p, n, err, w.NumElements)
	}

	// Read the values the way an engine would, as float32 or int64.
	var got []float64
	var gotInts []int64
	switch x.DataType {
	case Float, Double, Float16, BFloat16:
		fs, err := x.Float32s()
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return
		}
		for _, f := range fs {
			got = append(got, float64(f))
		}
		if _, err := x.Int64s(); err == nil {
			t.Errorf("%s: Int64s succeeded on %v", p, x.DataType)
		}
	default:
		is, err := x.Int64s()
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return
		}
		gotInts = is
		for _, v := range is {
			got = append(got, float64(v))
		}
		if _, err := x.Float32s(); err == nil {
			t.Errorf("%s: Float32s succeeded on %v", p, x.DataType)
		}
	}
	if int64(len(got)) != w.NumElements {
		t.Fatalf("%s: %d values, want %d", p, len(got), w.NumElements)
	}

	// Python recorded float values as float64 conversions of the stored
	// elements, except that DOUBLE tensors keep their full precision, which
	// Float32s rounds away.
	same := func(i int, want json.Number) bool {
		if gotInts != nil {
			return gotInts[i] == inum(t, want)
		}
		wf := num(t, want)
		if x.DataType == Double {
			wf = float64(float32(wf))
		}
		return got[i] == wf
	}
	vals := w.Values
	if vals == nil {
		vals = w.First
	}
	for i, v := range vals {
		if !same(i, v) {
			t.Errorf("%s: element %d = %v, want %v", p, i, got[i], v)
		}
	}
	if w.Sum != nil {
		var sum float64
		for _, v := range got {
			sum += v
		}
		if math.Abs(sum-*w.Sum) > 1e-4*math.Max(1, math.Abs(*w.Sum)) {
			t.Errorf("%s: sum = %v, want %v", p, sum, *w.Sum)
		}
	}
}

func compareValueInfos(t *testing.T, what string, got []*ValueInfo, want []expValueInfo) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d %ss, want %d", len(got), what, len(want))
		return
	}
	for i, v := range got {
		w := want[i]
		p := what + " " + w.Name
		if v.Name != w.Name || v.ElemType.String() != w.ElemType {
			t.Errorf("%s: %q %v, want %q %s", p, v.Name, v.ElemType, w.Name, w.ElemType)
		}
		if w.Shape == nil {
			if v.Shape != nil {
				t.Errorf("%s: shape %v, want unknown", p, v.Shape)
			}
			continue
		}
		wantShape := []Dim{}
		for _, d := range w.Shape {
			switch {
			case d.Value != nil:
				wantShape = append(wantShape, Dim{Value: *d.Value})
			case d.Param != nil:
				wantShape = append(wantShape, Dim{Value: -1, Param: *d.Param})
			default:
				wantShape = append(wantShape, Dim{Value: -1})
			}
		}
		if !reflect.DeepEqual(v.Shape, wantShape) {
			t.Errorf("%s: shape %v, want %v", p, v.Shape, wantShape)
		}
	}
}

func num(t *testing.T, n json.Number) float64 {
	t.Helper()
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func inum(t *testing.T, n json.Number) int64 {
	t.Helper()
	i, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return i
}
