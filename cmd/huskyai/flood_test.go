package main

import (
	"bytes"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
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
func TestServeFloodOfLargeUploads(t *testing.T) {
	img := noiseJPEG(t, 2400, 2000)
	if n := len(img); n < 4<<20 || n > 6<<20 {
		t.Fatalf("test image is %d bytes; want about 5 MB", n)
	}
	body, ct := multipartFile(t, img)
	// Reset the peak RSS so that earlier tests in this process don't count
	// (Linux: "5" to clear_refs resets VmHWM).
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	// The 200 clients share one address: the per-client rate limit is
	// off, so that the admission bound is what is tested.
	s := startServe(t, nil, "--rate-limit", "0")
	s.client.Transport.(*http.Transport).MaxConnsPerHost = 0

	const clients = 200
	var mu sync.Mutex
	statuses := map[int]int{}
	var errs []string
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
				errs = append(errs, err.Error())
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
	t.Logf("%d uploads of %d bytes: statuses %v, peak RSS of the test process %d MiB", clients, len(img), statuses, rss>>20)
	if len(errs) > 0 {
		t.Errorf("%d requests failed without a response, e.g. %s", len(errs), errs[0])
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
