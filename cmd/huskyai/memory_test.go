package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"testing"

	"github.com/huskyai/huskyai/server"
)

// TestPlanMemory checks the decode budget and soft memory limit serve
// derives from the flag, the container's limit (cgroup v2 or v1) and
// GOMEMLIMIT.
func TestPlanMemory(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if s, ok := m[p]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	v2, v1 := cgroupFiles[0], cgroupFiles[1]
	const mi = 1 << 20
	for _, tc := range []struct {
		name    string
		flag    int64
		env     string
		files   map[string]string
		decode  int64
		goLimit int64
		from    string
	}{
		{"no container limit", 0, "", nil, server.DefaultMaxDecodeMemory, 2 * server.DefaultMaxDecodeMemory, "default"},
		{"cgroup v2 max", 0, "", map[string]string{v2: "max\n"}, server.DefaultMaxDecodeMemory, 2 * server.DefaultMaxDecodeMemory, "default"},
		{"cgroup v2 768Mi (the manifests')", 0, "", map[string]string{v2: "805306368\n"}, 805306368 / 10 * 9 / 2, 805306368 / 10 * 9, "cgroup"},
		{"cgroup v1 1GiB", 0, "", map[string]string{v1: "1073741824\n"}, 1073741824 / 10 * 9 / 2, 1073741824 / 10 * 9, "cgroup"},
		{"cgroup v1 unlimited", 0, "", map[string]string{v1: "9223372036854771712\n"}, server.DefaultMaxDecodeMemory, 2 * server.DefaultMaxDecodeMemory, "default"},
		{"flag", 100 * mi, "", nil, 100 * mi, 200 * mi, "flag"},
		{"flag within a container", 400 * mi, "", map[string]string{v2: "805306368"}, 400 * mi, 805306368 / 10 * 9, "flag"},
		{"GOMEMLIMIT wins for the soft limit", 0, "300MiB", map[string]string{v2: "805306368"}, 805306368 / 10 * 9 / 2, 0, "cgroup"},
	} {
		getenv := func(k string) string {
			if k == "GOMEMLIMIT" {
				return tc.env
			}
			return ""
		}
		p := planMemory(tc.flag, getenv, files(tc.files))
		if p.decode != tc.decode || p.goLimit != tc.goLimit || p.from != tc.from {
			t.Errorf("%s: decode %d, Go limit %d, from %s; want %d, %d, %s", tc.name, p.decode, p.goLimit, p.from, tc.decode, tc.goLimit, tc.from)
		}
	}
	if _, ok := cgroupMemoryLimit(func(string) ([]byte, error) { return nil, errors.New("no") }); ok {
		t.Error("a limit without cgroup files")
	}
}

// podMemoryLimit reads the container memory limit of
// deploy/k8s/deployment.yaml, in bytes.
func podMemoryLimit(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "k8s", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+limits:\n\s+cpu: .*\n\s+memory: (\d+)Mi$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no limits.memory in deploy/k8s/deployment.yaml")
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n << 20
}

// worstImages are, for each format, the costliest image a header can
// declare at the default pixel limit (40 MP, 8000x5000), the data behind
// it short (the decoders allocate for the header, then fail), and
// honest images that decode.
func worstImages(t *testing.T) map[string][]byte {
	t.Helper()
	const w, h = 8000, 5000
	pngHeader := func(depth, ctype, interlace byte) []byte {
		var b bytes.Buffer
		b.WriteString("\x89PNG\r\n\x1a\n")
		chunk := func(typ string, data []byte) {
			binary.Write(&b, binary.BigEndian, uint32(len(data)))
			b.WriteString(typ)
			b.Write(data)
			binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
		}
		ihdr := binary.BigEndian.AppendUint32(nil, w)
		ihdr = binary.BigEndian.AppendUint32(ihdr, h)
		chunk("IHDR", append(ihdr, depth, ctype, 0, 0, interlace))
		chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1}) // a few zero bytes
		chunk("IEND", nil)
		return b.Bytes()
	}
	sofOf := func(name string, b []byte) []byte {
		for p := 2; p+9 < len(b); p += 2 + int(binary.BigEndian.Uint16(b[p+2:])) {
			if b[p+1] == 0xC0 || b[p+1] == 0xC2 {
				binary.BigEndian.PutUint16(b[p+5:], h)
				binary.BigEndian.PutUint16(b[p+7:], w)
				return b
			}
		}
		t.Fatalf("%s: no SOF", name)
		return nil
	}
	sof := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "imageprep", "testdata", "cost", name))
		if err != nil {
			t.Fatal(err)
		}
		return sofOf(name, b)
	}
	encodeJPEG := func(w, h int) []byte {
		m := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range m.Pix {
			m.Pix[i] = uint8(i / 4 % 251)
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, m, nil); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	gifScreen := func() []byte {
		var b bytes.Buffer
		b.WriteString("GIF89a")
		binary.Write(&b, binary.LittleEndian, [2]uint16{w, h})
		b.Write([]byte{0x80, 0, 0, 0, 0, 0, 255, 255, 255}) // 2-colour global table
		b.Write([]byte{0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0})    // a 1x1 frame at 0,0
		b.Write([]byte{2, 2, 0x44, 0x01, 0, 0x3B})
		return b.Bytes()
	}
	honest := image.NewGray(image.Rect(0, 0, 6000, 4000))
	var gray bytes.Buffer
	if err := png.Encode(&gray, honest); err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"png RGBA 16-bit interlaced": pngHeader(16, 6, 1),
		"png RGB 16-bit":             pngHeader(16, 2, 0),
		"png RGB 8-bit":              pngHeader(8, 2, 0),
		"png gray 8-bit":             pngHeader(8, 0, 0),
		"jpeg progressive CMYK":      sof("jpeg_cmyk_prog_640x480.jpg"),
		"jpeg progressive 4:4:4":     sof("jpeg_444_prog_640x480.jpg"),
		"jpeg CMYK":                  sof("jpeg_cmyk_640x480.jpg"),
		"gif 40 MP screen":           gifScreen(),
		"png gray 24 MP, honest":     gray.Bytes(),
		// The reduced JPEG decoder is admitted at its own cost, refuses the
		// short data, and the full decode asks for the rest first.
		"jpeg baseline 4:2:0 (falls back)": sofOf("baseline", encodeJPEG(640, 480)),
		"jpeg baseline 12 MP, honest":      encodeJPEG(4000, 3000),
	}
}

// TestServeMemoryUnderPodLimit sends, with serve's memory settings for
// the Kubernetes manifest's container limit (768 MiB: what planMemory
// derives from that cgroup limit), 8 concurrent uploads of the costliest
// image of each format at the default pixel limit, then 64 at once of
// all of them mixed: every request must get 200, 422 or 503, and the
// peak RSS of the whole test process stay under the container limit.
func TestServeMemoryUnderPodLimit(t *testing.T) {
	limit := podMemoryLimit(t)
	plan := planMemory(0, func(string) string { return "" }, func(p string) ([]byte, error) {
		if p == cgroupFiles[0] {
			return []byte(strconv.FormatInt(limit, 10)), nil
		}
		return nil, os.ErrNotExist
	})
	imgs := worstImages(t)
	runtime.GC()
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	// One client: the per-client limits are not what is tested.
	s := startServe(t, nil, "--max-decode-memory", strconv.FormatInt(plan.decode, 10),
		"--rate-limit", "0", "--max-pending-per-client", "1000")
	s.client.Transport.(*http.Transport).MaxConnsPerHost = 0
	statuses := map[string]map[int]int{}
	var mu sync.Mutex
	send := func(name string, n int, wg *sync.WaitGroup) {
		for range n {
			wg.Go(func() {
				code, _, body := s.do(t, "POST", "/api/v1/predict", "application/octet-stream", imgs[name])
				mu.Lock()
				defer mu.Unlock()
				if statuses[name] == nil {
					statuses[name] = map[int]int{}
				}
				statuses[name][code]++
				if code != 200 && code != 422 && code != 503 {
					t.Errorf("%s: %d %v", name, code, body)
				}
			})
		}
	}
	for name := range imgs {
		var wg sync.WaitGroup
		send(name, 8, &wg)
		wg.Wait()
	}
	var wg sync.WaitGroup
	for name := range imgs {
		send(name, 64/len(imgs)+1, &wg)
	}
	wg.Wait()
	rss := peakRSS(t)
	for name, st := range statuses {
		t.Logf("%-34s %v", name, st)
	}
	t.Logf("decode budget %d MiB, Go memory limit %d MiB (container %d MiB): peak RSS of the test process %d MiB",
		plan.decode>>20, plan.goLimit>>20, limit>>20, rss>>20)
	if statuses["png gray 24 MP, honest"][200] == 0 || statuses["jpeg baseline 12 MP, honest"][200] == 0 || statuses["png RGBA 16-bit interlaced"][422] == 0 {
		t.Errorf("want the honest image classified and the costliest refused: %v", statuses)
	}
	if rss > limit {
		t.Errorf("peak RSS %d MiB, above the container limit of %d MiB", rss>>20, limit>>20)
	}
}
