// Package explain shows why a model called a picture a husky: a saliency
// map over the model's input by occlusion sensitivity (Zeiler and Fergus,
// 2014), as a grid of rows x cols cells, with a sentence that says which
// region mattered and a heatmap drawn over the picture.
//
// Occlusion only runs the model: it needs no gradients, so it works for
// every engine and format huskyai loads. It costs at most MaxInferences
// forward passes, run in batches.
//
// Random masks (RISE, Petsiuk et al., 2018) were tried and left out: with
// the 64 masks this budget allows, a model that looks at one quadrant only
// got 31-50% of RISE's map there (occlusion: 100%), so its maps would
// fail the first sanity check they are held to (explain_test.go).
package explain

import (
	"errors"
	"fmt"
	"math"

	"github.com/huskyai/huskyai"
)

// Defaults and bounds of Options.
const (
	// DefaultGrid is the default number of rows and columns of cells.
	DefaultGrid = 8
	// MaxGrid bounds Options.Grid, so that occlusion costs at most
	// MaxGrid*MaxGrid+1 inferences.
	MaxGrid = 8
	// MinGrid is the coarsest grid.
	MinGrid = 2
	// MaxInferences bounds the forward passes of one explanation: the
	// occluded copies and the picture itself.
	MaxInferences = MaxGrid*MaxGrid + 1
	// batch is the copies scored in one engine run: 16 inputs of
	// 224x224x3 float32 are 9.6 MB.
	batch = 16
)

// Occlusion is the method of every map: each cell of the grid is covered
// in turn with the picture's mean colour, and its value is how much the
// husky probability drops when it is (negative: it rises).
const Occlusion = "occlusion"

// Options choose the resolution of the map. The zero value is a
// DefaultGrid x DefaultGrid grid.
type Options struct {
	// Grid is the rows and columns of cells, MinGrid to MaxGrid; 0 means
	// DefaultGrid.
	Grid int
}

// ErrOptions is wrapped by the errors of invalid Options.
var ErrOptions = errors.New("explain: invalid options")

// normalize fills in the defaults of o and checks it.
func (o Options) normalize() (Options, error) {
	if o.Grid == 0 {
		o.Grid = DefaultGrid
	}
	if o.Grid < MinGrid || o.Grid > MaxGrid {
		return o, fmt.Errorf("%w: grid %d: want %d to %d cells per side", ErrOptions, o.Grid, MinGrid, MaxGrid)
	}
	return o, nil
}

// Inferences is the number of forward passes an explanation with o
// costs, or 0 if o is invalid: what a rate limiter should count it as.
func (o Options) Inferences() int {
	o, err := o.normalize()
	if err != nil {
		return 0
	}
	return o.Grid*o.Grid + 1
}

// Scorer returns the husky probability of each of n inputs, laid out one
// after another in x (each of the model's input shape, HWC in [0,1]).
// Explain's first call has the input itself first, unaltered.
type Scorer func(x []float32, n int) ([]float32, error)

// ForClassifier scores inputs with c, n at a time in one engine run
// (huskyai.Classifier.InferBatch). If first is not nil, it receives the
// whole Result of the first input scored, which for Explain is the input
// itself: its verdict without a second run.
func ForClassifier(c huskyai.Classifier, first *huskyai.Result) Scorer {
	done := false
	return func(x []float32, n int) ([]float32, error) {
		size := len(x) / n
		ps := make([]huskyai.Prepared, n)
		for i := range ps {
			ps[i].X = x[i*size : (i+1)*size]
		}
		rs, err := c.InferBatch(ps)
		if err != nil {
			return nil, err
		}
		if first != nil && !done && len(rs) > 0 {
			*first, done = rs[0], true
		}
		out := make([]float32, len(rs))
		for i, r := range rs {
			out[i] = r.Probability
		}
		return out, nil
	}
}

// Map is the saliency of one input: Rows x Cols cells over the model's
// input, row by row from the top left.
type Map struct {
	// Method is how the map was made (Occlusion).
	Method string `json:"method"`
	// Rows and Cols are the cells along the input's height and width.
	Rows int `json:"rows"`
	Cols int `json:"cols"`
	// Values holds Rows*Cols values, row by row: positive where the cell
	// raised the husky probability, negative where it lowered it, in
	// probability units.
	Values []float32 `json:"-"`
	// Probability is the model's husky probability for the input itself,
	// as it answers without an explanation.
	Probability float32 `json:"probability"`
	// Inferences is the number of forward passes the map took.
	Inferences int `json:"inferences"`
}

// Grid returns the values as rows of cells.
func (m *Map) Grid() [][]float32 {
	g := make([][]float32, m.Rows)
	for r := range g {
		g[r] = m.Values[r*m.Cols : (r+1)*m.Cols]
	}
	return g
}

// Explain maps the saliency of input x (HWC in [0,1], of shape hwc) for
// the model that score runs.
func Explain(x []float32, hwc [3]int, score Scorer, opt Options) (*Map, error) {
	opt, err := opt.normalize()
	if err != nil {
		return nil, err
	}
	h, w, c := hwc[0], hwc[1], hwc[2]
	if h < opt.Grid || w < opt.Grid || c < 1 || len(x) != h*w*c {
		return nil, fmt.Errorf("explain: input of %d values is not %dx%dx%d with at least %d pixels per side", len(x), h, w, c, opt.Grid)
	}
	probs, err := scoreMasked(x, hwc, occlusionMasks(h, w, opt.Grid), score)
	if err != nil {
		return nil, err
	}
	m := &Map{Method: Occlusion, Rows: opt.Grid, Cols: opt.Grid, Probability: probs[0], Inferences: len(probs),
		Values: make([]float32, len(probs)-1)}
	for i, p := range probs[1:] {
		m.Values[i] = probs[0] - p
	}
	return m, nil
}

// scoreMasked scores x itself, then x with each mask applied (hidden
// pixels blended towards x's mean colour), batch at a time. It returns
// len(masks)+1 probabilities, x's first.
func scoreMasked(x []float32, hwc [3]int, masks [][]float32, score Scorer) ([]float32, error) {
	c := hwc[2]
	fill := meanColour(x, c)
	size := len(x)
	buf := make([]float32, 0, batch*size)
	probs := make([]float32, 0, len(masks)+1)
	flush := func() error {
		n := len(buf) / size
		if n == 0 {
			return nil
		}
		ps, err := score(buf, n)
		if err != nil {
			return err
		}
		if len(ps) != n {
			return fmt.Errorf("explain: the model answered %d probabilities for %d inputs", len(ps), n)
		}
		probs = append(probs, ps...)
		buf = buf[:0]
		return nil
	}
	buf = append(buf, x...)
	for _, mk := range masks {
		if len(buf)/size == batch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		at := len(buf)
		buf = append(buf, x...)
		y := buf[at:]
		for p, keep := range mk {
			if keep == 1 {
				continue
			}
			for k := range c {
				y[p*c+k] = keep*y[p*c+k] + (1-keep)*fill[k]
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return probs, nil
}

// meanColour is the mean of each of x's c channels.
func meanColour(x []float32, c int) []float32 {
	sum := make([]float64, c)
	for i, v := range x {
		sum[i%c] += float64(v)
	}
	out := make([]float32, c)
	for k := range out {
		out[k] = float32(sum[k] / float64(len(x)/c))
	}
	return out
}

// cellBounds is the first row (or column) of cell i of n over size pixels
// and the first of the next.
func cellBounds(i, n, size int) (lo, hi int) {
	return i * size / n, (i + 1) * size / n
}

// occlusionMasks hides one cell of a grid x grid over h x w per mask, row
// by row.
func occlusionMasks(h, w, grid int) [][]float32 {
	masks := make([][]float32, 0, grid*grid)
	for r := range grid {
		y0, y1 := cellBounds(r, grid, h)
		for c := range grid {
			x0, x1 := cellBounds(c, grid, w)
			mk := make([]float32, h*w)
			for i := range mk {
				mk[i] = 1
			}
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					mk[y*w+x] = 0
				}
			}
			masks = append(masks, mk)
		}
	}
	return masks
}

// bilinear samples the rows x cols grid v at fractional cell coordinates
// (fy, fx), cell centres at integers, clamped at the edges.
func bilinear(v []float32, rows, cols int, fy, fx float64) float32 {
	fy = math.Max(0, math.Min(fy, float64(rows-1)))
	fx = math.Max(0, math.Min(fx, float64(cols-1)))
	y0, x0 := int(fy), int(fx)
	y1, x1 := min(y0+1, rows-1), min(x0+1, cols-1)
	ty, tx := float32(fy-float64(y0)), float32(fx-float64(x0))
	top := v[y0*cols+x0]*(1-tx) + v[y0*cols+x1]*tx
	bot := v[y1*cols+x0]*(1-tx) + v[y1*cols+x1]*tx
	return top*(1-ty) + bot*ty
}
