package classifier

import (
	"math"
	"testing"

	"github.com/huskyai/huskyai/engine"
)

// recordingEngine is an Engine that keeps the input it was given and
// answers a fixed probability.
type recordingEngine struct {
	in  engine.Shape
	got []float32
}

func (r *recordingEngine) InputShape() engine.Shape  { return r.in }
func (r *recordingEngine) OutputShape() engine.Shape { return engine.Shape{H: 1, W: 1, C: 1} }
func (r *recordingEngine) Predict(dst, x []float32) ([]float32, error) {
	r.got = append(r.got[:0], x...)
	return append(dst, 0.5), nil
}
func (r *recordingEngine) PredictBatchTo(dst, x []float32, n int) ([]float32, error) {
	r.got = append(r.got[:0], x...)
	for range n {
		dst = append(dst, 0.5)
	}
	return dst, nil
}

// TestInputNormalization: the model gets (255x - mean) / std per channel,
// through Predict and batches; bad specifications are refused.
func TestInputNormalization(t *testing.T) {
	rec := &recordingEngine{in: engine.Shape{H: 1, W: 2, C: 3}}
	opt := DefaultOptions()
	opt.Engine = func([]byte) (Engine, EngineInfo, error) { return rec, EngineInfo{Name: "rec"}, nil }
	opt.InputMean = []float32{123.675, 116.28, 103.53}
	opt.InputStd = []float32{58.395, 57.12, 57.375}
	c, err := Load([]byte("x"), opt)
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{0, 0.5, 1, 1, 0.5, 0}
	if _, err := c.ClassifyTensor(x, Result{}.Image); err != nil {
		t.Fatal(err)
	}
	for i, v := range x {
		k := i % 3
		want := (255*v - opt.InputMean[k]) / opt.InputStd[k]
		if math.Abs(float64(rec.got[i]-want)) > 1e-5 {
			t.Errorf("value %d: model got %v, want %v", i, rec.got[i], want)
		}
	}
	if _, err := c.InferBatch([]Prepared{{X: x}, {X: x}}); err != nil || len(rec.got) != 12 || math.Abs(float64(rec.got[7]-(255*0.5-116.28)/57.12)) > 1e-5 {
		t.Errorf("batch: %v, got %v", err, rec.got)
	}

	// One value for every channel: a float MobileNet's [-1, 1].
	opt.InputMean, opt.InputStd = []float32{127.5}, []float32{127.5}
	if c, err = Load([]byte("x"), opt); err != nil {
		t.Fatal(err)
	}
	c.ClassifyTensor(x, Result{}.Image)
	if rec.got[0] != -1 || rec.got[2] != 1 {
		t.Errorf("mean 127.5, std 127.5: %v, want -1 and 1", rec.got)
	}

	for _, tc := range []struct{ mean, std []float32 }{
		{[]float32{1, 2}, nil},
		{nil, []float32{0}},
		{nil, []float32{1, -1, 1}},
	} {
		opt.InputMean, opt.InputStd = tc.mean, tc.std
		if _, err := Load([]byte("x"), opt); err == nil {
			t.Errorf("mean %v std %v: loaded", tc.mean, tc.std)
		}
	}
	for _, spec := range []string{"", "a", "1,,2"} {
		if _, err := ParseNormalization(spec); err == nil {
			t.Errorf("ParseNormalization(%q): no error", spec)
		}
	}
	if v, err := ParseNormalization("123.675, 116.28,103.53"); err != nil || len(v) != 3 {
		t.Errorf("ParseNormalization: %v %v", v, err)
	}
}
