package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/huskyai/huskyai/internal/testtool"
)

// post sends image img as a raw body to /api/v1/predict, with an
// X-Forwarded-For header when xff is not empty, and returns the status,
// headers and JSON body.
func (s *served) post(t *testing.T, img []byte, xff string) (int, http.Header, map[string]any) {
	t.Helper()
	status, h, m, err := s.tryPost(img, xff)
	if err != nil {
		t.Fatal(err)
	}
	return status, h, m
}

// tryPost is post for other goroutines than the test's: it returns its
// error.
func (s *served) tryPost(img []byte, xff string) (int, http.Header, map[string]any, error) {
	req, err := http.NewRequest("POST", s.url+"api/v1/predict", bytes.NewReader(img))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "image/png")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	res, err := s.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		return 0, nil, nil, fmt.Errorf("POST /api/v1/predict: %s, body not JSON: %v", res.Status, err)
	}
	return res.StatusCode, res.Header, m, nil
}

// TestServeRateLimit: with --rate-limit 1 --rate-burst 3, of four requests
// sent at once three are classified and one gets 429 rate_limited with a
// Retry-After after which a request succeeds again; /metrics counts it.
func TestServeRateLimit(t *testing.T) {
	s := startServe(t, nil, "--rate-limit", "1", "--rate-burst", "3")
	img := testPNG(t, 32, 32)

	// At once, so that no token comes back meanwhile however slow the
	// machine.
	type answer struct {
		status int
		h      http.Header
		m      map[string]any
	}
	answers := make([]answer, 4)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			status, h, m, err := s.tryPost(img, "")
			if err != nil {
				t.Error(err)
			}
			answers[i] = answer{status, h, m}
		})
	}
	wg.Wait()
	var ok, limited int
	var retryAfter int
	for i, a := range answers {
		switch a.status {
		case 200:
			ok++
		case 429:
			limited++
			e, _ := a.m["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if errCode(a.m) != "rate_limited" || !strings.Contains(msg, "too many") {
				t.Errorf("request %d: 429 body %v, want code rate_limited and a message", i, a.m)
			}
			n, err := strconv.Atoi(a.h.Get("Retry-After"))
			if err != nil || n != 1 {
				t.Errorf("request %d: Retry-After %q, want 1 (one token at 1/s)", i, a.h.Get("Retry-After"))
			}
			retryAfter = n
		default:
			t.Errorf("request %d: %d %v", i, a.status, a.m)
		}
	}
	if ok != 3 || limited != 1 {
		t.Fatalf("%d classified and %d refused of 4 requests at once; want 3 and 1", ok, limited)
	}
	if m := s.metrics(t); !strings.Contains(m, "huskyai_rate_limited_total 1\n") ||
		!strings.Contains(m, `huskyai_http_requests_total{code="429",route="/api/v1/predict"} 1`) {
		t.Errorf("metrics lack huskyai_rate_limited_total 1 or the 429:\n%s", grepLines(m, "429", "rate_limited"))
	}
	// Retry-After tells the truth.
	time.Sleep(time.Duration(retryAfter) * time.Second)
	if status, _, m := s.post(t, img, ""); status != 200 {
		t.Errorf("after Retry-After: %d %v", status, m)
	}
}

// logsClient reports whether a request log line in logs names client.
func logsClient(logs, client string) bool {
	return regexp.MustCompile(`msg=request .*client=` + regexp.QuoteMeta(client) + `(\s|$)`).MatchString(logs)
}

// grepLines returns the lines of text that contain one of words.
func grepLines(text string, words ...string) string {
	var out []string
	for line := range strings.Lines(text) {
		for _, w := range words {
			if strings.Contains(line, w) {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "")
}

// TestServeTrustedProxy: behind --trusted-proxy 127.0.0.1/32, clients
// named by X-Forwarded-For get a bucket each, and the log line and the
// audit record name them; without it X-Forwarded-For is ignored: all
// requests come from 127.0.0.1 and share one bucket.
func TestServeTrustedProxy(t *testing.T) {
	img := testPNG(t, 32, 32)
	// One request per client per 100 s: the test is about the buckets, not
	// about time.
	limits := []string{"--rate-limit", "0.01", "--rate-burst", "1"}
	const a, b = "203.0.113.1", "203.0.113.2"

	t.Run("trusted", func(t *testing.T) {
		auditPath := filepath.Join(t.TempDir(), "audit.log")
		s := startServe(t, nil, append(limits, "--trusted-proxy", "127.0.0.1/32", "--audit-log", auditPath)...)
		for i, step := range []struct {
			xff    string
			status int
		}{
			{a, 200},
			{"198.51.100.66, " + b, 200}, // the client's own entry is ignored
			{a, 429},
			{b, 429},
		} {
			if status, _, m := s.post(t, img, step.xff); status != step.status {
				t.Errorf("request %d (X-Forwarded-For %s): %d %v, want %d", i, step.xff, status, m, step.status)
			}
		}
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}
		logs := s.stderr.String()
		for _, client := range []string{a, b} {
			if !logsClient(logs, client) {
				t.Errorf("request log lacks client=%s:\n%s", client, logs)
			}
		}
		var forwarded []string
		f, err := os.Open(auditPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var rec struct {
				Type         string `json:"type"`
				ClientAddr   string `json:"client_addr"`
				ForwardedFor string `json:"forwarded_for"`
			}
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Type != "prediction" {
				continue
			}
			if !strings.HasPrefix(rec.ClientAddr, "127.0.0.1:") {
				t.Errorf("audit client_addr %q, want the proxy's address", rec.ClientAddr)
			}
			forwarded = append(forwarded, rec.ForwardedFor)
		}
		// The two refusals came before their uploads were read: no record.
		if got := strings.Join(forwarded, ","); got != a+","+b {
			t.Errorf("audit forwarded_for of the predictions: %s; want %s,%s", got, a, b)
		}
	})

	t.Run("untrusted", func(t *testing.T) {
		s := startServe(t, nil, limits...)
		if status, _, m := s.post(t, img, a); status != 200 {
			t.Fatalf("first request: %d %v", status, m)
		}
		status, _, m := s.post(t, img, b)
		if status != 429 || errCode(m) != "rate_limited" {
			t.Errorf("another X-Forwarded-For from the same peer: %d %v; want 429 rate_limited (one bucket)", status, m)
		}
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}
		if logs := s.stderr.String(); logsClient(logs, a) || !logsClient(logs, "127.0.0.1") {
			t.Errorf("the log trusts X-Forwarded-For:\n%s", logs)
		}
	})
}

// scenePNG returns a 96 x 64 PNG of soft diagonal bands with a bright
// square, with n pixels (chosen by seed) changed by +3 or -3.
func scenePNG(t *testing.T, n int, seed uint64) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 96, 64))
	for y := range 64 {
		for x := range 96 {
			v := uint8(60 + (x+2*y)%48*3)
			c := color.NRGBA{v, v, 255 - v, 255}
			if x > 50 && x < 80 && y > 10 && y < 40 {
				c = color.NRGBA{240, 230, 210, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	testtool.Perturb(img, rand.New(rand.NewPCG(seed, 3)), n)
	return encodePNGImage(t, img)
}

// shapesPNG returns a 96 x 64 PNG of random rectangles and discs, different
// for each seed.
func shapesPNG(t *testing.T, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 4))
	img := image.NewNRGBA(image.Rect(0, 0, 96, 64))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	for range 14 {
		x0, y0, s := r.IntN(96), r.IntN(64), 5+r.IntN(14)
		c := color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
		disc := r.IntN(2) == 0
		for y := max(0, y0-s); y < min(64, y0+s); y++ {
			for x := max(0, x0-s); x < min(96, x0+s); x++ {
				if !disc || (x-x0)*(x-x0)+(y-y0)*(y-y0) < s*s {
					img.SetNRGBA(x, y, c)
				}
			}
		}
	}
	return encodePNGImage(t, img)
}

func encodePNGImage(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestServeProbing runs the probing detector on the real classifier,
// whose perceptual hash is of the model's 128 x 128 input: behind a
// trusted proxy, a client sending slightly perturbed copies of one image
// is refused from the --probe-threshold-th on, while another sending
// different images, and a third repeating one image byte for byte, are
// not.
func TestServeProbing(t *testing.T) {
	const threshold = 5
	s := startServe(t, nil, "--trusted-proxy", "127.0.0.1", "--rate-limit", "0",
		"--probe-threshold", strconv.Itoa(threshold), "--block-probing")
	same := scenePNG(t, 0, 0)
	for i := range threshold + 3 {
		if status, _, m := s.post(t, shapesPNG(t, uint64(i)), "203.0.113.20"); status != 200 {
			t.Errorf("different image %d: %d %v", i, status, m)
		}
		if status, _, m := s.post(t, same, "203.0.113.30"); status != 200 {
			t.Errorf("repeat %d: %d %v", i, status, m)
		}
		status, h, m := s.post(t, scenePNG(t, 6, uint64(i+1)), "203.0.113.10")
		if i < threshold-1 {
			if status != 200 {
				t.Errorf("perturbed copy %d: %d %v; want 200 below the threshold", i, status, m)
			}
			continue
		}
		if status != 429 || errCode(m) != "probing_suspected" || h.Get("Retry-After") == "" {
			t.Errorf("perturbed copy %d: %d Retry-After %q %v; want 429 probing_suspected", i, status, h.Get("Retry-After"), m)
		}
	}
	if m := s.metrics(t); !strings.Contains(m, "huskyai_probing_flagged_total 4\n") {
		t.Errorf("metrics: %s; want huskyai_probing_flagged_total 4", grepLines(m, "probing"))
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if logs := s.stderr.String(); !strings.Contains(logs, `level=WARN msg="probing suspected`) || !strings.Contains(logs, "client=203.0.113.10 near_identical=") ||
		strings.Contains(logs, "client=203.0.113.20 near_identical=") || strings.Contains(logs, "client=203.0.113.30 near_identical=") {
		t.Errorf("probing warnings name the wrong clients:\n%s", grepLines(logs, "probing"))
	}
}

// TestServeLabelOnly configures --label-only and the limits through the
// environment: the answers carry the verdict but no probability or
// score.
func TestServeLabelOnly(t *testing.T) {
	s := startServe(t, map[string]string{
		"HUSKYAI_LABEL_ONLY": "true", "HUSKYAI_RATE_LIMIT": "0.01", "HUSKYAI_RATE_BURST": "2",
	})
	img := testPNG(t, 32, 32)
	body, ct := multipartFile(t, img)
	status, _, m := s.do(t, "POST", "/huskyai/", ct, body.Bytes())
	if _, ok := m["score"]; status != 200 || ok || m["probability"] != nil || m["text"] == nil || m["label"] == nil {
		t.Errorf("POST /huskyai/ with --label-only: %d %v; want text and label only", status, m)
	}
	if status, _, m := s.post(t, img, ""); status != 200 || m["probability"] != nil || m["score"] != nil {
		t.Errorf("POST /api/v1/predict with --label-only: %d %v", status, m)
	}
	if status, _, m := s.post(t, img, ""); status != 429 {
		t.Errorf("third request with HUSKYAI_RATE_BURST=2: %d %v, want 429", status, m)
	}
}

func TestServeAbuseFlags(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		env     map[string]string
		wantErr string // "" for success
		check   func(*serveFlags) bool
	}{
		{check: func(f *serveFlags) bool {
			return f.rateLimit == 10 && f.rateBurst == 20 && !f.labelOnly && f.probeThreshold == 20 &&
				f.probeWindow == 10*time.Minute && f.probeDistance == 10 && !f.blockProbing && len(f.trustedProxies) == 0
		}},
		{args: []string{"--trusted-proxy", "10.0.0.0/8,::1", "--trusted-proxy", "192.0.2.1"}, check: func(f *serveFlags) bool {
			return f.trustedProxies.String() == "10.0.0.0/8,::1/128,192.0.2.1/32"
		}},
		{env: map[string]string{"HUSKYAI_TRUSTED_PROXY": "10.0.0.0/8", "HUSKYAI_RATE_LIMIT": "2.5", "HUSKYAI_RATE_BURST": "4",
			"HUSKYAI_PROBE_THRESHOLD": "0", "HUSKYAI_PROBE_WINDOW": "1m", "HUSKYAI_PROBE_DISTANCE": "6", "HUSKYAI_LABEL_ONLY": "1"},
			check: func(f *serveFlags) bool {
				return f.trustedProxies.String() == "10.0.0.0/8" && f.rateLimit == 2.5 && f.rateBurst == 4 && f.probeThreshold == 0 &&
					f.probeWindow == time.Minute && f.probeDistance == 6 && f.labelOnly
			}},
		{args: []string{"--trusted-proxy", "10.0.0.1"}, env: map[string]string{"HUSKYAI_TRUSTED_PROXY": "10.0.0.0/8"},
			check: func(f *serveFlags) bool { return f.trustedProxies.String() == "10.0.0.1/32" }}, // the flag wins
		{args: []string{"--rate-limit", "0", "--rate-burst", "0"}, check: func(f *serveFlags) bool { return f.rateLimit == 0 }},
		{args: []string{"--block-probing"}, check: func(f *serveFlags) bool { return f.blockProbing }},
		{args: []string{"--trusted-proxy", "nope"}, wantErr: `trusted proxy "nope"`},
		{env: map[string]string{"HUSKYAI_TRUSTED_PROXY": "10.0.0.0/33"}, wantErr: "HUSKYAI_TRUSTED_PROXY"},
		{args: []string{"--rate-limit", "-1"}, wantErr: "--rate-limit"},
		{args: []string{"--rate-limit", "NaN"}, wantErr: "--rate-limit"},
		{args: []string{"--rate-limit", "+Inf"}, wantErr: "--rate-limit"},
		{args: []string{"--rate-burst", "0"}, wantErr: "--rate-burst"},
		{args: []string{"--probe-threshold", "1"}, wantErr: "--probe-threshold"},
		{args: []string{"--probe-threshold", "1001"}, wantErr: "--probe-threshold"},
		{args: []string{"--probe-threshold", "-1"}, wantErr: "--probe-threshold"},
		{args: []string{"--probe-window", "0s"}, wantErr: "--probe-window"},
		{args: []string{"--probe-window", "25h"}, wantErr: "--probe-window"},
		{args: []string{"--probe-distance", "0"}, wantErr: "--probe-distance"},
		{args: []string{"--probe-distance", "21"}, wantErr: "--probe-distance"},
		{args: []string{"--block-probing", "--probe-threshold", "0"}, wantErr: "--block-probing"},
	} {
		f, err := parseServeFlags(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%v %v: error %v, want one about %s", tt.args, tt.env, err, tt.wantErr)
		case tt.wantErr == "" && err != nil:
			t.Errorf("%v %v: %v", tt.args, tt.env, err)
		case tt.wantErr == "" && !tt.check(f):
			t.Errorf("%v %v: flags %+v", tt.args, tt.env, f.abuseFlags)
		}
	}
}

// TestBrowserLabelOnlyAndRateLimit drives the page in headless Chromium
// against a server run with --label-only and a rate limit of one upload:
// the first upload shows the verdict without a gauge or score, the
// second the rate limit's message with its wait.
func TestBrowserLabelOnlyAndRateLimit(t *testing.T) {
	chromium := chromiumPath(t)
	s := startServe(t, nil, "--label-only", "--rate-limit", "0.01", "--rate-burst", "1")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", spkiPin(t, s)),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	upload := func(name string, img []byte, waitFor string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, img, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(bctx,
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}),
			chromedp.WaitVisible(chromedp.ID(waitFor)),
		); err != nil {
			t.Fatalf("upload of %s: %v", name, err)
		}
	}
	// The page has loaded the model's description when the footer names it.
	if err := chromedp.Do(bctx, chromedp.Navigate(s.url)); err != nil {
		t.Fatalf("loading %s: %v", s.url, err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[chromedp.Void](`document.querySelector("#model").textContent.length > 0`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("loading %s: the page never named the model: %v", s.url, err)
	}

	upload("dog.png", testPNG(t, 96, 64), "result")
	got := eval(`JSON.stringify([document.querySelector("#verdict").textContent, document.querySelector("#gauge").hidden, document.querySelector("#score").textContent])`)
	var fields []any
	if err := json.Unmarshal([]byte(got), &fields); err != nil || len(fields) != 3 {
		t.Fatalf("page state %s: %v", got, err)
	}
	verdict, _ := fields[0].(string)
	score, _ := fields[2].(string)
	if (verdict != "It is a husky!" && verdict != "Does not look like a husky to me.") || fields[1] != true ||
		strings.Contains(score, "Husky score") || strings.Contains(score, "undefined") {
		t.Errorf("label-only verdict on the page: verdict %q, gauge hidden %v, score line %q; want the verdict without a gauge or score", verdict, fields[1], score)
	}

	upload("dog2.png", testPNG(t, 64, 64), "error")
	msg := eval(`document.querySelector("#error").textContent`)
	if !strings.HasPrefix(msg, "Too many requests from your address.") || !regexp.MustCompile(`try again in \d+ seconds`).MatchString(msg) {
		t.Errorf("rate-limit message on the page %q", msg)
	}
	if eval(`String(document.querySelector("#result").hidden)`) != "true" {
		t.Error("the old verdict is still shown next to the rate-limit message")
	}
}
