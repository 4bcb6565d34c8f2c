package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/evaluate"
)

// evalTestModel is a small seeded-random model (32x32 input) that keeps the
// tests fast; its scores mean nothing.
var evalTestModel = filepath.Join("..", "..", "testdata", "parity", "husky_small.h5")

// writeImage writes a w×h image of shade v (varied per pixel) as PNG, or
// JPEG when the name ends in .jpg.
func writeImage(t *testing.T, path string, v uint8) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 48, 40))
	for y := range 40 {
		for x := range 48 {
			img.Set(x, y, color.NRGBA{v + uint8(x), v ^ uint8(y*5), uint8(x * y), 255})
		}
	}
	var buf bytes.Buffer
	var err error
	if strings.HasSuffix(path, ".jpg") {
		err = jpeg.Encode(&buf, img, nil)
	} else {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// makeEvalDir builds an evaluation set: 5 husky and 4 other images that
// decode, one that does not, one text file, links to a file and to a
// folder outside the set, and a top-level file that is not a class.
func makeEvalDir(t *testing.T) string {
	t.Helper()
	dir, outside := t.TempDir(), t.TempDir()
	for i, name := range []string{"husky/a/0.png", "husky/a/1.png", "husky/a/2.png", "husky/direct.jpg",
		"other/b/0.png", "other/b/1.png", "other/b/deep/x/y.png"} {
		writeImage(t, filepath.Join(dir, name), uint8(i*37))
	}
	writeImage(t, filepath.Join(outside, "linked.png"), 200)
	writeImage(t, filepath.Join(outside, "c", "in-linked-dir.png"), 90)
	// The validation split as a tree of links: a linked file and a
	// linked folder.
	if err := os.Symlink(filepath.Join(outside, "linked.png"), filepath.Join(dir, "other", "link.png")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "c"), filepath.Join(dir, "husky", "c")); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(dir, "other", "b", "0.png"))
	os.WriteFile(filepath.Join(dir, "other", "b", "cut.png"), good[:60], 0o644)
	os.WriteFile(filepath.Join(dir, "other", "notes.txt"), []byte("not an image"), 0o644)
	os.WriteFile(filepath.Join(dir, "README"), []byte("about this set"), 0o644)
	return dir
}

// TestEvalJSON runs "huskyai eval --format json" on a small set and
// checks the counts, categories and the files reported on stderr.
func TestEvalJSON(t *testing.T) {
	dir := makeEvalDir(t)
	stdout, stderr, err := runCmd(t, "eval", "--format", "json", "--model", evalTestModel, "--workers", "3", dir)
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, stderr)
	}
	if !strings.HasPrefix(stdout, "{\n  \"model\": {") {
		t.Errorf("output does not start with the model:\n%.200s", stdout)
	}
	var out evalOutput
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("output is not an evalOutput: %v\n%s", err, stdout)
	}
	var r evaluate.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("output is not an evaluate.Report: %v", err)
	}
	if r.N != 9 || r.NHusky != 5 || r.NOther != 4 {
		t.Errorf("n %d, husky %d, other %d; want 9, 5, 4", r.N, r.NHusky, r.NOther)
	}
	if c := r.Confusion; c.TP+c.FN != 5 || c.FP+c.TN != 4 || r.Accuracy.N != 9 {
		t.Errorf("confusion %+v, accuracy %+v", c, r.Accuracy)
	}
	want := map[string]int{"husky": 1, "husky/a": 3, "husky/c": 1, "other": 1, "other/b": 3}
	if len(r.Categories) != len(want) {
		t.Errorf("categories %+v, want %v", r.Categories, want)
	}
	for _, c := range r.Categories {
		if want[c.Name] != c.N || c.Husky != strings.HasPrefix(c.Name, "husky") {
			t.Errorf("category %+v, want n %d", c, want[c.Name])
		}
	}
	if out.Dir != dir || out.Skipped != 1 || out.Failed != 1 || out.Model.Name == "" || len(out.Model.SHA256) != 64 || out.Model.Format != "keras-h5" {
		t.Errorf("dir %q skipped %d failed %d model %+v", out.Dir, out.Skipped, out.Failed, out.Model)
	}
	if len(r.Sweep) != 19 || len(r.Calibration.Bins) != 10 || r.Bootstrap != 1000 || len(r.Probes) != 0 {
		t.Errorf("%d sweep points, %d bins, bootstrap %d, %d probes", len(r.Sweep), len(r.Calibration.Bins), r.Bootstrap, len(r.Probes))
	}
	for _, s := range []string{
		"ignored README",
		"skipped 1 file that is not a PNG, JPEG or GIF image: other/notes.txt",
		filepath.Join(dir, "other", "b", "cut.png") + ": ",
		"1 of 10 images failed",
	} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
	if strings.Contains(stderr, "images/s") || strings.Contains(stderr, "\r") {
		t.Errorf("progress written to a stderr that is not a terminal:\n%q", stderr)
	}

	// The same set gives the same bytes, whatever the number of workers.
	again, _, err := runCmd(t, "eval", "--format", "json", "--model", evalTestModel, "--workers", "1", dir)
	if err != nil || again != stdout {
		t.Errorf("second run differs (%v):\n%s\nfirst:\n%s", err, again, stdout)
	}
}

// TestEvalTable checks that the text report has its sections.
func TestEvalTable(t *testing.T) {
	dir := makeEvalDir(t)
	stdout, stderr, err := runCmd(t, "eval", "--model", evalTestModel, dir)
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, stderr)
	}
	for _, s := range []string{
		"model ", "sha256 ", "images ", "9: 5 husky, 4 other; 1 failed, 1 skipped",
		"\nMetrics (95% intervals", "accuracy ", "balanced accuracy ", "precision ", "recall (sensitivity) ",
		"specificity ", "F1 ", "ROC AUC ",
		"\nConfusion matrix\n", "TP ", "FN ", "FP ", "TN ",
		"\nErrors by category", "husky/a ", "other/b ",
		"\nCalibration: ECE ", "[0.90, 1.00]",
		"\nThreshold sweep\n", "0.50 *",
	} {
		if !strings.Contains(stdout, s) {
			t.Errorf("table lacks %q:\n%s", s, stdout)
		}
	}
	if strings.Contains(stdout, "Probes") {
		t.Errorf("table has probes without --probes:\n%s", stdout)
	}
	for line := range strings.Lines(stdout) {
		if strings.HasSuffix(line, " \n") {
			t.Errorf("line ends in a space: %q", line)
		}
	}
}

// TestEvalProbes classifies the 2,256 generated probe images too.
func TestEvalProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("classifies 2,256 images")
	}
	dir := makeEvalDir(t)
	stdout, stderr, err := runCmd(t, "eval", "--probes", "--bootstrap", "0", "--format", "json", "--model", evalTestModel, dir)
	if err != nil {
		t.Fatalf("eval --probes: %v\n%s", err, stderr)
	}
	var r evaluate.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.N != 9 {
		t.Errorf("n %d: probes counted in the metrics", r.N)
	}
	if r.Bootstrap != 0 || r.ROCAUC.Lo.Defined() || !r.ROCAUC.Value.Defined() {
		t.Errorf("--bootstrap 0: bootstrap %d, ROC AUC %+v", r.Bootstrap, r.ROCAUC)
	}
	want := []struct {
		kind string
		n    int
	}{{evaluate.ProbeGrey, 256}, {evaluate.ProbeUniform, 1000}, {evaluate.ProbeGaussian, 1000}}
	if len(r.Probes) != len(want) {
		t.Fatalf("probes %+v", r.Probes)
	}
	total := 0
	for i, w := range want {
		p := r.Probes[i]
		total += p.N
		if p.Kind != w.kind || p.N != w.n || p.AboveThreshold > p.N || !strings.HasPrefix(p.MaxProbe, w.kind+"/") ||
			!(p.MaxProbability >= p.MeanProbability) {
			t.Errorf("probe %d = %+v, want kind %s n %d", i, p, w.kind, w.n)
		}
	}
	if total != 2256 {
		t.Errorf("%d probe images, want 2256", total)
	}
}

func TestEvalErrors(t *testing.T) {
	dir := makeEvalDir(t)
	empty := t.TempDir()
	fileClass := t.TempDir()
	os.WriteFile(filepath.Join(fileClass, "husky"), []byte("x"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no dir", []string{"eval"}, "want one DIR, got 0"},
		{"two dirs", []string{"eval", dir, dir}, "want one DIR, got 2"},
		{"missing dir", []string{"eval", filepath.Join(empty, "none")}, "no such file"},
		{"no class folders", []string{"eval", empty}, "neither a husky/ nor an other/ folder"},
		{"class is a file", []string{"eval", fileClass}, "is not a directory"},
		{"bad format", []string{"eval", "--format", "csv", dir}, `--format "csv"`},
		{"bad threshold", []string{"eval", "--threshold", "1.5", dir}, "--threshold 1.5"},
		{"NaN threshold", []string{"eval", "--threshold", "NaN", dir}, "--threshold NaN"},
		{"no workers", []string{"eval", "--workers", "0", dir}, "--workers 0"},
		{"negative bootstrap", []string{"eval", "--bootstrap", "-1", dir}, "--bootstrap -1"},
		{"bad filter", []string{"eval", "--resize", "lanczos", dir}, "--resize"},
		{"missing model", []string{"eval", "--model", filepath.Join(empty, "none.h5"), dir}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runCmd(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want none", stdout)
			}
		})
	}
}

// TestEvalCancelled checks that an interrupted evaluation stops with the
// context's error and prints no report.
func TestEvalCancelled(t *testing.T) {
	dir := makeEvalDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"huskyai", "eval", "--model", evalTestModel, dir}, func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	if !errors.Is(err, context.Canceled) || stdout.Len() != 0 {
		t.Errorf("error %v, stdout %q; want context.Canceled and no report", err, stdout.String())
	}
}
