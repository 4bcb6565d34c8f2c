package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/internal/testtool"
)

// lockedBuffer collects a stream written by run's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// served is a "huskyai serve" started by startServe.
type served struct {
	url         string // scheme://host:port/
	fingerprint string // SHA-256 of the certificate, for HTTPS
	client      *http.Client
	stdout      *lockedBuffer
	stderr      *lockedBuffer
	stop        func() error // cancels run's context and returns its error
}

var listeningRE = regexp.MustCompile(`listening on (\S+)`)
var fingerprintRE = regexp.MustCompile(`fingerprint: ([0-9A-F:]+)`)

// startServe runs "huskyai serve --addr 127.0.0.1:0 args..." through run,
// waits until it listens and answers /healthz, and stops it at the end of
// the test, checking that run returned nil.
func startServe(t *testing.T, env map[string]string, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	done := make(chan error, 1)
	getenv := func(k string) string { return env[k] }
	go func() {
		done <- run(ctx, append([]string{"huskyai", "serve", "--addr", "127.0.0.1:0", "--shutdown-delay", "0s"}, args...),
			getenv, strings.NewReader(""), s.stdout, s.stderr)
	}()
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(60 * time.Second):
				stopErr = errors.New("run did not return within 60s of cancellation")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("serve: %v\nstderr:\n%s", err, s.stderr)
		}
	})

	// Wait for the "listening on" line (loading the model takes a moment).
	deadline := time.Now().Add(60 * time.Second)
	for s.url == "" {
		if m := listeningRE.FindStringSubmatch(s.stdout.String()); m != nil {
			s.url = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited before listening: %v\nstderr:\n%s", err, s.stderr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not listen within 60s\nstderr:\n%s", s.stderr)
		}
	}
	tr := &http.Transport{}
	if strings.HasPrefix(s.url, "https://") {
		m := fingerprintRE.FindStringSubmatch(s.stdout.String())
		if m == nil {
			t.Fatalf("no certificate fingerprint on stdout:\n%s", s.stdout)
		}
		s.fingerprint = m[1]
		tr.TLSClientConfig = pinnedTLS(s.fingerprint)
	}
	s.client = &http.Client{Transport: tr, Timeout: 60 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)

	// The listener is open, so /healthz answers at once.
	res, err := s.client.Get(s.url + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("/healthz: %s", res.Status)
	}
	return s
}

// pinnedTLS trusts exactly the certificate with the given SHA-256
// fingerprint, as one trusts a self-signed certificate.
func pinnedTLS(fp string) *tls.Config {
	want := strings.ToLower(strings.ReplaceAll(fp, ":", ""))
	return &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if hex.EncodeToString(sum[:]) != want {
				return errors.New("certificate fingerprint mismatch")
			}
			return nil
		},
	}
}

func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 3), uint8(y * 3), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func multipartFile(t *testing.T, data []byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", "dog.png")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return &buf, mw.FormDataContentType()
}

// metrics returns the text of /metrics.
func (s *served) metrics(t *testing.T) string {
	t.Helper()
	res, err := s.client.Get(s.url + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// call sends a request to the served huskyai and returns the status, the
// headers and the body.
func (s *served) call(t *testing.T, method, path string, hdr map[string]string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+strings.TrimPrefix(path, "/"), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, b
}

// do sends a request and returns the status, headers and JSON body.
func (s *served) do(t *testing.T, method, path, contentType string, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	var hdr map[string]string
	if contentType != "" {
		hdr = map[string]string{"Content-Type": contentType}
	}
	code, h, b := s.call(t, method, path, hdr, body)
	var m map[string]any
	if strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, path, b, err)
		}
	}
	return code, h, m
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// TestServeUntrainedModelWarns serves a model whose file declares itself
// untrained: the log, the model's description and every answer carry the
// warning.
func TestServeUntrainedModelWarns(t *testing.T) {
	placeholder := filepath.Join(testtool.RepoRoot(), "testdata", "parity", "husky_placeholder.h5")
	s := startServe(t, nil, "--model", placeholder)
	if !strings.Contains(s.stderr.String(), "PLACEHOLDER") {
		t.Errorf("no placeholder warning in the log:\n%s", s.stderr)
	}
	status, _, m := s.do(t, "GET", "/api/v1/model", "", nil)
	model, _ := m["model"].(map[string]any)
	if status != 200 || model["placeholder"] != true || m["warning"] != huskyai.PlaceholderWarning {
		t.Errorf("/api/v1/model: %d %v", status, m)
	}
	body, ct := multipartFile(t, testPNG(t, 96, 64))
	status, _, m = s.do(t, "POST", "/huskyai/", ct, body.Bytes())
	if status != 200 || m["score"] == nil || m["warning"] != huskyai.PlaceholderWarning {
		t.Errorf("POST /huskyai/: %d %v, want a verdict with the warning", status, m)
	}
}

// TestServe runs the real server with the embedded model over HTTPS with
// a self-signed certificate and goes through the routes.
func TestServe(t *testing.T) {
	s := startServe(t, nil, "--max-pixels", "10000", "--max-upload", "64KiB")
	if strings.Contains(s.stderr.String(), "PLACEHOLDER") {
		t.Errorf("a placeholder warning in the log of the trained default model:\n%s", s.stderr)
	}
	img := testPNG(t, 96, 64)

	status, _, m := s.do(t, "GET", "/readyz", "", nil)
	if status != 200 {
		t.Errorf("/readyz: %d %v", status, m)
	}
	status, _, m = s.do(t, "GET", "/api/v1/model", "", nil)
	model, _ := m["model"].(map[string]any)
	if status != 200 || model["name"] != defaultmodel.Name || model["placeholder"] != nil || m["warning"] != nil || model["sha256"] == "" {
		t.Errorf("/api/v1/model: %d %v", status, m)
	}

	// The original contract.
	body, ct := multipartFile(t, img)
	status, _, m = s.do(t, "POST", "/huskyai/", ct, body.Bytes())
	if status != 200 || m["score"] == nil || m["text"] == nil || m["warning"] != nil {
		t.Errorf("POST /huskyai/: %d %v", status, m)
	}
	orig := m

	// The same image as a raw body gives the same verdict.
	status, _, m = s.do(t, "POST", "/api/v1/predict", "image/png", img)
	mm, _ := m["model"].(map[string]any)
	if status != 200 || m["probability"] != orig["probability"] || m["score"] != orig["score"] ||
		mm["placeholder"] != nil || m["warning"] != nil || m["elapsed_ms"] == nil {
		t.Errorf("POST /api/v1/predict: %d %v, want the verdict of %v", status, m, orig)
	}

	for _, tt := range []struct {
		name, method, path, ct string
		body                   []byte
		status                 int
		code                   string
	}{
		{"page", "GET", "/", "", nil, 200, ""},
		{"metrics", "GET", "/metrics", "", nil, 200, ""},
		{"wrong method", "GET", "/api/v1/predict", "", nil, 405, "method_not_allowed"},
		{"not an image", "POST", "/api/v1/predict", "image/png", []byte("GIF? no, text"), 415, "unsupported_media_type"},
		{"wrong content type", "POST", "/api/v1/predict", "application/json", []byte("{}"), 415, "unsupported_media_type"},
		{"too many pixels", "POST", "/api/v1/predict", "image/png", testPNG(t, 200, 100), 422, "image_too_large"},
		{"undecodable", "POST", "/api/v1/predict", "image/png", img[:60], 422, "undecodable_image"},
		{"too large", "POST", "/api/v1/predict", "image/png", make([]byte, 65<<10), 413, "request_too_large"},
		{"missing field", "POST", "/huskyai/", "multipart/form-data; boundary=B", []byte("--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--B--\r\n"), 400, "missing_file"},
	} {
		status, h, m := s.do(t, tt.method, tt.path, tt.ct, tt.body)
		if status != tt.status || errCode(m) != tt.code {
			t.Errorf("%s: %d %v, want %d %s", tt.name, status, m, tt.status, tt.code)
		}
		if tt.status == 405 && h.Get("Allow") != "POST" {
			t.Errorf("%s: Allow %q", tt.name, h.Get("Allow"))
		}
	}

	_, _, _ = s.do(t, "GET", "/healthz", "", nil)
	res, err := s.client.Get(s.url + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`huskyai_model_info{format=`, `huskyai_http_requests_total{code="200",route="/huskyai/"} 1`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}

	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// Logs hold digests of the images, never their bytes.
	logs := s.stderr.String()
	if !strings.Contains(logs, "image_sha256=") || strings.Contains(logs, "IHDR") {
		t.Errorf("logs:\n%s", logs)
	}
}

// TestServeInsecureHTTPFromEnv configures serve through the environment
// only.
func TestServeInsecureHTTPFromEnv(t *testing.T) {
	s := startServe(t, map[string]string{"HUSKYAI_INSECURE_HTTP": "true", "HUSKYAI_MAX_UPLOAD": "100"})
	if !strings.HasPrefix(s.url, "http://") || !strings.Contains(s.stderr.String(), "INSECURE") {
		t.Errorf("url %s; stderr:\n%s", s.url, s.stderr)
	}
	if status, _, m := s.do(t, "POST", "/api/v1/predict", "image/png", testPNG(t, 64, 64)); status != 413 {
		t.Errorf("HUSKYAI_MAX_UPLOAD=100 ignored: %d %v", status, m)
	}
}

// TestServeCertFiles writes a certificate with "huskyai cert" and serves
// with it; the client verifies it against that certificate as a root.
func TestServeCertFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	stdout, stderr, err := runCmd(t, "cert", "--out-cert", certFile, "--out-key", keyFile)
	if err != nil {
		t.Fatalf("cert: %v\n%s", err, stderr)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi.Mode(), err)
	}
	if _, _, err := runCmd(t, "cert", "--out-cert", certFile, "--out-key", keyFile+"2"); err == nil {
		t.Error("cert overwrote an existing file")
	}
	s := startServe(t, nil, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.Contains(stdout, s.fingerprint) {
		t.Errorf("cert printed %q; serve uses fingerprint %s", stdout, s.fingerprint)
	}
	pemBytes, _ := os.ReadFile(certFile)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no certificate in", certFile)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	for _, host := range []string{"127.0.0.1", "localhost"} {
		url := strings.Replace(s.url, "127.0.0.1", host, 1) + "readyz"
		if host == "localhost" {
			// Dial 127.0.0.1 but verify the name localhost.
			client.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(addr)
				return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
			}
		}
		res, err := client.Get(url)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("%s: %s", url, res.Status)
		}
	}
}

// TestServeGracefulShutdown cancels run's context while an upload is in
// flight: the server stops accepting connections, the request still gets
// its answer, and run returns nil.
func TestServeGracefulShutdown(t *testing.T) {
	s := startServe(t, nil, "--insecure-http")
	body, ct := multipartFile(t, testPNG(t, 40, 40))
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", s.url+"api/v1/predict", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	type result struct {
		status int
		body   string
		err    error
	}
	resc := make(chan result, 1)
	go func() {
		res, err := s.client.Do(req)
		if err != nil {
			resc <- result{err: err}
			return
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		resc <- result{res.StatusCode, string(b), err}
	}()
	half := body.Len() / 2
	if _, err := pw.Write(body.Bytes()[:half]); err != nil {
		t.Fatal(err)
	}

	// Wait until the server is handling the request, as its metrics say.
	inflight := `huskyai_http_requests_in_flight{route="/api/v1/predict"} 1`
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err := s.client.Get(s.url + "metrics")
		if err != nil {
			t.Fatal(err)
		}
		m, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if bytes.Contains(m, []byte(inflight)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upload never showed in the metrics:\n%s", m)
		}
		time.Sleep(5 * time.Millisecond)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	// Wait until the listener is closed: shutdown has begun.
	addr := strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/")
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener stayed open after cancellation")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("run returned (%v) while a request was in flight", err)
	default:
	}

	if _, err := pw.Write(body.Bytes()[half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-resc
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, `"score"`) {
		t.Errorf("in-flight request: %d %q %v", r.status, r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestServeFlags(t *testing.T) {
	stdout, stderr, err := runCmd(t, "serve", "--help")
	if err != nil {
		t.Fatalf("--help: %v", err)
	}
	for name, env := range serveEnv {
		if !strings.Contains(stdout+stderr, "-"+name) || !strings.Contains(stdout+stderr, env) {
			t.Errorf("--help does not explain --%s (%s)", name, env)
		}
	}
	for _, args := range [][]string{
		{"--tls-cert", "x.pem"},
		{"--insecure-http", "--tls-cert", "a", "--tls-key", "b"},
		{"--max-upload", "ten"},
		{"--max-inflight", "0"},
		{"--queue-timeout", "0s"},
		{"--score-precision", "11"},
		{"--log-format", "xml"},
		{"--resize", "nearest", "--insecure-http"},
		{"extra-arg"},
		{"--addr", "127.0.0.1:-1", "--insecure-http"},
	} {
		if _, _, err := runCmd(t, append([]string{"serve"}, args...)...); err == nil {
			t.Errorf("serve %v: no error", args)
		}
	}
	var b byteSize
	for in, want := range map[string]int64{"10MiB": 10 << 20, "512KiB": 512 << 10, "1000": 1000, "2MB": 2e6, "3 GiB": 3 << 30} {
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("byteSize %q = %d, %v; want %d", in, b, err, want)
		}
	}
	b = 10 << 20
	if b.String() != "10MiB" {
		t.Errorf("byteSize(10 MiB).String() = %q", b.String())
	}
}
