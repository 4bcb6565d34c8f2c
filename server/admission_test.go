package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/classifier"
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
