package modelsign_test

import (
	"errors"
	"testing"

	"github.com/huskyai/huskyai/modelsign"
)

// TestPolicyCheck runs every branch of the serving decision: what is
// refused, with which error, and what passes verified or unverified.
func TestPolicyCheck(t *testing.T) {
	model := testModel()
	priv, pub := testKey(1)
	_, otherPub := testKey(2)
	sigFile := mustSign(t, model, priv, nil).Marshal()
	trusted, err := modelsign.NewKeyring(pub)
	if err != nil {
		t.Fatal(err)
	}
	others, err := modelsign.NewKeyring(otherPub)
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), model...)
	tampered[0] ^= 1
	for _, tc := range []struct {
		name        string
		policy      modelsign.Policy
		model, sig  []byte
		wantErr     error // nil: passes
		wantOK      bool  // passes verified (a signature returned)
		wantSigBack bool  // a failed check still returns the parsed signature
	}{
		{"keyring, signed by it", modelsign.Policy{Keyring: trusted}, model, sigFile, nil, true, true},
		{"keyring and require, signed", modelsign.Policy{Keyring: trusted, Require: true}, model, sigFile, nil, true, true},
		{"keyring, no signature file", modelsign.Policy{Keyring: trusted}, model, nil, modelsign.ErrNoSignature, false, false},
		{"keyring, another key", modelsign.Policy{Keyring: others}, model, sigFile, modelsign.ErrUnknownKey, false, true},
		{"keyring, model edited", modelsign.Policy{Keyring: trusted}, tampered, sigFile, modelsign.ErrDigestMismatch, false, true},
		{"keyring, malformed signature", modelsign.Policy{Keyring: trusted}, model, []byte("{}"), modelsign.ErrMalformed, false, false},
		{"require, no keys, unsigned", modelsign.Policy{Require: true}, model, nil, modelsign.ErrNoSignature, false, false},
		{"require, no keys, signed", modelsign.Policy{Require: true}, model, sigFile, modelsign.ErrNoTrustedKeys, false, false},
		{"no policy, unsigned", modelsign.Policy{}, model, nil, nil, false, false},
		{"no policy, signed", modelsign.Policy{}, model, sigFile, nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := tc.policy.Check(tc.model, tc.sig)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got := err == nil && sig != nil; got != tc.wantOK {
				t.Errorf("verified = %v, want %v", got, tc.wantOK)
			}
			if (sig != nil) != tc.wantSigBack {
				t.Errorf("signature returned = %v, want %v", sig != nil, tc.wantSigBack)
			}
		})
	}
}
