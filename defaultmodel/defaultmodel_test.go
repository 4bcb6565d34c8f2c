package defaultmodel_test

import (
	"testing"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/defaultmodel"
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
