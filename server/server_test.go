package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/modelstore"
)

// fake is a Classifier whose behaviour the test chooses. By default it
// decodes the image with imageprep (so format and pixel errors are the
// real ones) and answers a fixed probability.
type fake struct {
	imagesOnly
	info      classifier.ModelInfo
	maxPixels int64
	classify  func(img []byte) (classifier.Result, error)
}

func (f *fake) Info() classifier.ModelInfo { return f.info }

// Current makes a fake its own Models: it is always the current model.
func (f *fake) Current() Classifier { return f }

func (f *fake) Lookup(name, version string) (Classifier, string, string, bool) {
	return modelstore.Fixed(f).Lookup(name, version)
}
func (f *fake) List() []huskyai.ModelVersions { return modelstore.Fixed(f).List() }
func (f *fake) DefaultModel() string          { return modelstore.Fixed(f).DefaultModel() }
func (f *fake) Status() huskyai.ModelStatus   { return huskyai.ModelStatus{} }

func (f *fake) Classify(img []byte) (classifier.Result, error) {
	if f.classify != nil {
		return f.classify(img)
	}
	rgb, format, err := imageprep.Decode(img, f.maxPixels)
	if err != nil {
		return classifier.Result{}, err
	}
	return classifier.Result{
		Verdict: huskyai.NewVerdict(0.8712, 2),
		Image:   imageprep.Info{Format: format, Width: rgb.Width, Height: rgb.Height},
		Timings: classifier.Timings{Decode: time.Millisecond, Preprocess: time.Millisecond, Inference: time.Millisecond},
	}, nil
}

var placeholderInfo = classifier.ModelInfo{
	Name: "test-placeholder", Format: "keras-h5", SHA256: strings.Repeat("ab", 32),
	Placeholder: true, Warning: "UNTRAINED PLACEHOLDER",
}

var trainedInfo = classifier.ModelInfo{Name: "trained", Format: "onnx", SHA256: strings.Repeat("cd", 32), Kernels: "float32 packed-avx512"}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func encodeImage(t testing.TB, format string, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), uint8(x + y), 255})
		}
	}
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, nil)
	case "gif":
		err = gif.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// multipartBody returns a multipart form with data in field, and its
// Content-Type.
func multipartBody(t testing.TB, field string, data []byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("comment", "ignored"); err != nil {
		t.Fatal(err)
	}
	fw, err := mw.CreateFormFile(field, "photo.bin")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

type errorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Warning string `json:"warning"`
}

type okResponse struct {
	Probability float64 `json:"probability"`
	Score       string  `json:"score"`
	Label       string  `json:"label"`
	Text        string  `json:"text"`
	Model       struct {
		Name        string `json:"name"`
		SHA256      string `json:"sha256"`
		Placeholder bool   `json:"placeholder"`
	} `json:"model"`
	Image     imageprep.Info `json:"image"`
	ElapsedMS *float64       `json:"elapsed_ms"`
	Warning   string         `json:"warning"`
}

func TestRoutes(t *testing.T) {
	pngImg := encodeImage(t, "png", 20, 16)
	jpegImg := encodeImage(t, "jpeg", 20, 16)
	gifImg := encodeImage(t, "gif", 20, 16)
	big := append(bytes.Clone(pngImg), make([]byte, 2000)...)

	type tc struct {
		name        string
		method      string
		path        string
		contentType string // "multipart" builds a form with field "file"
		field       string // multipart field, default "file"
		body        []byte
		rawBody     string // used as is, with contentType
		unknownLen  bool   // send without Content-Length
		info        *classifier.ModelInfo
		classify    func([]byte) (classifier.Result, error)

		status    int
		code      string // error code, for errors
		wantLabel string
		wantAllow string
		wantCT    string
	}
	tests := []tc{
		{name: "page", method: "GET", path: "/", status: 200, wantCT: "text/html; charset=utf-8"},
		{name: "page HEAD", method: "HEAD", path: "/", status: 200},
		{name: "script", method: "GET", path: "/static/app.js", status: 200, wantCT: "text/javascript; charset=utf-8"},
		{name: "style", method: "GET", path: "/static/style.css", status: 200, wantCT: "text/css; charset=utf-8"},
		{name: "no directory listing", method: "GET", path: "/static/", status: 404, code: codeNotFound},
		{name: "unknown path", method: "GET", path: "/nope", status: 404, code: codeNotFound},
		{name: "page POST", method: "POST", path: "/", status: 405, code: codeMethodNotAllowed, wantAllow: "GET, HEAD"},
		{name: "model", method: "GET", path: "/api/v1/model", status: 200, wantCT: "application/json; charset=utf-8"},
		{name: "healthz", method: "GET", path: "/healthz", status: 200},
		{name: "readyz", method: "GET", path: "/readyz", status: 200},
		{name: "healthz POST", method: "POST", path: "/healthz", status: 405, code: codeMethodNotAllowed, wantAllow: "GET, HEAD"},
		{name: "metrics", method: "GET", path: "/metrics", status: 200},

		{name: "original png", method: "POST", path: "/huskyai/", contentType: "multipart", body: pngImg, status: 200, wantLabel: "husky"},
		{name: "original no slash", method: "POST", path: "/huskyai", contentType: "multipart", body: gifImg, status: 200, wantLabel: "husky"},
		{name: "original raw body refused", method: "POST", path: "/huskyai/", contentType: "image/png", body: pngImg, status: 415, code: codeUnsupportedMedia},
		{name: "original GET", method: "GET", path: "/huskyai/", status: 405, code: codeMethodNotAllowed, wantAllow: "POST"},
		{name: "original missing field", method: "POST", path: "/huskyai/", contentType: "multipart", field: "image", body: pngImg, status: 400, code: codeMissingFile},

		{name: "multipart png", method: "POST", path: "/api/v1/predict", contentType: "multipart", body: pngImg, status: 200, wantLabel: "husky"},
		{name: "multipart jpeg", method: "POST", path: "/api/v1/predict", contentType: "multipart", body: jpegImg, status: 200, wantLabel: "husky"},
		{name: "raw png", method: "POST", path: "/api/v1/predict", contentType: "image/png", body: pngImg, status: 200, wantLabel: "husky"},
		{name: "raw jpeg", method: "POST", path: "/api/v1/predict", contentType: "image/jpeg", body: jpegImg, status: 200, wantLabel: "husky"},
		{name: "raw octet-stream gif", method: "POST", path: "/api/v1/predict", contentType: "application/octet-stream", body: gifImg, status: 200, wantLabel: "husky"},
		{name: "raw unknown length", method: "POST", path: "/api/v1/predict", contentType: "image/png", body: pngImg, unknownLen: true, status: 200, wantLabel: "husky"},
		{name: "trained model", method: "POST", path: "/api/v1/predict", contentType: "image/png", body: pngImg, info: &trainedInfo, status: 200, wantLabel: "husky"},
		{name: "not husky", method: "POST", path: "/api/v1/predict", contentType: "image/png", body: pngImg, status: 200, wantLabel: "not husky",
			classify: func([]byte) (classifier.Result, error) {
				return classifier.Result{Verdict: huskyai.NewVerdict(0.1, 2)}, nil
			}},

		{name: "predict GET", method: "GET", path: "/api/v1/predict", status: 405, code: codeMethodNotAllowed, wantAllow: "POST"},
		{name: "predict PUT", method: "PUT", path: "/api/v1/predict", contentType: "image/png", body: pngImg, status: 405, code: codeMethodNotAllowed, wantAllow: "POST"},
		{name: "missing field", method: "POST", path: "/api/v1/predict", contentType: "multipart", field: "upload", body: pngImg, status: 400, code: codeMissingFile},
		{name: "multipart without boundary", method: "POST", path: "/api/v1/predict", contentType: "multipart/form-data", rawBody: "xx", status: 400, code: codeBadRequest},
		{name: "truncated multipart", method: "POST", path: "/api/v1/predict", contentType: "multipart/form-data; boundary=XYZ",
			rawBody: "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n\x89PNG", status: 400, code: codeBadRequest},
		{name: "no content type", method: "POST", path: "/api/v1/predict", body: pngImg, status: 415, code: codeUnsupportedMedia},
		{name: "text content type", method: "POST", path: "/api/v1/predict", contentType: "text/plain", body: pngImg, status: 415, code: codeUnsupportedMedia},
		{name: "multipart text file", method: "POST", path: "/api/v1/predict", contentType: "multipart", body: []byte("hello, not an image"), status: 415, code: codeUnsupportedMedia},
		{name: "raw pdf as png", method: "POST", path: "/api/v1/predict", contentType: "image/png", body: []byte("%PDF-1.4 ..."), status: 415, code: codeUnsupportedMedia},
		{name: "empty file", method: "POST", path: "/api/v1/predict", contentType: "multipart", body: []byte{}, status: 415, code: codeUnsupportedMedia},
		{name: "too large multipart", method: "POST", path: "/api/v1/predict", contentType: "multipart", body: big, status: 413, code: codeTooLarge},
		{name: "too large raw", method: "POST", path: "/api/v1/predict", contentType: "image/png", body: big, status: 413, code: codeTooLarge},
		{name: "too large raw unknown length", method: "POST", path: "/api/v1/predict", contentType: "image/png", body: big, unknownLen: true, status: 413, code: codeTooLarge},
		{name: "too large multipart unknown length", method: "POST", path: "/huskyai/", contentType: "multipart", body: big, unknownLen: true, status: 413, code: codeTooLarge},
		{name: "truncated png", method: "POST", path: "/api/v1/predict", contentType: "image/png", body: pngImg[:len(pngImg)/2], status: 422, code: codeUndecodable},
		{name: "too many pixels", method: "POST", path: "/api/v1/predict", contentType: "image/png", body: encodeImage(t, "png", 40, 30), status: 422, code: codeImageTooLarge},
		{name: "model failure", method: "POST", path: "/api/v1/predict", contentType: "image/png", body: pngImg, status: 500, code: codeInternal,
			classify: func([]byte) (classifier.Result, error) {
				return classifier.Result{}, fmt.Errorf("%w: NaN", classifier.ErrModel)
			}},
		{name: "panic", method: "POST", path: "/api/v1/predict", contentType: "image/png", body: pngImg, status: 500, code: codeInternal,
			classify: func([]byte) (classifier.Result, error) { panic("boom") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := placeholderInfo
			if tt.info != nil {
				info = *tt.info
			}
			var logs syncBuffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			h := NewServer(logger, &fake{info: info, maxPixels: 1000, classify: tt.classify}, Config{MaxUpload: 1500})

			var body io.Reader = http.NoBody
			ct := tt.contentType
			switch {
			case tt.rawBody != "":
				body = strings.NewReader(tt.rawBody)
			case ct == "multipart":
				field := tt.field
				if field == "" {
					field = "file"
				}
				body, ct = multipartBody(t, field, tt.body)
			case tt.body != nil:
				body = bytes.NewReader(tt.body)
			}
			req := httptest.NewRequest(tt.method, tt.path, body)
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			if tt.unknownLen {
				req.ContentLength = -1
			}
			req.Header.Set("X-Request-Id", "test-"+strings.ReplaceAll(tt.name, " ", "-"))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()

			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", res.StatusCode, tt.status, rec.Body)
			}
			if got := res.Header.Get("X-Request-Id"); got != req.Header.Get("X-Request-Id") {
				t.Errorf("X-Request-Id %q, want the client's %q", got, req.Header.Get("X-Request-Id"))
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
			if tt.wantCT != "" && res.Header.Get("Content-Type") != tt.wantCT {
				t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), tt.wantCT)
			}
			if tt.wantAllow != "" && res.Header.Get("Allow") != tt.wantAllow {
				t.Errorf("Allow %q, want %q", res.Header.Get("Allow"), tt.wantAllow)
			}
			isPredict := strings.HasPrefix(tt.path, "/huskyai") || tt.path == "/api/v1/predict"
			if tt.code != "" {
				var e errorResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
					t.Fatalf("error body %q is not JSON: %v", rec.Body, err)
				}
				if e.Error.Code != tt.code || e.Error.Message == "" {
					t.Errorf("error %+v, want code %q and a message", e.Error, tt.code)
				}
				if res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
					t.Errorf("error Content-Type %q", res.Header.Get("Content-Type"))
				}
				if wantWarn := isPredict && tt.status != 405 && tt.name != "panic"; (e.Warning != "") != wantWarn {
					t.Errorf("error warning %q; want one: %v", e.Warning, wantWarn)
				}
			}
			if tt.wantLabel != "" {
				var ok okResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &ok); err != nil {
					t.Fatalf("body %q is not JSON: %v", rec.Body, err)
				}
				if ok.Label != tt.wantLabel || ok.Score == "" || ok.Text == "" || ok.ElapsedMS == nil {
					t.Errorf("response %s lacks the verdict", rec.Body)
				}
				if ok.Model.Name != info.Name || ok.Model.SHA256 != info.SHA256 || ok.Model.Placeholder != info.Placeholder {
					t.Errorf("model %+v, want %+v", ok.Model, info)
				}
				if ok.Warning != info.Warning {
					t.Errorf("warning %q, want %q", ok.Warning, info.Warning)
				}
			}
			if tt.name == "original png" {
				// The original contract, exactly.
				var orig map[string]any
				json.Unmarshal(rec.Body.Bytes(), &orig)
				if orig["score"] != "87.12" || orig["text"] != huskyai.TextHusky {
					t.Errorf("original contract: got %s", rec.Body)
				}
			}
			// One log line per request, with the id and the status; image
			// digests but never image bytes.
			log := logs.String()
			for _, want := range []string{"request_id=" + req.Header.Get("X-Request-Id"), fmt.Sprintf("status=%d", tt.status)} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
			if tt.status == 200 && isPredict && !strings.Contains(log, "image_sha256=") {
				t.Errorf("log lacks image_sha256:\n%s", log)
			}
			if tt.name == "panic" && !strings.Contains(log, "panic=boom") {
				t.Errorf("panic not logged:\n%s", log)
			}
			if strings.Contains(log, "IHDR") || strings.Contains(log, "\x89PNG") {
				t.Errorf("log contains image bytes:\n%s", log)
			}
		})
	}
}

func TestModelInfo(t *testing.T) {
	for _, info := range []classifier.ModelInfo{placeholderInfo, trainedInfo} {
		h := NewServer(nil, &fake{info: info}, Config{})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/model", nil))
		var got struct {
			Model     classifier.ModelInfo `json:"model"`
			Warning   string               `json:"warning"`
			MaxUpload int64                `json:"max_upload"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Model != info || got.Warning != info.Warning || got.MaxUpload != DefaultMaxUpload {
			t.Errorf("got %+v, want model %+v", got, info)
		}
	}
}

// TestNotReady: without a model the server is live but not ready.
func TestNotReady(t *testing.T) {
	h := NewServer(nil, nil, Config{})
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/healthz", 200},
		{"GET", "/readyz", 503},
		{"GET", "/api/v1/model", 503},
		{"POST", "/api/v1/predict", 503},
		{"GET", "/metrics", 200},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(tt.method, tt.path, bytes.NewReader(encodeImage(t, "png", 4, 4)))
		req.Header.Set("Content-Type", "image/png")
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, rec.Code, tt.status)
		}
		if rec.Code == 503 && rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", tt.method, tt.path)
		}
	}
}

func TestMetrics(t *testing.T) {
	h := NewServer(nil, &fake{info: placeholderInfo}, Config{})
	req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(encodeImage(t, "png", 8, 8)))
	req.Header.Set("Content-Type", "image/png")
	h.ServeHTTP(httptest.NewRecorder(), req)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/predict", nil))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	for _, want := range []string{
		`huskyai_http_requests_total{code="200",route="/api/v1/predict"} 1`,
		`huskyai_http_requests_total{code="405",route="/api/v1/predict"} 1`,
		`huskyai_http_request_duration_seconds_count{route="/api/v1/predict"} 2`,
		`huskyai_stage_duration_seconds_count{stage="decode"} 1`,
		`huskyai_stage_duration_seconds_count{stage="preprocess"} 1`,
		`huskyai_stage_duration_seconds_count{stage="inference"} 1`,
		`huskyai_stage_duration_seconds_count{stage="read_upload"} 1`,
		`huskyai_stage_duration_seconds_count{stage="queue_wait"} 1`,
		`huskyai_http_requests_in_flight{route="/metrics"} 1`,
		`huskyai_inference_in_flight 0`,
		`huskyai_model_info{format="keras-h5",name="test-placeholder",placeholder="true",sha256="` + placeholderInfo.SHA256 + `",signed="false",signer_key_id=""} 1`,
		`huskyai_model_reloads_total{result="failure"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Each server has its own registry.
	NewServer(nil, &fake{info: trainedInfo}, Config{})
}

// TestBusy: with one inference slot taken, further requests get 503 with
// Retry-After after the queue timeout instead of waiting, and the slot's
// holder still succeeds.
func TestBusy(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	f := &fake{info: placeholderInfo, classify: func([]byte) (classifier.Result, error) {
		entered <- struct{}{}
		<-release
		return classifier.Result{Verdict: huskyai.NewVerdict(0.9, 2)}, nil
	}}
	h := NewServer(nil, f, Config{MaxInflight: 1, MaxPendingPerClient: 8, QueueTimeout: 50 * time.Millisecond})
	img := encodeImage(t, "png", 8, 8)
	post := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(img))
		req.Header.Set("Content-Type", "image/png")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- post() }()
	<-entered // the slot is taken

	const excess = 4
	var wg sync.WaitGroup
	recs := make([]*httptest.ResponseRecorder, excess)
	start := time.Now()
	for i := range excess {
		wg.Go(func() { recs[i] = post() })
	}
	wg.Wait()
	for i, rec := range recs {
		var e errorResponse
		json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || e.Error.Code != codeBusy {
			t.Errorf("excess request %d: %d Retry-After %q %s", i, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("refused after %v, before the queue timeout", d)
	}
	close(release)
	if rec := <-first; rec.Code != 200 {
		t.Errorf("slot holder: %d %s", rec.Code, rec.Body)
	}
	// The slot is free again.
	go func() { <-entered }()
	if rec := post(); rec.Code != 200 {
		t.Errorf("after release: %d %s", rec.Code, rec.Body)
	}
}

// TestUploadsNeverTouchDisk sends a large multipart upload through a real
// HTTP server with TMPDIR pointing at an empty directory, and checks that
// nothing is written there while the request is handled. A control
// handler using ParseMultipartForm shows that the check would see a
// spilled file.
func TestUploadsNeverTouchDisk(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if os.TempDir() != tmp {
		t.Fatalf("os.TempDir() = %q, want %q", os.TempDir(), tmp)
	}
	tmpFiles := func() []string {
		entries, err := os.ReadDir(tmp)
		if err != nil {
			t.Error(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	const size = 8 << 20
	data := make([]byte, size)
	copy(data, "\x89PNG\r\n\x1a\n")
	for i := 8; i < size; i++ {
		data[i] = byte(i * 31)
	}
	body, ct := multipartBody(t, "file", data)

	var sawDuring []string
	var gotLen int
	f := &fake{info: placeholderInfo, classify: func(img []byte) (classifier.Result, error) {
		sawDuring = tmpFiles()
		gotLen = len(img)
		return classifier.Result{Verdict: huskyai.NewVerdict(0.9, 2)}, nil
	}}
	srv := httptest.NewServer(NewServer(nil, f, Config{}))
	defer srv.Close()
	res, err := http.Post(srv.URL+"/api/v1/predict", ct, bytes.NewReader(body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || gotLen != size {
		t.Fatalf("status %d, classified %d bytes, want 200 and %d", res.StatusCode, gotLen, size)
	}
	if len(sawDuring) > 0 || len(tmpFiles()) > 0 {
		t.Errorf("files in TMPDIR during the request %v, after %v", sawDuring, tmpFiles())
	}

	// Control: the standard form parser spills this upload to TMPDIR.
	var spilled []string
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			t.Error(err)
		}
		spilled = tmpFiles()
	}))
	defer control.Close()
	res, err = http.Post(control.URL, ct, bytes.NewReader(body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if len(spilled) == 0 {
		t.Error("control: ParseMultipartForm wrote nothing to TMPDIR; the check above proves nothing")
	}
}

func TestRequestIDGenerated(t *testing.T) {
	h := NewServer(nil, &fake{info: trainedInfo}, Config{})
	for _, given := range []string{"", "bad id with spaces", strings.Repeat("x", 200)} {
		req := httptest.NewRequest("GET", "/healthz", nil)
		if given != "" {
			req.Header.Set("X-Request-Id", given)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		id := rec.Header().Get("X-Request-Id")
		if len(id) != 24 || id == given {
			t.Errorf("given %q: X-Request-Id %q, want a new 24-hex id", given, id)
		}
	}
}

// TestPanicFreesSlot: a panicking classification is answered 500 and
// gives its inference slot back.
func TestPanicFreesSlot(t *testing.T) {
	var logs syncBuffer
	panicky := true
	f := &fake{info: trainedInfo, classify: func([]byte) (classifier.Result, error) {
		if panicky {
			panic("boom")
		}
		return classifier.Result{Verdict: huskyai.NewVerdict(0.9, 2)}, nil
	}}
	h := NewServer(slog.New(slog.NewTextHandler(&logs, nil)), f, Config{MaxInflight: 1, QueueTimeout: time.Millisecond})
	img := encodeImage(t, "png", 8, 8)
	for _, want := range []int{500, 500, 200} {
		if want == 200 {
			panicky = false
		}
		req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(img))
		req.Header.Set("Content-Type", "image/png")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Fatalf("status %d, want %d: %s", rec.Code, want, rec.Body)
		}
	}
	if !strings.Contains(logs.String(), "stack=") {
		t.Errorf("no stack in the panic log:\n%s", logs.String())
	}
}

// TestShedSampler: at most shedBurst lines a second, and the first line
// after a suppressed run says how many it stands for.
func TestShedSampler(t *testing.T) {
	var s shedSampler
	t0 := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	logged := 0
	for i := range 25 {
		if ok, n := s.allow(t0.Add(time.Duration(i) * time.Millisecond)); ok {
			logged++
			if n != 0 {
				t.Errorf("line %d: suppressed %d within the first second", i, n)
			}
		}
	}
	if logged != shedBurst {
		t.Errorf("%d lines in one second, want %d", logged, shedBurst)
	}
	if ok, n := s.allow(t0.Add(1500 * time.Millisecond)); !ok || n != 25-shedBurst {
		t.Errorf("next second: %v, suppressed %d; want true, %d", ok, n, 25-shedBurst)
	}
}
