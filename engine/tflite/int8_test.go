package tflite

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/internal/qkernels"
	tfl "github.com/huskyai/huskyai/engine/internal/tflite"
)

// TestIntegerLogits runs the three quantized MobileNets on the integer
// path with each tier of kernels this CPU has (AVX-512 VNNI, AVX2, the
// portable Go; the model built anew for each), and compares the logits, the 8-bit input of the
// softmax, with those of scripts/tflite_int8_ref.py, an independent
// numpy implementation of TFLite's integer kernels
// (testdata/int8_logits.json): they must be equal, value for value.
func TestIntegerLogits(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "int8_logits.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Models []struct {
			File   string    `json:"file"`
			Size   int       `json:"size"`
			Logits [][]int32 `json:"logits"`
		} `json:"models"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Models) != 3 {
		t.Fatalf("reference file has %d models, want 3", len(ref.Models))
	}
	for _, r := range ref.Models {
		t.Run(r.File, func(t *testing.T) {
			m, err := tfl.Decode(sharedModel(t, r.File))
			if err != nil {
				t.Fatal(err)
			}
			saved := qkernels.Kernel()
			defer qkernels.SetKernel(saved)
			for _, kernels := range []string{"avx512-vnni", "avx2", "go"} {
				if _, ok := qkernels.SetKernel(kernels); !ok {
					t.Logf("no %s kernels here", kernels)
					continue
				}
				p, err := buildInteger(m) // after SetKernel: the AVX2 tier packs its own weights
				if err != nil {
					t.Fatal(err)
				}
				for k, want := range r.Logits {
					got := logitsOf(p, testImage(k, p.in))
					if len(got) != len(want) {
						t.Fatalf("%s kernels, image %d: %d logits, want %d", kernels, k, len(got), len(want))
					}
					for i := range want {
						if got[i] != want[i] {
							t.Fatalf("%s kernels, image %d: logit %d is %d, the reference's %d", kernels, k, i, got[i], want[i])
						}
					}
				}
			}
		})
	}
}

// logitsOf runs p on the image x and returns its logits in the file's
// type (int8 values as int8).
func logitsOf(p *qprogram, x []float32) []int32 {
	dst := make([]float32, p.outSize)
	p.Run(dst, x)
	ws := <-p.spare
	defer func() { p.spare <- ws }()
	t := &p.tensors[p.logits]
	out := make([]int32, p.outSize)
	for i, v := range ws.bufs[t.buf][:p.outSize] {
		out[i] = int32(v)
		if t.signed {
			out[i] -= 128
		}
	}
	return out
}

// TestIntegerAllocs: the integer path runs without allocating once its
// workspace exists, and gives the same outputs every time, with each
// tier of kernels.
func TestIntegerAllocs(t *testing.T) {
	saved := qkernels.Kernel()
	defer qkernels.SetKernel(saved)
	for _, kernels := range []string{"avx512-vnni", "avx2", "go"} {
		if _, ok := qkernels.SetKernel(kernels); !ok {
			continue
		}
		t.Run(kernels, testIntegerAllocs)
	}
}

// testIntegerAllocs is TestIntegerAllocs with the kernels in use.
func testIntegerAllocs(t *testing.T) {
	m, err := Load(sharedModel(t, "mobilenet_v2_1.0_224_quant.tflite"), engine.WithInteger(engine.IntegerOn))
	if err != nil {
		t.Fatal(err)
	}
	x := testImage(0, m.InputShape())
	first, err := m.Predict(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, 0, len(first))
	if a := testing.AllocsPerRun(3, func() { dst, _ = m.Predict(dst[:0], x) }); a != 0 {
		t.Errorf("%v allocations per inference, want 0", a)
	}
	for i := range first {
		if dst[i] != first[i] {
			t.Fatalf("output %d: %g, then %g", i, first[i], dst[i])
		}
	}
}

// TestIntegerRefused: with IntegerOn, what the integer path does not run
// is refused with an error naming the operator.
func TestIntegerRefused(t *testing.T) {
	m, err := tfl.Decode(sharedModel(t, "mobilenet_v1_0.25_128_quant.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	op := &m.Subgraphs[0].Operators[0]
	op.Options = dilated(op.Options)
	_, err = buildIntegerModel(m)
	if err == nil || !strings.Contains(err.Error(), "dilation") || !strings.Contains(err.Error(), "CONV_2D") {
		t.Errorf("dilated convolution: err %v, want one naming CONV_2D and the dilation", err)
	}
}

// TestIntegerAuto: by default a quantized model takes the integer path
// where IntegerFaster says so, else the float32 path; IntegerOff always
// gives float32. Backend names the path taken.
func TestIntegerAuto(t *testing.T) {
	data := sharedModel(t, "mobilenet_v1_0.25_128_quant.tflite")
	for _, c := range []struct {
		opt     engine.Integer
		integer bool
	}{{engine.IntegerAuto, IntegerFaster()}, {engine.IntegerOff, false}, {engine.IntegerOn, true}} {
		m, err := Load(data, engine.WithInteger(c.opt))
		if err != nil {
			t.Fatal(err)
		}
		_, isInt := m.Layers()[0].(*engine.External)
		if isInt != c.integer {
			t.Errorf("option %d: integer path %v, want %v (kernels %s)", c.opt, isInt, c.integer, IntegerKernels())
		}
		want := "int8 " + IntegerKernels()
		if !c.integer {
			want = "float32 "
		}
		if b := m.Backend(); !strings.HasPrefix(b, want) || c.integer && b != want {
			t.Errorf("option %d: Backend %q, want %q", c.opt, b, want)
		}
	}
}

// TestIntegerConcurrent: inferences at once (each its own workspace,
// sharing the helper goroutines) give what one at a time gives.
func TestIntegerConcurrent(t *testing.T) {
	m, err := Load(sharedModel(t, "mobilenet_v1_0.25_128_quant.tflite"), engine.WithInteger(engine.IntegerOn))
	if err != nil {
		t.Fatal(err)
	}
	var want [4][]float32
	for k := range want {
		if want[k], err = m.Predict(nil, testImage(k, m.InputShape())); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := range 4 {
		wg.Go(func() {
			for i := range 3 {
				k := (g + i) % 4
				got, err := m.Predict(nil, testImage(k, m.InputShape()))
				if err != nil || !slices.Equal(got, want[k]) {
					errs <- fmt.Sprintf("goroutine %d, image %d: outputs differ (%v)", g, k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestIntegerPlan: MobileNetV2's integer program reuses a few buffers
// for its tensors (the outputs stay bit-exact: TestIntegerLogits), and
// no operation writes into a buffer it reads.
func TestIntegerPlan(t *testing.T) {
	m, err := tfl.Decode(sharedModel(t, "mobilenet_v2_1.0_224_quant.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := buildInteger(m)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range p.bufSizes {
		total += n
	}
	t.Logf("%d tensors in %d buffers, %d bytes", len(p.tensors), len(p.bufSizes), total)
	if len(p.bufSizes) > 8 || total > 3<<20 {
		t.Errorf("%d buffers of %d bytes in all; want a few, under 3 MiB", len(p.bufSizes), total)
	}
	for k, op := range p.ops {
		for _, in := range op.inputs() {
			if p.tensors[in].buf == p.tensors[op.output()].buf {
				t.Errorf("operation %d writes tensor %q into the buffer of its input %q", k, p.tensors[op.output()].name, p.tensors[in].name)
			}
		}
	}
}
