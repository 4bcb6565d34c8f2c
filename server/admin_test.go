package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/modelstore"
)

// swapStore is a Models and Reloader whose model the test swaps, like a
// *modelstore.Store.
type swapStore struct {
	mu     sync.Mutex
	cur    *fake
	next   *fake // what Reload swaps in
	err    error // what Reload returns instead, when set
	status modelstore.Status
}

func (s *swapStore) Current() Classifier {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

func (s *swapStore) Lookup(name, version string) (Classifier, string, string, bool) {
	return modelstore.Fixed(s.Current()).Lookup(name, version)
}
func (s *swapStore) List() []huskyai.ModelVersions { return modelstore.Fixed(s.Current()).List() }
func (s *swapStore) DefaultModel() string          { return modelstore.Fixed(s.Current()).DefaultModel() }

func (s *swapStore) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &modelstore.Attempt{At: time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC), OK: s.err == nil}
	if s.err != nil {
		a.Error = s.err.Error()
		s.status.ReloadFailures++
	} else {
		s.cur = s.next
		s.status.Reloads++
	}
	s.status.LastReload = a
	return s.err
}

func (s *swapStore) Status() modelstore.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Model = s.cur.info
	return st
}

var signedInfo = classifier.ModelInfo{Name: "signed", Format: "onnx", SHA256: strings.Repeat("ef", 32), Input: [3]int{128, 128, 3},
	Provenance: classifier.Provenance{Signed: true, SignerKeyID: "0123456789abcdef", Checks: 4, LoadedAt: time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)}}

func decodeBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return m
}

func postImage(t *testing.T, h http.Handler) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(encodeImage(t, "png", 8, 8)))
	req.Header.Set("Content-Type", "image/png")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, decodeBody(t, rec)
}

// TestAdminReload: POST /admin/reload answers the new model, or why the
// new one was refused with 409 (500 when it could not be read).
func TestAdminReload(t *testing.T) {
	refused := &modelstore.RefusedError{Source: "/m.h5", Kind: modelstore.KindSelfTest, Err: errors.New("self-test check \"a.png\" failed")}
	unread := &modelstore.RefusedError{Source: "/m.h5", Kind: modelstore.KindRead, Err: errors.New("open /m.h5: permission denied")}
	for _, tt := range []struct {
		name    string
		method  string
		path    string
		header  map[string]string
		host    string // default 127.0.0.1:9000
		err     error
		status  int
		code    string
		wantSHA string
	}{
		{name: "ok", method: "POST", path: "/admin/reload", status: 200, wantSHA: signedInfo.SHA256},
		{name: "localhost", method: "POST", path: "/admin/reload", host: "localhost:9000", status: 200, wantSHA: signedInfo.SHA256},
		{name: "IPv6 loopback", method: "GET", path: "/admin/status", host: "[::1]:9000", status: 200, wantSHA: trainedInfo.SHA256},
		{name: "DNS rebinding", method: "POST", path: "/admin/reload", host: "evil.example:9000", header: map[string]string{"Origin": "http://evil.example:9000"}, status: 403, code: "host_not_allowed"},
		{name: "rebinding status", method: "GET", path: "/admin/status", host: "evil.example", status: 403, code: "host_not_allowed"},
		{name: "a LAN address", method: "GET", path: "/admin/status", host: "192.168.1.5:9000", status: 403, code: "host_not_allowed"},
		{name: "refused", method: "POST", path: "/admin/reload", err: refused, status: 409, code: "model_refused"},
		{name: "unreadable", method: "POST", path: "/admin/reload", err: unread, status: 500, code: "reload_failed"},
		{name: "other error", method: "POST", path: "/admin/reload", err: context.Canceled, status: 500, code: "reload_failed"},
		{name: "GET", method: "GET", path: "/admin/reload", status: 405, code: "method_not_allowed"},
		{name: "cross-origin browser", method: "POST", path: "/admin/reload", header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, status: 403},
		{name: "status", method: "GET", path: "/admin/status", status: 200, wantSHA: trainedInfo.SHA256},
		{name: "not an admin route", method: "GET", path: "/api/v1/model", status: 404, code: "not_found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := &swapStore{cur: &fake{info: trainedInfo}, next: &fake{info: signedInfo}, err: tt.err}
			var logs bytes.Buffer
			h := NewAdminHandler(slog.New(slog.NewTextHandler(&logs, nil)), st)
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.Host = "127.0.0.1:9000"
			if tt.host != "" {
				req.Host = tt.host
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tt.status)
			}
			if tt.status == 403 {
				if st.status.Reloads+st.status.ReloadFailures != 0 {
					t.Error("a refused request reloaded")
				}
				if tt.code != "" && errCodeOf(decodeBody(t, rec)) != tt.code {
					t.Errorf("body %s, want code %q", rec.Body, tt.code)
				}
				if strings.Contains(rec.Body.String(), "/m.h5") {
					t.Error("a refused request sees the model's path")
				}
				return
			}
			m := decodeBody(t, rec)
			if errCodeOf(m) != tt.code {
				t.Errorf("code %q, want %q: %v", errCodeOf(m), tt.code, m)
			}
			if tt.err != nil && !strings.Contains(rec.Body.String(), "keeps serving") {
				t.Errorf("error does not say the old model keeps serving: %s", rec.Body)
			}
			if tt.err != nil && st.cur.info != trainedInfo {
				t.Error("a failed reload swapped the model")
			}
			if tt.wantSHA != "" {
				model, _ := m["model"].(map[string]any)
				if model["sha256"] != tt.wantSHA {
					t.Errorf("model %v, want sha256 %s", model, tt.wantSHA)
				}
			}
			if !strings.Contains(logs.String(), "listener=admin") {
				t.Errorf("admin requests not logged:\n%s", &logs)
			}
		})
	}
}

func errCodeOf(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// TestModelSwap: after a swap, predictions, /api/v1/model, /readyz and
// /metrics describe the new model, and only it.
func TestModelSwap(t *testing.T) {
	st := &swapStore{cur: &fake{info: trainedInfo}, next: &fake{info: signedInfo}}
	h := NewServer(nil, st, Config{})
	get := func(path string) map[string]any {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		if path == "/metrics" {
			return map[string]any{"text": rec.Body.String()}
		}
		return decodeBody(t, rec)
	}
	if m := get("/readyz"); m["status"] != "ready" || m["last_reload"] != nil {
		t.Errorf("/readyz before a reload: %v", m)
	}
	if _, m := postImage(t, h); m["model"].(map[string]any)["sha256"] != trainedInfo.SHA256 {
		t.Errorf("before: %v", m)
	}

	st.err = errors.New("model /m refused (bad_signature): signature does not verify")
	st.Reload(context.Background())
	m := get("/readyz")
	lr, _ := m["last_reload"].(map[string]any)
	if m["model"].(map[string]any)["sha256"] != trainedInfo.SHA256 || lr["ok"] != false || lr["error"] != nil {
		t.Errorf("/readyz after a refused reload: %v (the reason in words is the admin listener's)", m)
	}

	st.err = nil
	st.Reload(context.Background())
	_, m = postImage(t, h)
	ref := m["model"].(map[string]any)
	if ref["sha256"] != signedInfo.SHA256 || ref["signer_key_id"] != signedInfo.SignerKeyID ||
		ref["loaded_at"] != "2026-11-25T06:00:00Z" || len(ref["input_shape"].([]any)) != 3 {
		t.Errorf("prediction's model after the swap: %v", ref)
	}
	if info := get("/api/v1/model")["model"].(map[string]any); info["sha256"] != signedInfo.SHA256 || info["signed"] != true || info["checks"] != 4.0 {
		t.Errorf("/api/v1/model after the swap: %v", info)
	}
	m = get("/readyz")
	if mm := m["model"].(map[string]any); mm["sha256"] != signedInfo.SHA256 || mm["loaded_at"] != "2026-11-25T06:00:00Z" ||
		m["last_reload"].(map[string]any)["ok"] != true {
		t.Errorf("/readyz after the swap: %v", m)
	}
	metrics := get("/metrics")["text"].(string)
	for _, want := range []string{
		`huskyai_model_info{format="onnx",name="signed",placeholder="false",sha256="` + signedInfo.SHA256 + `",signed="true",signer_key_id="0123456789abcdef"} 1`,
		`huskyai_model_reloads_total{result="success"} 1`,
		`huskyai_model_reloads_total{result="failure"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Count(metrics, "huskyai_model_info{") != 1 {
		t.Errorf("more than the current model in huskyai_model_info:\n%s", metrics)
	}
}

// TestRequestKeepsItsModel: a request in flight when the model is swapped
// finishes on the model it started with.
func TestRequestKeepsItsModel(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	old := &fake{info: trainedInfo, classify: func([]byte) (classifier.Result, error) {
		close(started)
		<-release
		return classifier.Result{Verdict: huskyai.NewVerdict(0.25, 2)}, nil
	}}
	st := &swapStore{cur: old, next: &fake{info: signedInfo}}
	h := NewServer(nil, st, Config{})
	done := make(chan map[string]any)
	go func() {
		_, m := postImage(t, h)
		done <- m
	}()
	<-started
	st.Reload(context.Background())
	close(release)
	m := <-done
	if m["model"].(map[string]any)["sha256"] != trainedInfo.SHA256 || m["probability"] != 0.25 {
		t.Errorf("in-flight request after the swap: %v", m)
	}
	if _, m := postImage(t, h); m["model"].(map[string]any)["sha256"] != signedInfo.SHA256 {
		t.Errorf("next request: %v", m)
	}
}
