package tflite

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/engine"
	tfl "github.com/huskyai/huskyai/engine/internal/tflite"
	"github.com/huskyai/huskyai/engine/internal/tflite/tflitetest"
	"github.com/huskyai/huskyai/internal/testtool"
)

// parityTolerance is the largest difference allowed between an output
// probability of the engine and of the PyTorch reference: both compute the
// same dequantized graph in float32, over some 60 layers.
const parityTolerance = 1e-5

// sharedModel reads a model of ../shared/models (README there).
func sharedModel(t testing.TB, name string) []byte { return testtool.ReadShared(t, "models/"+name) }

// testImage is scripts/gen_tflite_golden.py's test image k as the engine's
// input: pixel (y, x, c) = ((7x + 3(k+1)y + 50c) xor (xy >> 4)) mod 256,
// over 255.
func testImage(k int, s engine.Shape) []float32 {
	x := make([]float32, 0, s.Size())
	for y := range s.H {
		for i := range s.W {
			for c := range s.C {
				x = append(x, float32(((7*i+3*(k+1)*y+50*c)^((i*y)>>4))&255)/255)
			}
		}
	}
	return x
}

// TestParity runs the shared TFLite MobileNets on the float32 path (quantized: uint8 QAT,
// per-channel int8 PTQ, and a 0.25-width V1) on two test images and
// compares every output with PyTorch's, from the golden file that
// scripts/gen_tflite_golden.py wrote from train/teacher.py's graph of the
// same files.
func TestParity(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Models []struct {
			File    string      `json:"file"`
			Size    int         `json:"size"`
			Outputs [][]float64 `json:"outputs"`
		} `json:"models"`
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden.Models) != 3 {
		t.Fatalf("golden file has %d models, want 3", len(golden.Models))
	}
	for _, g := range golden.Models {
		t.Run(g.File, func(t *testing.T) {
			m, err := Load(sharedModel(t, g.File), engine.WithInteger(engine.IntegerOff))
			if err != nil {
				t.Fatal(err)
			}
			if in := m.InputShape(); in != (engine.Shape{H: g.Size, W: g.Size, C: 3}) {
				t.Fatalf("input %v, want %dx%dx3", in, g.Size, g.Size)
			}
			if out := m.OutputShape().Size(); out != 1001 {
				t.Fatalf("%d outputs, want 1001", out)
			}
			for k, want := range g.Outputs {
				got, err := m.Predict(nil, testImage(k, m.InputShape()))
				if err != nil {
					t.Fatal(err)
				}
				var worst float64
				at := 0
				var sum float64
				for i, w := range want {
					sum += float64(got[i])
					if d := math.Abs(float64(got[i]) - w); d > worst {
						worst, at = d, i
					}
				}
				t.Logf("image %d: largest difference %.3g (output %d), outputs sum to %.6f", k, worst, at, sum)
				if worst > parityTolerance || math.Abs(sum-1) > 1e-4 {
					t.Errorf("image %d: output %d is %g, PyTorch %g (difference %.3g > %g); sum %g",
						k, at, got[at], want[at], worst, parityTolerance, sum)
				}
			}
		})
	}
}

// TestGraphPlan: on the float32 path, MobileNetV2's residual additions make it a graph, which
// the engine plans with a few reused buffers, not one per tensor, and runs
// without allocating.
func TestGraphPlan(t *testing.T) {
	m, err := Load(sharedModel(t, "mobilenet_v2_1.0_224_quant.tflite"), engine.WithInteger(engine.IntegerOff))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.Layers()); n < 60 {
		t.Fatalf("%d layers, want the whole network", n)
	}
	if got, want := m.MACs(), int64(290e6); got < want || got > want*12/10 {
		t.Errorf("%d multiply-adds; MobileNetV2 at 224 has about 300 million", got)
	}
	x := testImage(0, m.InputShape())
	dst := make([]float32, 0, 1001)
	if _, err := m.Predict(dst, x); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(3, func() { _, _ = m.Predict(dst, x) }); a != 0 && !raceEnabled {
		t.Errorf("%v allocations per inference, want 0", a)
	}

	// A batch of 3 at GOMAXPROCS 2 spreads its images over two
	// goroutines: Predict's outputs, bit for bit, with no allocation.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	const n = 3
	var xs, want []float32
	for k := range n {
		xs = append(xs, testImage(k, m.InputShape())...)
		want, _ = m.Predict(want, testImage(k, m.InputShape()))
	}
	batch := make([]float32, 0, n*1001)
	batch, err = m.PredictBatchTo(batch, xs, n)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(batch, want) {
		t.Error("PredictBatchTo's outputs differ from Predict's")
	}
	if a := testing.AllocsPerRun(3, func() { batch, _ = m.PredictBatchTo(batch[:0], xs, n) }); a != 0 && !raceEnabled {
		t.Errorf("%v allocations per batch of %d, want 0", a, n)
	}
}

// TestRefused: files the loader must refuse, with an error that says why,
// never a panic: damaged copies of a real model, and models using what
// the engine does not run.
func TestRefused(t *testing.T) {
	data := sharedModel(t, "mobilenet_v1_0.25_128_quant.tflite")
	if !IsTFLite(data) || IsTFLite(data[:7]) || IsTFLite([]byte("\x00\x00\x00\x00ONNX")) {
		t.Fatal("IsTFLite does not tell the file by its identifier")
	}
	for n := 0; n < len(data); n += 1 + n/8 {
		if _, err := Load(data[:n]); err == nil && n < len(data)/2 {
			t.Fatalf("the first %d of %d bytes load", n, len(data))
		}
	}
	bad := append([]byte(nil), data...)
	for i := 8; i < len(bad); i += 211 {
		bad[i] ^= 0x5a
		_, _ = Load(bad) // must not panic
	}

	// The same model with its first operator made a dilated convolution:
	// refused by name.
	m, err := tfl.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	_, err = loadDecoded(m, func(op *tfl.Operator) {
		if m.OperatorCodes[op.OpcodeIndex] == tfl.OpConv2D && op.Options.Int(4, 1) == 1 {
			op.Options = dilated(op.Options)
		}
	})
	if err == nil || !strings.Contains(err.Error(), "dilation") || !strings.Contains(err.Error(), "CONV_2D") {
		t.Errorf("dilated convolution: err %v, want one naming CONV_2D and the dilation", err)
	}
}

// loadDecoded is Load on a decoded model after edit changed its first
// operator.
func loadDecoded(m *tfl.Model, edit func(*tfl.Operator)) (*engine.Model, error) {
	edit(&m.Subgraphs[0].Operators[0])
	return build(m)
}

// dilated returns o's Conv2DOptions with dilation 2.
func dilated(o tfl.Table) tfl.Table {
	return tfl.ScalarTable([]int32{int32(o.Int8(0, 0)), o.Int(1, 0), o.Int(2, 0), int32(o.Int8(3, 0)), 2, 2})
}

// FuzzLoad: whatever the bytes, Load returns a model or an error.
func FuzzLoad(f *testing.F) {
	f.Add(sharedModel(f, "mobilenet_v1_0.25_128_quant.tflite"))
	f.Add(tflitetest.FloatMeanModel(tfl.Normalization{Mean: []float32{127.5, 100, 50}, Std: []float32{127.5, 64, 32}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m *engine.Model
		var err error
		used := testtool.Allocated(func() { m, err = Load(data) })
		if (m == nil) == (err == nil) {
			t.Fatalf("model %v and error %v", m != nil, err)
		}
		if err != nil && used > testtool.RefusedModelBudget(len(data)) {
			t.Fatalf("refusing %d bytes allocated %d (budget %d): %v", len(data), used, testtool.RefusedModelBudget(len(data)), err)
		}
	})
}

// TestFloatNormalization loads generated float32 models (a MEAN of the
// input over its pixels) whose TFLite metadata gives the input a
// normalization, and checks each output channel against the mean of
// (255x - mean) / std over the pixels; without metadata the [0,1] pixels
// go in as they are; a normalization the engine cannot apply is refused
// with an error that says so.
func TestFloatNormalization(t *testing.T) {
	x := []float32{0, 0.5, 1, 0.25, 0.75, 0.1, 1, 1, 1, 0.2, 0.4, 0.6} // 2x2x3
	for _, tc := range []struct {
		name      string
		mean, std []float32
		err       string // part of the load error; "" when it loads
	}{
		{"per channel", []float32{127.5, 100, 50}, []float32{127.5, 64, 32}, ""},
		{"one value", []float32{127.5}, []float32{127.5}, ""},
		{"mean per channel, one std", []float32{123.675, 116.28, 103.53}, []float32{58}, ""},
		{"no metadata", nil, nil, ""},
		{"zero std", []float32{0}, []float32{0}, "standard deviation 0"},
		{"two means", []float32{1, 2}, []float32{1}, "2 means"},
		{"no std", []float32{1}, []float32{}, "0 standard deviations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Load(tflitetest.FloatMeanModel(tfl.Normalization{Mean: tc.mean, Std: tc.std}))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), `input "image"`) {
					t.Fatalf("err %v, want one naming the input and %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Predict(nil, x)
			if err != nil {
				t.Fatal(err)
			}
			for c := range 3 {
				var want float64
				for p := range 4 {
					v := float64(x[p*3+c])
					if tc.mean != nil {
						v = (255*v - float64(tc.mean[min(c, len(tc.mean)-1)])) / float64(tc.std[min(c, len(tc.std)-1)])
					}
					want += v / 4
				}
				if d := math.Abs(float64(got[c]) - want); d > 1e-5 {
					t.Errorf("channel %d: %g, want %g", c, got[c], want)
				}
			}
		})
	}
}

// TestFloatFixture: testdata/float_mean_normalized.tflite is what
// tflitetest.FloatMeanModel writes (regenerate with go test -run
// TestFloatFixture -update), and loads.
func TestFloatFixture(t *testing.T) {
	want := tflitetest.FloatMeanModel(tfl.Normalization{Mean: []float32{127.5, 100, 50}, Std: []float32{127.5, 64, 32}})
	path := filepath.Join("testdata", "float_mean_normalized.tflite")
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s is not what tflitetest.FloatMeanModel writes: go test -run TestFloatFixture -update", path)
	}
	if _, err := Load(got); err != nil {
		t.Fatal(err)
	}
}

var update = flag.Bool("update", false, "rewrite testdata/float_mean_normalized.tflite")
