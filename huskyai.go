// Package huskyai holds the domain of the huskyai service — is this a
// husky? — as plain types shared by the command line, the server and the
// tests: a Verdict and how it is worded, the Result of one image, and the
// interfaces the outer layers use, Classifier (a loaded model) and Models
// (what a server answers with). It imports nothing of this module.
//
// The engine lives in package engine (with loaders in engine/keras and
// engine/onnx), image decoding and resizing in imageprep, and the glue that
// turns image bytes into a Verdict in classifier.
package huskyai

import "strconv"

// Threshold is the probability above which an image is called a husky, as
// the original Husky AI did (sigmoid output > 0.5).
const Threshold = 0.5

// Labels and texts of the two verdicts. The texts are the original's.
const (
	LabelHusky    = "husky"
	LabelNotHusky = "not husky"
	TextHusky     = "It is a husky!"
	TextNotHusky  = "Does not look like a husky to me."
)

// UntrainedNote starts the description (engine.Model.Note) of a model file
// that declares itself untrained, such as the seeded random models of the
// test fixtures: its scores mean nothing, and everything that reports on
// it says so with PlaceholderWarning.
const UntrainedNote = "UNTRAINED PLACEHOLDER"

// PlaceholderWarning is the sentence shown wherever an untrained model's
// output appears.
const PlaceholderWarning = "This is an UNTRAINED PLACEHOLDER model with random weights: its scores mean nothing. Use --model to load a trained model."

// DefaultScorePrecision is the number of decimals of Verdict.Score, as the
// original's "87.12".
const DefaultScorePrecision = 2

// Verdict is the answer for one image.
type Verdict struct {
	// Probability is the model's raw sigmoid output.
	Probability float32 `json:"probability"`
	// Score is Probability in percent as a string, e.g. "87.12".
	Score string `json:"score"`
	// Label is LabelHusky or LabelNotHusky.
	Label string `json:"label"`
	// Text is the sentence the original service answered.
	Text string `json:"text"`
	// Top is the most probable class of a multi-class model served as a
	// husky detector (its husky probability is the sum of some of its
	// classes'); nil for a model with one sigmoid output.
	Top *Class `json:"top_class,omitempty"`
}

// Class is one output class of a multi-class model.
type Class struct {
	// Index is the class's output index.
	Index int `json:"index"`
	// Label is the class's name from the labels file, if one was given.
	Label string `json:"label,omitempty"`
	// Probability is the model's output for the class.
	Probability float32 `json:"probability"`
}

// NewVerdict words probability p, with the score rounded to precision
// decimals.
func NewVerdict(p float32, precision int) Verdict {
	v := Verdict{
		Probability: p,
		Score:       strconv.FormatFloat(float64(p)*100, 'f', precision, 64),
		Label:       LabelNotHusky,
		Text:        TextNotHusky,
	}
	if p > Threshold {
		v.Label, v.Text = LabelHusky, TextHusky
	}
	return v
}
