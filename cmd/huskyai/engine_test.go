package main

import (
	"strings"
	"testing"

	"github.com/huskyai/huskyai/engine/ort"
)

// TestEngineFlag checks --engine on both commands: unknown engines are
// refused, and a binary built without -tags ort says so for --engine ort.
func TestEngineFlag(t *testing.T) {
	png := writePNG(t, t.TempDir())
	for _, args := range [][]string{
		{"predict", "--engine", "tensorflow", png},
		{"serve", "--engine", "tensorflow", "--insecure-http"},
	} {
		if _, _, err := runCmd(t, args...); err == nil || !strings.Contains(err.Error(), "want native or ort") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if ort.Available {
		return // engine_ort_test.go
	}
	for _, args := range [][]string{
		{"predict", "--engine", "ort", png},
		{"serve", "--engine", "ort", "--insecure-http"},
	} {
		_, _, err := runCmd(t, args...)
		if err == nil || !strings.Contains(err.Error(), "this binary was built without ONNX Runtime support; build with -tags ort") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, _, err := runCmd(t, "predict", "--engine", "native", png); err != nil {
		t.Errorf("--engine native: %v", err)
	}
}
