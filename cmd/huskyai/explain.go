package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	flag "github.com/spf13/pflag"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/explain"
)

// explainFlags are the flags of "huskyai predict" that explain each
// verdict with an occlusion map (package explain).
type explainFlags struct {
	dir  string
	grid int
}

// overlayLongest is the longer side, in pixels, of the overlays predict
// writes.
const overlayLongest = 512

func (e *explainFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&e.dir, "explain", "", "explain each verdict: write a heatmap of which regions raised (red) or lowered (blue)\nthe score over the picture to `DIR`/NAME.why.png, and its summary to the output\n(jsonl: \"why\" and \"explanation\"); each image then runs the model --explain-grid² + 1 times")
	fs.IntVar(&e.grid, "explain-grid", explain.DefaultGrid, fmt.Sprintf("rows and columns of the explanation's cells, %d..%d", explain.MinGrid, explain.MaxGrid))
}

// explained is an image's result, with its explanation's summary and
// overlay file when asked for.
type explained struct {
	classifier.Result
	summary, overlay string
}

// classify returns the function predict runs on each input's bytes (i
// is the input's index): Classify, or with --explain the verdict and an
// explanation whose overlay it writes to the --explain folder, named
// after the input.
func (e *explainFlags) classify(c *classifier.Classifier, inputs []predictInput) (func(i int, img []byte) (explained, error), error) {
	if e.dir == "" {
		return func(_ int, img []byte) (explained, error) {
			r, err := c.Classify(img)
			return explained{Result: r}, err
		}, nil
	}
	opt := explain.Options{Grid: e.grid}
	if opt.Inferences() == 0 {
		return nil, usageErrorf("predict: --explain-grid %d: want %d..%d", e.grid, explain.MinGrid, explain.MaxGrid)
	}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return nil, fmt.Errorf("predict: --explain: %w", err)
	}
	names := overlayNames(inputs)
	return func(i int, img []byte) (explained, error) {
		p, err := c.Prepare(img)
		if err != nil {
			return explained{Result: classifier.Result{Image: p.Image}}, err
		}
		var first classifier.Result
		m, err := explain.Explain(p.X, c.Info().Input, explain.ForClassifier(c, &first), opt)
		if err != nil {
			return explained{}, errors.Join(classifier.ErrModel, err)
		}
		first.Image = p.Image
		w, h := explain.OverlaySize(p.Image.Width, p.Image.Height, overlayLongest)
		b, err := m.OverlayPNG(p.X, c.Info().Input, w, h)
		if err != nil {
			return explained{}, err
		}
		path := filepath.Join(e.dir, names[i])
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return explained{}, fmt.Errorf("--explain: %w", err)
		}
		return explained{Result: first, summary: m.Summary(), overlay: path}, nil
	}, nil
}

// overlayNames names the overlay file of each input: its file name with
// the extension replaced by ".why.png" ("photos/a.jpg" is a.why.png,
// standard input stdin.why.png); a name taken by an earlier input gets
// "-2", "-3"... before ".why.png".
func overlayNames(inputs []predictInput) []string {
	names := make([]string, len(inputs))
	seen := map[string]bool{}
	for i, in := range inputs {
		base := "stdin"
		if in.name != "-" {
			base = filepath.Base(in.name)
			base = strings.TrimSuffix(base, filepath.Ext(base))
		}
		name := base + ".why.png"
		for k := 2; seen[name]; k++ {
			name = fmt.Sprintf("%s-%d.why.png", base, k)
		}
		seen[name] = true
		names[i] = name
	}
	return names
}
