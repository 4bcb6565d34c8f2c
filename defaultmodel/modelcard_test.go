package defaultmodel_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/evaluate"
	"github.com/huskyai/huskyai/internal/testtool"
)

// cardEval is the part of docs/model-card-eval.json (the saved output of
// "huskyai eval --probes --format json" on the validation split) that the
// model card quotes.
type cardEval struct {
	Model struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
	} `json:"model"`
	evaluate.Report
}

// TestModelCard: the model card's figures are those of a saved
// "huskyai eval" run of the embedded model itself (same SHA-256), so the
// card can't quote a model that is no longer shipped or numbers no run
// produced.
func TestModelCard(t *testing.T) {
	root := testtool.RepoRoot()
	card, err := os.ReadFile(filepath.Join(root, "docs", "model-card.md"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "docs", "model-card-eval.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev cardEval
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("docs/model-card-eval.json: %v", err)
	}
	sum := sha256.Sum256(defaultmodel.Bytes())
	if got := hex.EncodeToString(sum[:]); ev.Model.SHA256 != got {
		t.Fatalf("docs/model-card-eval.json is of model %s, the embedded model is %s: run eval again and update the card", ev.Model.SHA256, got)
	}
	text := string(card)
	want := []string{
		defaultmodel.Name,
		ev.Model.SHA256,
		fmt.Sprintf("| validation photos | %d (%d husky, %d other) |", ev.N, ev.NHusky, ev.NOther),
		row("balanced accuracy", ev.BalancedAccuracy),
		row("ROC AUC", ev.ROCAUC),
		row("recall (huskies found)", ev.Recall.Interval),
		row("specificity (others rejected)", ev.Specificity.Interval),
		row("precision", ev.Precision.Interval),
		row("accuracy", ev.Accuracy.Interval),
		fmt.Sprintf("| ECE (10 bins) | %.3f |", float64(ev.Calibration.ECE)),
		fmt.Sprintf("TP %d, FN %d, FP %d, TN %d", ev.Confusion.TP, ev.Confusion.FN, ev.Confusion.FP, ev.Confusion.TN),
	}
	for _, p := range ev.Probes {
		want = append(want, fmt.Sprintf("| %s | %d | %d | %.3f |", p.Kind, p.N, p.AboveThreshold, float64(p.MaxProbability)))
	}
	for _, c := range ev.Categories {
		want = append(want, fmt.Sprintf("| %s | %d | %d | %.3f |", c.Name, c.N, c.Errors, float64(c.ErrorRate.Value)))
	}
	if len(ev.Probes) != 3 {
		t.Errorf("the saved eval has %d probe kinds; run it with --probes", len(ev.Probes))
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("docs/model-card.md does not say %q (from docs/model-card-eval.json)", w)
		}
	}
}

// row formats a metric as the model card's table does.
func row(name string, v evaluate.Interval) string {
	return fmt.Sprintf("| %s | %.3f | [%.3f, %.3f] |", name, float64(v.Value), float64(v.Lo), float64(v.Hi))
}
