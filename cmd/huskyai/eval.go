package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/evaluate"
	"github.com/spf13/pflag"
)

// Class folders of an evaluation set, in the layout of Keras's
// image_dataset_from_directory.
const (
	classHusky = "husky"
	classOther = "other"
)

// evalOutput is the JSON output of "huskyai eval": the model and folder
// evaluated, then the report's fields.
type evalOutput struct {
	Model evalModel `json:"model"`
	Dir   string    `json:"dir"`
	// Skipped counts files that are not images; Failed images that could
	// not be read or decoded. Neither is in the metrics.
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
	evaluate.Report
}

// evalModel identifies the model evaluated.
type evalModel struct {
	Name    string `json:"name"`
	SHA256  string `json:"sha256"`
	Format  string `json:"format"`
	Warning string `json:"warning,omitempty"`
}

// evalFile is an image file of the evaluation set.
type evalFile struct {
	path     string // as opened
	rel      string // relative to DIR, slash-separated
	husky    bool
	category string
}

// evalSet is what walking DIR found.
type evalSet struct {
	files   []evalFile
	skipped []string // not images, relative to DIR
	ignored []string // top-level entries other than husky/ and other/
}

// evalFlags are the flags of "huskyai eval" besides the classifier's.
type evalFlags struct {
	cf        classifyFlags // --model, --resize, --max-pixels, --workers, --engine...: images.go
	threshold float64
	probes    bool
	format    string
	bootstrap int
}

func runEval(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var f evalFlags
	fs := f.flagSet(getenv, stderr)
	if err := parseCmdFlags(fs, "eval", args, stdout); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usageErrorf("eval: want one DIR, got %d arguments", fs.NArg())
	}
	dir := fs.Arg(0)
	if err := f.check(); err != nil {
		return err
	}
	opt, err := f.cf.options("eval")
	if err != nil {
		return err
	}
	set, err := walkEvalDir(dir)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if len(set.ignored) > 0 {
		fmt.Fprintf(stderr, "huskyai eval: ignored %s: only %s/ and %s/ are read\n", list(set.ignored, 5), classHusky, classOther)
	}
	reportSkipped(stderr, "eval", set.skipped)

	m, err := loadModel(f.cf.model, opt)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	m.warnUntrained(stderr, "eval")
	report, failed, err := f.evaluate(ctx, m, set, stderr)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	info := m.Info()
	out := evalOutput{
		Model:   evalModel{Name: m.Name, SHA256: info.SHA256, Format: info.Format, Warning: info.Warning},
		Dir:     dir,
		Skipped: len(set.skipped),
		Failed:  failed,
		Report:  report,
	}
	if f.format == "json" {
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	return writeEvalTable(stdout, out)
}

// flagSet defines eval's flags on f, and its usage text.
func (f *evalFlags) flagSet(getenv func(string) string, stderr io.Writer) *pflag.FlagSet {
	fs := newFlagSet("huskyai eval", stderr)
	f.cf.register(fs, getenv)
	fs.Float64Var(&f.threshold, "threshold", huskyai.Threshold, "an image is called a husky when its probability is above this")
	fs.BoolVar(&f.probes, "probes", false, fmt.Sprintf("also classify the original Husky AI's failure images: %d solid grey shades, %d uniform and %d Gaussian noise images (%dx%d PNG)",
		evaluate.NumGrey, evaluate.NumNoise, evaluate.NumNoise, evaluate.ProbeSize, evaluate.ProbeSize))
	fs.StringVar(&f.format, "format", "table", "output: table (text) or json")
	fs.IntVar(&f.bootstrap, "bootstrap", evaluate.DefaultBootstrap, "bootstrap resamples for the intervals of balanced accuracy and ROC AUC; 0: no intervals")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: huskyai eval [flags] DIR

Classifies every image under DIR/husky and DIR/other (any depth, symbolic
links followed) and reports accuracy, precision, recall, specificity,
balanced accuracy, F1 and ROC AUC with 95% intervals, the confusion matrix,
error rates per category (the first folder under husky/ or other/),
calibration and a threshold sweep. Files are recognised as images by their
content; others are skipped. The model is named after its file.

Flags:
`)
		fs.PrintDefaults()
	}
	return fs
}

// check validates the flags once they are parsed.
func (f *evalFlags) check() error {
	switch {
	case !(f.threshold >= 0 && f.threshold <= 1):
		return usageErrorf("eval: --threshold %v is outside 0..1", f.threshold)
	case f.format != "table" && f.format != "json":
		return usageErrorf("eval: --format %q: want table or json", f.format)
	case f.bootstrap < 0 || f.bootstrap > 1000000:
		return usageErrorf("eval: --bootstrap %d is outside 0..1000000", f.bootstrap)
	}
	return nil
}

// evaluate classifies the images of set (and the probes) with m on a pool
// of workers, reports the images that failed on stderr, and computes the
// report of the others; failed is their number.
func (f *evalFlags) evaluate(ctx context.Context, m *loadedModel, set *evalSet, stderr io.Writer) (r evaluate.Report, failed int, err error) {
	// One task per image file, then per probe; results stay in task order.
	tasks := make([]func() ([]byte, error), 0, len(set.files))
	for _, file := range set.files {
		tasks = append(tasks, func() ([]byte, error) { return readImage(file.path) })
	}
	var probeList []evaluate.Probe
	if f.probes {
		probeList = evaluate.Probes()
		for _, p := range probeList {
			tasks = append(tasks, p.PNG)
		}
	}
	bar := newProgress(stderr)
	probs, errs, err := classifyAll(ctx, m.Classifier, tasks, f.cf.workers, bar.callback())
	bar.clear()
	if err != nil {
		return r, 0, err
	}
	var samples []evaluate.Sample
	for i, file := range set.files {
		if errs[i] != nil {
			failed++
			fmt.Fprintf(stderr, "huskyai eval: %s: %s\n", file.path, imageError(errs[i]))
			continue
		}
		samples = append(samples, evaluate.Sample{Probability: probs[i], Husky: file.husky, Category: file.category, File: file.rel})
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "huskyai eval: %d of %d images failed and are not in the metrics\n", failed, len(set.files))
	}
	bopt := f.bootstrap
	if bopt == 0 {
		bopt = -1
	}
	r = evaluate.Compute(samples, f.threshold, evaluate.Options{Bootstrap: bopt})
	if f.probes {
		n := len(set.files)
		for i, p := range probeList {
			if errs[n+i] != nil {
				// Generated images always decode; this is a bug.
				return r, failed, fmt.Errorf("probe %s: %w", p.Name(), errs[n+i])
			}
		}
		r.Probes = evaluate.ScoreProbes(probeList, probs[n:], f.threshold)
	}
	return r, failed, nil
}

// walkEvalDir lists the image files under dir/husky and dir/other, in
// lexical order, following symbolic links (a validation split is often a
// tree of links). Files are told to be images by their first bytes.
func walkEvalDir(dir string) (*evalSet, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	set := &evalSet{}
	found := 0
	for _, e := range entries {
		name := e.Name()
		if name != classHusky && name != classOther {
			set.ignored = append(set.ignored, name)
			continue
		}
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path) // follows a link
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s is not a directory", path)
		}
		found++
		class, husky := name, name == classHusky
		w := imageWalker{
			image: func(path, rel string, depth int) {
				cat := class
				if depth > 0 {
					cat += "/" + strings.Split(rel, "/")[0]
				}
				set.files = append(set.files, evalFile{path: path, rel: class + "/" + rel, husky: husky, category: cat})
			},
			skip: func(_, rel string) { set.skipped = append(set.skipped, class+"/"+rel) },
		}
		if err := w.walk(path, "", 0); err != nil {
			return nil, err
		}
	}
	if found == 0 {
		return nil, fmt.Errorf("%s has neither a %s/ nor an %s/ folder (want DIR/%s/... and DIR/%s/...)", dir, classHusky, classOther, classHusky, classOther)
	}
	return set, nil
}

// num formats a metric with 4 decimals, or n/a when it is undefined.
func num(f evaluate.Float) string {
	if !f.Defined() {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", float64(f))
}

// interval formats [lo, hi], or nothing when it is undefined.
func interval(iv evaluate.Interval) string {
	if !iv.Lo.Defined() || !iv.Hi.Defined() {
		return ""
	}
	return fmt.Sprintf("[%s, %s]", num(iv.Lo), num(iv.Hi))
}

// writeEvalTable writes the report as text, section by section.
func writeEvalTable(w io.Writer, o evalOutput) error {
	var buf bytes.Buffer
	t := evalTable{tw: tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0), buf: &buf}
	t.header(o)
	t.metrics(o.Report)
	t.categories(o.Report)
	t.calibration(o.Report)
	t.sweep(o.Report)
	t.errorsAndProbes(o.Report)
	t.tw.Flush()
	// The cells of the last column end in padding; drop it.
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// evalTable writes the sections of eval's text output: aligned columns
// within a section, a title line between sections.
type evalTable struct {
	tw  *tabwriter.Writer
	buf *bytes.Buffer
}

func (t evalTable) section(title string) {
	t.tw.Flush()
	fmt.Fprintf(t.buf, "\n%s\n", title)
}

func (t evalTable) header(o evalOutput) {
	r, tw := o.Report, t.tw
	fmt.Fprintf(tw, "huskyai eval\t%s\n", o.Dir)
	fmt.Fprintf(tw, "model\t%s (%s)\n", o.Model.Name, o.Model.Format)
	fmt.Fprintf(tw, "sha256\t%s\n", o.Model.SHA256)
	if o.Model.Warning != "" {
		fmt.Fprintf(tw, "warning\t%s\n", o.Model.Warning)
	}
	fmt.Fprintf(tw, "images\t%d: %d husky, %d other; %d failed, %d skipped (not images)\n", r.N, r.NHusky, r.NOther, o.Failed, o.Skipped)
	fmt.Fprintf(tw, "threshold\t%v (husky when the probability is above it)\n", float64(r.Threshold))
}

func (t evalTable) metrics(r evaluate.Report) {
	tw := t.tw
	boot := "no bootstrap"
	if r.Bootstrap > 0 {
		boot = fmt.Sprintf("stratified bootstrap, %d resamples", r.Bootstrap)
	}
	t.section(fmt.Sprintf("Metrics (95%% intervals: Wilson; balanced accuracy and ROC AUC: %s)", boot))
	prop := func(name string, p evaluate.Proportion) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d/%d\n", name, num(p.Value), interval(p.Interval), p.K, p.N)
	}
	prop("accuracy", r.Accuracy)
	fmt.Fprintf(tw, "  balanced accuracy\t%s\t%s\t\n", num(r.BalancedAccuracy.Value), interval(r.BalancedAccuracy))
	prop("precision", r.Precision)
	prop("recall (sensitivity)", r.Recall)
	prop("specificity", r.Specificity)
	fmt.Fprintf(tw, "  F1\t%s\t\t\n", num(r.F1))
	fmt.Fprintf(tw, "  ROC AUC\t%s\t%s\t\n", num(r.ROCAUC.Value), interval(r.ROCAUC))

	t.section("Confusion matrix")
	fmt.Fprintf(tw, "  \tcalled husky\tcalled other\t\n")
	fmt.Fprintf(tw, "  husky\tTP %d\tFN %d\t\n", r.Confusion.TP, r.Confusion.FN)
	fmt.Fprintf(tw, "  other\tFP %d\tTN %d\t\n", r.Confusion.FP, r.Confusion.TN)
}

func (t evalTable) categories(r evaluate.Report) {
	t.section("Errors by category (highest error rate first)")
	cats := slices.Clone(r.Categories)
	slices.SortStableFunc(cats, func(a, b evaluate.Category) int {
		return cmp.Or(-cmp.Compare(float64(a.ErrorRate.Value), float64(b.ErrorRate.Value)), -cmp.Compare(a.N, b.N), cmp.Compare(a.Name, b.Name))
	})
	fmt.Fprintf(t.tw, "  category\tn\terrors\terror rate\t95%% interval\tmean p\t\n")
	for _, c := range cats {
		fmt.Fprintf(t.tw, "  %s\t%d\t%d\t%s\t%s\t%s\t\n", c.Name, c.N, c.Errors, num(c.ErrorRate.Value), interval(c.ErrorRate), num(c.MeanProbability))
	}
}

func (t evalTable) calibration(r evaluate.Report) {
	t.section(fmt.Sprintf("Calibration: ECE %s, Brier score %s", num(r.Calibration.ECE), num(r.Calibration.Brier)))
	fmt.Fprintf(t.tw, "  probability\tn\tmean predicted\tobserved husky\t\n")
	for i, b := range r.Calibration.Bins {
		end := ")"
		if i == len(r.Calibration.Bins)-1 {
			end = "]"
		}
		fmt.Fprintf(t.tw, "  [%.2f, %.2f%s\t%d\t%s\t%s\t\n", float64(b.Lo), float64(b.Hi), end, b.N, num(b.MeanPredicted), num(b.ObservedHusky))
	}
}

func (t evalTable) sweep(r evaluate.Report) {
	t.section("Threshold sweep")
	fmt.Fprintf(t.tw, "  threshold\tprecision\trecall\tspecificity\tbalanced accuracy\t\n")
	for _, p := range r.Sweep {
		mark := ""
		if math.Abs(float64(p.Threshold-r.Threshold)) < 1e-12 {
			mark = " *"
		}
		fmt.Fprintf(t.tw, "  %.2f%s\t%s\t%s\t%s\t%s\t\n", float64(p.Threshold), mark, num(p.Precision), num(p.Recall), num(p.Specificity), num(p.BalancedAccuracy))
	}
}

func (t evalTable) errorsAndProbes(r evaluate.Report) {
	if len(r.TopErrors) > 0 {
		t.section("Most confident errors")
		fmt.Fprintf(t.tw, "  probability\tcategory\tfile\t\n")
		for _, m := range r.TopErrors {
			fmt.Fprintf(t.tw, "  %s\t%s\t%s\t\n", num(m.Probability), m.Category, m.File)
		}
	}
	if len(r.Probes) > 0 {
		t.section("Probes (generated grey and noise images; a husky detector calls none a husky)")
		fmt.Fprintf(t.tw, "  kind\tn\tabove threshold\tmean p\tmax p\tmax probe\t\n")
		for _, p := range r.Probes {
			fmt.Fprintf(t.tw, "  %s\t%d\t%d\t%s\t%s\t%s\t\n", p.Kind, p.N, p.AboveThreshold, num(p.MeanProbability), num(p.MaxProbability), p.MaxProbe)
		}
	}
}
