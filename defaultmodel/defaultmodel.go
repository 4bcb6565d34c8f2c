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
// The model is trained by this repository's pipeline (train/train.py) on
// labelled photos that are not in the repository; docs/model-card.md says
// what it is for, how well it does, measured by "huskyai eval", and how to
// reproduce both.
package defaultmodel

import _ "embed"

//go:embed huskymodel.h5
var data []byte

//go:embed huskymodel.h5.sig
var sig []byte

//go:embed release.pub
var releaseKey []byte

// Name is the name under which the embedded model is reported: the same
// in every API (native, KServe v2, TF Serving) and in the logs.
const Name = "huskyai-2026.12.4"

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
