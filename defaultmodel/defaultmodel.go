// Package defaultmodel embeds the model huskyai serves when no --model is
// given, so that the binary works on a fresh machine.
//
// For now it is an UNTRAINED PLACEHOLDER: the original Husky AI
// architecture with seeded random weights, written by
// scripts/gen_parity.py. Its scores mean nothing, and everything that
// reports on it says so (see Placeholder).
package defaultmodel

import _ "embed"

//go:embed huskymodel.h5
var data []byte

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
