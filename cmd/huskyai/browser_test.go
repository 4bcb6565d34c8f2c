package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/huskyai/huskyai/internal/testtool"
)

// chromiumPath returns Debian's Chromium (apt-get install chromium), or
// calls testtool.Missing. HUSKYAI_CHROMIUM names another binary.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("HUSKYAI_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if full, err := exec.LookPath(p); err == nil {
			return full
		}
	}
	testtool.Missing(t, "chromium (apt-get install chromium), or HUSKYAI_CHROMIUM")
	return ""
}

// spkiPin returns the base64 SHA-256 of the public key of the certificate
// that s serves, as Chromium's --ignore-certificate-errors-spki-list wants
// it. The connection is pinned to the fingerprint serve printed.
func spkiPin(t *testing.T, s *served) string {
	t.Helper()
	addr := strings.TrimSuffix(strings.TrimPrefix(s.url, "https://"), "/")
	conn, err := tls.Dial("tcp", addr, pinnedTLS(s.fingerprint))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestBrowser drives the upload page in headless Chromium against the real
// service: it uploads a PNG through the file input and reads the verdict
// from the page, then uploads a text file named .png and reads the error.
//
// The service runs over HTTPS with its self-signed certificate, as it does
// by default; Chromium trusts exactly that certificate's key
// (--ignore-certificate-errors-spki-list), not any certificate.
func TestBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	start := time.Now()
	s := startServe(t, nil)
	pin := spkiPin(t, s)
	dir := t.TempDir()

	// One deadline for the browser and everything it does.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	browserOut := &lockedBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", pin),
		chromedp.WindowSize(1024, 768),
		chromedp.CombinedOutput(browserOut),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	cdpLog := &lockedBuffer{}
	logf := func(format string, args ...any) { fmt.Fprintf(cdpLog, format+"\n", args...) }
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	defer cancelBrowser()
	defer func() {
		if t.Failed() {
			var out []string
			for line := range strings.Lines(browserOut.String()) {
				if !strings.Contains(line, "dbus") { // no D-Bus in containers
					out = append(out, line)
				}
			}
			t.Logf("chromium output:\n%s\nchromedp log:\n%s", strings.Join(out, ""), cdpLog)
		}
	}()

	// Record the console: an exception or a CSP violation fails the test.
	// Console starts the browser, and must do so before anything else
	// runs on bctx (two first uses at once would start two browsers).
	messages := chromedp.Console(bctx)
	console := &lockedBuffer{}
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// The 415 of the error case below is logged by the network
			// source; the rest must stay empty.
			if m.IsException() || m.Type == chromedp.ConsoleError && m.Source != "network" {
				fmt.Fprintf(console, "%s (source %q, %s:%d)\n", m, m.Source, m.URL, m.Line)
			}
		}
	}()

	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	text := func(id string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("text of #%s: %v", id, err)
		}
		return strings.TrimSpace(s)
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}

	// The page, and the placeholder warning it loads from /api/v1/model.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(s.url),
		chromedp.WaitVisible(chromedp.ID("warning")),
	); err != nil {
		t.Fatalf("loading %s: %v", s.url, err)
	}
	_, _, model := s.do(t, "GET", "/api/v1/model", "", nil)
	warning, _ := model["warning"].(string)
	if got := text("warning"); !strings.Contains(warning, "UNTRAINED PLACEHOLDER") || got != "Warning: "+warning {
		t.Errorf("warning on the page %q; /api/v1/model says %q", got, warning)
	}
	// Accessibility: the warning is an alert, the file input has its label,
	// and the verdict appears inside a live region that is always there.
	if got := eval(`[document.querySelector("#warning").getAttribute("role"), document.querySelector("#file").labels.length, document.querySelector("#result").parentElement.getAttribute("aria-live")].join()`); got != "alert,1,polite" {
		t.Errorf("warning role, labels of the file input, live region: %s; want alert,1,polite", got)
	}
	if got := text("model"); !strings.Contains(got, "huskyai-placeholder-untrained") {
		t.Errorf("model footer %q", got)
	}

	// Keyboard: the first Tab focuses the file input, and its drop zone
	// shows the focus.
	if err := chromedp.Do(bctx, chromedp.KeyEvent("\t")); err != nil {
		t.Fatal(err)
	}
	if got := eval(`document.activeElement.id + " " + getComputedStyle(document.querySelector("#drop")).outlineStyle`); got != "file solid" {
		t.Errorf("after Tab: focus and drop-zone outline %q, want %q", got, "file solid")
	}

	// Upload a PNG through the file input.
	img := testPNG(t, 96, 64)
	imgPath := filepath.Join(dir, "dog.png")
	if err := os.WriteFile(imgPath, img, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx,
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{imgPath}),
		chromedp.WaitVisible(chromedp.ID("result")),
	); err != nil {
		t.Fatalf("upload: %v", err)
	}
	verdict, score := text("verdict"), text("score")
	body, ct := multipartFile(t, img)
	status, _, want := s.do(t, "POST", "/api/v1/predict", ct, body.Bytes())
	wantText, _ := want["text"].(string)
	wantScore, _ := want["score"].(string)
	wantProb, _ := want["probability"].(float64)
	if status != 200 || wantText == "" || wantScore == "" {
		t.Fatalf("POST /api/v1/predict: %d %v", status, want)
	}
	if verdict != wantText {
		t.Errorf("verdict on the page %q; the API says %q", verdict, wantText)
	}
	if !strings.HasPrefix(score, "Husky score: "+wantScore+"%") || !strings.Contains(score, "untrained placeholder") {
		t.Errorf("score on the page %q; the API says %s%% from a placeholder model", score, wantScore)
	}
	width, err := strconv.ParseFloat(strings.TrimSuffix(eval(`document.querySelector("#gauge-bar").style.width`), "%"), 64)
	if err != nil || math.Abs(width-100*wantProb) > 1e-3 {
		t.Errorf("gauge width %v%% (%v); probability %v", width, err, wantProb)
	}
	if got := eval(`[document.querySelector("#error").hidden, document.querySelector("#progress-box").hidden, document.querySelector("#preview-box").hidden].join()`); got != "true,true,false" {
		t.Errorf("error, progress, preview hidden: %s; want true,true,false", got)
	}
	screenshot("verdict.png")
	if data, err := os.ReadFile(filepath.Join(dir, "verdict.png")); err == nil {
		// For a person to look at; the test does not depend on it.
		_ = os.WriteFile(filepath.Join(os.TempDir(), "huskyai-page.png"), data, 0o644)
	}

	// A text file named .png: the browser calls it image/png, the server
	// refuses it by its bytes (415), and the page says so.
	txtPath := filepath.Join(dir, "notes.png")
	if err := os.WriteFile(txtPath, []byte("these are notes, not a photo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx,
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{txtPath}),
		chromedp.WaitVisible(chromedp.ID("error")),
	); err != nil {
		t.Fatalf("upload of a text file: %v", err)
	}
	if got := text("error"); !strings.HasPrefix(got, "This is not a PNG, JPEG or GIF image.") {
		t.Errorf("error on the page %q", got)
	}
	if got := eval(`[document.querySelector("#result").hidden, document.querySelector("#preview-box").hidden].join()`); got != "true,true" {
		t.Errorf("verdict, preview hidden: %s; want true,true (no old verdict, no broken image next to the error)", got)
	}
	screenshot("error.png")

	// A phone-sized viewport: nothing wider than the screen.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(375, 667, chromedp.EmulateMobile, chromedp.EmulateScale(2))); err != nil {
		t.Fatal(err)
	}
	if got := eval(`document.documentElement.scrollWidth + " " + document.documentElement.clientWidth`); got != "375 375" {
		t.Errorf("mobile: page scroll width and viewport width %s, want 375 375", got)
	}
	screenshot("mobile.png")

	if c := console.String(); c != "" {
		t.Errorf("console errors:\n%s", c)
	}
	t.Logf("browser test took %v", time.Since(start).Round(time.Millisecond))
}
