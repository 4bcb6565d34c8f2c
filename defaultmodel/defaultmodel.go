// Package defaultmodel embeds the model huskyai serves when no --model is
// given, so that the binary works on a fresh machine.
//
// The model is signed like any other: huskymodel.h5.sig is its detached
// modelsign signature (with a self-test check set when one was made) by the
// release key whose public half is release.pub. The server verifies the
// embedded model against the embedded key at every start, so a model file
// changed without re-signing fails the build's tests and refuses to serve.
// scripts/sign-default-model.sh re-signs it, or rotates the key; the
// private key is never in this repository.
//
// For now it is an UNTRAINED PLACEHOLDER: the original Husky AI
// architecture with seeded random weights, written by
// scripts/gen_parity.py. Its scores mean nothing, and everything that
// reports on it says so (see Placeholder).
package defaultmodel

import _ "embed"

//go:embed huskymodel.h5
var data []byte

//go:embed huskymodel.h5.sig
var sig []byte

//go:embed release.pub
var releaseKey []byte

// Name is the name under which the embedded model is reported.
const Name = "huskyai-placeholder-untrained"

// Placeholder reports that the embedded model is not trained, so callers
// must warn that its scores are meaningless.
const Placeholder = true

// Warning is the sentence shown wherever the placeholder's output appears.
const Warning = "This is an UNTRAINED PLACEHOLDER model with random weights: its scores mean nothing. Use --model to load a trained model."

// Bytes returns the embedded model file (Keras HDF5). The caller must not
// modify it.
func Bytes() []byte { return data }

// Signature returns the embedded model's detached signature file
// (modelsign format). The caller must not modify it.
func Signature() []byte { return sig }

// ReleaseKey returns the PEM public key that signed the embedded model.
// It vouches for the embedded model only; it is not added to the keys a
// server trusts for --model files. The caller must not modify it.
func ReleaseKey() []byte { return releaseKey }
