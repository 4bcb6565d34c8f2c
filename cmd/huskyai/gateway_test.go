package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/huskyai/huskyai/internal/testtool"
)

// gatewayTemplate is the shipped gateway configuration; the test runs it,
// rewritten only where renderGatewayConf says.
var gatewayTemplate = filepath.Join("..", "..", "deploy", "nginx", "huskyai.conf")

// gatewayConf is what renderGatewayConf substitutes into the shipped
// configuration.
type gatewayConf struct {
	upstream            string // host:port of huskyai serve
	pin                 string // certificate the gateway trusts for the service
	cert, key           string // the gateway's own certificate and key
	httpsPort, httpPort int
	accessLog           string
	predictRate         string // "" keeps the shipped rate and burst
	predictBurst        int
}

// renderGatewayConf rewrites the literal values of the shipped
// configuration. Each one must be found exactly as often as expected, so
// that the test fails rather than silently testing something else when
// the configuration changes.
func renderGatewayConf(t *testing.T, tmpl string, c gatewayConf) string {
	t.Helper()
	repl := []struct {
		old, new string
		n        int
	}{
		{"server 127.0.0.1:8443;", "server " + c.upstream + ";", 1},
		{"proxy_ssl_trusted_certificate /etc/huskyai/tls/cert.pem;", "proxy_ssl_trusted_certificate " + c.pin + ";", 1},
		{"ssl_certificate     /etc/ssl/certs/huskyai-gateway.pem;", "ssl_certificate " + c.cert + ";", 1},
		{"ssl_certificate_key /etc/ssl/private/huskyai-gateway.key;", "ssl_certificate_key " + c.key + ";", 1},
		{"listen 443 ssl;", fmt.Sprintf("listen 127.0.0.1:%d ssl;", c.httpsPort), 1},
		{"listen [::]:443 ssl;", "", 1},
		{"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", c.httpPort), 1},
		{"listen [::]:80;", "", 1},
		{"access_log /var/log/nginx/huskyai.access.log huskyai;", "access_log " + c.accessLog + " huskyai;", 1},
	}
	if c.predictRate != "" {
		repl = append(repl,
			struct {
				old, new string
				n        int
			}{"zone=huskyai_predict:10m rate=5r/s;", "zone=huskyai_predict:10m rate=" + c.predictRate + ";", 1},
			struct {
				old, new string
				n        int
			}{"limit_req zone=huskyai_predict burst=20 nodelay;", fmt.Sprintf("limit_req zone=huskyai_predict burst=%d nodelay;", c.predictBurst), 2})
	}
	out := tmpl
	for _, r := range repl {
		if got := strings.Count(out, r.old); got != r.n {
			t.Fatalf("%s: %q occurs %d times, want %d; update the test with the configuration", gatewayTemplate, r.old, got, r.n)
		}
		out = strings.ReplaceAll(out, r.old, r.new)
	}
	return out
}

// gateway is an nginx started by startGateway.
type gateway struct {
	*served        // url and client of the HTTPS listener
	httpURL string // the plain HTTP listener
	dir     string
}

// errorLog returns nginx's error log.
func (g *gateway) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(g.dir, "error.log"))
	return string(b)
}

// findNginx returns the nginx binary ($HUSKYAI_NGINX, else Debian's
// package "nginx"), or calls testtool.Missing.
func findNginx(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HUSKYAI_NGINX"); p != "" {
		if _, err := os.Stat(p); err != nil {
			testtool.Missing(t, "nginx: HUSKYAI_NGINX: %v", err)
		}
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	testtool.Missing(t, "nginx (apt-get install nginx)")
	return ""
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startGateway runs nginx in the foreground, as a single process, with the
// shipped configuration rendered by renderGatewayConf and everything else
// (pid, logs, temporary files) in a temporary directory. It waits until the
// HTTPS listener answers and stops nginx at the end of the test. The
// listening ports are picked free just before; if another process took
// one in between, it tries again with others.
func startGateway(t *testing.T, bin string, c gatewayConf) *gateway {
	t.Helper()
	tmpl, err := os.ReadFile(gatewayTemplate)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(c.cert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", c.cert)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	poll := &http.Client{Transport: tr, Timeout: 5 * time.Second}

attempts:
	for attempt := 1; ; attempt++ {
		dir := t.TempDir()
		c.httpsPort, c.httpPort = freePort(t), freePort(t)
		c.accessLog = filepath.Join(dir, "access.log")
		conf := renderGatewayConf(t, string(tmpl), c)
		if err := os.WriteFile(filepath.Join(dir, "huskyai.conf"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		mainText := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 128; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/huskyai.conf;
}
`, dir)
		mainConf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(mainConf, []byte(mainText), 0o644); err != nil {
			t.Fatal(err)
		}
		out := &lockedBuffer{}
		cmd := exec.Command(bin, "-p", dir+"/", "-c", mainConf, "-e", filepath.Join(dir, "error.log"))
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting nginx: %v", err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}
		t.Cleanup(stop)

		g := &gateway{
			served:  &served{url: fmt.Sprintf("https://127.0.0.1:%d/", c.httpsPort), client: client},
			httpURL: fmt.Sprintf("http://127.0.0.1:%d/", c.httpPort),
			dir:     dir,
		}
		// Wait until the HTTPS listener answers anything at all (a pinned
		// gateway in front of the wrong certificate answers 502).
		deadline := time.Now().Add(30 * time.Second)
		for {
			res, err := poll.Get(g.url + "healthz")
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				return g
			}
			select {
			case err := <-done:
				log := g.errorLog()
				stopped = true
				if attempt < 3 && strings.Contains(log, "Address already in use") {
					t.Logf("nginx: a port was taken, trying others")
					continue attempts
				}
				t.Fatalf("nginx exited (%v)\n%s\nerror.log:\n%s", err, out, log)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("nginx did not answer within 30s: %v\nerror.log:\n%s", err, g.errorLog())
			}
		}
	}
}

// writeCert writes a certificate and key with "huskyai cert".
func writeCert(t *testing.T, dir, name string) (cert, key string) {
	t.Helper()
	cert, key = filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem")
	if _, stderr, err := runCmd(t, "cert", "--out-cert", cert, "--out-key", key); err != nil {
		t.Fatalf("cert: %v\n%s", err, stderr)
	}
	return cert, key
}

// gatewayDo sends a request with extra headers and returns the status,
// headers, JSON body (nil if not JSON) and raw body.
func gatewayDo(t *testing.T, s *served, method, path string, hdr map[string]string, body []byte) (int, http.Header, map[string]any, []byte) {
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
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	var m map[string]any
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, path, b, err)
		}
	}
	return res.StatusCode, res.Header, m, b
}

// gatewayHeaders are the security headers the gateway sets on every
// response; those the service sets too must have the service's value.
var gatewayHeaders = []string{
	"Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options",
	"X-Frame-Options", "Referrer-Policy", "Cache-Control",
}

// checkSecurityHeaders checks that h has each security header exactly
// once, with the service's value where the service sets it (direct).
func checkSecurityHeaders(t *testing.T, what string, h, direct http.Header) {
	t.Helper()
	for _, name := range gatewayHeaders {
		got := h.Values(name)
		if len(got) != 1 || got[0] == "" {
			t.Errorf("%s: %s = %q, want one value", what, name, got)
			continue
		}
		if want := direct.Get(name); want != "" && got[0] != want {
			t.Errorf("%s: %s = %q, the service sets %q", what, name, got[0], want)
		}
	}
}

// TestGateway runs the shipped nginx configuration (deploy/nginx) under a
// real nginx in front of a real "huskyai serve", and goes through it.
func TestGateway(t *testing.T) {
	bin := findNginx(t)
	dir := t.TempDir()
	svcCert, svcKey := writeCert(t, dir, "service")
	gwCert, gwKey := writeCert(t, dir, "gateway")
	otherCert, _ := writeCert(t, dir, "other")

	s := startServe(t, nil, "--tls-cert", svcCert, "--tls-key", svcKey)
	upstream := strings.TrimSuffix(strings.TrimPrefix(s.url, "https://"), "/")
	// The test's predict rate is low enough that a burst is refused
	// within a few dozen requests, whatever the machine's speed; the
	// burst is large enough for the other subtests' requests.
	const burst = 15
	gw := startGateway(t, bin, gatewayConf{upstream: upstream, pin: svcCert, cert: gwCert, key: gwKey,
		predictRate: "1r/m", predictBurst: burst})

	_, direct, _, _ := gatewayDo(t, s, "GET", "/", nil, nil)
	img := testPNG(t, 96, 64)

	t.Run("original contract", func(t *testing.T) {
		body, ct := multipartFile(t, img)
		status, h, m, _ := gatewayDo(t, gw.served, "POST", "/huskyai/", map[string]string{"Content-Type": ct}, body.Bytes())
		if status != 200 || m["score"] == nil || m["text"] == nil {
			t.Fatalf("POST /huskyai/ through the gateway: %d %v", status, m)
		}
		checkSecurityHeaders(t, "POST /huskyai/", h, direct)
		_, _, want, _ := gatewayDo(t, s, "POST", "/huskyai/", map[string]string{"Content-Type": ct}, body.Bytes())
		for _, k := range []string{"score", "probability", "text", "label"} {
			if m[k] != want[k] {
				t.Errorf("%s = %v through the gateway, %v from the service", k, m[k], want[k])
			}
		}
	})

	t.Run("api", func(t *testing.T) {
		status, h, m, _ := gatewayDo(t, gw.served, "POST", "/api/v1/predict", map[string]string{"Content-Type": "image/png"}, img)
		if status != 200 || m["probability"] == nil || m["model"] == nil {
			t.Errorf("POST /api/v1/predict: %d %v", status, m)
		}
		checkSecurityHeaders(t, "POST /api/v1/predict", h, direct)
		// An error of the service passes unchanged.
		status, h, m, _ = gatewayDo(t, gw.served, "GET", "/api/v1/predict", nil, nil)
		if status != 405 || errCode(m) != "method_not_allowed" || h.Get("Allow") != "POST" {
			t.Errorf("GET /api/v1/predict: %d %v %v", status, h, m)
		}
	})

	t.Run("request id", func(t *testing.T) {
		_, h, _, _ := gatewayDo(t, gw.served, "GET", "/api/v1/model", map[string]string{"X-Request-Id": "gw-test-42"}, nil)
		if got := h.Get("X-Request-Id"); got != "gw-test-42" {
			t.Errorf("X-Request-Id %q, want the client's", got)
		}
		// Without one, the service gets nginx's 32-hex $request_id (the
		// service's own would be 24 hex).
		_, h, _, _ = gatewayDo(t, gw.served, "GET", "/api/v1/model", nil, nil)
		if got := h.Get("X-Request-Id"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got) {
			t.Errorf("X-Request-Id %q, want nginx's $request_id", got)
		}
		// nginx logs a request just after answering it.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			log, _ := os.ReadFile(filepath.Join(gw.dir, "access.log"))
			if bytes.Contains(log, []byte("rid=gw-test-42")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("access log lacks the request id:\n%s", log)
			}
		}
	})

	t.Run("page", func(t *testing.T) {
		status, h, _, body := gatewayDo(t, gw.served, "GET", "/", nil, nil)
		_, _, _, page := gatewayDo(t, s, "GET", "/", nil, nil)
		if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !bytes.Equal(body, page) {
			t.Errorf("GET /: %d %s %.200q, want the service's page", status, h.Get("Content-Type"), body)
		}
		checkSecurityHeaders(t, "GET /", h, direct)
		if status, _, _, _ := gatewayDo(t, gw.served, "GET", "/static/app.js", nil, nil); status != 200 {
			t.Errorf("GET /static/app.js: %d", status)
		}
		status, h, m, _ := gatewayDo(t, gw.served, "GET", "/metrics", nil, nil)
		if status != 404 || errCode(m) != "not_found" {
			t.Errorf("GET /metrics through the gateway: %d %v", status, m)
		}
		checkSecurityHeaders(t, "GET /metrics", h, direct)
	})

	t.Run("http redirects", func(t *testing.T) {
		c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Get(gw.httpURL + "huskyai/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 301 || res.Header.Get("Location") != "https://127.0.0.1/huskyai/" {
			t.Errorf("plain HTTP: %s, Location %q", res.Status, res.Header.Get("Location"))
		}
	})

	t.Run("upload limit", func(t *testing.T) {
		// 12 MB: refused by the gateway with the service's JSON form.
		status, h, m, _ := gatewayDo(t, gw.served, "POST", "/api/v1/predict", map[string]string{"Content-Type": "image/png"}, make([]byte, 12e6))
		if status != 413 || errCode(m) != "request_too_large" {
			t.Errorf("12 MB upload: %d %v", status, m)
		}
		checkSecurityHeaders(t, "413", h, direct)
		if !strings.Contains(gw.errorLog(), "client intended to send too large body") {
			t.Errorf("the 413 did not come from nginx:\n%s", gw.errorLog())
		}
		// --max-upload (10 MiB) passes the gateway, is held in memory, and
		// the service answers (the bytes are no image).
		status, _, m, _ = gatewayDo(t, gw.served, "POST", "/api/v1/predict", map[string]string{"Content-Type": "image/png"}, make([]byte, 10<<20))
		if status != 415 || errCode(m) != "unsupported_media_type" {
			t.Errorf("10 MiB upload: %d %v, want the service's 415", status, m)
		}
		// A 10 MiB file in a multipart form is a little more than 10 MiB:
		// the gateway allows the service's multipart overhead too.
		body, ct := multipartFile(t, make([]byte, 10<<20))
		status, _, m, _ = gatewayDo(t, gw.served, "POST", "/huskyai/", map[string]string{"Content-Type": ct}, body.Bytes())
		if status == 413 || errCode(m) == "" {
			t.Errorf("10 MiB file in a form (%d bytes): %d %v, want the service's answer", body.Len(), status, m)
		}
		if n := strings.Count(gw.errorLog(), "too large body"); n != 1 {
			t.Errorf("nginx refused %d bodies as too large, want 1 (the 12 MB one)", n)
		}
		if log := gw.errorLog(); strings.Contains(log, "buffered to a temporary file") {
			t.Errorf("nginx wrote an upload to disk:\n%s", log)
		}
		if entries, _ := os.ReadDir(filepath.Join(gw.dir, "client_body")); len(entries) > 0 {
			t.Errorf("client_body_temp_path holds %d entries", len(entries))
		}
	})

	// Last: it uses up the predict zone's burst.
	t.Run("rate limit", func(t *testing.T) {
		limited := false
		for i := 0; i < 4*burst && !limited; i++ {
			status, h, m, _ := gatewayDo(t, gw.served, "GET", "/api/v1/model", nil, nil)
			switch status {
			case 200:
			case 429:
				limited = true
				if errCode(m) != "rate_limited" || h.Get("Retry-After") != "1" {
					t.Errorf("429: %v, Retry-After %q", m, h.Get("Retry-After"))
				}
				checkSecurityHeaders(t, "429", h, direct)
			default:
				t.Fatalf("request %d: %d %v", i, status, m)
			}
		}
		if !limited {
			t.Fatalf("no 429 after %d requests", 4*burst)
		}
		// The page has its own, separate limit.
		if status, _, _, _ := gatewayDo(t, gw.served, "GET", "/", nil, nil); status != 200 {
			t.Errorf("GET / after the predict burst: %d", status)
		}
	})

	t.Run("pinning", func(t *testing.T) {
		// A gateway pinned to another certificate for the same names
		// refuses the service: 502, and nginx says why.
		bad := startGateway(t, bin, gatewayConf{upstream: upstream, pin: otherCert, cert: gwCert, key: gwKey})
		status, h, m, _ := gatewayDo(t, bad.served, "GET", "/", nil, nil)
		if status != 502 || errCode(m) != "bad_gateway" {
			t.Errorf("unpinned service: %d %v, want 502 bad_gateway", status, m)
		}
		checkSecurityHeaders(t, "502", h, direct)
		if log := bad.errorLog(); !strings.Contains(log, "certificate verify") {
			t.Errorf("nginx's error log does not blame the certificate:\n%s", log)
		}
	})
}
