package classifier

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"

	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/modelsign"
)

// SelfTestError is the error of SelfTest for a check whose probability
// deviates from the expected one by more than the tolerance.
type SelfTestError struct {
	// Check is the check's name.
	Check string
	// Expected is the probability recorded in the check set.
	Expected float32
	// Got is the probability the classifier gives now.
	Got float32
	// Tolerance is the check set's tolerance.
	Tolerance float32
}

// Error says which check failed, by how much.
func (e *SelfTestError) Error() string {
	return fmt.Sprintf("self-test check %q failed: expected probability %.7g, got %.7g (difference %.3g > tolerance %.3g)",
		e.Check, e.Expected, e.Got, math.Abs(float64(e.Got)-float64(e.Expected)), e.Tolerance)
}

// SelfTest classifies the image of each check of cs and returns an error
// for the first one whose probability differs from the expected one by
// more than cs.Tolerance (a *SelfTestError) or that cannot be classified.
// A nil cs passes. Run it on a model whose signature verified, so that
// the checks are the signer's.
func (c *Classifier) SelfTest(cs *modelsign.CheckSet) error {
	if cs == nil {
		return nil
	}
	for _, ck := range cs.Checks {
		r, err := c.Classify(ck.Image)
		if err != nil {
			return fmt.Errorf("self-test check %q: %w", ck.Name, err)
		}
		d := math.Abs(float64(r.Probability) - float64(ck.Probability))
		if !(d <= float64(cs.Tolerance)) {
			return &SelfTestError{Check: ck.Name, Expected: ck.Probability, Got: r.Probability, Tolerance: cs.Tolerance}
		}
	}
	return nil
}

// CheckImage is an image for BuildCheckSet.
type CheckImage struct {
	// Name becomes the check's name (see modelsign.Check).
	Name string
	// Data is a PNG, JPEG or GIF file.
	Data []byte
}

// BuildCheckSet makes a self-test of images for signing c's model, in
// their order: each is decoded, resized to the model's input size with
// the bicubic filter, stored as a PNG of exactly that size, and recorded
// with the probability c gives that PNG. Since the stored image needs no
// resizing, the result does not depend on the resize filter of the
// classifier that runs the self-test. The set is validated (see
// modelsign.CheckSet.Validate).
func (c *Classifier) BuildCheckSet(images []CheckImage, tolerance float32) (*modelsign.CheckSet, error) {
	if len(images) > modelsign.MaxChecks {
		return nil, fmt.Errorf("checks: %d images, at most %d allowed", len(images), modelsign.MaxChecks)
	}
	cs := &modelsign.CheckSet{Tolerance: tolerance}
	in := c.info.Input
	for _, im := range images {
		rgb, _, err := imageprep.Decode(im.Data, c.opt.MaxPixels)
		if err != nil {
			return nil, fmt.Errorf("check image %q: %w", im.Name, err)
		}
		if rgb.Width != in[1] || rgb.Height != in[0] {
			rgb = imageprep.Resize(rgb, in[1], in[0], imageprep.Bicubic)
		}
		data, err := encodePNG(rgb)
		if err != nil {
			return nil, fmt.Errorf("check image %q: %w", im.Name, err)
		}
		r, err := c.Classify(data)
		if err != nil {
			return nil, fmt.Errorf("check image %q: %w", im.Name, err)
		}
		cs.Checks = append(cs.Checks, modelsign.Check{Name: im.Name, Image: data, Probability: r.Probability})
	}
	if err := cs.Validate(); err != nil {
		return nil, err
	}
	return cs, nil
}

// encodePNG writes an opaque 8-bit RGBA PNG of m.
func encodePNG(m *imageprep.RGB) ([]byte, error) {
	if m.Width <= 0 || m.Height <= 0 || len(m.Pix) != 3*m.Width*m.Height {
		return nil, errors.New("png: invalid image")
	}
	img := image.NewNRGBA(image.Rect(0, 0, m.Width, m.Height))
	for i, j := 0, 0; i < len(m.Pix); i, j = i+3, j+4 {
		img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = m.Pix[i], m.Pix[i+1], m.Pix[i+2], 0xff
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("png: %w", err)
	}
	return buf.Bytes(), nil
}
