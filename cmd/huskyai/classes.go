package main

import (
	"fmt"
	"os"

	"github.com/huskyai/huskyai/classifier"
)

// classFlags make a multi-class model (an ImageNet classifier) a husky
// detector, for serve, predict and eval.
type classFlags struct {
	positive   string
	labels     string
	centerCrop float64
	inputMean  string
	inputStd   string
}

// register adds --positive-classes, --labels and --center-crop, with the
// environment defaults of engineFlags.register.
func (f *classFlags) register(fs flagDefiner, env func(name, def string) string, note func(string) string) {
	fs.StringVar(&f.positive, "positive-classes", env("HUSKYAI_POSITIVE_CLASSES", ""),
		"for a model with several outputs: the output indices (or, with --labels, class names) whose probabilities add up to the husky probability, e.g. 249,250,251 for the TFLite ImageNet MobileNets"+note("HUSKYAI_POSITIVE_CLASSES"))
	fs.StringVar(&f.labels, "labels", env("HUSKYAI_LABELS", ""),
		"file naming the outputs of a multi-class model, one per line, for --positive-classes by name and the top class of each answer"+note("HUSKYAI_LABELS"))
	fs.Float64Var(&f.centerCrop, "center-crop", 0,
		"classify the central square of this fraction of the shorter side (0.875 as ImageNet models are evaluated); 0: the whole image, squashed"+note("HUSKYAI_CENTER_CROP"))
	fs.StringVar(&f.inputMean, "input-mean", env("HUSKYAI_INPUT_MEAN", ""),
		"normalize the model's input: it gets (pixel - mean) / std, pixels 0..255; one value or one per channel, e.g. 127.5 for a float MobileNet's [-1,1], 123.675,116.28,103.53 for ImageNet statistics (default: the model takes [0,1])"+note("HUSKYAI_INPUT_MEAN"))
	fs.StringVar(&f.inputStd, "input-std", env("HUSKYAI_INPUT_STD", ""),
		"the std of --input-mean's normalization, in pixel units: 127.5, or 58.395,57.12,57.375"+note("HUSKYAI_INPUT_STD"))
}

// noEnv and noNote are register's arguments for commands that read no
// environment variables (sign, verify).
func noEnv(_, def string) string { return def }
func noNote(string) string       { return "" }

// apply sets the options' classes, labels and crop.
func (f *classFlags) apply(opt *classifier.Options) error {
	if f.centerCrop < 0 || f.centerCrop > 1 {
		return fmt.Errorf("--center-crop %g is outside 0..1", f.centerCrop)
	}
	opt.CenterCrop = f.centerCrop
	for _, n := range []struct {
		flag, spec string
		dst        *[]float32
	}{{"--input-mean", f.inputMean, &opt.InputMean}, {"--input-std", f.inputStd, &opt.InputStd}} {
		if n.spec == "" {
			continue
		}
		v, err := classifier.ParseNormalization(n.spec)
		if err != nil {
			return fmt.Errorf("%s %w", n.flag, err)
		}
		*n.dst = v
	}
	if f.labels != "" {
		data, err := os.ReadFile(f.labels)
		if err != nil {
			return fmt.Errorf("--labels: %w", err)
		}
		if opt.Labels, err = classifier.ParseLabels(data); err != nil {
			return fmt.Errorf("--labels %s: %w", f.labels, err)
		}
	}
	if f.positive == "" {
		if f.labels != "" {
			return fmt.Errorf("--labels needs --positive-classes")
		}
		return nil
	}
	var err error
	if opt.PositiveClasses, err = classifier.ParseClasses(f.positive, opt.Labels); err != nil {
		return fmt.Errorf("--positive-classes: %w", err)
	}
	return nil
}
