package main

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// noiseJPEG returns a JPEG of random pixels of about size bytes.
func noiseJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.Uint32())
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// floodRSSLimit is the bound on the whole test process's peak RSS (server,
// embedded model and the 200 clients) during the flood. Admitting at most
// --max-pending uploads keeps the server near max-pending x 5 MB plus
// decode buffers; without that bound the 200 uploads alone would take
// 1 GB.
const floodRSSLimit = 512 << 20

// TestServeFloodOfLargeUploads sends 200 concurrent uploads of a 5 MB JPEG:
// the server must neither crash nor exceed floodRSSLimit, and every
// request it cannot take must get 503 with Retry-After, not hang.
//
// The server refuses a request before reading its body, then closes the
// connection; a client still pushing its 5 MB may then see the TCP reset
// before it reads the 503 (as a browser would). Such a reset is accepted
// only because the server's own request counter proves that it answered
// every one of the 200 requests with 200 or 503.
func TestServeFloodOfLargeUploads(t *testing.T) {
	img := noiseJPEG(t, 2400, 2000)
	if n := len(img); n < 4<<20 || n > 6<<20 {
		t.Fatalf("test image is %d bytes; want about 5 MB", n)
	}
	body, ct := multipartFile(t, img)
	// Reset the peak RSS so that earlier tests in this process don't count
	// (Linux: "5" to clear_refs resets VmHWM).
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	// The 200 clients share one address: the per-client rate limit and
	// admission bound are off, so that the global admission bound is what
	// is tested.
	s := startServe(t, nil, "--rate-limit", "0", "--max-pending-per-client", "1000")
	s.client.Transport.(*http.Transport).MaxConnsPerHost = 0

	const clients = 200
	var mu sync.Mutex
	statuses := map[int]int{}
	var errs []string
	resets := 0
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			req, err := http.NewRequest("POST", s.url+"huskyai/", bytes.NewReader(body.Bytes()))
			if err != nil {
				panic(err)
			}
			req.Header.Set("Content-Type", ct)
			res, err := s.client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
					resets++
				} else {
					errs = append(errs, err.Error())
				}
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			statuses[res.StatusCode]++
			if res.StatusCode == 503 && res.Header.Get("Retry-After") == "" {
				errs = append(errs, "503 without Retry-After")
			}
		})
	}
	wg.Wait()
	rss := peakRSS(t)
	t.Logf("%d uploads of %d bytes: statuses %v, %d connections reset after the server answered, peak RSS of the test process %d MiB",
		clients, len(img), statuses, resets, rss>>20)
	if len(errs) > 0 {
		t.Errorf("%d requests failed without a response, e.g. %s", len(errs), errs[0])
	}
	// What the server says it answered on this route.
	metrics := s.metrics(t)
	answered := map[int]int{}
	for _, code := range []int{200, 503} {
		re := regexp.MustCompile(`huskyai_http_requests_total\{code="` + strconv.Itoa(code) + `",route="/huskyai/"\} (\d+)`)
		if m := re.FindStringSubmatch(metrics); m != nil {
			answered[code], _ = strconv.Atoi(m[1])
		}
	}
	if answered[200] != statuses[200] || answered[503] != statuses[503]+resets || answered[200]+answered[503] != clients {
		t.Errorf("the server answered %v on /huskyai/; the clients saw %v and %d resets: want every request answered with 200 or 503",
			answered, statuses, resets)
	}
	for code, n := range statuses {
		if code != 200 && code != 503 {
			t.Errorf("%d responses with status %d; want only 200 and 503", n, code)
		}
	}
	if statuses[200] == 0 {
		t.Error("no upload was classified")
	}
	if rss > floodRSSLimit {
		t.Errorf("peak RSS %d MiB, above the bound of %d MiB", rss>>20, floodRSSLimit>>20)
	}
	// The server still answers afterwards.
	if code, _, _ := s.do(t, "GET", "/healthz", "", nil); code != 200 {
		t.Errorf("/healthz after the flood: %d", code)
	}
}
