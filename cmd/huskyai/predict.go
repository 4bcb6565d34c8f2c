package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/imageprep"
)

// predictLine is one line of "huskyai predict" output.
type predictLine struct {
	File string `json:"file"`
	huskyai.Verdict
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Model  string `json:"model"`
	// Warning repeats the placeholder model's warning on every line.
	Warning string `json:"warning,omitempty"`
}

// maxImageFile bounds the size of an image file read by predict, as the
// service bounds uploads.
const maxImageFile = 64 << 20

func runPredict(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("huskyai predict", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelPath := fs.String("model", getenv("HUSKYAI_MODEL"), "model file: Keras .h5 or .keras, or ONNX (env HUSKYAI_MODEL; default: the embedded model)")
	filter := fs.String("resize", "bicubic", "resampling filter to the model's input size: bicubic, bilinear or box (all antialiased, as Pillow)")
	maxPixels := fs.Int64("max-pixels", imageprep.DefaultMaxPixels, "refuse images whose header declares more pixels than this")
	precision := fs.Int("score-precision", huskyai.DefaultScorePrecision, "decimals of the percent score")
	var eng engineFlags // --engine, --ort-lib, --ort-threads: engine.go
	eng.register(fs, getenv)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: huskyai predict [flags] IMAGE...\n\nClassifies PNG, JPEG and GIF images and prints one JSON object per line:\n{\"file\", \"probability\", \"score\", \"label\", \"text\", ...}.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("predict: no image given")
	}
	opt := classifier.DefaultOptions()
	var err error
	if opt.Filter, err = imageprep.ParseFilter(*filter); err != nil {
		return fmt.Errorf("predict: --resize: %w", err)
	}
	if *precision < 0 || *precision > 10 {
		return fmt.Errorf("predict: --score-precision %d is outside 0..10", *precision)
	}
	opt.MaxPixels, opt.ScorePrecision = *maxPixels, *precision
	if err := eng.apply(&opt); err != nil {
		return fmt.Errorf("predict: %w", err)
	}

	c, err := loadClassifier(*modelPath, opt)
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	info := c.Info()
	if info.Placeholder {
		fmt.Fprintln(stderr, "huskyai predict: warning:", info.Warning)
	}
	enc := json.NewEncoder(stdout)
	failed := 0
	for _, path := range fs.Args() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		line, err := predictFile(c, path)
		if err != nil {
			failed++
			fmt.Fprintf(stderr, "huskyai predict: %s: %v\n", path, err)
			continue
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "huskyai predict: %d of %d images failed\n", failed, fs.NArg())
		return errReported
	}
	return nil
}

// loadClassifier loads the model at path, or the embedded one if path is
// empty.
func loadClassifier(path string, opt classifier.Options) (*classifier.Classifier, error) {
	if path == "" {
		return classifier.LoadDefault(opt)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	c, err := classifier.Load(data, opt)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	return c, nil
}

func predictFile(c *classifier.Classifier, path string) (predictLine, error) {
	data, err := readLimited(path, maxImageFile)
	if err != nil {
		return predictLine{}, err
	}
	r, err := c.Classify(data)
	if err != nil {
		return predictLine{}, err
	}
	info := c.Info()
	return predictLine{File: path, Verdict: r.Verdict, Width: r.Image.Width, Height: r.Image.Height,
		Model: info.Name, Warning: info.Warning}, nil
}

// readLimited reads a file, refusing one larger than limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("file is larger than %d bytes", limit)
	}
	return data, nil
}
