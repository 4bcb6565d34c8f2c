package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/huskyai/huskyai/explain"
	"github.com/huskyai/huskyai/modelstore"
)

// explanationAnswer is an explanation as the tests read it.
type explanationAnswer struct {
	Method     string      `json:"method"`
	Rows       int         `json:"rows"`
	Cols       int         `json:"cols"`
	Grid       [][]float64 `json:"grid"`
	Summary    string      `json:"summary"`
	Inferences int         `json:"inferences"`
	OverlayPNG string      `json:"overlay_png"`
}

// explainAnswer is the part of an explanation response the tests read.
type explainAnswer struct {
	Probability *float64          `json:"probability"`
	Label       string            `json:"label"`
	Explanation explanationAnswer `json:"explanation"`
}

// TestExplain explains uploads to the embedded model through POST
// /api/v1/explain and KServe's :explain: the probability is predict's, bit
// for bit; the grid has the asked size; the overlay, when asked, is a PNG
// of the upload's aspect; the audit record counts the inferences.
func TestExplain(t *testing.T) {
	c, err := v2Model()
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	srv := httptest.NewServer(NewServer(nil, modelstore.Fixed(c), Config{MaxUpload: 1 << 20, Audit: rec}))
	defer srv.Close()
	img := v2Image(t, "png", 200, 100, 3)
	want := predictProbability(t, srv.URL, img)
	octet := map[string]string{"Content-Type": "application/octet-stream"}

	for _, tc := range []struct {
		query   string
		grid    int
		overlay bool
	}{{"", 8, false}, {"?grid=4&overlay=true", 4, true}, {"?grid=2&overlay=false", 2, false}} {
		res, body := do(t, "POST", srv.URL+"/api/v1/explain"+tc.query, octet, img)
		var out explainAnswer
		if err := json.Unmarshal(body, &out); res.StatusCode != 200 || err != nil || out.Probability == nil {
			t.Fatalf("explain%s: %s %s (%v)", tc.query, res.Status, body, err)
		}
		ex := out.Explanation
		if *out.Probability != want {
			t.Errorf("explain%s: probability %v, predict %v", tc.query, *out.Probability, want)
		}
		if ex.Method != explain.Occlusion || ex.Rows != tc.grid || ex.Cols != tc.grid || len(ex.Grid) != tc.grid ||
			len(ex.Grid[0]) != tc.grid || ex.Inferences != tc.grid*tc.grid+1 || ex.Summary == "" {
			t.Errorf("explain%s: %s %dx%d, %d rows, %d inferences, summary %q", tc.query, ex.Method, ex.Rows, ex.Cols,
				len(ex.Grid), ex.Inferences, ex.Summary)
		}
		if got := rec.last(); got.Inferences != ex.Inferences || got.Status != 200 || got.Probability == nil {
			t.Errorf("explain%s: audit record %+v, want %d inferences", tc.query, got, ex.Inferences)
		}
		if !tc.overlay {
			if ex.OverlayPNG != "" {
				t.Errorf("explain%s: an overlay that was not asked for", tc.query)
			}
			continue
		}
		b, err := base64.StdEncoding.DecodeString(ex.OverlayPNG)
		if err != nil {
			t.Fatalf("overlay: %v", err)
		}
		o, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("overlay: %v", err)
		}
		if s := o.Bounds().Size(); s.X != overlaySide || s.Y != overlaySide/2 {
			t.Errorf("overlay of a 200x100 upload is %v, want %dx%d", s, overlaySide, overlaySide/2)
		}
	}

	// KServe's V1 :explain: predictions and explanations.
	body := mustJSON(t, map[string]any{"instances": []any{map[string]string{"b64": base64.StdEncoding.EncodeToString(img)}}})
	res, b := do(t, "POST", srv.URL+"/v1/models/huskyai:explain?grid=3", map[string]string{"Content-Type": "application/json"}, body)
	var kv struct {
		Predictions  [][]float64         `json:"predictions"`
		Explanations []explanationAnswer `json:"explanations"`
	}
	if err := json.Unmarshal(b, &kv); res.StatusCode != 200 || err != nil {
		t.Fatalf(":explain: %s %s (%v)", res.Status, b, err)
	}
	if len(kv.Predictions) != 1 || kv.Predictions[0][0] != want || len(kv.Explanations) != 1 {
		t.Fatalf(":explain: %s", b)
	}
	if e := kv.Explanations[0]; e.Rows != 3 || e.Inferences != 10 {
		t.Errorf(":explain?grid=3: %s", b)
	}
}

// TestExplainRefused checks the answers to explanations that are not
// given: bad options, a server with explanations off or answering labels
// only, and an image that is not one.
func TestExplainRefused(t *testing.T) {
	c, err := v2Model()
	if err != nil {
		t.Fatal(err)
	}
	img := v2Image(t, "png", 64, 64, 5)
	octet := map[string]string{"Content-Type": "application/octet-stream"}
	for _, tc := range []struct {
		name   string
		cfg    Config
		query  string
		body   []byte
		status int
		code   string
	}{
		{"grid too fine", Config{}, "?grid=9", img, 400, codeBadRequest},
		{"grid not a number", Config{}, "?grid=x", img, 400, codeBadRequest},
		{"overlay not a boolean", Config{}, "?overlay=maybe", img, 400, codeBadRequest},
		{"explanations off", Config{NoExplain: true}, "", img, 403, codeExplainOff},
		{"labels only", Config{LabelOnly: true}, "", img, 403, codeExplainOff},
		{"not an image", Config{}, "", []byte("hello"), 415, codeUnsupportedMedia},
	} {
		srv := httptest.NewServer(NewServer(nil, modelstore.Fixed(c), tc.cfg))
		res, body := do(t, "POST", srv.URL+"/api/v1/explain"+tc.query, octet, tc.body)
		var e errorResponse
		if err := json.Unmarshal(body, &e); res.StatusCode != tc.status || err != nil || e.Error.Code != tc.code {
			t.Errorf("%s: %s %s, want %d %s", tc.name, res.Status, body, tc.status, tc.code)
		}
		if tc.status == 403 {
			res, body := do(t, "POST", srv.URL+"/v1/models/huskyai:explain", map[string]string{"Content-Type": "application/json"},
				[]byte(`{"instances":[]}`))
			if res.StatusCode != 403 {
				t.Errorf("%s: :explain answered %s %s", tc.name, res.Status, body)
			}
			_, body = do(t, "GET", srv.URL+"/api/v1/model", nil, nil)
			var m struct{ Explanations *bool }
			if json.Unmarshal(body, &m); m.Explanations == nil || *m.Explanations {
				t.Errorf("%s: /api/v1/model says explanations %v: %s", tc.name, m.Explanations, body)
			}
		}
		srv.Close()
	}
}

// TestExplainCountsAsInferences checks that an explanation costs its
// inferences to the rate limiter (a full bucket, then debt: at 1/s, so
// that a slow explanation under -race does not repay it) and to the
// probing detector (one explanation of 65 flags a client at a threshold
// of 20).
func TestExplainCountsAsInferences(t *testing.T) {
	c, err := v2Model()
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	h := NewServer(nil, modelstore.Fixed(c), Config{RateLimit: 1, RateBurst: 20, ProbeThreshold: 20, Audit: rec})
	post := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, bytes.NewReader(v2Image(t, "png", 64, 64, 7)))
		req.RemoteAddr = "198.51.100.9:5000"
		req.Header.Set("Content-Type", "image/png")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	if w := post("/api/v1/explain"); w.Code != http.StatusOK {
		t.Fatalf("first explanation: %d %s", w.Code, w.Body)
	}
	if got := rec.last(); !got.Probing || got.Inferences != 65 {
		t.Errorf("the explanation's audit record: probing %v, %d inferences; want true, 65", got.Probing, got.Inferences)
	}
	w := post("/api/v1/predict")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("a prediction right after an explanation of 65: %d %s, want 429 with Retry-After (a debt of 45 at 1/s)", w.Code, w.Body)
	}
}
