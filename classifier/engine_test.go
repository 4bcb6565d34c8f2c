package classifier

import (
	"bytes"
	"errors"
	"testing"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/engine"
)

// constEngine is an Engine that answers p for every image of its shape.
type constEngine struct {
	in  engine.Shape
	out int
	p   float32
}

func (e constEngine) InputShape() engine.Shape  { return e.in }
func (e constEngine) OutputShape() engine.Shape { return engine.Shape{H: 1, W: 1, C: e.out} }
func (e constEngine) Predict(dst, x []float32) ([]float32, error) {
	if len(x) != e.in.Size() {
		return dst, engine.ErrInputSize
	}
	for range e.out {
		dst = append(dst, e.p)
	}
	return dst, nil
}

func (e constEngine) PredictBatchTo(dst, x []float32, n int) ([]float32, error) {
	var err error
	for i := range n {
		if dst, err = e.Predict(dst, x[i*e.in.Size():(i+1)*e.in.Size()]); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// TestLoadEngine runs the classifier on an engine other than the native
// one, as --engine ort does.
func TestLoadEngine(t *testing.T) {
	var loaded []byte
	opt := DefaultOptions()
	opt.Engine = func(data []byte) (Engine, EngineInfo, error) {
		loaded = data
		return constEngine{in: engine.Shape{H: 8, W: 6, C: 3}, out: 1, p: 0.9},
			EngineInfo{Name: "const", Format: "onnx", Engine: "test 1.0", Params: 7}, nil
	}
	c, err := Load([]byte("model bytes"), opt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded, []byte("model bytes")) || c.Model() != nil {
		t.Errorf("loader got %q; Model() = %v", loaded, c.Model())
	}
	info := c.Info()
	if info.Name != "const" || info.Format != "onnx" || info.Engine != "test 1.0" || info.Params != 7 ||
		info.Input != [3]int{8, 6, 3} || info.Size != 11 || len(info.SHA256) != 64 {
		t.Errorf("info %+v", info)
	}
	r, err := c.Classify(pngBytes(t, 20, 10))
	if err != nil || r.Probability != 0.9 || r.Label != huskyai.LabelHusky {
		t.Errorf("Classify: %+v, %v", r, err)
	}

	opt.Engine = func([]byte) (Engine, EngineInfo, error) {
		return constEngine{in: engine.Shape{H: 8, W: 6, C: 3}, out: 2}, EngineInfo{Name: "two"}, nil
	}
	if _, err := Load(nil, opt); err == nil {
		t.Error("an engine with 2 outputs loaded")
	}
	boom := errors.New("boom")
	opt.Engine = func([]byte) (Engine, EngineInfo, error) { return nil, EngineInfo{}, boom }
	if _, err := Load(nil, opt); !errors.Is(err, boom) {
		t.Errorf("loader error: %v", err)
	}
}
