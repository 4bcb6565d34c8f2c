package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/huskyai/huskyai/internal/testtool"
)

// TestServeMultiClass serves the shared ImageNet MobileNet (TFLite) as a
// husky detector: a husky photo's answer carries the top class with its
// label, /api/v1/model names the positive classes, and with --label-only
// the top class (a probability of the model's) is left out too.
func TestServeMultiClass(t *testing.T) {
	model := testtool.Shared(t, "models/mobilenet_v2_1.0_224_quant.tflite")
	labels := testtool.Shared(t, "models/imagenet_labels.txt")
	photos, _ := filepath.Glob(filepath.Join(testtool.Shared(t, "data/photos"), "husky", "siberian_husky", "*"))
	if len(photos) == 0 {
		t.Fatal("no husky photos")
	}
	img, err := os.ReadFile(photos[0])
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--insecure-http", "--model", model, "--positive-classes", "249,250,251", "--labels", labels}
	s := startServe(t, nil, args...)
	code, _, m := s.do(t, "POST", "/api/v1/predict", "image/jpeg", img)
	top, _ := m["top_class"].(map[string]any)
	if code != 200 || m["label"] != "husky" || top == nil || top["label"] != "Siberian husky" {
		t.Fatalf("%d %v", code, m)
	}
	code, _, m = s.do(t, "GET", "/api/v1/model", "", nil)
	if info, _ := m["model"].(map[string]any); code != 200 || info["positive_classes"] != "249,250,251" || info["format"] != "tflite" {
		t.Errorf("/api/v1/model: %d %v", code, m)
	}
	s2 := startServe(t, nil, append(args, "--label-only")...)
	code, _, m = s2.do(t, "POST", "/api/v1/predict", "image/jpeg", img)
	if _, ok := m["top_class"]; code != 200 || ok || m["label"] != "husky" {
		t.Errorf("--label-only: %d %v", code, m)
	}
}

// TestServeTLSPolicy: over HTTPS, answers carry HSTS; TLS 1.2 clients get
// forward-secret AEAD suites only (a client offering only CBC suites is
// refused), TLS 1.3 works.
func TestServeTLSPolicy(t *testing.T) {
	s := startServe(t, nil)
	res, err := s.client.Get(s.url + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if h := res.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(h, "max-age=") {
		t.Errorf("Strict-Transport-Security %q", h)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(s.url, "https://"), "/")
	for _, tc := range []struct {
		name   string
		max    uint16
		suites []uint16
		ok     bool
	}{
		{"TLS 1.3", tls.VersionTLS13, nil, true},
		{"TLS 1.2 GCM", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, true},
		{"TLS 1.2 CBC-SHA1", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}, false},
		{"TLS 1.2 RSA key exchange", tls.VersionTLS12, []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}, false},
	} {
		cfg := pinnedTLS(s.fingerprint)
		cfg.MaxVersion, cfg.CipherSuites = tc.max, tc.suites
		c, err := tls.Dial("tcp", host, cfg)
		if err == nil {
			c.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s: handshake error %v, want success %v", tc.name, err, tc.ok)
		}
	}
}

// TestServeDrain: on shutdown the server first drains for --shutdown-delay:
// /readyz answers 503 shutting_down, predictions still answer, and every
// answer says "Connection: close" (a keep-alive client learns it should
// reconnect instead of finding its connection closed); then run returns
// nil.
func TestServeDrain(t *testing.T) {
	s := startServe(t, nil, "--insecure-http", "--shutdown-delay", "1500ms")
	img := testPNG(t, 64, 64)
	// closes sends a request and returns the status and whether the answer
	// closes the connection (net/http takes "Connection: close" out of the
	// header into Response.Close).
	closes := func(method, path string, body []byte) (int, bool) {
		req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "image/png")
		}
		res, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, res.Close
	}
	if code, c := closes("POST", "api/v1/predict", img); code != 200 || c {
		t.Fatalf("before shutdown: %d, close %v", code, c)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	time.Sleep(300 * time.Millisecond)
	if code, c := closes("GET", "readyz", nil); code != 503 || !c {
		t.Errorf("/readyz while draining: %d, close %v; want 503, true", code, c)
	}
	if code, c := closes("POST", "api/v1/predict", img); code != 200 || !c {
		t.Errorf("prediction while draining: %d, close %v; want 200, true", code, c)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return")
	}
}

// TestServeShutdownCutsUnfinishedUploads: an upload still trickling in
// at the shutdown deadline is cut, and that is a clean stop (run returns
// nil), since no answer was lost.
func TestServeShutdownCutsUnfinishedUploads(t *testing.T) {
	s := startServe(t, nil, "--insecure-http", "--shutdown-timeout", "500ms")
	host := strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/")
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/v1/predict HTTP/1.1\r\nHost: %s\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n\x89PNG", host)
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := s.stop(); err != nil {
		t.Errorf("run: %v; want a clean stop", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stopping took %v", d)
	}
}

// certPair returns the paths of a certificate and its key in a
// temporary folder, and a function that writes a new pair there with
// "huskyai cert" (which does not overwrite, so the old pair is removed
// first).
func certPair(t *testing.T) (certFile, keyFile string, renew func()) {
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	renew = func() {
		t.Helper()
		os.Remove(certFile)
		os.Remove(keyFile)
		if _, stderr, err := runCmd(t, "cert", "--out-cert", certFile, "--out-key", keyFile); err != nil {
			t.Fatalf("cert: %v\n%s", err, stderr)
		}
	}
	return certFile, keyFile, renew
}

// TestServeReloadsCertificate: SIGHUP (and POST /admin/reload) reads
// --tls-cert and --tls-key again, so a renewed certificate serves new
// connections without a restart; a pair that does not load leaves the
// current one serving.
func TestServeReloadsCertificate(t *testing.T) {
	certFile, keyFile, newPair := certPair(t)
	newPair()
	s := startServe(t, nil, "--tls-cert", certFile, "--tls-key", keyFile, "--admin-addr", "127.0.0.1:0")
	host := strings.TrimSuffix(strings.TrimPrefix(s.url, "https://"), "/")
	served := func() string {
		c, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sum := sha256.Sum256(c.ConnectionState().PeerCertificates[0].Raw)
		return hex.EncodeToString(sum[:])
	}
	first := served()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP) // so that the signal cannot kill the test binary
	defer signal.Stop(hup)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20s\nstderr:\n%s", what, s.stderr)
			}
		}
	}

	newPair()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the renewed certificate", func() bool { return served() != first })
	second := served()

	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the failed reload in the log", func() bool { return strings.Contains(s.stderr.String(), "TLS certificate reload failed") })
	if got := served(); got != second {
		t.Errorf("after a failed reload the server presents %s, want the previous %s", got, second)
	}

	newPair()
	if status, m := s.adminReload(t); status != 200 {
		t.Fatalf("admin reload: %d %v", status, m)
	}
	if got := served(); got == second {
		t.Error("POST /admin/reload did not reload the certificate")
	}
}
