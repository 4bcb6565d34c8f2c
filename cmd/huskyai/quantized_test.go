package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/internal/testtool"
)

// TestPredictQuantized: --quantized integer and float run the shared
// uint8 MobileNet on the integer and the float32 path, which agree on the
// verdicts of a few photos and nearly on their scores; another value is
// refused with the flag named.
func TestPredictQuantized(t *testing.T) {
	model := testtool.Shared(t, "models/mobilenet_v2_1.0_224_quant.tflite")
	photos := testtool.Shared(t, "data/photos")
	husky, _ := filepath.Glob(filepath.Join(photos, "husky", "siberian_husky", "*"))
	dogs, _ := filepath.Glob(filepath.Join(photos, "other", "dog", "*"))
	if len(husky) < 3 || len(dogs) < 3 {
		t.Fatal("too few photos")
	}
	files := append(husky[:3:3], dogs[:3]...)
	scores := map[string][]float64{}
	for _, mode := range []string{"integer", "float"} {
		args := append([]string{"predict", "--model", model, "--format", "jsonl", "--positive-classes", "249,250,251", "--quantized", mode}, files...)
		stdout, stderr, code, err := runWith(t, nil, args...)
		if err != nil || code != 0 {
			t.Fatalf("--quantized %s: exit %d, %v\n%s", mode, code, err, stderr)
		}
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			var r struct {
				Score float64 `json:"probability"`
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatal(err)
			}
			scores[mode] = append(scores[mode], r.Score)
		}
	}
	if len(scores["integer"]) != len(files) || len(scores["float"]) != len(files) {
		t.Fatalf("scores %v for %d files", scores, len(files))
	}
	for i := range files {
		a, b := scores["integer"][i], scores["float"][i]
		if math.Abs(a-b) > 0.15 || (a > 0.5) != (b > 0.5) {
			t.Errorf("%s: integer path %.3f, float path %.3f", filepath.Base(files[i]), a, b)
		}
	}
	if _, _, err := runCmd(t, "predict", "--model", model, "--positive-classes", "249,250,251", "--quantized", "int4", files[0]); err == nil || !strings.Contains(err.Error(), "--quantized") {
		t.Errorf("--quantized int4: %v", err)
	}
}
