package modelsign

import "errors"

// The sentinel errors of Policy.Check besides Verify's; test with
// errors.Is.
var (
	// ErrNoSignature: the policy needs a signature and the model has
	// no signature file.
	ErrNoSignature = errors.New("no signature file")
	// ErrNoTrustedKeys: a signature is required but there are no
	// trusted keys to check it against.
	ErrNoTrustedKeys = errors.New("a signature is required but no trusted keys were given to check it against")
)

// Policy is what a model must show before it is served.
//
//   - With a Keyring, it must have a signature that one of the keyring's
//     keys made over exactly its bytes.
//   - With Require and no Keyring, nothing can verify a signature, so
//     every model is refused.
//   - Otherwise any model passes, unverified.
type Policy struct {
	Keyring *Keyring
	Require bool
}

// Check applies the policy to a model and its signature file (nil when
// there is none). It returns the verified signature, or nil and no error
// for a model that passes unverified. Errors wrap ErrNoSignature,
// ErrNoTrustedKeys, or those of ParseSignature and Keyring.Verify.
func (p Policy) Check(model, sigFile []byte) (*Signature, error) {
	switch {
	case p.Keyring != nil:
		if sigFile == nil {
			return nil, ErrNoSignature
		}
		sig, err := ParseSignature(sigFile)
		if err != nil {
			return nil, err
		}
		if _, err := p.Keyring.Verify(model, sig); err != nil {
			return sig, err
		}
		return sig, nil
	case p.Require && sigFile == nil:
		return nil, ErrNoSignature
	case p.Require:
		return nil, ErrNoTrustedKeys
	}
	return nil, nil
}
