package main

// What "huskyai predict" and "huskyai eval" share: their flags (pflag, so
// that flags may follow the files and --help writes --model), loading the
// model under the name of its file, walking folders for images, the
// worker pool that classifies them, the progress bar and errors in words.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/imageprep"
)

// usageError is a command line that cannot be run: an unknown flag, a bad
// flag value, missing arguments. main exits with status 2 for it.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a *usageError.
func usageErrorf(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

// errHelp is returned by parseCmdFlags when --help was asked for and the
// usage has been written: the command then returns nil.
var errHelp = pflag.ErrHelp

// newFlagSet returns a pflag set for a command, writing to stderr.
func newFlagSet(name string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseCmdFlags parses args, flags anywhere among the arguments ("--" ends
// them). A long flag written with one dash (-model, as the standard flag
// package accepted) is read as --model. Errors are *usageError naming
// the command, or errHelp after the usage was written to stdout.
func parseCmdFlags(fs *pflag.FlagSet, cmd string, args []string, stdout io.Writer) error {
	norm := make([]string, len(args))
	copy(norm, args)
	for i, a := range norm {
		if a == "--" {
			break
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if name == "help" || len(name) > 1 && fs.Lookup(name) != nil {
				norm[i] = "-" + a
			}
		}
	}
	out := fs.Output()
	fs.SetOutput(stdout) // for --help, which is no error
	err := fs.Parse(norm)
	fs.SetOutput(out)
	if err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return errHelp
		}
		return usageErrorf("%s: %v (huskyai %s --help lists the flags)", cmd, err, cmd)
	}
	return nil
}

// flagDefiner is what *flag.FlagSet and *pflag.FlagSet have in common,
// for flags that serve (flag) shares with predict and eval (pflag).
type flagDefiner interface {
	StringVar(p *string, name, value, usage string)
	IntVar(p *int, name string, value int, usage string)
	Float64Var(p *float64, name string, value float64, usage string)
}

// classifyFlags are the flags of predict and eval that load the model and
// classify images.
type classifyFlags struct {
	model     string
	resize    string
	maxPixels int64
	workers   int
	eng       engineFlags // --engine, --ort-lib, --ort-threads: engine.go
}

func (f *classifyFlags) register(fs *pflag.FlagSet, getenv func(string) string) {
	fs.StringVar(&f.model, "model", getenv("HUSKYAI_MODEL"), "model file: Keras .h5 or .keras, or ONNX (env HUSKYAI_MODEL; default: the embedded model "+defaultmodel.Name+")")
	fs.StringVar(&f.resize, "resize", "bicubic", "resampling filter to the model's input size: bicubic, bilinear or box (all antialiased, as Pillow)")
	fs.Int64Var(&f.maxPixels, "max-pixels", imageprep.DefaultMaxPixels, "refuse images whose header declares more pixels than this")
	fs.IntVar(&f.workers, "workers", runtime.NumCPU(), "images classified in parallel; the default is the number of CPUs")
	f.eng.register(fs, getenv)
}

// options checks the flags and returns the classifier's options; cmd
// names the command in errors, which are *usageError.
func (f *classifyFlags) options(cmd string) (classifier.Options, error) {
	opt := classifier.DefaultOptions()
	var err error
	if opt.Filter, err = imageprep.ParseFilter(f.resize); err != nil {
		return opt, usageErrorf("%s: --resize: %w", cmd, err)
	}
	if f.maxPixels <= 0 {
		return opt, usageErrorf("%s: --max-pixels must be positive", cmd)
	}
	opt.MaxPixels = f.maxPixels
	if f.workers < 1 || f.workers > 1024 {
		return opt, usageErrorf("%s: --workers %d is outside 1..1024", cmd, f.workers)
	}
	if err := f.eng.apply(&opt); err != nil {
		return opt, usageErrorf("%s: %w", cmd, err)
	}
	return opt, nil
}

// loadedModel is a model loaded for predict or eval, and the name they
// report it under.
type loadedModel struct {
	*classifier.Classifier
	// Name is the model file's name without its folder and extension
	// (models/husky-v3.h5 is husky-v3), or defaultmodel.Name for the
	// embedded model: the name inside a file is often a framework's
	// default such as "sequential" or "torch_jit".
	Name string
}

// warnUntrained says once on stderr, for command cmd, that the model
// declares itself untrained, if it does.
func (m *loadedModel) warnUntrained(stderr io.Writer, cmd string) {
	if info := m.Info(); info.Placeholder {
		fmt.Fprintf(stderr, "huskyai %s: warning: model %s: %s\n", cmd, m.Name, info.Warning)
	}
}

// modelName is the name predict and eval give the model file at path.
func modelName(path string) string {
	if path == "" {
		return defaultmodel.Name
	}
	base := filepath.Base(path)
	if n := strings.TrimSuffix(base, filepath.Ext(base)); n != "" {
		return n
	}
	return base
}

// errNotModel says what huskyai reads.
const errNotModel = "not a model file: huskyai reads Keras .h5/.keras and ONNX"

// loadModel loads the model at path, or the embedded one if path is
// empty. Errors say in words what is wrong with the file.
func loadModel(path string, opt classifier.Options) (*loadedModel, error) {
	if path == "" {
		c, err := classifier.LoadDefault(opt)
		if err != nil {
			return nil, err
		}
		return &loadedModel{c, modelName(path)}, nil
	}
	data, err := readLimited(path, maxModelFile)
	if err != nil {
		return nil, fmt.Errorf("model %s: %s", path, fileError(err))
	}
	c, err := classifier.Load(data, opt)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, modelError(data, err))
	}
	return &loadedModel{c, modelName(path)}, nil
}

// modelError words the error of loading data as a model: a file that is
// neither Keras (by its magic bytes) nor an ONNX protobuf with a graph is
// "not a model file", rather than a protobuf decoder's complaint.
func modelError(data []byte, err error) error {
	switch {
	case len(data) == 0:
		return errors.New("empty file, " + errNotModel)
	case classifier.Format(data) != "":
		return err
	}
	if _, ok := imageprep.Sniff(data); ok {
		return errors.New("this is an image, " + errNotModel + " (give the model with --model and the images after it)")
	}
	return errors.New(errNotModel)
}

// imageError words an error of reading or classifying an image for a
// user: "not a PNG, JPEG or GIF image" rather than its first bytes.
func imageError(err error) string {
	if ie, ok := errors.AsType[*imageprep.Error](err); ok {
		switch ie.Kind {
		case imageprep.Unsupported:
			return "not a PNG, JPEG or GIF image"
		case imageprep.TooLarge:
			return fmt.Sprintf("the %s image is %dx%d = %d pixels, more than --max-pixels allows",
				strings.ToUpper(ie.Format), ie.Width, ie.Height, int64(ie.Width)*int64(ie.Height))
		case imageprep.Undecodable:
			why := ""
			if ie.Err != nil {
				why = " (" + ie.Err.Error() + ")"
			}
			return fmt.Sprintf("the %s image is truncated or damaged and cannot be decoded%s", strings.ToUpper(ie.Format), why)
		}
	}
	if errors.Is(err, classifier.ErrModel) {
		return "the model failed on this image: " + err.Error()
	}
	return fileError(err)
}

// fileError words an error of opening or reading a file, without the
// file's name, which the caller prints.
func fileError(err error) string {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		switch {
		case errors.Is(pe.Err, fs.ErrNotExist):
			return "no such file"
		case errors.Is(pe.Err, fs.ErrPermission):
			return "permission denied"
		}
		return pe.Err.Error()
	}
	return err.Error()
}

// readLimited reads a file, refusing one larger than limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllLimited(f, limit)
}

// readAllLimited reads r to its end, refusing more than limit bytes.
func readAllLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("the file is larger than %d MiB", limit>>20)
	}
	return data, nil
}

// errEmptyImage is the error of an empty image file.
var errEmptyImage = errors.New("empty file, not an image")

// readImage reads an image file for classifying.
func readImage(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readImageFrom(f)
}

// readImageFrom reads an image for classifying from r (a file, standard
// input), refusing more than maxImageFile bytes and an empty one.
func readImageFrom(r io.Reader) ([]byte, error) {
	data, err := readAllLimited(r, maxImageFile)
	if err == nil && len(data) == 0 {
		err = errEmptyImage
	}
	return data, err
}

// imageWalker walks folders for image files, following symbolic links (a
// data set is often a tree of links) and telling images by their first
// bytes, in lexical order.
type imageWalker struct {
	seen map[string]bool // real paths of the folders walked, against link cycles
	// image is called for each image file, and for a file that could not
	// be sniffed or a broken link, so that its error is reported with
	// the images that failed; rel is the path below the walk's root,
	// slash-separated, and depth the number of folders between them.
	image func(path, rel string, depth int)
	// skip is called for each file that is not an image.
	skip func(path, rel string)
}

// walk walks the folder path, rel being its path relative to the root
// ("" for the root itself) and depth its depth below the root.
func (w *imageWalker) walk(path, rel string, depth int) error {
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		if w.seen[real] {
			return nil
		}
		w.seen[real] = true
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p, r := filepath.Join(path, e.Name()), e.Name()
		if rel != "" {
			r = rel + "/" + e.Name()
		}
		mode := e.Type()
		if mode&os.ModeSymlink != 0 {
			fi, err := os.Stat(p)
			if err != nil {
				// A broken link: reported as a failed image.
				w.image(p, r, depth)
				continue
			}
			mode = fi.Mode().Type()
		}
		switch {
		case mode.IsDir():
			if err := w.walk(p, r, depth+1); err != nil {
				return err
			}
		case mode.IsRegular():
			if isImageFile(p) {
				w.image(p, r, depth)
			} else {
				w.skip(p, r)
			}
		default: // devices, pipes and sockets are not read
			w.skip(p, r)
		}
	}
	return nil
}

// isImageFile reports whether path starts like a PNG, JPEG or GIF. A file
// that cannot be read counts as an image, so that its error is reported
// with the images that failed.
func isImageFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	var head [16]byte
	n, err := io.ReadFull(f, head[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return true
	}
	_, ok := imageprep.Sniff(head[:n])
	return ok
}

// reportSkipped says on stderr, once, which files a command skipped
// because they are not images.
func reportSkipped(stderr io.Writer, cmd string, skipped []string) {
	if len(skipped) == 0 {
		return
	}
	what := "files that are not PNG, JPEG or GIF images"
	if len(skipped) == 1 {
		what = "file that is not a PNG, JPEG or GIF image"
	}
	fmt.Fprintf(stderr, "huskyai %s: skipped %d %s: %s\n", cmd, len(skipped), what, list(skipped, 5))
}

// list joins the first n names, saying how many more there are.
func list(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

// classifyEach runs the images that tasks produce through classify
// (Classifier.Classify, or a function around it, given the task's index
// too) on workers goroutines and calls each with every task's result, in
// task
// order, as soon as that task and all those before it are done; progress,
// if not nil, is called after each image with the number done. Both are
// called from the calling goroutine. It returns ctx's error if ctx was
// cancelled, or the first error of each, after which it stops.
func classifyEach(ctx context.Context, classify func(i int, img []byte) (classifier.Result, error), tasks []func() ([]byte, error), workers int,
	progress func(done, total int), each func(i int, r classifier.Result, err error) error) error {
	type result struct {
		r   classifier.Result
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]result, len(tasks))
	next := make(chan int)
	done := make(chan int, workers)
	var wg sync.WaitGroup
	for range min(workers, max(len(tasks), 1)) {
		wg.Go(func() {
			for i := range next {
				data, err := tasks[i]()
				var r classifier.Result
				if err == nil {
					r, err = classify(i, data)
				}
				results[i] = result{r, err}
				done <- i
			}
		})
	}
	go func() {
		defer close(next)
		for i := range tasks {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(done)
	}()
	ready := make([]bool, len(tasks))
	n, emitted := 0, 0
	var eachErr error
	for i := range done {
		n++
		ready[i] = true
		for eachErr == nil && emitted < len(tasks) && ready[emitted] {
			r := results[emitted]
			if eachErr = each(emitted, r.r, r.err); eachErr != nil {
				cancel()
			}
			emitted++
		}
		if progress != nil {
			progress(n, len(tasks))
		}
	}
	if eachErr != nil {
		return eachErr
	}
	return ctx.Err()
}

// classifyAll is classifyEach collecting each image's probability or
// error, in task order.
func classifyAll(ctx context.Context, c *classifier.Classifier, tasks []func() ([]byte, error), workers int, progress func(done, total int)) ([]float64, []error, error) {
	probs := make([]float64, len(tasks))
	errs := make([]error, len(tasks))
	classify := func(_ int, img []byte) (classifier.Result, error) { return c.Classify(img) }
	err := classifyEach(ctx, classify, tasks, workers, progress, func(i int, r classifier.Result, err error) error {
		probs[i], errs[i] = float64(r.Probability), err
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return probs, errs, nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBar rewrites one line, "[=====>    ] 512/1024 images  87/s  ETA 6s",
// at most ten times a second. Its zero value, and a nil one, draw nothing.
type progressBar struct {
	w     io.Writer
	start time.Time
	last  time.Time
	shown bool // a line is drawn
	done  int
	total int
}

// newProgress returns a progress bar on w if w is a terminal, or nil.
func newProgress(w io.Writer) *progressBar {
	if !isTerminal(w) {
		return nil
	}
	return &progressBar{w: w, start: time.Now()}
}

// update records done of total images and redraws the line when a tenth
// of a second has passed or all are done.
func (p *progressBar) update(done, total int) {
	if p == nil {
		return
	}
	p.done, p.total = done, total
	now := time.Now()
	if done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	p.draw(now)
	if done == total {
		p.clear()
	}
}

// draw writes the line.
func (p *progressBar) draw(now time.Time) {
	const width = 30
	filled := width
	if p.total > 0 {
		filled = width * p.done / p.total
	}
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	secs := max(now.Sub(p.start).Seconds(), 1e-3)
	rate := float64(p.done) / secs
	eta := ""
	if rate > 0 && p.done < p.total {
		if d := time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second); d > 0 {
			eta = "  ETA " + d.String()
		}
	}
	fmt.Fprintf(p.w, "\r\033[K[%s] %d/%d images  %.0f/s%s", bar, p.done, p.total, rate, eta)
	p.shown = true
}

// clear erases the line, so that other output can be written; the next
// update draws it again.
func (p *progressBar) clear() {
	if p == nil || !p.shown {
		return
	}
	fmt.Fprint(p.w, "\r\033[K")
	p.shown = false
	p.last = time.Time{}
}

// callback returns update as a progress function, or nil for a nil bar.
func (p *progressBar) callback() func(done, total int) {
	if p == nil {
		return nil
	}
	return p.update
}
