package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/modelstore"
)

// hashingModel is a Classifier and its own Models: it decodes the image
// with imageprep, hashes it as the real classifier does (DHash, here of
// the decoded image rather than of the model's input) and answers a
// fixed verdict. It counts its classifications.
type hashingModel struct {
	imagesOnly
	calls atomic.Int64
}

func (m *hashingModel) Current() Classifier { return m }

func (m *hashingModel) Lookup(name, version string) (Classifier, string, string, bool) {
	return modelstore.Fixed(m).Lookup(name, version)
}
func (m *hashingModel) List() []huskyai.ModelVersions { return modelstore.Fixed(m).List() }
func (m *hashingModel) DefaultModel() string          { return modelstore.Fixed(m).DefaultModel() }
func (m *hashingModel) Status() huskyai.ModelStatus   { return huskyai.ModelStatus{} }

func (m *hashingModel) Info() classifier.ModelInfo { return placeholderInfo }

func (m *hashingModel) Classify(img []byte) (classifier.Result, error) {
	m.calls.Add(1)
	rgb, format, err := imageprep.Decode(img, 0)
	if err != nil {
		return classifier.Result{}, err
	}
	return classifier.Result{
		Verdict: huskyai.NewVerdict(0.8712, 2),
		Image:   imageprep.Info{Format: format, Width: rgb.Width, Height: rgb.Height},
		PHash:   rgb.DHash(),
	}, nil
}

// readSpy is a request body that records whether it was read.
type readSpy struct {
	io.Reader
	read atomic.Bool
}

func (r *readSpy) Read(p []byte) (int, error) {
	r.read.Store(true)
	return r.Reader.Read(p)
}

// TestRateLimit: a client over its rate gets 429 rate_limited with
// Retry-After, before its upload is read or classified; other clients
// and other routes are not affected, and the metric counts the refusals.
func TestRateLimit(t *testing.T) {
	img := encodeImage(t, "png", 8, 8)
	m := &hashingModel{}
	h := NewServer(nil, m, Config{RateLimit: 0.5, RateBurst: 2})
	type req struct {
		method, path, remote string
		status               int
		retryAfter           string
	}
	const a, b = "198.51.100.9:5000", "198.51.100.10:5000"
	for i, r := range []req{
		{"POST", "/api/v1/predict", a, 200, ""},
		{"POST", "/huskyai/", a, 200, ""},
		{"POST", "/api/v1/predict", a, 429, "2"}, // 0.5/s: a token in 2 s
		{"POST", "/huskyai/", a, 429, "2"},
		{"GET", "/api/v1/predict", a, 405, ""}, // no token for a wrong method
		{"GET", "/healthz", a, 200, ""},        // other routes are not limited
		{"GET", "/api/v1/model", a, 200, ""},
		{"POST", "/api/v1/predict", b, 200, ""},
		{"POST", "/api/v1/predict", "[2001:db8:1:2::1]:443", 200, ""},
		{"POST", "/api/v1/predict", "[2001:db8:1:2::2]:443", 200, ""},
		{"POST", "/api/v1/predict", "[2001:db8:1:2:8000::3]:443", 429, "2"}, // same /64
		{"POST", "/api/v1/predict", "[2001:db8:1:3::1]:443", 200, ""},       // next /64
	} {
		var body io.Reader
		var spy *readSpy
		ct := "image/png"
		if r.method == "POST" {
			if r.path == "/huskyai/" {
				var buf *bytes.Buffer
				buf, ct = multipartBody(t, "file", img)
				body = buf
			} else {
				body = bytes.NewReader(img)
			}
			spy = &readSpy{Reader: body}
			body = spy
		}
		hr := httptest.NewRequest(r.method, r.path, body)
		hr.RemoteAddr = r.remote
		hr.Header.Set("Content-Type", ct)
		calls := m.calls.Load()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, hr)
		if w.Code != r.status {
			t.Fatalf("request %d %s %s from %s: %d, want %d: %s", i, r.method, r.path, r.remote, w.Code, r.status, w.Body)
		}
		if got := w.Header().Get("Retry-After"); got != r.retryAfter {
			t.Errorf("request %d: Retry-After %q, want %q", i, got, r.retryAfter)
		}
		if r.status != 429 {
			continue
		}
		var e errorResponse
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Fatalf("request %d: body %q: %v", i, w.Body, err)
		}
		if e.Error.Code != codeRateLimited || !strings.Contains(e.Error.Message, "too many") || e.Warning != placeholderInfo.Warning {
			t.Errorf("request %d: error %+v, want code %s, a message and the model warning", i, e, codeRateLimited)
		}
		if spy.read.Load() || m.calls.Load() != calls {
			t.Errorf("request %d: a rate-limited upload was read (%v) or classified (%d)", i, spy.read.Load(), m.calls.Load()-calls)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		"huskyai_rate_limited_total 3",
		`huskyai_http_requests_total{code="429",route="/api/v1/predict"} 2`,
		`huskyai_http_requests_total{code="429",route="/huskyai/"} 1`,
	} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestRateLimitOff: the zero Config does not limit, and a limited server
// does not count non-prediction routes.
func TestRateLimitOff(t *testing.T) {
	img := encodeImage(t, "png", 8, 8)
	for _, cfg := range []Config{{}, {RateLimit: 0, RateBurst: 1}} {
		h := NewServer(nil, &hashingModel{}, cfg)
		for i := range 30 {
			req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(img))
			req.Header.Set("Content-Type", "image/png")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				t.Fatalf("%+v: request %d: %d %s", cfg, i, w.Code, w.Body)
			}
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "1"}, {time.Millisecond, "1"}, {time.Second, "1"}, {1001 * time.Millisecond, "2"},
		{10 * time.Second, "10"}, {9*time.Minute + 59500*time.Millisecond, "600"},
	} {
		if got := retryAfterSeconds(tt.d); got != tt.want {
			t.Errorf("retryAfterSeconds(%v) = %s, want %s", tt.d, got, tt.want)
		}
	}
}
