package modelstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/imageprep"
)

// ConfigFile is the optional per-model configuration of a repository,
// beside the model's versions: DIR/<name>/config.json.
const ConfigFile = "config.json"

// ModelConfig is a model's ConfigFile: which of its versions are served,
// and how images are prepared and outputs read for it.
//
//	{"version_policy": {"latest": 2},
//	 "resize": "bilinear", "center_crop": 0.875,
//	 "positive_classes": "248,249,250", "labels": "labels.txt"}
type ModelConfig struct {
	// VersionPolicy chooses the versions served; absent, the newest one
	// only (as Triton and TensorFlow Serving do).
	VersionPolicy *VersionPolicy `json:"version_policy,omitempty"`
	// Resize is the resampling filter (bicubic, bilinear or box); empty:
	// the server's --resize.
	Resize string `json:"resize,omitempty"`
	// CenterCrop is classifier.Options.CenterCrop for this model.
	CenterCrop float64 `json:"center_crop,omitempty"`
	// PositiveClasses and Labels make a multi-class model a husky detector
	// (serve's --positive-classes and --labels); Labels is a file beside
	// config.json.
	PositiveClasses string `json:"positive_classes,omitempty"`
	Labels          string `json:"labels,omitempty"`
	// InputMean and InputStd are classifier.Options' input normalization
	// (serve's --input-mean and --input-std), in pixel units.
	InputMean []float32 `json:"input_mean,omitempty"`
	InputStd  []float32 `json:"input_std,omitempty"`
}

// VersionPolicy is Triton's and TensorFlow Serving's version policy: the
// Latest N versions, Specific ones, or All. Exactly one is set.
type VersionPolicy struct {
	Latest   int     `json:"latest,omitempty"`
	Specific []int64 `json:"specific,omitempty"`
	All      bool    `json:"all,omitempty"`
}

// readModelConfig reads mdir's ConfigFile, if there is one, and checks it
// (a file that is not valid refuses the model's versions).
func readModelConfig(mdir string) (*ModelConfig, error) {
	b, err := os.ReadFile(filepath.Join(mdir, ConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return &ModelConfig{}, nil
	}
	if err != nil {
		return nil, err
	}
	var c ModelConfig
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	if p := c.VersionPolicy; p != nil {
		set := 0
		for _, on := range []bool{p.Latest != 0, len(p.Specific) > 0, p.All} {
			if on {
				set++
			}
		}
		if set != 1 || p.Latest < 0 {
			return nil, fmt.Errorf("%s: version_policy wants exactly one of latest (a positive number), specific (versions) or all", ConfigFile)
		}
	}
	if c.Resize != "" {
		if _, err := imageprep.ParseFilter(c.Resize); err != nil {
			return nil, fmt.Errorf("%s: resize: %w", ConfigFile, err)
		}
	}
	if c.CenterCrop < 0 || c.CenterCrop > 1 {
		return nil, fmt.Errorf("%s: center_crop %v: want 0 to 1", ConfigFile, c.CenterCrop)
	}
	if c.Labels != "" && (filepath.IsAbs(c.Labels) || strings.Contains(c.Labels, "..")) {
		return nil, fmt.Errorf("%s: labels %q: want a file beside it", ConfigFile, c.Labels)
	}
	return &c, nil
}

// serves reports whether the policy serves version num of a model whose
// versions (all found) are nums.
func (p *VersionPolicy) serves(num int64, nums []int64) bool {
	switch {
	case p == nil:
		return num == slices.Max(nums)
	case p.All:
		return true
	case len(p.Specific) > 0:
		return slices.Contains(p.Specific, num)
	}
	newer := 0
	for _, n := range nums {
		if n > num {
			newer++
		}
	}
	return newer < p.Latest
}

// options are the classifier options of the model of mdir: base, with
// the config's settings.
func (c *ModelConfig) options(mdir string, base classifier.Options) (classifier.Options, error) {
	opt := base
	if c.Resize != "" {
		opt.Filter, _ = imageprep.ParseFilter(c.Resize) // checked by readModelConfig
	}
	if c.CenterCrop > 0 {
		opt.CenterCrop = c.CenterCrop
	}
	if len(c.InputMean) > 0 || len(c.InputStd) > 0 {
		opt.InputMean, opt.InputStd = c.InputMean, c.InputStd
	}
	if c.Labels != "" {
		b, err := os.ReadFile(filepath.Join(mdir, c.Labels))
		if err != nil {
			return opt, fmt.Errorf("%s: labels: %w", ConfigFile, err)
		}
		if opt.Labels, err = classifier.ParseLabels(b); err != nil {
			return opt, fmt.Errorf("%s: labels: %w", ConfigFile, err)
		}
	}
	if c.PositiveClasses != "" {
		var err error
		if opt.PositiveClasses, err = classifier.ParseClasses(c.PositiveClasses, opt.Labels); err != nil {
			return opt, fmt.Errorf("%s: positive_classes: %w", ConfigFile, err)
		}
	}
	return opt, nil
}
