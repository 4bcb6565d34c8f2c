package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/classifier"
)

// predictLine is one line of "huskyai predict" output.
type predictLine struct {
	File string `json:"file"`
	huskyai.Verdict
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Model  string `json:"model"`
	// Why and Explanation are, with --explain, the explanation's summary
	// and the path of its heatmap overlay.
	Why         string `json:"why,omitempty"`
	Explanation string `json:"explanation,omitempty"`
}

// maxImageFile bounds the size of an image file read by predict, as the
// service bounds uploads.
const maxImageFile = 64 << 20

// Output formats of predict.
const (
	formatJSONL = "jsonl"
	formatCSV   = "csv"
	formatTable = "table"
)

// predictInput is one image to classify: a file named on the command
// line or found in a folder, or standard input.
type predictInput struct {
	name string // as printed
	read func() ([]byte, error)
}

const predictUsage = `Usage: huskyai predict [flags] IMAGE|DIR|- ...

Classifies PNG, JPEG and GIF images: files, folders (searched recursively,
symbolic links followed; their files are told to be images by their content
and the others are skipped) and - for one image on standard input. Flags may
come before or after the images; after --, every argument is an image.

Results are written in the order of the arguments, as --format says:
  jsonl  one JSON object per line (the default when the output is not a terminal):
         {"file", "probability", "score", "label", "text", "width", "height", "model"}
  csv    a header line, then file,label,probability,score,width,height,model
  table  aligned columns (the default on a terminal)
The model is named after its file (models/husky-v3.h5 is husky-v3).

Errors go to standard error, one line each, then a summary line: images,
husky, not husky, errors and images per second. A progress bar shows on a
terminal. Exit status: 0 when every image was classified, 1 when some were
not, 2 for a bad command line.

Flags:
`

func runPredict(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("huskyai predict", stderr)
	var cf classifyFlags
	cf.register(fs, getenv)
	precision := fs.Int("score-precision", huskyai.DefaultScorePrecision, "decimals of the percent score (0..10)")
	format := fs.String("format", "", "output: jsonl, csv or table (default: table on a terminal, jsonl otherwise)")
	var ex explainFlags
	ex.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), predictUsage)
		fs.PrintDefaults()
	}
	if err := parseCmdFlags(fs, "predict", args, stdout); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageErrorf("predict: no image given: name image files, folders, or - for standard input")
	}
	if err := checkPredictFlags(format, *precision, stdout); err != nil {
		return err
	}
	opt, err := cf.options("predict")
	if err != nil {
		return err
	}
	opt.ScorePrecision = *precision

	inputs, skipped, err := predictInputs(fs.Args(), stdin)
	if err != nil {
		return err
	}
	reportSkipped(stderr, "predict", skipped)
	if len(inputs) == 0 {
		return fmt.Errorf("predict: no PNG, JPEG or GIF image in %s", list(fs.Args(), 5))
	}
	m, err := loadModel(cf.model, opt)
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	m.warnUntrained(stderr, "predict")
	out, err := newPredictWriter(*format, stdout, *precision)
	if err != nil {
		return err
	}
	classify, err := ex.classify(m.Classifier, inputs)
	if err != nil {
		return err
	}
	return predictAll(ctx, m, inputs, classify, cf.workers, out, isTerminal(stdout), stderr)
}

// checkPredictFlags checks --format (choosing its default for stdout) and
// --score-precision.
func checkPredictFlags(format *string, precision int, stdout io.Writer) error {
	if *format == "" {
		*format = formatJSONL
		if isTerminal(stdout) {
			*format = formatTable
		}
	}
	if *format != formatJSONL && *format != formatCSV && *format != formatTable {
		return usageErrorf("predict: --format %q: want jsonl, csv or table", *format)
	}
	if precision < 0 || precision > 10 {
		return usageErrorf("predict: --score-precision %d is outside 0..10", precision)
	}
	return nil
}

// predictAll classifies inputs with m on a pool of workers, writes a line
// per image to out in input order and an error line per failure to
// stderr, then the summary line. It returns errReported when an image
// failed.
func predictAll(ctx context.Context, m *loadedModel, inputs []predictInput, classify func(i int, img []byte) (explained, error),
	workers int, out *predictWriter, outIsTerm bool, stderr io.Writer) error {
	bar := newProgress(stderr)
	tasks := make([]func() ([]byte, error), len(inputs))
	for i, in := range inputs {
		tasks[i] = in.read
	}
	var husky, notHusky, failed int
	start := time.Now()
	why := make([]explained, len(inputs))
	run := func(i int, img []byte) (classifier.Result, error) {
		e, err := classify(i, img)
		why[i] = e
		return e.Result, err
	}
	err := classifyEach(ctx, run, tasks, workers, bar.callback(), func(i int, r classifier.Result, err error) error {
		if err != nil {
			failed++
			bar.clear()
			fmt.Fprintf(stderr, "huskyai predict: %s: %s\n", inputs[i].name, imageError(err))
			return nil
		}
		if r.Label == huskyai.LabelHusky {
			husky++
		} else {
			notHusky++
		}
		if outIsTerm {
			bar.clear()
		}
		return out.write(predictLine{File: inputs[i].name, Verdict: r.Verdict, Width: r.Image.Width, Height: r.Image.Height, Model: m.Name,
			Why: why[i].summary, Explanation: why[i].overlay})
	})
	bar.clear()
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	if err := out.flush(); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	n := husky + notHusky + failed
	rate := float64(n) / max(time.Since(start).Seconds(), 1e-6)
	fmt.Fprintf(stderr, "huskyai predict: %d %s, %d husky, %d not husky, %d %s, %.1f images/s (model %s)\n",
		n, plural(n, "image", "images"), husky, notHusky, failed, plural(failed, "error", "errors"), rate, m.Name)
	if failed > 0 {
		return errReported
	}
	return nil
}

// plural returns one or many as n is 1 or not.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// predictInputs lists the images of predict's arguments: files as given,
// the image files under folders (the others in skipped), and standard
// input for "-". A file that cannot be read is an input all the same, so
// that its error is reported in order with the others.
func predictInputs(args []string, stdin io.Reader) (inputs []predictInput, skipped []string, err error) {
	stdinUsed := false
	for _, arg := range args {
		if arg == "-" {
			if stdinUsed {
				return nil, nil, usageErrorf("predict: - (standard input) is given more than once")
			}
			stdinUsed = true
			inputs = append(inputs, predictInput{"-", func() ([]byte, error) { return readImageFrom(stdin) }})
			continue
		}
		if fi, err := os.Stat(arg); err == nil && fi.IsDir() {
			w := imageWalker{
				image: func(path, _ string, _ int) {
					inputs = append(inputs, predictInput{path, func() ([]byte, error) { return readImage(path) }})
				},
				skip: func(path, _ string) { skipped = append(skipped, path) },
			}
			if err := w.walk(arg, "", 0); err != nil {
				// Reported with the images, in its place.
				inputs = append(inputs, predictInput{arg, func() ([]byte, error) { return nil, err }})
			}
			continue
		}
		inputs = append(inputs, predictInput{arg, func() ([]byte, error) { return readImage(arg) }})
	}
	return inputs, skipped, nil
}

// predictWriter writes predict's results in one format.
type predictWriter struct {
	write func(predictLine) error
	flush func() error
}

func newPredictWriter(format string, w io.Writer, precision int) (*predictWriter, error) {
	noFlush := func() error { return nil }
	switch format {
	case formatJSONL:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return &predictWriter{write: func(l predictLine) error { return enc.Encode(l) }, flush: noFlush}, nil
	case formatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"file", "label", "probability", "score", "width", "height", "model"}); err != nil {
			return nil, err
		}
		return &predictWriter{
			write: func(l predictLine) error {
				cw.Write([]string{l.File, l.Label, strconv.FormatFloat(float64(l.Probability), 'g', -1, 32), l.Score,
					strconv.Itoa(l.Width), strconv.Itoa(l.Height), l.Model})
				cw.Flush() // a line at a time, for a reader that follows
				return cw.Error()
			},
			flush: func() error { cw.Flush(); return cw.Error() },
		}, nil
	}
	// A table whose columns have fixed widths, so that lines can be
	// written as they come; the file, of any length, is last.
	scoreWidth := 4 + precision // "100%", "100.0%"...
	if precision > 0 {
		scoreWidth++
	}
	row := func(label, score, size, file string) error {
		line := fmt.Sprintf("%-9s  %*s  %-11s  %s", label, scoreWidth, score, size, file)
		_, err := fmt.Fprintln(w, strings.TrimRight(line, " "))
		return err
	}
	if err := row("LABEL", "SCORE", "SIZE", "FILE"); err != nil {
		return nil, err
	}
	return &predictWriter{
		write: func(l predictLine) error {
			return row(l.Label, l.Score+"%", fmt.Sprintf("%dx%d", l.Width, l.Height), l.File)
		},
		flush: noFlush,
	}, nil
}
