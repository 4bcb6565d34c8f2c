package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/huskyai/huskyai/internal/testtool"
)

// placeholderModel is a model file that declares itself an untrained
// placeholder.
var placeholderModel = filepath.Join("..", "..", "testdata", "parity", "husky_placeholder.h5")

// runWith runs the program with args and stdin, and returns its stdout,
// stderr, error and the exit status main would give it.
func runWith(t *testing.T, stdin []byte, args ...string) (string, string, int, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"huskyai"}, args...), func(string) string { return "" },
		bytes.NewReader(stdin), &stdout, &stderr)
	var discard bytes.Buffer
	return stdout.String(), stderr.String(), exitCode(err, &discard), err
}

// summaryRE matches predict's summary line.
var summaryRE = regexp.MustCompile(`(?m)^huskyai predict: (\d+) images?, (\d+) husky, (\d+) not husky, (\d+) errors?, ([0-9.]+) images/s \(model ([^)]+)\)$`)

// summary returns the numbers of the summary line on stderr: images,
// husky, not husky, errors, and the model.
func summary(t *testing.T, stderr string) (n, husky, notHusky, errs int, model string) {
	t.Helper()
	m := summaryRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no summary line on stderr:\n%s", stderr)
	}
	if !strings.HasSuffix(stderr, m[0]+"\n") {
		t.Errorf("the summary is not the last line of stderr:\n%s", stderr)
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	if rate, err := strconv.ParseFloat(m[5], 64); err != nil || !(rate > 0) {
		t.Errorf("images/s %q", m[5])
	}
	return atoi(m[1]), atoi(m[2]), atoi(m[3]), atoi(m[4]), m[6]
}

// makePredictDir builds a folder of 6 images (one behind a link to a
// folder outside it, one at depth 3), a text file and an empty file.
func makePredictDir(t *testing.T) (dir string, images []string) {
	t.Helper()
	dir, outside := t.TempDir(), t.TempDir()
	for i, name := range []string{"a.png", "b.jpg", "sub/c.png", "sub/deep/er/d.png", "z.png"} {
		writeImage(t, filepath.Join(dir, filepath.FromSlash(name)), uint8(i*40))
	}
	writeImage(t, filepath.Join(outside, "linked.png"), 9)
	if err := os.Symlink(outside, filepath.Join(dir, "sub", "link")); err != nil {
		t.Fatal(err)
	}
	// In lexical order, with the linked folder's image.
	for _, name := range []string{"a.png", "b.jpg", "sub/c.png", "sub/deep/er/d.png", "sub/link/linked.png", "z.png"} {
		images = append(images, filepath.Join(dir, filepath.FromSlash(name)))
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644)
	os.WriteFile(filepath.Join(dir, "sub", "empty.png"), nil, 0o644)
	return dir, images
}

// TestPredictFlagsAfterFiles: flags after the images are flags, not
// files; -model with one dash still works; after -- a name that starts
// with a dash is a file.
func TestPredictFlagsAfterFiles(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "dog.png")
	writeImage(t, img, 30)
	for _, args := range [][]string{
		{"predict", img, "--model", evalTestModel},
		{"predict", img, "--model=" + evalTestModel, "--format", "jsonl"},
		{"predict", "--format", "jsonl", img, "-model", evalTestModel},
	} {
		stdout, stderr, code, err := runWith(t, nil, args...)
		if err != nil || code != 0 {
			t.Fatalf("%v: %v (exit %d)\n%s", args, err, code, stderr)
		}
		lines := decodeLines(t, stdout)
		if len(lines) != 1 || lines[0]["file"] != img || lines[0]["model"] != "husky_small" {
			t.Errorf("%v: lines %v, want one for %s by husky_small", args, lines, img)
		}
		if n, _, _, errs, model := summary(t, stderr); n != 1 || errs != 0 || model != "husky_small" {
			t.Errorf("%v: summary of %d images, %d errors, model %s", args, n, errs, model)
		}
	}

	dash := filepath.Join(dir, "-x.png")
	writeImage(t, dash, 60)
	model := evalTestModelAbs(t)
	t.Chdir(dir)
	stdout, stderr, code, err := runWith(t, nil, "predict", "--model", model, "--", "-x.png", "--model")
	if code != 1 || !strings.Contains(stderr, "huskyai predict: --model: no such file\n") {
		t.Errorf("after --: exit %d (%v), stderr:\n%s", code, err, stderr)
	}
	if lines := decodeLines(t, stdout); len(lines) != 1 || lines[0]["file"] != "-x.png" {
		t.Errorf("after --: %v", lines)
	}
}

// evalTestModelAbs is evalTestModel as an absolute path.
func evalTestModelAbs(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(evalTestModel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPredictDirCSV classifies a folder, recursively, as CSV: images by
// their content in lexical order, the others reported and skipped.
func TestPredictDirCSV(t *testing.T) {
	dir, images := makePredictDir(t)
	stdout, stderr, code, err := runWith(t, nil, "predict", "--model", evalTestModel, "--format", "csv", "--workers", "3", dir)
	// The empty .png is sniffed as not an image and skipped.
	if err != nil || code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, err, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%s", err, stdout)
	}
	if want := []string{"file", "label", "probability", "score", "width", "height", "model"}; fmt.Sprint(rows[0]) != fmt.Sprint(want) {
		t.Errorf("header %v, want %v", rows[0], want)
	}
	rows = rows[1:]
	if len(rows) != len(images) {
		t.Fatalf("%d rows for %d images:\n%s", len(rows), len(images), stdout)
	}
	husky := 0
	for i, r := range rows {
		p, err := strconv.ParseFloat(r[2], 64)
		if r[0] != images[i] || err != nil || !(p >= 0 && p <= 1) || r[4] != "48" || r[5] != "40" || r[6] != "husky_small" ||
			(r[1] == "husky") != (p > 0.5) {
			t.Errorf("row %d = %v, want %s, 48x40, husky_small", i, r, images[i])
		}
		if r[1] == "husky" {
			husky++
		}
	}
	if !strings.Contains(stderr, "huskyai predict: skipped 2 files that are not PNG, JPEG or GIF images: "+
		filepath.Join(dir, "notes.txt")+", "+filepath.Join(dir, "sub", "empty.png")+"\n") {
		t.Errorf("skipped files not reported:\n%s", stderr)
	}
	n, h, nh, errs, _ := summary(t, stderr)
	if n != 6 || h != husky || nh != 6-husky || errs != 0 {
		t.Errorf("summary %d images, %d husky, %d not husky, %d errors; want 6, %d, %d, 0", n, h, nh, errs, husky, 6-husky)
	}

	// The same folder with one worker gives the same bytes.
	again, _, _, err := runWith(t, nil, "predict", "--model", evalTestModel, "--format", "csv", "--workers", "1", dir)
	if err != nil || again != stdout {
		t.Errorf("--workers 1 differs (%v):\n%s\nwant\n%s", err, again, stdout)
	}

	// An empty folder has no image to classify.
	_, _, code, err = runWith(t, nil, "predict", "--model", evalTestModel, t.TempDir())
	if code != 1 || err == nil || !strings.Contains(err.Error(), "no PNG, JPEG or GIF image in") {
		t.Errorf("empty folder: exit %d, %v", code, err)
	}
}

// TestPredictStdin reads an image from standard input as "-", among files.
func TestPredictStdin(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "dog.png")
	writeImage(t, img, 77)
	data, _ := os.ReadFile(img)
	stdout, stderr, code, err := runWith(t, data, "predict", "--model", evalTestModel, img, "-")
	if err != nil || code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, err, stderr)
	}
	lines := decodeLines(t, stdout)
	if len(lines) != 2 || lines[0]["file"] != img || lines[1]["file"] != "-" || lines[0]["probability"] != lines[1]["probability"] {
		t.Errorf("lines %v, want the same verdict for %s and -", lines, img)
	}

	// Text on stdin is not an image; empty stdin is empty.
	_, stderr, code, _ = runWith(t, []byte("hello world, no image"), "predict", "--model", evalTestModel, "-")
	if code != 1 || !strings.Contains(stderr, "huskyai predict: -: not a PNG, JPEG or GIF image\n") {
		t.Errorf("text on stdin: exit %d\n%s", code, stderr)
	}
	_, stderr, code, _ = runWith(t, nil, "predict", "--model", evalTestModel, "-")
	if code != 1 || !strings.Contains(stderr, "huskyai predict: -: empty file, not an image\n") {
		t.Errorf("empty stdin: exit %d\n%s", code, stderr)
	}
	if _, _, code, err := runWith(t, data, "predict", "-", "-"); code != 2 || !strings.Contains(err.Error(), "more than once") {
		t.Errorf("- twice: exit %d, %v", code, err)
	}
}

// TestPredictExitCodes: 0 when every image was classified, 1 when some
// were not (or the model cannot be loaded), 2 for a bad command line.
func TestPredictExitCodes(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "dog.png")
	writeImage(t, img, 5)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello"), 0o644)
	for _, tt := range []struct {
		name string
		args []string
		code int
	}{
		{"all classified", []string{"predict", "--model", evalTestModel, img, img}, 0},
		{"help", []string{"predict", "--help"}, 0},
		{"some failed", []string{"predict", "--model", evalTestModel, img, text}, 1},
		{"all failed", []string{"predict", "--model", evalTestModel, text}, 1},
		{"not a model", []string{"predict", "--model", text, img}, 1},
		{"no image", []string{"predict", "--model", evalTestModel}, 2},
		{"unknown flag", []string{"predict", img, "--modle", evalTestModel}, 2},
		{"flag without value", []string{"predict", img, "--model"}, 2},
		{"bad format", []string{"predict", "--format", "xml", img}, 2},
		{"bad workers", []string{"predict", "--workers", "0", img}, 2},
		{"bad precision", []string{"predict", "--score-precision", "11", img}, 2},
		{"bad max-pixels", []string{"predict", "--max-pixels", "lots", img}, 2},
		{"unknown command", []string{"frobnicate"}, 2},
		{"no command", nil, 2},
		{"eval bad flag", []string{"eval", "--threshold", "2", dir}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code, err := runWith(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d (%v), want %d\n%s", code, err, tt.code, stderr)
			}
		})
	}
}

// TestPredictSummary: the summary line counts what the lines and the
// errors say, and the placeholder warning is printed once per run.
func TestPredictSummary(t *testing.T) {
	dir := t.TempDir()
	var args []string
	for i := range 5 {
		p := filepath.Join(dir, fmt.Sprintf("%d.png", i))
		writeImage(t, p, uint8(i*50))
		args = append(args, p)
	}
	bad := filepath.Join(dir, "cut.png")
	good, _ := os.ReadFile(args[0])
	os.WriteFile(bad, good[:50], 0o644)
	args = append(args, bad)

	stdout, stderr, code, err := runWith(t, nil, append([]string{"predict", "--model", placeholderModel}, args...)...)
	if code != 1 || err == nil {
		t.Fatalf("exit %d (%v), want 1 for the damaged image", code, err)
	}
	lines := decodeLines(t, stdout)
	labels := map[string]int{}
	for _, l := range lines {
		labels[l["label"].(string)]++
		if l["model"] != "husky_placeholder" {
			t.Errorf("model %v, want husky_placeholder (the file's name)", l["model"])
		}
		if _, ok := l["warning"]; ok {
			t.Errorf("a line carries the warning: %v", l)
		}
	}
	n, husky, notHusky, errs, model := summary(t, stderr)
	if n != 6 || husky != labels["husky"] || notHusky != labels["not husky"] || errs != 1 || model != "husky_placeholder" || len(lines) != 5 {
		t.Errorf("summary %d, %d husky, %d not husky, %d errors, model %s; lines %v", n, husky, notHusky, errs, model, labels)
	}
	if c := strings.Count(stderr, "UNTRAINED PLACEHOLDER"); c != 1 {
		t.Errorf("the placeholder warning is printed %d times, want once:\n%s", c, stderr)
	}
	if !strings.Contains(stderr, "huskyai predict: warning: model husky_placeholder: ") {
		t.Errorf("warning does not name the model:\n%s", stderr)
	}
	if strings.Contains(stderr, "\r") {
		t.Errorf("progress written to a stderr that is not a terminal:\n%q", stderr)
	}
}

// TestPredictTable checks the table format: fixed columns, the file last.
func TestPredictTable(t *testing.T) {
	dir, images := makePredictDir(t)
	stdout, stderr, _, err := runWith(t, nil, "predict", "--format", "table", "--model", evalTestModel, dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rows := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(rows) != 1+len(images) || !regexp.MustCompile(`^LABEL +SCORE +SIZE +FILE$`).MatchString(rows[0]) {
		t.Fatalf("table:\n%s", stdout)
	}
	fileCol := strings.Index(rows[0], "FILE")
	row := regexp.MustCompile(`^(husky|not husky) +\d{1,3}\.\d\d% +48x40 +(\S+)$`)
	for i, r := range rows[1:] {
		m := row.FindStringSubmatch(r)
		if m == nil || m[2] != images[i] || strings.Index(r, images[i]) != fileCol {
			t.Errorf("row %q, want one for %s in column %d", r, images[i], fileCol)
		}
	}
}

// TestPredictErrorWords: errors say what is wrong in words, not bytes or
// a decoder's complaint.
func TestPredictErrorWords(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "dog.png")
	writeImage(t, img, 5)
	text := filepath.Join(dir, "m.h5")
	os.WriteFile(text, []byte("hello, I am not a model at all"), 0o644)
	empty := filepath.Join(dir, "empty.onnx")
	os.WriteFile(empty, nil, 0o644)
	for _, tt := range []struct {
		model, want string
	}{
		{text, "model " + text + ": not a model file: huskyai reads Keras .h5/.keras and ONNX"},
		{img, "model " + img + ": this is an image, not a model file"},
		{empty, "model " + empty + ": empty file, not a model file"},
		{filepath.Join(dir, "none.h5"), "model " + filepath.Join(dir, "none.h5") + ": no such file"},
		{filepath.Join("..", "..", "testdata", "parity", "truncated_h5.h5"), "truncated_h5.h5: "},
	} {
		_, _, code, err := runWith(t, nil, "predict", img, "--model", tt.model)
		if code != 1 || err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "wire type") {
			t.Errorf("--model %s: exit %d, %v; want %q", tt.model, code, err, tt.want)
		}
	}
	_, stderr, _, _ := runWith(t, nil, "predict", "--model", evalTestModel, text)
	if !strings.Contains(stderr, text+": not a PNG, JPEG or GIF image\n") || strings.Contains(stderr, "starts with") {
		t.Errorf("a text file as image:\n%s", stderr)
	}
}

// TestPredictHelp: --help writes the flags as --model, and exits 0.
func TestPredictHelp(t *testing.T) {
	for _, cmd := range []string{"predict", "eval"} {
		stdout, stderr, code, err := runWith(t, nil, cmd, "--help")
		if err != nil || code != 0 {
			t.Errorf("%s --help: exit %d, %v", cmd, code, err)
		}
		for _, want := range []string{"--model string", "--format", "--workers int", "--engine string", "--resize string"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%s --help lacks %q on stdout:\n%s\nstderr:\n%s", cmd, want, stdout, stderr)
			}
		}
	}
}

// TestProgressBar draws the bar as a terminal would get it.
func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := &progressBar{w: &buf, start: time.Now().Add(-time.Second)}
	p.update(5, 10)
	if got := buf.String(); !strings.HasPrefix(got, "\r\033[K[===============>              ] 5/10 images  5/s  ETA ") {
		t.Errorf("bar %q", got)
	}
	buf.Reset()
	p.update(6, 10) // within a tenth of a second: not redrawn
	if buf.Len() != 0 {
		t.Errorf("redrawn at once: %q", buf.String())
	}
	p.clear()
	p.update(7, 10) // cleared: drawn again at once
	if !strings.Contains(buf.String(), "7/10 images") {
		t.Errorf("not redrawn after clear: %q", buf.String())
	}
	buf.Reset()
	p.update(10, 10)
	if got := buf.String(); !strings.Contains(got, "[==============================] 10/10 images") || !strings.HasSuffix(got, "\r\033[K") {
		t.Errorf("last update %q: want the full bar, then the line erased", got)
	}
	var none *progressBar
	none.update(1, 2) // a nil bar draws nothing
	none.clear()
	if newProgress(&buf) != nil {
		t.Error("a progress bar on a buffer")
	}
}

// TestPredictTFLite runs the shared ImageNet MobileNet (TFLite, uint8) as
// a husky detector, its husky classes named through the labels file: most
// husky photos are husky with a husky top class (its recall on the
// validation split is 0.94: a German shepherd now and then), and other
// dogs not; without --positive-classes the model is refused with the flag
// named.
func TestPredictTFLite(t *testing.T) {
	model := testtool.Shared(t, "models/mobilenet_v2_1.0_224_quant.tflite")
	labels := testtool.Shared(t, "models/imagenet_labels.txt")
	photos := testtool.Shared(t, "data/photos")
	husky, _ := filepath.Glob(filepath.Join(photos, "husky", "siberian_husky", "*"))
	dogs, _ := filepath.Glob(filepath.Join(photos, "other", "dog", "*"))
	const n = 10
	if len(husky) < n || len(dogs) < n {
		t.Fatal("too few photos")
	}
	args := append([]string{"predict", "--model", model, "--format", "jsonl", "--labels", labels,
		"--positive-classes", "Eskimo dog, husky;malamute;Siberian husky"}, append(husky[:n], dogs[:n]...)...)
	stdout, stderr, code, err := runWith(t, nil, args...)
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2*n {
		t.Fatalf("%d lines:\n%s", len(lines), stdout)
	}
	right := 0
	for i, line := range lines {
		var r struct {
			Label    string `json:"label"`
			TopClass struct {
				Index int    `json:"index"`
				Label string `json:"label"`
			} `json:"top_class"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.TopClass.Label == "" {
			t.Errorf("line %d: no top class: %s", i, line)
		}
		topHusky := r.TopClass.Index >= 249 && r.TopClass.Index <= 251
		if isHusky := i < n; (r.Label == "husky") == isHusky && (!isHusky || topHusky) {
			right++
		} else {
			t.Logf("wrong: %s", line)
		}
	}
	if right < 2*n-2 {
		t.Errorf("%d of %d photos right", right, 2*n)
	}
	_, _, code, err = runWith(t, nil, "predict", "--model", model, husky[0])
	if code == 0 || err == nil || !strings.Contains(err.Error(), "--positive-classes") {
		t.Errorf("without --positive-classes: exit %d, %v", code, err)
	}
}
