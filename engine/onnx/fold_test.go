package onnx

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/internal/kernels"
)

// The loader folds the C,H,W order of a Flatten of an NCHW tensor into the
// weight rows of the Gemm or MatMul that consumes it. These tests check that
// the folded model computes what the unfolded one (a run-time C,H,W
// permutation, as before the fold existed) computes, and that it is then
// the very model Keras' H,W,C Flatten and Dense give.

// chwFlattens counts the Flatten layers that permute at run time.
func chwFlattens(m *engine.Model) int {
	n := 0
	for _, l := range m.Layers() {
		if f, ok := l.(*engine.Flatten); ok && f.ChannelsFirst {
			n++
		}
	}
	return n
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

var backends = []kernels.Backend{kernels.Default, kernels.Reference{}}

// TestFoldParityFixtures loads every ONNX reference model folded and
// unfolded: the outputs must agree with each other and with PyTorch's, and
// the NCHW models with a Flatten before their Gemm must be folded.
func TestFoldParityFixtures(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "parity")
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var man struct {
		Cases []struct {
			Name, Model, Format, Input string
			Batch                      int
			Outputs                    [][]float64
		}
	}
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	// The fixtures whose Flatten runs over an NCHW tensor with more than
	// one channel and position, straight into a Gemm.
	mustFold := map[string]bool{"onnx_torch_flatten": true, "onnx_pool_pads": true}
	seen := 0
	for _, c := range man.Cases {
		if c.Format != Format {
			continue
		}
		seen++
		t.Run(c.Name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, c.Model))
			if err != nil {
				t.Fatal(err)
			}
			x := readF32(t, filepath.Join(dir, c.Input))
			for _, k := range backends {
				folded, err := Load(data, engine.WithBackend(k))
				if err != nil {
					t.Fatal(err)
				}
				unfolded, err := load(data, false, engine.WithBackend(k))
				if err != nil {
					t.Fatal(err)
				}
				if mustFold[c.Name] && (chwFlattens(unfolded) != 1 || chwFlattens(folded) != 0) {
					t.Fatalf("C,H,W Flattens: %d unfolded, %d folded; want 1 and 0", chwFlattens(unfolded), chwFlattens(folded))
				}
				if chwFlattens(folded) != 0 {
					t.Errorf("%d C,H,W Flattens left after folding", chwFlattens(folded))
				}
				got, err := folded.PredictBatch(x, c.Batch)
				if err != nil {
					t.Fatal(err)
				}
				want, err := unfolded.PredictBatch(x, c.Batch)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxAbsDiff(got, want); d > 1e-6 {
					t.Errorf("%s: folded and unfolded outputs differ by %.3g", k.Name(), d)
				}
				n := len(got) / c.Batch
				for i, row := range c.Outputs {
					for j, v := range row {
						if d := math.Abs(float64(got[i*n+j]) - v); d > 1e-5 {
							t.Fatalf("%s: image %d output %d: %g, PyTorch %g", k.Name(), i, j, got[i*n+j], v)
						}
					}
				}
			}
		})
	}
	if seen == 0 {
		t.Fatal("the manifest lists no ONNX case")
	}
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
	}
	return v
}

// huskyVariant is a Husky-like NCHW network (Conv+Relu+MaxPool twice, then
// the classifier) with the given operators between the convolutions and
// the first dense layer.
type huskyVariant struct {
	name    string
	reshape bool   // Reshape [0, -1] instead of Flatten
	between string // an operator on the flat tensor before the dense layer
	matmul  bool   // MatMul + Add instead of Gemm transB=1
	fold    bool   // the loader is expected to fold the Flatten
}

// TestFoldHuskyNCHW builds Husky-like networks as torch.onnx.export writes
// them (NCHW, Flatten in C,H,W order, Gemm with transB=1) and the same
// networks as Keras layers (H,W,C Flatten, the dense weights' rows in
// H,W,C order). Folded, the ONNX model must give exactly the Keras model's
// outputs, and the unfolded one's to rounding.
func TestFoldHuskyNCHW(t *testing.T) {
	for _, v := range []huskyVariant{
		{name: "flatten-gemm", fold: true},
		{name: "reshape-gemm", reshape: true, fold: true},
		{name: "flatten-matmul-add", matmul: true, fold: true},
		{name: "flatten-relu-dropout-gemm", between: "Relu", fold: true},
		{name: "flatten-batchnorm-gemm", between: "BatchNormalization"},
	} {
		t.Run(v.name, func(t *testing.T) {
			data, keras, x := buildHusky(t, v)
			for _, k := range backends {
				folded, err := Load(data, engine.WithBackend(k))
				if err != nil {
					t.Fatal(err)
				}
				unfolded, err := load(data, false, engine.WithBackend(k))
				if err != nil {
					t.Fatal(err)
				}
				wantCHW := 0
				if !v.fold {
					wantCHW = 1
				}
				if chwFlattens(unfolded) != 1 || chwFlattens(folded) != wantCHW {
					t.Fatalf("C,H,W Flattens: %d unfolded, %d folded; want 1 and %d", chwFlattens(unfolded), chwFlattens(folded), wantCHW)
				}
				got, err := folded.PredictBatch(x, 3)
				if err != nil {
					t.Fatal(err)
				}
				want, err := unfolded.PredictBatch(x, 3)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxAbsDiff(got, want); d > 1e-6 || len(got) != 3 {
					t.Errorf("%s: folded %v, unfolded %v (%.3g apart)", k.Name(), got, want, d)
				}
				if !v.fold {
					if !slices.Equal(got, want) {
						t.Errorf("%s: nothing folded, yet the outputs differ: %v, %v", k.Name(), got, want)
					}
					continue
				}
				km, err := engine.New("keras", "test", folded.InputShape(), keras, engine.WithBackend(k))
				if err != nil {
					t.Fatal(err)
				}
				kout, err := km.PredictBatch(x, 3)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, kout) {
					t.Errorf("%s: folded ONNX %v, Keras layers %v; want identical", k.Name(), got, kout)
				}
			}
		})
	}
}

// buildHusky returns v as an ONNX file, as the equivalent Keras-order
// layers, and 3 input images.
func buildHusky(t *testing.T, v huskyVariant) (onnxFile []byte, keras []engine.Layer, x []float32) {
	t.Helper()
	itoa := strconv.Itoa
	r := rand.New(rand.NewPCG(11, 17))
	rnd := func(n int, lo, hi float32) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = lo + r.Float32()*(hi-lo)
		}
		return s
	}
	const H, W = 19, 14 // not square, so that H and W cannot be confused
	g := &graphEnc{}
	cur, h, w, c := "input", H, W, 3
	for i, f := range []int{5, 6} {
		hwio := rnd(9*c*f, -0.4, 0.4)
		bias := rnd(f, -0.1, 0.1)
		oihw := make([]float32, len(hwio))
		for o := range f {
			for ci := range c {
				for y := range 3 {
					for xx := range 3 {
						oihw[((o*c+ci)*3+y)*3+xx] = hwio[((y*3+xx)*c+ci)*f+o]
					}
				}
			}
		}
		wn, bn := g.floats("conv"+itoa(i)+".weight", oihw, f, c, 3, 3), g.floats("conv"+itoa(i)+".bias", bias, f)
		cur = g.node("Conv", []string{cur, wn, bn}, attrInts("kernel_shape", 3, 3), attrInts("pads", 1, 0, 1, 0),
			attrInts("strides", 1, 1), attrInts("dilations", 1, 1), attrInt("group", 1))
		cur = g.node("Relu", []string{cur})
		cur = g.node("MaxPool", []string{cur}, attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2))
		keras = append(keras,
			&engine.Conv2D{Name: "conv", KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, Pad: engine.Padding{Top: 1, Bottom: 1},
				Filters: f, Weights: hwio, Bias: bias},
			&engine.Act{Name: "relu", Activation: engine.ReLU},
			&engine.Pool2D{Name: "pool", Max: true, KernelH: 2, KernelW: 2, StrideH: 2, StrideW: 2})
		h, w, c = (h+2-2)/2, (w-2)/2, f
	}
	hw, K := h*w, h*w*c
	if v.reshape {
		cur = g.node("Reshape", []string{cur, g.ints("shape", []int64{0, -1}, 2)})
	} else {
		cur = g.node("Flatten", []string{cur}, attrInt("axis", 1))
	}
	keras = append(keras, &engine.Flatten{Name: "flatten"})
	switch v.between {
	case "Relu":
		cur = g.node("Relu", []string{cur})
		cur = g.node("Dropout", []string{cur})
		keras = append(keras, &engine.Act{Name: "relu", Activation: engine.ReLU})
	case "BatchNormalization":
		ins := []string{cur}
		for i, lim := range [][2]float32{{0.5, 1.5}, {-0.2, 0.2}, {-0.3, 0.3}, {0.5, 2}} {
			ins = append(ins, g.floats("bn"+itoa(i), rnd(K, lim[0], lim[1]), K))
		}
		cur = g.node("BatchNormalization", ins, attrFloat("epsilon", 1e-5))
	}
	const units = 7
	kw := rnd(K*units, -0.05, 0.05) // Keras: K rows in H,W,C order
	kb := rnd(units, -0.1, 0.1)
	chw := func(i int) int { p, ci := i/c, i%c; return ci*hw + p } // H,W,C index -> C,H,W index
	if v.matmul {
		b := make([]float32, K*units)
		for i := range K {
			copy(b[chw(i)*units:][:units], kw[i*units:][:units])
		}
		cur = g.node("MatMul", []string{cur, g.floats("fc.weight", b, K, units)})
		cur = g.node("Add", []string{cur, g.floats("fc.bias", kb, units)})
	} else {
		b := make([]float32, units*K) // transB: units rows of K
		for i := range K {
			for j := range units {
				b[j*K+chw(i)] = kw[i*units+j]
			}
		}
		cur = g.node("Gemm", []string{cur, g.floats("fc.weight", b, units, K), g.floats("fc.bias", kb, units)},
			attrFloat("alpha", 1), attrFloat("beta", 1), attrInt("transB", 1))
	}
	cur = g.node("Relu", []string{cur})
	ow, ob := rnd(units, -0.5, 0.5), rnd(1, -0.1, 0.1)
	cur = g.node("Gemm", []string{cur, g.floats("out.weight", ow, units, 1), g.floats("out.bias", ob, 1)})
	g.node("Sigmoid", []string{cur})
	keras = append(keras,
		&engine.Dense{Name: "fc", Units: units, Weights: kw, Bias: kb, Activation: engine.ReLU},
		&engine.Dense{Name: "out", Units: 1, Weights: ow, Bias: ob, Activation: engine.Sigmoid})
	x = rnd(3*H*W*3, 0, 1)
	return g.model(H, W), keras, x
}

// graphEnc writes a single-chain ONNX graph as protobuf, with only the
// fields the loader reads.
type graphEnc struct {
	nodes, inits [][]byte
	last         string
}

type attr []byte

func attrInt(name string, v int64) attr {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(v))
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	return protowire.AppendVarint(b, 2) // INT
}

func attrFloat(name string, v float32) attr {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, math.Float32bits(v))
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	return protowire.AppendVarint(b, 1) // FLOAT
}

func attrInts(name string, v ...int64) attr {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, name)
	for _, x := range v {
		b = protowire.AppendTag(b, 8, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(x))
	}
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	return protowire.AppendVarint(b, 7) // INTS
}

// node appends an operator and returns the name of its output.
func (g *graphEnc) node(op string, inputs []string, attrs ...attr) string {
	out := op + "_" + strconv.Itoa(len(g.nodes))
	var b []byte
	for _, in := range inputs {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, in)
	}
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, out)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, out)
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendString(b, op)
	for _, a := range attrs {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, a)
	}
	g.nodes = append(g.nodes, b)
	g.last = out
	return out
}

func tensorHead(name string, dt uint64, dims []int) []byte {
	var b []byte
	for _, d := range dims {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, dt)
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	return protowire.AppendString(b, name)
}

// floats adds a FLOAT initializer (raw_data) and returns its name.
func (g *graphEnc) floats(name string, v []float32, dims ...int) string {
	b := tensorHead(name, 1, dims)
	raw := make([]byte, 0, 4*len(v))
	for _, x := range v {
		raw = protowire.AppendFixed32(raw, math.Float32bits(x))
	}
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	b = protowire.AppendBytes(b, raw)
	g.inits = append(g.inits, b)
	return name
}

// ints adds an INT64 initializer (int64_data) and returns its name.
func (g *graphEnc) ints(name string, v []int64, dims ...int) string {
	b := tensorHead(name, 7, dims)
	var packed []byte
	for _, x := range v {
		packed = protowire.AppendVarint(packed, uint64(x))
	}
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	b = protowire.AppendBytes(b, packed)
	g.inits = append(g.inits, b)
	return name
}

func valueInfo(name string, dims ...int64) []byte {
	var shape []byte
	for _, d := range dims {
		var dim []byte
		if d < 0 {
			dim = protowire.AppendTag(dim, 2, protowire.BytesType)
			dim = protowire.AppendString(dim, "batch")
		} else {
			dim = protowire.AppendTag(dim, 1, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d))
		}
		shape = protowire.AppendTag(shape, 1, protowire.BytesType)
		shape = protowire.AppendBytes(shape, dim)
	}
	var tt []byte
	tt = protowire.AppendTag(tt, 1, protowire.VarintType)
	tt = protowire.AppendVarint(tt, 1) // FLOAT
	tt = protowire.AppendTag(tt, 2, protowire.BytesType)
	tt = protowire.AppendBytes(tt, shape)
	var typ []byte
	typ = protowire.AppendTag(typ, 1, protowire.BytesType)
	typ = protowire.AppendBytes(typ, tt)
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, typ)
}

// model returns the ModelProto (IR 7, opset 13) of the graph, with an NCHW
// input of h x w and the last node's output as the graph's output.
func (g *graphEnc) model(h, w int) []byte {
	var gb []byte
	for _, n := range g.nodes {
		gb = protowire.AppendTag(gb, 1, protowire.BytesType)
		gb = protowire.AppendBytes(gb, n)
	}
	gb = protowire.AppendTag(gb, 2, protowire.BytesType)
	gb = protowire.AppendString(gb, "torch_jit")
	for _, t := range g.inits {
		gb = protowire.AppendTag(gb, 5, protowire.BytesType)
		gb = protowire.AppendBytes(gb, t)
	}
	gb = protowire.AppendTag(gb, 11, protowire.BytesType)
	gb = protowire.AppendBytes(gb, valueInfo("input", -1, 3, int64(h), int64(w)))
	gb = protowire.AppendTag(gb, 12, protowire.BytesType)
	gb = protowire.AppendBytes(gb, valueInfo(g.last, -1, 1))
	var opset []byte
	opset = protowire.AppendTag(opset, 2, protowire.VarintType)
	opset = protowire.AppendVarint(opset, 13)
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 7)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, "pytorch")
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	b = protowire.AppendBytes(b, gb)
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	return protowire.AppendBytes(b, opset)
}
