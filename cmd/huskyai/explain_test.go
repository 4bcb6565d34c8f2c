package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPredictExplain runs predict --explain on a folder and standard
// input: one overlay PNG per image, named after it (a second file of the
// same name gets -2), of the image's aspect, and the summary and file in
// each JSON line; a bad grid is a usage error.
func TestPredictExplain(t *testing.T) {
	dir := t.TempDir()
	writeImage(t, filepath.Join(dir, "a.png"), 10)
	writeImage(t, filepath.Join(dir, "sub", "a.png"), 200)
	out := filepath.Join(t.TempDir(), "why")
	img, err := os.ReadFile(filepath.Join(dir, "a.png"))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code, _ := runWith(t, img, "predict", "--explain", out, "--explain-grid", "4", dir, "-")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var lines []predictLine
	for l := range strings.Lines(stdout) {
		var p predictLine
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		lines = append(lines, p)
	}
	want := []string{"a.why.png", "a-2.why.png", "stdin.why.png"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), stdout)
	}
	for i, p := range lines {
		if p.Explanation != filepath.Join(out, want[i]) || !strings.Contains(p.Why, "region") {
			t.Errorf("line %d: explanation %q, why %q; want %s and a summary", i, p.Explanation, p.Why, want[i])
		}
		b, err := os.ReadFile(p.Explanation)
		if err != nil {
			t.Fatal(err)
		}
		o, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", p.Explanation, err)
		}
		if s := o.Bounds().Size(); s.X != overlayLongest || math.Abs(float64(s.Y)-float64(overlayLongest*p.Height)/float64(p.Width)) > 0.5 {
			t.Errorf("%s is %v for a %dx%d image", p.Explanation, s, p.Width, p.Height)
		}
	}
	if lines[2].Probability != lines[0].Probability {
		t.Errorf("the same image on stdin: %v, in the folder %v", lines[2].Probability, lines[0].Probability)
	}
	if _, _, code, err := runWith(t, nil, "predict", "--explain", out, "--explain-grid", "9", dir); code != 2 || err == nil || !strings.Contains(err.Error(), "--explain-grid 9") {
		t.Errorf("--explain-grid 9: exit %d, %v", code, err)
	}
}
