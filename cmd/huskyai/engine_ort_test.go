//go:build ort

package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/engine/ort"
	"github.com/huskyai/huskyai/internal/testtool"
)

// TestPredictORT classifies the same image with an ONNX model on both
// engines and compares the probabilities.
func TestPredictORT(t *testing.T) {
	lib := ort.FindLib(testtool.RepoRoot())
	if lib == "" {
		testtool.Missing(t, "libonnxruntime.so: run scripts/fetch-onnxruntime.sh or set %s", ort.EnvLib)
	}
	png := writePNG(t, t.TempDir())
	parity := filepath.Join(testtool.RepoRoot(), "testdata", "parity")
	for _, name := range []string{"husky_small_torch.onnx", "husky_small_tf2onnx.onnx"} {
		mdl := filepath.Join(parity, name)
		out, stderr, err := runCmd(t, "predict", "--engine", "ort", "--ort-lib", lib, "--ort-threads", "2", "--model", mdl, png)
		if err != nil {
			t.Fatalf("%s: --engine ort: %v\n%s", name, err, stderr)
		}
		nat, stderr, err := runCmd(t, "predict", "--model", mdl, png)
		if err != nil {
			t.Fatalf("%s: --engine native: %v\n%s", name, err, stderr)
		}
		o, n := decodeLines(t, out), decodeLines(t, nat)
		if len(o) != 1 || len(n) != 1 {
			t.Fatalf("%s: %d and %d lines", name, len(o), len(n))
		}
		po, pn := o[0]["probability"].(float64), n[0]["probability"].(float64)
		if d := po - pn; d > 1e-5 || d < -1e-5 || o[0]["label"] != n[0]["label"] {
			t.Errorf("%s: ort %v, native %v", name, o[0], n[0])
		}
	}
	// Keras files, the embedded default model among them, are refused.
	for _, args := range [][]string{
		{"predict", "--engine", "ort", "--ort-lib", lib, png},
		{"predict", "--engine", "ort", "--ort-lib", lib, "--model", filepath.Join(parity, "husky_small.h5"), png},
	} {
		if _, _, err := runCmd(t, args...); err == nil || !strings.Contains(err.Error(), "ONNX models only") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, _, err := runCmd(t, "predict", "--engine", "ort", "--ort-threads", "0", png); err == nil {
		t.Error("--ort-threads 0 accepted")
	}
}

// TestServeORT serves an ONNX model on ONNX Runtime, chosen through the
// environment, and checks the model description and a prediction.
func TestServeORT(t *testing.T) {
	lib := ort.FindLib(testtool.RepoRoot())
	if lib == "" {
		testtool.Missing(t, "libonnxruntime.so: run scripts/fetch-onnxruntime.sh or set %s", ort.EnvLib)
	}
	mdl := filepath.Join(testtool.RepoRoot(), "testdata", "parity", "husky_small_torch.onnx")
	s := startServe(t, map[string]string{"HUSKYAI_INSECURE_HTTP": "true", "HUSKYAI_ENGINE": "ort",
		"HUSKYAI_ORT_LIB": lib, "HUSKYAI_ORT_THREADS": "2", "HUSKYAI_MODEL": mdl})
	status, _, m := s.do(t, "GET", "/api/v1/model", "", nil)
	info, _ := m["model"].(map[string]any)
	if status != 200 || !strings.HasPrefix(fmt.Sprint(info["engine"]), "onnxruntime 1.") || info["format"] != "onnx" {
		t.Errorf("/api/v1/model: %d %v", status, m)
	}
	status, _, m = s.do(t, "POST", "/api/v1/predict", "image/png", testPNG(t, 64, 48))
	if _, ok := m["probability"]; status != 200 || !ok {
		t.Errorf("predict: %d %v", status, m)
	}
}
