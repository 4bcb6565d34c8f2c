package explain_test

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/explain"
	"github.com/huskyai/huskyai/imageprep"
)

// quadrantClassifier is a model whose output depends only on the pixels
// of one quadrant of its 32x32 input (0 top-left, 1 top-right, 2
// bottom-left, 3 bottom-right): Flatten, a Dense layer of 16 ReLU units
// whose weights from every other pixel are zero, and a sigmoid unit.
func quadrantClassifier(t *testing.T, quadrant int) *classifier.Classifier {
	t.Helper()
	const side, hidden = 32, 16
	in := engine.Shape{H: side, W: side, C: 3}
	rng := rand.New(rand.NewPCG(uint64(quadrant), 7))
	w1 := make([]float32, in.Size()*hidden)
	for y := range side {
		for x := range side {
			if (y >= side/2) != (quadrant >= 2) || (x >= side/2) != (quadrant%2 == 1) {
				continue
			}
			for c := range 3 {
				i := (y*side+x)*3 + c
				for u := range hidden {
					w1[i*hidden+u] = float32(rng.NormFloat64() * 0.2)
				}
			}
		}
	}
	b1 := make([]float32, hidden)
	for u := range b1 {
		b1[u] = 0.5
	}
	w2 := make([]float32, hidden)
	for u := range w2 {
		w2[u] = float32(rng.NormFloat64())
	}
	m, err := engine.New("quadrant", "test", in, []engine.Layer{
		&engine.Flatten{Name: "flatten"},
		&engine.Dense{Name: "hidden", Units: hidden, Weights: w1, Bias: b1, Activation: engine.ReLU},
		&engine.Dense{Name: "out", Units: 1, Weights: w2, Bias: []float32{0}, Activation: engine.Sigmoid},
	})
	if err != nil {
		t.Fatal(err)
	}
	opt := classifier.DefaultOptions()
	opt.Engine = func([]byte) (classifier.Engine, classifier.EngineInfo, error) {
		return m, classifier.EngineInfo{Name: "quadrant", Format: "test", Engine: "native"}, nil
	}
	c, err := classifier.Load([]byte("quadrant"), opt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// randomInput is a 32x32 RGB input of uniform noise.
func randomInput(seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, 32*32*3)
	for i := range x {
		x[i] = rng.Float32()
	}
	return x
}

// quadrantMass is the share of the map's absolute mass in the cells of
// the quadrant.
func quadrantMass(m *explain.Map, quadrant int) float64 {
	var in, all float64
	for r := range m.Rows {
		for c := range m.Cols {
			v := math.Abs(float64(m.Values[r*m.Cols+c]))
			all += v
			if (r >= m.Rows/2) == (quadrant >= 2) && (c >= m.Cols/2) == (quadrant%2 == 1) {
				in += v
			}
		}
	}
	return in / all
}

// TestQuadrant is the first sanity check of a saliency map: for a model
// that looks only at one quadrant, the map must put at least 90% of its
// mass there: occlusion puts all of it there, since covering any other
// cell changes nothing.
func TestQuadrant(t *testing.T) {
	for q := range 4 {
		c := quadrantClassifier(t, q)
		for _, grid := range []int{2, 4, 8} {
			for seed := range uint64(3) {
				x := randomInput(seed)
				m, err := explain.Explain(x, c.Info().Input, explain.ForClassifier(c, nil), explain.Options{Grid: grid})
				if err != nil {
					t.Fatal(err)
				}
				if mass := quadrantMass(m, q); mass < 0.9 || math.IsNaN(mass) {
					t.Errorf("quadrant %d, grid %d, seed %d: %.4f of the map's mass in the quadrant, want >= 0.9", q, grid, seed, mass)
				}
			}
		}
	}
}

// TestExplainDoesNotChangePrediction is the third sanity check: the
// probability an explanation reports is the one the model answers for the
// input without it, bit for bit, and the model answers the same after.
func TestExplainDoesNotChangePrediction(t *testing.T) {
	c := quadrantClassifier(t, 1)
	x := randomInput(9)
	before, err := c.ClassifyTensor(x, imageprep.Info{})
	if err != nil {
		t.Fatal(err)
	}
	keep := append([]float32(nil), x...)
	for _, grid := range []int{3, 8} {
		m, err := explain.Explain(x, c.Info().Input, explain.ForClassifier(c, nil), explain.Options{Grid: grid})
		if err != nil {
			t.Fatal(err)
		}
		if m.Probability != before.Probability {
			t.Errorf("grid %d: the explanation reports %v, the model answers %v", grid, m.Probability, before.Probability)
		}
		if !slicesEqual(x, keep) {
			t.Fatalf("grid %d: the explanation changed its input", grid)
		}
	}
	after, err := c.ClassifyTensor(x, imageprep.Info{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Probability != before.Probability {
		t.Errorf("after explaining, the model answers %v, before %v", after.Probability, before.Probability)
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestOptions checks the defaults, the bounds and the cost.
func TestOptions(t *testing.T) {
	c := quadrantClassifier(t, 0)
	x := randomInput(1)
	for _, tc := range []struct {
		opt        explain.Options
		inferences int
		err        bool
	}{
		{explain.Options{}, 65, false},
		{explain.Options{Grid: 4}, 17, false},
		{explain.Options{Grid: 2}, 5, false},
		{explain.Options{Grid: 9}, 0, true},
		{explain.Options{Grid: 1}, 0, true},
		{explain.Options{Grid: -3}, 0, true},
	} {
		if got := tc.opt.Inferences(); got != tc.inferences {
			t.Errorf("%+v: Inferences() = %d, want %d", tc.opt, got, tc.inferences)
		}
		calls := 0
		score := func(x []float32, n int) ([]float32, error) {
			calls += n
			return explain.ForClassifier(c, nil)(x, n)
		}
		m, err := explain.Explain(x, c.Info().Input, score, tc.opt)
		if tc.err {
			if !errors.Is(err, explain.ErrOptions) {
				t.Errorf("%+v: err %v, want ErrOptions", tc.opt, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", tc.opt, err)
		}
		if calls != tc.inferences || m.Inferences != tc.inferences {
			t.Errorf("%+v: %d inferences run, %d reported, want %d", tc.opt, calls, m.Inferences, tc.inferences)
		}
		g := tc.opt.Grid
		if g == 0 {
			g = explain.DefaultGrid
		}
		if m.Rows != g || m.Cols != g || len(m.Values) != g*g || len(m.Grid()) != g {
			t.Errorf("%+v: map %dx%d with %d values", tc.opt, m.Rows, m.Cols, len(m.Values))
		}
	}
	if _, err := explain.Explain(x[:10], c.Info().Input, explain.ForClassifier(c, nil), explain.Options{}); err == nil {
		t.Error("an input of the wrong size was explained")
	}
	failing := func([]float32, int) ([]float32, error) { return nil, errors.New("engine down") }
	if _, err := explain.Explain(x, c.Info().Input, failing, explain.Options{}); err == nil || !strings.Contains(err.Error(), "engine down") {
		t.Errorf("a failing model: err %v", err)
	}
}

// TestSummary checks the words for hand-made maps.
func TestSummary(t *testing.T) {
	grid := func(vals map[[2]int]float32) *explain.Map {
		m := &explain.Map{Rows: 6, Cols: 6, Values: make([]float32, 36)}
		for rc, v := range vals {
			m.Values[rc[0]*6+rc[1]] = v
		}
		return m
	}
	for _, tc := range []struct {
		m    *explain.Map
		want string
	}{
		{grid(map[[2]int]float32{{0, 0}: 0.3, {5, 3}: -0.1}), "The top-left region raised the score most; the bottom region lowered it most."},
		{grid(map[[2]int]float32{{2, 2}: 0.3, {3, 3}: 0.2, {0, 5}: 0.4}), "The centre region raised the score most; no region lowered it."},
		{grid(map[[2]int]float32{{3, 5}: -0.2}), "No region raised the score; the right region lowered it most."},
		{grid(nil), "No region of the picture changed the score."},
	} {
		if got := tc.m.Summary(); got != tc.want {
			t.Errorf("Summary() = %q, want %q", got, tc.want)
		}
	}
}

// TestOverlay checks the heatmap: the picture's aspect, red over the cell
// that raised the score, blue over the one that lowered it, the picture
// itself where nothing changed.
func TestOverlay(t *testing.T) {
	x := make([]float32, 32*32*3)
	for i := range x {
		x[i] = 0.5
	}
	m := &explain.Map{Rows: 2, Cols: 2, Values: []float32{0.4, 0, 0, -0.4}}
	b, err := m.OverlayPNG(x, [3]int{32, 32, 3}, 64, 40)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Size(); got.X != 64 || got.Y != 40 {
		t.Fatalf("overlay is %v, want 64x40", got)
	}
	rgb := func(x, y int) [3]uint32 {
		r, g, b, _ := img.At(x, y).RGBA()
		return [3]uint32{r >> 8, g >> 8, b >> 8}
	}
	if p := rgb(2, 2); p[0] <= p[2]+100 {
		t.Errorf("top-left pixel %v is not red", p)
	}
	if p := rgb(61, 37); p[2] <= p[0]+100 {
		t.Errorf("bottom-right pixel %v is not blue", p)
	}
	if p := rgb(61, 2); p != [3]uint32{128, 128, 128} {
		t.Errorf("top-right pixel %v is not the grey picture", p)
	}
	if _, err := m.OverlayPNG(x[:3], [3]int{32, 32, 3}, 64, 40); err == nil {
		t.Error("an overlay of a short input was drawn")
	}
	for _, tc := range []struct{ w, h, wantW, wantH int }{
		{1000, 500, 256, 128}, {500, 1000, 128, 256}, {128, 128, 256, 256}, {10000, 1, 256, 1}, {0, 0, 256, 256},
	} {
		if w, h := explain.OverlaySize(tc.w, tc.h, 256); w != tc.wantW || h != tc.wantH {
			t.Errorf("OverlaySize(%d, %d) = %dx%d, want %dx%d", tc.w, tc.h, w, h, tc.wantW, tc.wantH)
		}
	}
}
