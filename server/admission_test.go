package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/audit"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/modelstore"
)

// TestPendingPerClient: one client's requests beyond MaxPendingPerClient
// get 429 too_many_pending before their upload is read, while another
// client's are still admitted.
func TestPendingPerClient(t *testing.T) {
	entered, release := make(chan struct{}, 8), make(chan struct{})
	f := &fake{info: trainedInfo, classify: func([]byte) (classifier.Result, error) {
		entered <- struct{}{}
		<-release
		return classifier.Result{Verdict: huskyai.NewVerdict(0.9, 2)}, nil
	}}
	h := NewServer(nil, f, Config{MaxInflight: 8, MaxPending: 8, MaxPendingPerClient: 2})
	img := encodeImage(t, "png", 8, 8)
	post := func(addr string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(img))
		req.Header.Set("Content-Type", "image/png")
		req.RemoteAddr = addr + ":1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	var wg sync.WaitGroup
	recs := make([]*httptest.ResponseRecorder, 2)
	for i := range 2 {
		wg.Go(func() { recs[i] = post("192.0.2.1") })
	}
	<-entered
	<-entered // client A holds its two places
	rec := post("192.0.2.1")
	var e errorResponse
	json.Unmarshal(rec.Body.Bytes(), &e)
	if rec.Code != http.StatusTooManyRequests || e.Error.Code != codeTooManyPending || rec.Header().Get("Retry-After") == "" {
		t.Errorf("client A's third request: %d %s", rec.Code, rec.Body)
	}
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- post("198.51.100.7") }()
	<-entered // client B is admitted
	close(release)
	if rec := <-done; rec.Code != 200 {
		t.Errorf("client B: %d %s", rec.Code, rec.Body)
	}
	wg.Wait()
	for i, rec := range recs {
		if rec.Code != 200 {
			t.Errorf("client A's request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if rec := post("192.0.2.1"); rec.Code != 200 {
		t.Errorf("client A after its uploads finished: %d %s", rec.Code, rec.Body)
	}
}

// TestMinUploadRate: an upload that trickles in below MinUploadRate after
// the grace period is cut with 408 upload_timeout in about the grace
// period, not the read timeout; a fast one is not.
func TestMinUploadRate(t *testing.T) {
	h := NewServer(nil, &fake{info: trainedInfo}, Config{MinUploadRate: 1000, UploadGrace: 300 * time.Millisecond})
	srv := httptest.NewServer(h)
	defer srv.Close()
	img := encodeImage(t, "png", 8, 8)

	pr, pw := io.Pipe()
	go func() {
		pw.Write(img[:8]) // the PNG signature, then a byte a second
		for i := 8; i < len(img); i++ {
			time.Sleep(time.Second)
			if _, err := pw.Write(img[i : i+1]); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/predict", pr)
	req.Header.Set("Content-Type", "image/png")
	req.ContentLength = int64(len(img))
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	pw.CloseWithError(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var e errorResponse
	json.NewDecoder(res.Body).Decode(&e)
	if d := time.Since(start); res.StatusCode != http.StatusRequestTimeout || e.Error.Code != codeUploadTimeout || d > 5*time.Second {
		t.Errorf("trickled upload: %d %q after %v; want 408 upload_timeout within a few seconds", res.StatusCode, e.Error.Code, d)
	}

	res, err = http.Post(srv.URL+"/api/v1/predict", "image/png", bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("a fast upload: %d", res.StatusCode)
	}
}

// costlyFake is a fake whose images take cost bytes to prepare, except
// the image fallback: cost bytes at first and full bytes once its decoder
// falls back, as a JPEG the reduced decoder gives up on.
type costlyFake struct {
	*fake
	cost, full int64
	fallback   []byte
}

func (c costlyFake) PrepareCost(img []byte) (imageprep.Cost, imageprep.Info, error) {
	cost := imageprep.Cost{Expected: c.cost, Max: c.cost}
	if c.fallsBack(img) {
		cost.Max = c.full
	}
	return cost, imageprep.Info{Format: "jpeg", Width: 20, Height: 16}, nil
}

func (c costlyFake) fallsBack(img []byte) bool {
	return c.fallback != nil && bytes.Equal(img, c.fallback)
}

func (c costlyFake) PrepareFallback(img []byte, full func() error) (classifier.Prepared, error) {
	if c.fallsBack(img) {
		if err := full(); err != nil {
			return classifier.Prepared{}, err
		}
	}
	return c.fake.Prepare(img)
}

func (c costlyFake) ClassifyFallback(img []byte, full func() error) (classifier.Result, error) {
	if c.fallsBack(img) {
		if err := full(); err != nil {
			return classifier.Result{}, err
		}
	}
	return c.fake.Classify(img)
}

func (c costlyFake) Current() Classifier { return c }

func (c costlyFake) Lookup(name, version string) (Classifier, string, string, bool) {
	_, served, resolved, ok := c.fake.Lookup(name, version)
	return c, served, resolved, ok
}

// TestDecodeMemoryAdmission: an image whose decode alone needs more than
// MaxDecodeMemory gets 422 image_too_costly; one that must wait for room
// longer than the queue timeout gets 503 (reason memory); the memory is
// given back after each request; the embedded model's estimate is used
// for real uploads.
func TestDecodeMemoryAdmission(t *testing.T) {
	img := encodeImage(t, "png", 20, 16)
	post := func(h http.Handler) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(img))
		req.Header.Set("Content-Type", "image/png")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	code := func(w *httptest.ResponseRecorder) string {
		var e errorResponse
		json.Unmarshal(w.Body.Bytes(), &e)
		return e.Error.Code
	}

	// Too costly alone.
	h := NewServer(nil, costlyFake{fake: &fake{info: trainedInfo}, cost: 2000}, Config{MaxDecodeMemory: 1000})
	if w := post(h); w.Code != http.StatusUnprocessableEntity || code(w) != codeTooCostly {
		t.Errorf("an image of 2000 bytes under a budget of 1000: %d %s", w.Code, w.Body)
	}

	// Waiting: the first request holds 600 of 1000 while it classifies.
	entered, unblock := make(chan struct{}), make(chan struct{})
	blocking := &fake{info: trainedInfo, classify: func([]byte) (classifier.Result, error) {
		entered <- struct{}{}
		<-unblock
		return classifier.Result{Verdict: huskyai.NewVerdict(0.9, 2)}, nil
	}}
	h = NewServer(nil, costlyFake{fake: blocking, cost: 600}, Config{MaxDecodeMemory: 1000, QueueTimeout: 50 * time.Millisecond, MaxInflight: 4})
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- post(h) }()
	<-entered
	if w := post(h); w.Code != http.StatusServiceUnavailable || code(w) != codeBusy || w.Header().Get("Retry-After") == "" {
		t.Errorf("a second image of 600 while 600 of 1000 are taken: %d %s", w.Code, w.Body)
	}
	close(unblock)
	if w := <-first; w.Code != http.StatusOK {
		t.Errorf("the first request: %d %s", w.Code, w.Body)
	}
	go func() { <-entered }()
	if w := post(h); w.Code != http.StatusOK {
		t.Errorf("after the first request gave its memory back: %d %s", w.Code, w.Body)
	}
	metrics := httptest.NewRecorder()
	h.ServeHTTP(metrics, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{`huskyai_inference_rejected_total{reason="memory"} 1`, "huskyai_decode_memory_reserved_bytes 0"} {
		if !strings.Contains(metrics.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// The embedded model: a 3000x3000 PNG header needs about 80 MB.
	c, err := classifier.LoadDefault(classifier.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	big := encodeImage(t, "png", 3000, 3000)
	cost, _, err := c.PrepareCost(big)
	if err != nil || cost.Expected != cost.Max {
		t.Fatalf("%+v %v; want a PNG's cost in one step", cost, err)
	}
	need := cost.Max
	for _, tc := range []struct {
		budget int64
		status int
	}{{need - 1, http.StatusUnprocessableEntity}, {need, http.StatusOK}} {
		h := NewServer(nil, modelstore.Fixed(c), Config{MaxDecodeMemory: tc.budget})
		req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(big))
		req.Header.Set("Content-Type", "image/png")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.status {
			t.Errorf("a 3000x3000 PNG needing %d bytes, budget %d: %d %s", need, tc.budget, w.Code, w.Body)
		}
	}
}

// TestAuditFailure: when the audit log cannot write (a disk that fills
// up), predictions are answered and the dropped records counted and
// logged once per interval; with AuditRequired they get 503
// audit_unavailable.
func TestAuditFailure(t *testing.T) {
	img := encodeImage(t, "png", 20, 16)
	for _, required := range []bool{false, true} {
		var logs syncBuffer
		w := audit.NewWriter(errWriter{})
		h := NewServer(slog.New(slog.NewTextHandler(&logs, nil)), &fake{info: trainedInfo}, Config{Audit: w, AuditRequired: required})
		var codes []int
		for range 3 {
			req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(img))
			req.Header.Set("Content-Type", "image/png")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			codes = append(codes, rec.Code)
			if required && (rec.Code != 503 || !strings.Contains(rec.Body.String(), codeAuditUnavailable)) {
				t.Errorf("required: %d %s", rec.Code, rec.Body)
			}
		}
		if !required && (codes[0] != 200 || codes[2] != 200) {
			t.Errorf("not required: statuses %v, want 200s", codes)
		}
		if n := strings.Count(logs.String(), "audit record failed"); n != 1 {
			t.Errorf("required %v: %d log lines for 3 failed records, want 1 (sampled)", required, n)
		}
		metrics := httptest.NewRecorder()
		h.ServeHTTP(metrics, httptest.NewRequest("GET", "/metrics", nil))
		if !strings.Contains(metrics.Body.String(), "huskyai_audit_records_dropped_total 3") {
			t.Errorf("required %v: /metrics lacks 3 dropped records", required)
		}
	}
}

// errWriter fails every write, as a full disk does.
type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

// TestRefusalsAudited: prediction requests refused before their upload
// is read are audited as counts per client and minute: written when a
// later minute's refusal comes, and by Drain.Finish.
func TestRefusalsAudited(t *testing.T) {
	rec := &recorder{}
	drain := NewDrain()
	h := NewServer(nil, &fake{info: trainedInfo}, Config{Audit: rec, RateLimit: 1, RateBurst: 1, Drain: drain})
	img := encodeImage(t, "png", 20, 16)
	post := func(remote string) int {
		req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(img))
		req.RemoteAddr = remote
		req.Header.Set("Content-Type", "image/png")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	for range 4 {
		post("198.51.100.7:1000")
	}
	post("203.0.113.9:2000")
	post("203.0.113.9:2000")
	drain.Finish()
	// (Summed over records: the test may straddle a minute.)
	refusals, predictions := rec.refusals, len(rec.evs)
	got := map[string]int{}
	for _, r := range refusals {
		got[r.Client] += r.Counts["429 rate_limited"]
		if _, err := time.Parse(time.RFC3339, r.Minute); err != nil {
			t.Errorf("minute %q", r.Minute)
		}
	}
	if len(got) != 2 || got["198.51.100.7/32"] != 3 || got["203.0.113.9/32"] != 1 {
		t.Errorf("refusal records %+v; want 3 for 198.51.100.7 and 1 for 203.0.113.9", refusals)
	}
	if predictions != 2 {
		t.Errorf("%d prediction records, want 2 (the requests admitted)", predictions)
	}

	// A refusal in a later minute writes the earlier minute's counts.
	var c refusalCounter
	t0 := time.Date(2026, 12, 5, 3, 0, 30, 0, time.UTC)
	if due := c.add(t0, "a", "429 rate_limited"); len(due) != 0 {
		t.Errorf("due at the first refusal: %v", due)
	}
	c.add(t0.Add(10*time.Second), "a", "429 rate_limited")
	due := c.add(t0.Add(40*time.Second), "b", "503 server_busy")
	if len(due) != 1 || due[0].Minute != "2026-12-05T03:00:00Z" || due[0].Counts["429 rate_limited"] != 2 {
		t.Errorf("due at the next minute: %+v", due)
	}
}

// TestDecodeMemoryTwoSteps: a baseline JPEG is admitted at the reduced
// decoder's cost, so a budget below its full decode's serves it (it was
// 422 when every JPEG was counted in full); one that the reduced decoder
// gives up on (Adobe RGB) asks for the rest before its full decode, and
// gets 422 where the budget cannot hold it, 200 where it can; a fallback
// that must wait past the queue timeout gets 503. The memory is all given
// back after each request.
func TestDecodeMemoryTwoSteps(t *testing.T) {
	if imageprep.LibJPEG {
		t.Skip("the libjpeg build decodes JPEGs without the reduced decoder")
	}
	c, err := classifier.LoadDefault(classifier.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	plain := encodeImage(t, "jpeg", 1600, 1200)
	adobe := append(append(bytes.Clone(plain[:2]), 0xFF, 0xEE, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0), plain[2:]...)
	cost, _, err := c.PrepareCost(plain)
	if err != nil || 2*cost.Expected > cost.Max {
		t.Fatalf("%+v %v; want the reduced decode at most half the full one", cost, err)
	}
	post := func(h http.Handler, img []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(img))
		req.Header.Set("Content-Type", "image/jpeg")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	between := (cost.Expected + cost.Max) / 2
	for _, tc := range []struct {
		name    string
		img     []byte
		budget  int64
		batched bool
		status  int
		code    string
	}{
		{"reduced, budget below the full decode", plain, between, false, 200, ""},
		{"reduced, batched", plain, between, true, 200, ""},
		{"fallback, budget below the full decode", adobe, between, false, 422, codeTooCostly},
		{"fallback, batched", adobe, between, true, 422, codeTooCostly},
		{"fallback, budget holds it", adobe, cost.Max, false, 200, ""},
	} {
		cfg := Config{MaxDecodeMemory: tc.budget}
		if tc.batched {
			cfg.BatchMax, cfg.BatchDelay = 4, time.Millisecond
		}
		h := NewServer(nil, modelstore.Fixed(c), cfg)
		w := post(h, tc.img)
		var e errorResponse
		json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != tc.status || e.Error.Code != tc.code {
			t.Errorf("%s: %d %s, want %d %q", tc.name, w.Code, w.Body, tc.status, tc.code)
		}
		metrics := httptest.NewRecorder()
		h.ServeHTTP(metrics, httptest.NewRequest("GET", "/metrics", nil))
		if !strings.Contains(metrics.Body.String(), "huskyai_decode_memory_reserved_bytes 0\n") {
			t.Errorf("%s: decode memory not all given back", tc.name)
		}
	}

	// A fallback waits for its rest like any reservation: 503 after the
	// queue timeout while another request holds the budget.
	entered, unblock := make(chan struct{}), make(chan struct{})
	blocking := &fake{info: trainedInfo, classify: func([]byte) (classifier.Result, error) {
		entered <- struct{}{}
		<-unblock
		return classifier.Result{Verdict: huskyai.NewVerdict(0.9, 2)}, nil
	}}
	cfg := Config{MaxDecodeMemory: 1000, QueueTimeout: 50 * time.Millisecond, MaxInflight: 4}
	h := NewServer(nil, costlyFake{fake: blocking, cost: 300, full: 900, fallback: adobe}, cfg)
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- post(h, plain) }()
	<-entered
	// The Adobe image fits at 300 beside the first request's 300, but its
	// fallback to 900 cannot while they are held.
	if w := post(h, adobe); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), codeBusy) {
		t.Errorf("a fallback that must wait for 600 more bytes: %d %s", w.Code, w.Body)
	}
	close(unblock)
	if w := <-done; w.Code != 200 {
		t.Errorf("the holder: %d %s", w.Code, w.Body)
	}
	metrics := httptest.NewRecorder()
	h.ServeHTTP(metrics, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{`huskyai_inference_rejected_total{reason="memory"} 1`, "huskyai_decode_memory_reserved_bytes 0\n"} {
		if !strings.Contains(metrics.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
