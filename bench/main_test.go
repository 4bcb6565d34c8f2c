package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickRun runs parts (a) and (b) of the harness for a few
// milliseconds each on the small Husky parity fixture (32x32 input) and a
// tiny JPEG, so that the harness keeps building and running as the
// engine changes. Part (c) builds and loads the server for seconds, so it
// is left to the command itself.
func TestQuickRun(t *testing.T) {
	parity := filepath.Join("..", "testdata", "parity")
	var out, errOut bytes.Buffer
	err := run([]string{"-quick", "-parts", "engines,prep", "-cell", "5ms", "-batch", "2", "-prep-sizes", "0.02", "-no-fetch",
		"-onnx", filepath.Join(parity, "husky_small_torch.onnx"), "-h5", filepath.Join(parity, "husky_small.h5")}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errOut)
	}
	t.Log(out.String())
	for _, want := range []string{"(a) inference engines", "native (ONNX file)", "native (.h5 given)",
		"(b) preprocessing", "pure Go (image/jpeg)", "0.02 MP 160x120", "targets of issue 6"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
}

func TestPrepSizeOf(t *testing.T) {
	for mp, want := range map[float64][2]int{0.3: {640, 480}, 2: {1632, 1224}, 12: {4000, 3000}} {
		if s := prepSizeOf(mp); s.w != want[0] || s.h != want[1] {
			t.Errorf("prepSizeOf(%v) = %dx%d, want %dx%d", mp, s.w, s.h, want[0], want[1])
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-parts", "gpu"}, {"-levels", "0"}, {"-serve-engines", "tf"}, {"-prep-sizes", "x"}, {"-batch", "0"}} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	o, err := parseFlags([]string{"-quick", "--", "--max-inflight", "4"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.cell <= 0 || o.duration <= 0 || len(o.levels) != 3 || len(o.serveArgs) != 2 || !o.parts["serve"] {
		t.Errorf("quick defaults: %+v", o)
	}
}
