package server

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/modelstore"
)

// TestVerdictFields runs the embedded model through the server with
// several --score-precision and --label-only settings: the score has the
// asked decimals, and a label-only answer has label and text but neither
// probability nor score, on both prediction routes.
func TestVerdictFields(t *testing.T) {
	img := encodeImage(t, "png", 40, 30)
	for _, tt := range []struct {
		name      string
		precision int
		labelOnly bool
		score     string // pattern of "score"; "" when absent
	}{
		{"default precision", 2, false, `^\d{1,3}\.\d{2}$`},
		{"no decimals", 0, false, `^\d{1,3}$`},
		{"six decimals", 6, false, `^\d{1,3}\.\d{6}$`},
		{"label only", 2, true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opt := classifier.DefaultOptions()
			opt.ScorePrecision = tt.precision
			c, err := classifier.LoadDefault(opt)
			if err != nil {
				t.Fatal(err)
			}
			h := NewServer(nil, modelstore.Fixed(c), Config{LabelOnly: tt.labelOnly})
			for _, path := range []string{"/api/v1/predict", "/huskyai/"} {
				body, ct := multipartBody(t, "file", img)
				req := httptest.NewRequest("POST", path, body)
				req.Header.Set("Content-Type", ct)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					t.Fatalf("%s: %d %s", path, w.Code, w.Body)
				}
				var m map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
					t.Fatal(err)
				}
				label, _ := m["label"].(string)
				text, _ := m["text"].(string)
				if label == "" || text == "" || m["model"] == nil {
					t.Errorf("%s: %s lacks label, text or model", path, w.Body)
				}
				score, hasScore := m["score"].(string)
				_, hasProb := m["probability"].(float64)
				if tt.score == "" {
					if _, ok := m["score"]; ok || bytes.Contains(w.Body.Bytes(), []byte(`"probability"`)) {
						t.Errorf("%s: label-only answer %s has a score or probability", path, w.Body)
					}
					continue
				}
				if !hasScore || !hasProb || !regexp.MustCompile(tt.score).MatchString(score) {
					t.Errorf("%s: score %q (probability present: %v), want %s", path, score, hasProb, tt.score)
				}
			}
		})
	}
}
