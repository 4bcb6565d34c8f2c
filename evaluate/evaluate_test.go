package evaluate

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// samples builds husky samples of probabilities pos and other samples of
// neg, in that order.
func samples(pos, neg []float64) []Sample {
	var s []Sample
	for _, p := range pos {
		s = append(s, Sample{Probability: p, Husky: true})
	}
	for _, p := range neg {
		s = append(s, Sample{Probability: p})
	}
	return s
}

func TestWilson(t *testing.T) {
	// Values of the Wilson score interval with z = 1.96 (e.g. R's
	// prop.test(k, n, correct = FALSE)$conf.int).
	tests := []struct {
		k, n   int
		lo, hi float64
	}{
		{8, 10, 0.490162, 0.943318},
		{0, 10, 0, 0.277533},
		{10, 10, 0.722467, 1},
		{6, 8, 0.409275, 0.928521},
		{3, 4, 0.300642, 0.954413},
	}
	for _, tt := range tests {
		lo, hi := Wilson(tt.k, tt.n)
		if !near(lo, tt.lo, 1e-6) || !near(hi, tt.hi, 1e-6) {
			t.Errorf("Wilson(%d, %d) = [%.6f, %.6f], want [%.6f, %.6f]", tt.k, tt.n, lo, hi, tt.lo, tt.hi)
		}
	}
	if lo, hi := Wilson(0, 0); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("Wilson(0, 0) = [%v, %v], want NaN", lo, hi)
	}
}

// TestComputeHandExample checks every main metric on 4 huskies and 4
// others worked out by hand.
func TestComputeHandExample(t *testing.T) {
	// Huskies 0.35 0.6 0.7 0.9, others 0.1 0.3 0.5 0.8. Pairs (husky,
	// other) ordered right: 0.35 beats 0.1, 0.3 (2); 0.6 and 0.7 beat
	// 0.1, 0.3, 0.5 (3+3); 0.9 beats all (4): 12 of 16, AUC 0.75.
	// At 0.5 (husky when p > 0.5): TP 3 (0.6 0.7 0.9), FN 1 (0.35),
	// FP 1 (0.8), TN 3 (0.1 0.3 and 0.5, which is not above 0.5).
	// Accuracy 6/8, precision 3/4, recall 3/4, specificity 3/4,
	// balanced accuracy 0.75, F1 2·3/(2·3+1+1) = 0.75.
	s := samples([]float64{0.35, 0.6, 0.7, 0.9}, []float64{0.1, 0.3, 0.5, 0.8})
	r := Compute(s, 0.5, Options{})
	if r.N != 8 || r.NHusky != 4 || r.NOther != 4 {
		t.Errorf("N %d NHusky %d NOther %d", r.N, r.NHusky, r.NOther)
	}
	if want := (Confusion{TP: 3, FN: 1, FP: 1, TN: 3}); r.Confusion != want {
		t.Errorf("Confusion = %+v, want %+v", r.Confusion, want)
	}
	props := []struct {
		name string
		got  Proportion
		k, n int
	}{
		{"accuracy", r.Accuracy, 6, 8},
		{"precision", r.Precision, 3, 4},
		{"recall", r.Recall, 3, 4},
		{"specificity", r.Specificity, 3, 4},
	}
	for _, p := range props {
		lo, hi := Wilson(p.k, p.n)
		if p.got.K != p.k || p.got.N != p.n || float64(p.got.Value) != float64(p.k)/float64(p.n) ||
			float64(p.got.Lo) != lo || float64(p.got.Hi) != hi {
			t.Errorf("%s = %+v, want %d/%d with Wilson [%v, %v]", p.name, p.got, p.k, p.n, lo, hi)
		}
	}
	for name, got := range map[string]Float{"balanced accuracy": r.BalancedAccuracy.Value, "F1": r.F1, "ROC AUC": r.ROCAUC.Value} {
		if !near(float64(got), 0.75, 1e-12) {
			t.Errorf("%s = %v, want 0.75", name, got)
		}
	}
	for name, iv := range map[string]Interval{"balanced accuracy": r.BalancedAccuracy, "ROC AUC": r.ROCAUC} {
		if !(iv.Lo <= iv.Value && iv.Value <= iv.Hi) || iv.Lo < 0 || iv.Hi > 1 {
			t.Errorf("%s interval %+v does not hold its value within [0, 1]", name, iv)
		}
	}
	if r.Bootstrap != DefaultBootstrap || len(r.Calibration.Bins) != DefaultBins {
		t.Errorf("defaults: bootstrap %d, %d bins", r.Bootstrap, len(r.Calibration.Bins))
	}
	// The errors, the most confident first: the other at 0.8 (0.3 from
	// the threshold) and the husky at 0.35 (0.15).
	if len(r.TopErrors) != 2 || r.TopErrors[0].Probability != 0.8 || r.TopErrors[1].Probability != 0.35 || !r.TopErrors[1].Husky {
		t.Errorf("TopErrors = %+v", r.TopErrors)
	}
}

func TestROCAUCTies(t *testing.T) {
	tests := []struct {
		name     string
		pos, neg []float64
		want     float64
	}{
		// 0.5 ties two others (½ each) and beats 0.1; 0.9 beats all
		// three: (1 + 1 + 3)/6.
		{"ties count half", []float64{0.5, 0.9}, []float64{0.5, 0.5, 0.1}, 5.0 / 6},
		{"all tied", []float64{0.3, 0.3}, []float64{0.3, 0.3, 0.3}, 0.5},
		{"separated", []float64{0.6, 0.7}, []float64{0.1, 0.2}, 1},
		{"reversed", []float64{0.1, 0.2}, []float64{0.6, 0.7}, 0},
		{"no others", []float64{0.1, 0.2}, nil, math.NaN()},
		{"no huskies", nil, []float64{0.1}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Compute(samples(tt.pos, tt.neg), 0.5, Options{})
			got := float64(r.ROCAUC.Value)
			if !near(got, tt.want, 1e-12) && !(math.IsNaN(got) && math.IsNaN(tt.want)) {
				t.Errorf("ROC AUC = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBootstrap(t *testing.T) {
	var pos, neg []float64
	for i := range 60 {
		pos = append(pos, math.Mod(float64(i)*0.37, 1))
		neg = append(neg, math.Mod(float64(i)*0.23, 0.8))
	}
	s := samples(pos, neg)
	a := Compute(s, 0.5, Options{Seed: 7})
	b := Compute(s, 0.5, Options{Seed: 7})
	if a.ROCAUC != b.ROCAUC || a.BalancedAccuracy != b.BalancedAccuracy {
		t.Errorf("same seed, different intervals: %+v %+v, then %+v %+v", a.ROCAUC, a.BalancedAccuracy, b.ROCAUC, b.BalancedAccuracy)
	}
	c := Compute(s, 0.5, Options{Seed: 8})
	if a.ROCAUC == c.ROCAUC {
		t.Errorf("seeds 7 and 8 gave the same interval %+v", a.ROCAUC)
	}
	if !(a.ROCAUC.Lo < a.ROCAUC.Value && a.ROCAUC.Value < a.ROCAUC.Hi) {
		t.Errorf("ROC AUC interval %+v does not surround its value", a.ROCAUC)
	}
	// Resampling huskies and others separately keeps both classes in
	// every resample: perfectly separated classes stay perfect.
	sep := Compute(samples([]float64{0.9, 0.8, 0.7}, []float64{0.1, 0.2}), 0.5, Options{})
	for _, iv := range []Interval{sep.ROCAUC, sep.BalancedAccuracy} {
		if iv.Value != 1 || iv.Lo != 1 || iv.Hi != 1 {
			t.Errorf("separated classes: interval %+v, want [1, 1]", iv)
		}
	}
	none := Compute(s, 0.5, Options{Bootstrap: -1})
	if none.Bootstrap != 0 || none.ROCAUC.Lo.Defined() || none.ROCAUC.Value != a.ROCAUC.Value {
		t.Errorf("Bootstrap -1: %d resamples, ROC AUC %+v", none.Bootstrap, none.ROCAUC)
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{4, 1, 3, 2}
	for _, tt := range []struct{ q, want float64 }{{0, 1}, {0.5, 2.5}, {0.025, 1.075}, {0.975, 3.925}, {1, 4}} {
		if got := quantile(xs, tt.q); !near(got, tt.want, 1e-12) {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
}

func TestCalibration(t *testing.T) {
	// Two bins. [0, 0.5): 0.15 husky, 0.25 other: mean 0.2, observed
	// 0.5, gap 0.3. [0.5, 1]: 0.6 other, 0.9 and 1.0 huskies: mean
	// 2.5/3, observed 2/3, gap 1/6. ECE (2·0.3 + 3·1/6)/5 = 0.22.
	// Brier (0.85² + 0.25² + 0.6² + 0.1² + 0)/5 = 1.155/5 = 0.231.
	s := []Sample{{Probability: 0.15, Husky: true}, {Probability: 0.25}, {Probability: 0.6},
		{Probability: 0.9, Husky: true}, {Probability: 1, Husky: true}}
	c := Compute(s, 0.5, Options{Bins: 2}).Calibration
	if !near(float64(c.ECE), 0.22, 1e-12) || !near(float64(c.Brier), 0.231, 1e-12) {
		t.Errorf("ECE %v Brier %v, want 0.22 0.231", c.ECE, c.Brier)
	}
	if len(c.Bins) != 2 {
		t.Fatalf("%d bins, want 2", len(c.Bins))
	}
	b0, b1 := c.Bins[0], c.Bins[1]
	if b0.Lo != 0 || b0.Hi != 0.5 || b0.N != 2 || !near(float64(b0.MeanPredicted), 0.2, 1e-12) || b0.ObservedHusky != 0.5 {
		t.Errorf("bin 0 = %+v", b0)
	}
	if b1.Lo != 0.5 || b1.Hi != 1 || b1.N != 3 || !near(float64(b1.MeanPredicted), 2.5/3, 1e-12) || !near(float64(b1.ObservedHusky), 2.0/3, 1e-12) {
		t.Errorf("bin 1 = %+v", b1)
	}
	// Empty bins are listed, with undefined means.
	c = Compute(s, 0.5, Options{}).Calibration
	if len(c.Bins) != 10 || c.Bins[4].N != 0 || c.Bins[4].MeanPredicted.Defined() || c.Bins[4].ObservedHusky.Defined() {
		t.Errorf("10 bins: %+v", c.Bins)
	}
	// 0.15, 0.25 and 0.6 alone in their bins (gaps 0.85, 0.25, 0.6),
	// 0.9 and 1 together in [0.9, 1] (mean 0.95, observed 1): ECE
	// (0.85 + 0.25 + 0.6 + 2·0.05)/5 = 0.36.
	if !near(float64(c.ECE), 0.36, 1e-12) {
		t.Errorf("ECE with 10 bins = %v", c.ECE)
	}
}

func TestCategories(t *testing.T) {
	s := []Sample{
		{Probability: 0.9, Husky: true, Category: "husky/malamute"},
		{Probability: 0.2, Husky: true, Category: "husky/malamute"},
		{Probability: 0.7, Husky: true},
		{Probability: 0.6, Category: "other/wolf"},
		{Probability: 0.8, Category: "other/wolf"},
		{Probability: 0.4, Category: "other/wolf"},
		{Probability: 0.1},
	}
	r := Compute(s, 0.5, Options{})
	want := []struct {
		name      string
		husky     bool
		n, errors int
	}{{"husky", true, 1, 0}, {"husky/malamute", true, 2, 1}, {"other", false, 1, 0}, {"other/wolf", false, 3, 2}}
	if len(r.Categories) != len(want) {
		t.Fatalf("Categories = %+v", r.Categories)
	}
	for i, w := range want {
		c := r.Categories[i]
		lo, hi := Wilson(w.errors, w.n)
		if c.Name != w.name || c.Husky != w.husky || c.N != w.n || c.Errors != w.errors ||
			float64(c.ErrorRate.Value) != float64(w.errors)/float64(w.n) || float64(c.ErrorRate.Lo) != lo || float64(c.ErrorRate.Hi) != hi {
			t.Errorf("category %d = %+v, want %+v", i, c, w)
		}
	}
	if !near(float64(r.Categories[3].MeanProbability), 0.6, 1e-12) {
		t.Errorf("other/wolf mean probability %v, want 0.6", r.Categories[3].MeanProbability)
	}
}

func TestSweep(t *testing.T) {
	if ts := SweepThresholds(0.5); len(ts) != 19 || ts[0] != 0.05 || ts[9] != 0.5 || ts[18] != 0.95 {
		t.Errorf("SweepThresholds(0.5) = %v", ts)
	}
	if ts := SweepThresholds(0.42); len(ts) != 20 || ts[8] != 0.42 || !slices.IsSorted(ts) {
		t.Errorf("SweepThresholds(0.42) = %v", ts)
	}
	s := samples([]float64{0.35, 0.6, 0.7, 0.9}, []float64{0.1, 0.3, 0.5, 0.8})
	r := Compute(s, 0.5, Options{})
	for _, p := range r.Sweep {
		if p.Threshold == 0.5 {
			if p.TP != 3 || p.FP != 1 || p.TN != 3 || p.FN != 1 || p.Precision != 0.75 || p.BalancedAccuracy != 0.75 {
				t.Errorf("sweep at 0.5 = %+v", p)
			}
		}
		if p.Threshold == 0.95 && (p.TP != 0 || p.Precision.Defined() || p.Recall != 0 || p.Specificity != 1) {
			// Nothing above 0.95: precision is 0/0.
			t.Errorf("sweep at 0.95 = %+v", p)
		}
	}
}

// TestDegenerateJSON checks that a report of one class only encodes the
// undefined metrics as null, and decodes back.
func TestDegenerateJSON(t *testing.T) {
	for _, s := range [][]Sample{samples(nil, []float64{0.2, 0.7}), samples([]float64{0.3}, nil), nil} {
		r := Compute(s, 0.5, Options{})
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("%d samples: %v", len(s), err)
		}
		if !strings.Contains(string(b), `"roc_auc":{"value":null,"lo":null,"hi":null}`) {
			t.Errorf("%d samples: roc_auc not null: %s", len(s), b)
		}
		var back Report
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("decoding %s: %v", b, err)
		}
		if back.N != r.N || back.ROCAUC.Value.Defined() {
			t.Errorf("decoded %+v", back)
		}
	}
}

func TestFloatJSON(t *testing.T) {
	tests := []struct {
		f    Float
		want string
	}{
		{0.12345678, "0.123457"}, {1, "1"}, {0.5, "0.5"}, {-0.0000001, "0"},
		{Float(math.NaN()), "null"}, {Float(math.Inf(1)), "null"}, {2.0 / 3, "0.666667"},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.f)
		if err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", float64(tt.f), b, err, tt.want)
		}
	}
	var f Float
	if err := json.Unmarshal([]byte(`"x"`), &f); err == nil {
		t.Error(`Unmarshal("x") succeeded`)
	}
}
