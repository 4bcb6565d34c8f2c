package classifier_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/huskyai/huskyai/engine/keras/kerastest"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/internal/testtool"
	"github.com/huskyai/huskyai/modelsign"
)

// pattern is a w x h image whose pixels depend on seed.
func pattern(w, h, seed int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x*7 + seed*40), uint8(y*5 + x*seed), uint8((x ^ y) * seed), 255})
		}
	}
	return img
}

// checkImages are images of several sizes and formats.
func checkImages(t *testing.T) []classifier.CheckImage {
	t.Helper()
	var p1, p2, j, g bytes.Buffer
	if err := png.Encode(&p1, pattern(300, 200, 1)); err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(&p2, pattern(128, 128, 2)); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&j, pattern(64, 96, 3), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	pal := image.NewPaletted(image.Rect(0, 0, 90, 90), palette.Plan9)
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 251)
	}
	if err := gif.Encode(&g, pal, nil); err != nil {
		t.Fatal(err)
	}
	return []classifier.CheckImage{
		{Name: "wide.png", Data: p1.Bytes()},
		{Name: "exact.png", Data: p2.Bytes()},
		{Name: "small.jpg", Data: j.Bytes()},
		{Name: "palette.gif", Data: g.Bytes()},
	}
}

func loadDefault(t *testing.T, filter imageprep.Filter) *classifier.Classifier {
	t.Helper()
	opt := classifier.DefaultOptions()
	opt.Filter = filter
	c, err := classifier.LoadDefault(opt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func loadFile(t *testing.T, data []byte) *classifier.Classifier {
	t.Helper()
	c, err := classifier.Load(data, classifier.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBuildCheckSet: the stored images are PNGs of the model's input size
// with the model's probabilities for them, and the self-test passes with
// no tolerance at all under every resize filter.
func TestBuildCheckSet(t *testing.T) {
	c := loadDefault(t, imageprep.Bicubic)
	images := checkImages(t)
	cs, err := c.BuildCheckSet(images, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.Validate(); err != nil {
		t.Fatalf("built an invalid check set: %v", err)
	}
	in := c.Info().Input
	if len(cs.Checks) != len(images) || cs.Tolerance != 0 {
		t.Fatalf("%d checks (tolerance %v) for %d images", len(cs.Checks), cs.Tolerance, len(images))
	}
	for i, ck := range cs.Checks {
		if ck.Name != images[i].Name {
			t.Errorf("check %d is named %q, want %q", i, ck.Name, images[i].Name)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(ck.Image))
		if err != nil || format != "png" || cfg.Width != in[1] || cfg.Height != in[0] {
			t.Errorf("%s: stored image is %s %dx%d (%v), want a %dx%d png", ck.Name, format, cfg.Width, cfg.Height, err, in[1], in[0])
		}
		r, err := c.Classify(ck.Image)
		if err != nil || r.Probability != ck.Probability {
			t.Errorf("%s: recorded probability %v, the stored image gives %v (%v)", ck.Name, ck.Probability, r.Probability, err)
		}
	}
	for _, f := range []imageprep.Filter{imageprep.Bicubic, imageprep.Bilinear, imageprep.Box} {
		if err := loadDefault(t, f).SelfTest(cs); err != nil {
			t.Errorf("self-test with the %v filter on the model it was built from: %v", f, err)
		}
	}
	// The set goes through a signature file unchanged.
	priv, pub, err := modelsign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := modelsign.Sign(defaultmodel.Bytes(), priv, time.Now(), cs)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := modelsign.ParseSignature(sig.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := modelsign.Verify(defaultmodel.Bytes(), parsed, pub); err != nil {
		t.Fatal(err)
	}
	if err := c.SelfTest(parsed.Checks); err != nil {
		t.Errorf("self-test of the checks read from the signature file: %v", err)
	}
}

// TestBuildCheckSetErrors: bad images and too many images are refused,
// naming the image.
func TestBuildCheckSetErrors(t *testing.T) {
	c := loadDefault(t, imageprep.Bicubic)
	good := checkImages(t)[1]
	many := make([]classifier.CheckImage, modelsign.MaxChecks+1)
	for i := range many {
		many[i] = classifier.CheckImage{Name: fmt.Sprintf("%02d.png", i), Data: good.Data}
	}
	tests := []struct {
		name   string
		images []classifier.CheckImage
		tol    float32
		reason string
	}{
		{"not an image", []classifier.CheckImage{good, {Name: "notes.png", Data: []byte("hello")}}, 0.001, `"notes.png"`},
		{"truncated png", []classifier.CheckImage{{Name: "cut.png", Data: good.Data[:len(good.Data)/2]}}, 0.001, `"cut.png"`},
		{"too many", many, 0.001, "at most 16"},
		{"none", nil, 0.001, "empty"},
		{"same name twice", []classifier.CheckImage{good, good}, 0.001, "two checks"},
		{"bad tolerance", []classifier.CheckImage{good}, 2, "tolerance"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := c.BuildCheckSet(tc.images, tc.tol)
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("BuildCheckSet: %v (set %v), want an error saying %s", err, cs != nil, tc.reason)
			}
		})
	}
}

// TestSelfTestDetects: a self-test fails, naming the check, when the
// expected probability was altered beyond the tolerance, or when another
// or a backdoored model runs it; it passes within the tolerance.
func TestSelfTestDetects(t *testing.T) {
	def := loadDefault(t, imageprep.Bicubic)
	cs, err := def.BuildCheckSet(checkImages(t), 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	small, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "parity", "husky_small.h5"))
	if err != nil {
		t.Fatal(err)
	}
	edited := func(i int, delta float32) *modelsign.CheckSet {
		e := *cs
		e.Checks = append([]modelsign.Check(nil), cs.Checks...)
		p := e.Checks[i].Probability + delta
		if p > 1 || p < 0 {
			p = e.Checks[i].Probability - delta
		}
		e.Checks[i].Probability = p
		return &e
	}
	undecodable := *cs
	undecodable.Checks = []modelsign.Check{{Name: "broken.png", Image: []byte("\x89PNG\r\n\x1a\nbroken"), Probability: 0.5}}
	tests := []struct {
		name   string
		c      *classifier.Classifier
		cs     *modelsign.CheckSet
		failed string // the failing check's name; "" to pass, "*" for any
	}{
		{"same model", def, cs, ""},
		{"nil set", def, nil, ""},
		{"within tolerance", def, edited(2, 0.0009), ""},
		{"expected altered", def, edited(2, 0.002), "small.jpg"},
		{"first check altered", def, edited(0, 0.5), "wide.png"},
		{"another model", loadFile(t, small), cs, "*"},
		{"backdoored model", loadFile(t, kerastest.Backdoor(t, defaultmodel.Bytes(), 100)), cs, "*"},
		{"undecodable image", def, &undecodable, "broken.png"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.SelfTest(tc.cs)
			if tc.failed == "" {
				if err != nil {
					t.Fatalf("SelfTest: %v", err)
				}
				return
			}
			if err == nil || tc.failed != "*" && !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.failed)) {
				t.Fatalf("SelfTest: %v, want an error naming %q", err, tc.failed)
			}
			if tc.name == "undecodable image" {
				return
			}
			se, ok := errors.AsType[*classifier.SelfTestError](err)
			if !ok {
				t.Fatalf("SelfTest error %T is not a *SelfTestError", err)
			}
			d := math.Abs(float64(se.Got) - float64(se.Expected))
			named := se.Check == tc.failed
			if tc.failed == "*" {
				named = slices.ContainsFunc(tc.cs.Checks, func(c modelsign.Check) bool { return c.Name == se.Check })
			}
			if !named || !strings.Contains(err.Error(), fmt.Sprintf("%q", se.Check)) || !(d > float64(se.Tolerance)) || se.Tolerance != tc.cs.Tolerance {
				t.Errorf("SelfTestError %+v: difference %v", *se, d)
			}
			for _, want := range []string{"expected", "got", "difference", "tolerance"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}
