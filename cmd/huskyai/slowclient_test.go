package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Slow and broken clients against the real server (through run, over
// TLS as deployed): the read timeouts cut them, and what they hold while
// connected (an admission of --max-pending, never an inference slot) is
// given back when they go.

// dialRaw opens a connection to s on which the test writes HTTP by hand:
// TLS with the server's pinned certificate, or plain TCP.
func dialRaw(t *testing.T, s *served) net.Conn {
	t.Helper()
	addr := strings.TrimSuffix(s.url[strings.Index(s.url, "//")+2:], "/")
	var c net.Conn
	var err error
	if s.fingerprint != "" {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, pinnedTLS(s.fingerprint))
	} else {
		c, err = net.DialTimeout("tcp", addr, 10*time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// predictHeaders are the headers of a raw POST /api/v1/predict of n bytes,
// with extra header lines.
func predictHeaders(contentType string, n int, extra ...string) string {
	h := "POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + contentType +
		fmt.Sprintf("\r\nContent-Length: %d\r\n", n)
	for _, e := range extra {
		h += e + "\r\n"
	}
	return h + "\r\n"
}

// readUntilClosed reads c until the server closes it (or deadline) and
// returns what it got and when it ended.
func readUntilClosed(t *testing.T, c net.Conn, deadline time.Duration) ([]byte, time.Time, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(deadline))
	b, err := io.ReadAll(c)
	return b, time.Now(), err
}

// predictInFlight is the metrics line of prediction requests being served:
// each holds one --max-pending admission from before its upload is read
// until its answer is written.
func predictInFlight(n int) string {
	return fmt.Sprintf(`huskyai_http_requests_in_flight{route="/api/v1/predict"} %d`, n)
}

// waitMetric polls /metrics until it contains line.
func waitMetric(t *testing.T, s *served, line string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		m := s.metrics(t)
		if strings.Contains(m, line+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in /metrics within %v", line, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// predictOK sends a small PNG through the client and requires 200.
func predictOK(t *testing.T, s *served, img []byte) {
	t.Helper()
	if status, _, m := s.do(t, "POST", "/api/v1/predict", "image/png", img); status != 200 {
		t.Fatalf("normal request: %d %v", status, m)
	}
}

// TestSlowloris trickles request headers, and a TLS handshake that never
// comes: --read-header-timeout disconnects both although bytes keep
// arriving, and other clients are served meanwhile.
func TestSlowloris(t *testing.T) {
	const timeout = time.Second
	s := startServe(t, nil, "--read-header-timeout", timeout.String())
	img := testPNG(t, 32, 32)

	t.Run("headers trickled", func(t *testing.T) {
		c := dialRaw(t, s)
		start := time.Now()
		if _, err := io.WriteString(c, "POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
			t.Fatal(err)
		}
		var sent atomic.Int64
		go func() {
			// One header byte every 50 ms, forever: "X-Slow: aaaa...".
			w := []byte("X-Slow: ")
			for i := 0; ; i++ {
				b := byte('a')
				if i < len(w) {
					b = w[i]
				}
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				sent.Add(1)
				time.Sleep(50 * time.Millisecond)
			}
		}()
		predictOK(t, s, img) // the server is not blocked meanwhile
		got, end, err := readUntilClosed(t, c, 15*time.Second)
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			t.Fatalf("the server kept the connection for 15s (%d header bytes trickled)", sent.Load())
		}
		took := end.Sub(start)
		t.Logf("cut after %v, %d header bytes trickled; server sent %.200q", took.Round(time.Millisecond), sent.Load(), got)
		if took < timeout-100*time.Millisecond || took > timeout+4*time.Second {
			t.Errorf("cut after %v; want about %v", took, timeout)
		}
		if len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 408")) {
			t.Errorf("the server answered %q", got)
		}
	})

	t.Run("TLS handshake never sent", func(t *testing.T) {
		addr := strings.TrimSuffix(strings.TrimPrefix(s.url, "https://"), "/")
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		c.Write([]byte{0x16, 0x03, 0x01}) // the start of a ClientHello record, then nothing
		_, end, err := readUntilClosed(t, c, 15*time.Second)
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			t.Fatal("the server waited 15s for a TLS handshake")
		}
		if took := end.Sub(start); took < timeout-100*time.Millisecond || took > timeout+4*time.Second {
			t.Errorf("cut after %v; want about %v", took, timeout)
		}
	})
}

// TestSlowBody sends an upload's headers, then its body at one byte a
// second. With --max-inflight 1, a normal request is classified meanwhile
// (the slow upload holds an admission, not the inference slot), and
// --read-timeout ends the slow one, after which nothing is in flight.
func TestSlowBody(t *testing.T) {
	const readTimeout = 3 * time.Second
	// The read timeout through its environment variable.
	s := startServe(t, map[string]string{"HUSKYAI_READ_TIMEOUT": readTimeout.String()}, "--max-inflight", "1", "--queue-timeout", "1s")
	img := testPNG(t, 32, 32)

	c := dialRaw(t, s)
	start := time.Now()
	if _, err := io.WriteString(c, predictHeaders("image/png", len(img))); err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	go func() {
		for _, b := range img {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			sent.Add(1)
			time.Sleep(time.Second)
		}
	}()
	waitMetric(t, s, predictInFlight(1), 5*time.Second)

	predictOK(t, s, img)
	normalDone := time.Now()

	got, end, err := readUntilClosed(t, c, 30*time.Second)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("the slow upload was not cut within 30s (%d bytes sent)", sent.Load())
	}
	took := end.Sub(start)
	t.Logf("normal request done after %v; slow upload cut after %v with %d of %d bytes sent; server sent %.200q",
		normalDone.Sub(start).Round(time.Millisecond), took.Round(time.Millisecond), sent.Load(), len(img), got)
	if !normalDone.Before(end) {
		t.Error("the normal request finished only after the slow upload was cut")
	}
	if took < readTimeout-100*time.Millisecond || took > readTimeout+5*time.Second {
		t.Errorf("slow upload cut after %v; want about --read-timeout %v", took, readTimeout)
	}
	// If the refusal reached the client, it is the JSON 408 of an upload
	// not received in time, which does not quote the network error (it
	// names the server's addresses).
	if len(got) > 0 {
		res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(got)), nil)
		if err != nil || res.StatusCode != 408 || !bytes.Contains(got, []byte(`"upload_timeout"`)) || bytes.Contains(got, []byte("127.0.0.1")) {
			t.Errorf("answer to the slow upload: %v %.200q", err, got)
		}
	}
	waitMetric(t, s, predictInFlight(0), 5*time.Second)
	predictOK(t, s, img)
}

// TestDisconnectMidUpload: with one admission (--max-pending 1; the
// per-client share above it, so that the global bound is what answers),
// a client that stops half-way through its upload holds it (another
// upload gets 503), and gives it back when it disconnects.
func TestDisconnectMidUpload(t *testing.T) {
	s := startServe(t, nil, "--max-inflight", "1", "--max-pending", "1", "--max-pending-per-client", "2")
	img := testPNG(t, 32, 32)
	body, ct := multipartFile(t, img)

	c := dialRaw(t, s)
	if _, err := io.WriteString(c, predictHeaders(ct, body.Len())); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(body.Bytes()[:body.Len()/2]); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, s, predictInFlight(1), 5*time.Second)
	status, h, m := s.do(t, "POST", "/api/v1/predict", "image/png", img)
	if status != 503 || errCode(m) != "server_busy" || h.Get("Retry-After") == "" {
		t.Fatalf("upload while the admission is held: %d %v", status, m)
	}

	c.Close()
	waitMetric(t, s, predictInFlight(0), 10*time.Second)
	predictOK(t, s, img)
	if m := s.metrics(t); !strings.Contains(m, `huskyai_inference_in_flight 0`+"\n") {
		t.Error("an inference slot is still taken")
	}
}

// TestExpectContinue: a client that sends "Expect: 100-continue" with an
// oversize Content-Length gets 413 at once, before it sends the body (the
// server answers without asking for it), and one with a normal size gets
// "100 Continue", sends the body and its answer.
func TestExpectContinue(t *testing.T) {
	s := startServe(t, nil, "--max-upload", "64KiB")
	img := testPNG(t, 32, 32)

	for _, ct := range []string{"image/png", "multipart/form-data; boundary=B"} {
		t.Run("oversize "+ct, func(t *testing.T) {
			c := dialRaw(t, s)
			if _, err := io.WriteString(c, predictHeaders(ct, 20<<20, "Expect: 100-continue")); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer before the body was sent: %v", err)
			}
			defer res.Body.Close()
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			json.NewDecoder(res.Body).Decode(&e)
			if res.StatusCode != 413 || e.Error.Code != "request_too_large" {
				t.Errorf("answer %s %q, want 413 request_too_large", res.Status, e.Error.Code)
			}
		})
	}

	t.Run("normal size", func(t *testing.T) {
		c := dialRaw(t, s)
		if _, err := io.WriteString(c, predictHeaders("image/png", len(img), "Expect: 100-continue")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != 100 {
			t.Fatalf("before the body: %v %v, want 100 Continue", res, err)
		}
		if _, err := c.Write(img); err != nil {
			t.Fatal(err)
		}
		res, err = http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !bytes.Contains(b, []byte(`"probability"`)) {
			t.Errorf("after the body: %s %.200q", res.Status, b)
		}
	})

	t.Run("Go client never sends the oversize body", func(t *testing.T) {
		tr := s.client.Transport.(*http.Transport).Clone()
		tr.ExpectContinueTimeout = time.Minute // wait for the server's word
		client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		defer tr.CloseIdleConnections()
		body := &countingReader{r: bytes.NewReader(make([]byte, 20<<20))}
		req, err := http.NewRequest("POST", s.url+"api/v1/predict", body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 20 << 20
		req.Header.Set("Content-Type", "image/jpeg")
		req.Header.Set("Expect", "100-continue")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 413 || body.n.Load() != 0 {
			t.Errorf("%s after %d body bytes were read; want 413 after none", res.Status, body.n.Load())
		}
	})
}

// TestReadTimeoutFlags checks the defaults of the two timeouts, their
// flags and variables (a flag wins), and the refusal of zero.
func TestReadTimeoutFlags(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		env           map[string]string
		header, whole time.Duration
		wantErr       bool
	}{
		{nil, nil, 10 * time.Second, 2 * time.Minute, false},
		{[]string{"--read-header-timeout", "1s", "--read-timeout", "30s"}, nil, time.Second, 30 * time.Second, false},
		{nil, map[string]string{"HUSKYAI_READ_HEADER_TIMEOUT": "2s", "HUSKYAI_READ_TIMEOUT": "1m"}, 2 * time.Second, time.Minute, false},
		{[]string{"--read-timeout", "5s"}, map[string]string{"HUSKYAI_READ_TIMEOUT": "1m"}, 10 * time.Second, 5 * time.Second, false},
		{[]string{"--read-header-timeout", "0s"}, nil, 0, 0, true},
		{nil, map[string]string{"HUSKYAI_READ_TIMEOUT": "-1s"}, 0, 0, true},
	} {
		f, err := parseServeFlags(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%v %v: no error", tc.args, tc.env)
			}
			continue
		}
		if err != nil || f.readHeaderTimeout != tc.header || f.readTimeout != tc.whole {
			t.Errorf("%v %v: %v, %v, %v; want %v, %v", tc.args, tc.env, f.readHeaderTimeout, f.readTimeout, err, tc.header, tc.whole)
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestTricklersDoNotStarveOthers: one client opens 8 uploads and trickles
// their bodies at a byte a second; with the default flags it holds at
// most half of the admission places (the rest of its uploads get 429 at
// once), its tricklers are cut with 408 after the 5s grace instead of the
// read timeout, and another client's requests meanwhile are all answered
// 200. (Two clients behind a trusted proxy: X-Forwarded-For tells them
// apart.)
func TestTricklersDoNotStarveOthers(t *testing.T) {
	s := startServe(t, nil, "--insecure-http", "--trusted-proxy", "127.0.0.1/32", "--rate-limit", "0", "--max-inflight", "2")
	host := strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/")
	img := testPNG(t, 64, 64)
	type answer struct {
		status int
		after  time.Duration
	}
	answers := make(chan answer, 8)
	start := time.Now()
	for range 8 {
		go func() {
			c, err := net.Dial("tcp", host)
			if err != nil {
				answers <- answer{-1, 0}
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /api/v1/predict HTTP/1.1\r\nHost: %s\r\nX-Forwarded-For: 10.0.0.1\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n", host, len(img))
			go func() {
				for i := range img {
					if _, err := c.Write(img[i : i+1]); err != nil {
						return
					}
					time.Sleep(time.Second)
				}
			}()
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				answers <- answer{-1, time.Since(start)}
				return
			}
			res.Body.Close()
			answers <- answer{res.StatusCode, time.Since(start)}
		}()
	}
	time.Sleep(500 * time.Millisecond) // the tricklers are in
	for i := range 6 {
		req, _ := http.NewRequest("POST", s.url+"api/v1/predict", bytes.NewReader(img))
		req.Header.Set("Content-Type", "image/png")
		req.Header.Set("X-Forwarded-For", "10.0.0.2")
		res, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("the other client's request %d: %s", i, res.Status)
		}
	}
	got := map[int]int{}
	for range 8 {
		a := <-answers
		got[a.status]++
		if a.status == 408 && a.after > 15*time.Second {
			t.Errorf("a trickler was cut after %v; want about the 5s grace", a.after)
		}
	}
	if got[429] == 0 || got[408] == 0 || got[429]+got[408] != 8 {
		t.Errorf("the trickling client's 8 uploads got %v; want 429 (over its share) and 408 (cut)", got)
	}
}
