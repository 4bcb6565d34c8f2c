package classifier

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/internal/testtool"
)

func TestParseClasses(t *testing.T) {
	labels, err := ParseLabels([]byte("background\nEskimo dog, husky\nmalamute, malemute, Alaskan malamute\nSiberian husky\n\nhusky\n"))
	if err != nil || len(labels) != 6 || labels[4] != "" {
		t.Fatalf("labels %q, %v", labels, err)
	}
	for _, tc := range []struct {
		spec   string
		labels []string
		want   []int
		err    string
	}{
		{"249,250,251", nil, []int{249, 250, 251}, ""},
		{" 3 , 1,3 ", labels, []int{3, 1}, ""},
		{"Siberian husky;malamute", labels, []int{3, 2}, ""},
		{"SIBERIAN HUSKY, Alaskan malamute", labels, []int{3, 2}, ""},
		{"Eskimo dog, husky", labels, nil, `"husky" names both`},
		{"Eskimo dog, husky;1", labels, []int{1}, ""},
		{"wolf", labels, nil, `no label is "wolf"`},
		{"malamute", nil, nil, "no labels file"},
		{"6", labels, nil, "outside the 6 labels"},
		{"-1", nil, nil, "outside"},
		{" , ", nil, nil, "no classes"},
	} {
		got, err := ParseClasses(tc.spec, tc.labels)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, %v; want an error containing %q", tc.spec, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.spec, got, err, tc.want)
		}
	}
}

// TestMultiClass serves an ImageNet MobileNet (TFLite) as a husky
// detector: refused without positive classes, and with them a Siberian
// husky photo is husky with a husky top class, a cat photo is not.
func TestMultiClass(t *testing.T) {
	model := testtool.ReadShared(t, "models/mobilenet_v2_1.0_224_quant.tflite")
	if Format(model) != FormatTFLite {
		t.Fatalf("Format %q, want %q", Format(model), FormatTFLite)
	}
	if _, err := Load(model, DefaultOptions()); err == nil || !strings.Contains(err.Error(), "--positive-classes") {
		t.Fatalf("1001 outputs without positive classes: %v", err)
	}
	opt := DefaultOptions()
	opt.PositiveClasses = []int{249, 250, 251, 5000}
	if _, err := Load(model, opt); err == nil || !strings.Contains(err.Error(), "5000") {
		t.Fatalf("class 5000: %v", err)
	}
	opt.PositiveClasses = opt.PositiveClasses[:3]
	opt.Labels = []string{"too", "few"}
	if _, err := Load(model, opt); err == nil || !strings.Contains(err.Error(), "2 lines") {
		t.Fatalf("2 labels: %v", err)
	}
	opt.Labels, _ = ParseLabels(testtool.ReadShared(t, "models/imagenet_labels.txt"))
	opt.CenterCrop = 0.875
	c, err := Load(model, opt)
	if err != nil {
		t.Fatal(err)
	}
	photos := testtool.Shared(t, "data/photos")
	for _, tc := range []struct {
		glob  string
		husky bool
	}{{"husky/siberian_husky/*", true}, {"other/cat/*", false}} {
		files, _ := filepath.Glob(filepath.Join(photos, tc.glob))
		if len(files) == 0 {
			t.Fatalf("no photos %s", tc.glob)
		}
		img, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Classify(img)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %.4f, top %+v", files[0], r.Probability, *r.Top)
		if (r.Label == huskyai.LabelHusky) != tc.husky || r.Top == nil || r.Top.Label != opt.Labels[r.Top.Index] {
			t.Errorf("%s: %+v", files[0], r.Verdict)
		}
		if tc.husky && !slices.Contains(opt.PositiveClasses, r.Top.Index) {
			t.Errorf("%s: top class %+v is not a husky class", files[0], *r.Top)
		}
		rs, err := c.InferBatch([]Prepared{mustPrepare(t, c, img), mustPrepare(t, c, img)})
		if err != nil || rs[1].Probability != r.Probability || *rs[1].Top != *r.Top {
			t.Errorf("batch: %+v, %v; want %+v", rs, err, r.Verdict)
		}
	}
}

func mustPrepare(t *testing.T, c *Classifier, img []byte) Prepared {
	t.Helper()
	p, err := c.Prepare(img)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
