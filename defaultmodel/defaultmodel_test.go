package defaultmodel_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/evaluate"
	"github.com/huskyai/huskyai/modelsign"
)

// TestEmbeddedSignature: the embedded model is exactly the bytes the
// embedded release key signed, and passes the signature's self-test. If
// it fails, huskymodel.h5 changed without scripts/sign-default-model.sh.
func TestEmbeddedSignature(t *testing.T) {
	pub, err := modelsign.ParsePublicKey(defaultmodel.ReleaseKey())
	if err != nil {
		t.Fatalf("release.pub: %v", err)
	}
	sig, err := modelsign.ParseSignature(defaultmodel.Signature())
	if err != nil {
		t.Fatalf("huskymodel.h5.sig: %v", err)
	}
	if err := modelsign.Verify(defaultmodel.Bytes(), sig, pub); err != nil {
		t.Fatalf("the embedded model does not verify against the embedded release key (re-sign it with scripts/sign-default-model.sh): %v", err)
	}
	if sig.Checks == nil || len(sig.Checks.Checks) < 3 {
		t.Fatalf("the embedded signature has no self-test (%v); sign with --check-images", sig.Checks)
	}
	c, err := classifier.LoadDefault(classifier.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SelfTest(sig.Checks); err != nil {
		t.Errorf("the embedded model fails its signed self-test: %v", err)
	}
}

// TestNotFooledByGreyOrNoise guards the failures of the original Husky AI
// model: every solid grey shade and a fixed set of uniform and Gaussian
// noise images (evaluate.Probes, the first 100 of each noise kind) must
// score below the threshold, through the upload path (PNG, decode, resize).
// "huskyai eval --probes" runs all 2,256.
func TestNotFooledByGreyOrNoise(t *testing.T) {
	c, err := classifier.LoadDefault(classifier.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var above []string
	n := 0
	for _, p := range evaluate.Probes() {
		if p.Kind != evaluate.ProbeGrey && p.Index >= 100 {
			continue
		}
		n++
		img, err := p.PNG()
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Classify(img)
		if err != nil {
			t.Fatalf("%s: %v", p.Name(), err)
		}
		if r.Probability > huskyai.Threshold {
			above = append(above, fmt.Sprintf("%s (%.4f)", p.Name(), r.Probability))
		}
	}
	if len(above) > 0 {
		t.Errorf("the embedded model calls %d of %d grey and noise images a husky (threshold %v): %s",
			len(above), n, huskyai.Threshold, strings.Join(above[:min(len(above), 8)], ", "))
	}
}
