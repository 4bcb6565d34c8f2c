// Package ort runs ONNX models on ONNX Runtime (the C library
// libonnxruntime.so, loaded at run time through
// github.com/yalue/onnxruntime_go) as an alternative to huskyai's own
// engine in package engine.
//
// It needs cgo and is only built with the build tag "ort"
// (go build -tags ort); without it, Available is false and Load fails with
// ErrNotBuilt, so the default binary stays static and cgo-free. The
// library itself is not linked in: scripts/fetch-onnxruntime.sh fetches a
// matching one into third_party/onnxruntime/.
package ort

import (
	"errors"
	"os"
	"path/filepath"
)

// ErrNotBuilt is returned by Load in a binary built without the "ort" tag.
var ErrNotBuilt = errors.New("this binary was built without ONNX Runtime support; build with -tags ort")

// EnvLib names the environment variable that gives the path of
// libonnxruntime.so.
const EnvLib = "HUSKYAI_ORT_LIB"

// Options configure Load.
type Options struct {
	// Lib is the path of libonnxruntime.so. Empty means the dynamic
	// linker's search for "libonnxruntime.so". The library is loaded by
	// the first Load; later ones must name the same file (or none).
	Lib string
	// Threads is the number of intra-op threads of the session; 0 means 1,
	// which matches the native engine: concurrency comes from serving
	// several requests at once.
	Threads int
}

// DefaultLib returns where scripts/fetch-onnxruntime.sh puts the library,
// below the repository root root.
func DefaultLib(root string) string {
	return filepath.Join(root, "third_party", "onnxruntime", "libonnxruntime.so")
}

// FindLib returns the library named by $HUSKYAI_ORT_LIB, else
// DefaultLib(root) if that file exists, else "".
func FindLib(root string) string {
	if p := os.Getenv(EnvLib); p != "" {
		return p
	}
	if p := DefaultLib(root); fileExists(p) {
		return p
	}
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
