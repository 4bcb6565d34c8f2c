package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"math"
	"math/bits"
	"math/rand/v2"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/abuse"
	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/internal/testtool"
)

// sceneImage returns a 64 x 48 picture: smooth waves of brightness with a
// bright disc, like a photo.
func sceneImage() *image.NRGBA {
	const w, h = 64, 48
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := 128 + 90*math.Sin(float64(x)/6)*math.Cos(float64(y)/8)
			c := color.NRGBA{uint8(v), uint8(v * 0.8), uint8(255 - v), 255}
			if dx, dy := x-20, y-24; dx*dx+dy*dy < 144 {
				c = color.NRGBA{230, 220, 200, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// perturbedPNGs returns n PNGs of sceneImage, each with a few pixels
// (chosen by its index) changed by +3 or -3 per channel: near-identical
// images whose bytes all differ.
func perturbedPNGs(t testing.TB, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		img := sceneImage()
		testtool.Perturb(img, rand.New(rand.NewPCG(uint64(i), 1)), 4)
		out = append(out, encodePNG(t, img))
	}
	return out
}

// differentPNGs returns n PNGs of different content: each a gradient in
// its own direction with a few rectangles and discs placed by its index.
func differentPNGs(t testing.TB, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		const w, h = 64, 48
		r := rand.New(rand.NewPCG(uint64(i), 2))
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		gx, gy := r.IntN(3)-1, r.IntN(3)-1
		for y := range h {
			for x := range w {
				v := uint8(128 + gx*(x-w/2) + gy*(y-h/2))
				img.SetNRGBA(x, y, color.NRGBA{v, v / 2, 255 - v, 255})
			}
		}
		for range 12 {
			x0, y0, s := r.IntN(w), r.IntN(h), 4+r.IntN(10)
			c := color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
			disc := r.IntN(2) == 0
			for y := max(0, y0-s); y < min(h, y0+s); y++ {
				for x := max(0, x0-s); x < min(w, x0+s); x++ {
					if !disc || (x-x0)*(x-x0)+(y-y0)*(y-y0) < s*s {
						img.SetNRGBA(x, y, c)
					}
				}
			}
		}
		out = append(out, encodePNG(t, img))
	}
	return out
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hashOf returns the DHash hashingModel computes for a PNG.
func hashOf(t testing.TB, b []byte) uint64 {
	t.Helper()
	m, _, err := imageprep.Decode(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m.DHash()
}

// TestProbingFixtures checks the premise of TestProbing: the perturbed
// copies are near-identical by hash but all differ in bytes, and the
// different images are far apart.
func TestProbingFixtures(t *testing.T) {
	perturbed, different := perturbedPNGs(t, 25), differentPNGs(t, 40)
	hashes := func(imgs [][]byte) []uint64 {
		var hs []uint64
		for _, b := range imgs {
			hs = append(hs, hashOf(t, b))
		}
		return hs
	}
	ph, dh := hashes(perturbed), hashes(different)
	for _, tt := range []struct {
		name string
		a, b []uint64
		near bool
	}{
		{"perturbed copies", ph, ph, true},
		{"different images", dh, dh, false},
		{"different images and the perturbed scene", dh, ph[:1], false},
	} {
		for i, a := range tt.a {
			for j, b := range tt.b {
				if &tt.a[0] == &tt.b[0] && j >= i {
					break // pairs of distinct images of one set
				}
				d := bits.OnesCount64(a ^ b)
				if tt.near && d > abuse.DefaultProbeDistance || !tt.near && d <= abuse.DefaultProbeDistance+4 {
					t.Errorf("%s: images %d and %d are %d bits apart", tt.name, i, j, d)
				}
			}
		}
	}
	for _, imgs := range [][][]byte{perturbed, different} {
		sums := map[[32]byte]bool{}
		for _, b := range imgs {
			sums[sha256.Sum256(b)] = true
		}
		if len(sums) != len(imgs) {
			t.Errorf("%d distinct byte strings among %d images", len(sums), len(imgs))
		}
	}
}

// TestProbing: a client sending near-identical images is flagged from
// the threshold on (and refused with BlockProbing); different images and
// byte-identical retries are never flagged.
func TestProbing(t *testing.T) {
	const threshold = 20
	perturbed := perturbedPNGs(t, 25)
	different := differentPNGs(t, 40)
	repeated := make([][]byte, 25)
	for i := range repeated {
		repeated[i] = perturbed[0]
	}
	// Perturbed copies hidden among twice as many unrelated images, more
	// than a client's history holds.
	var interleaved [][]byte
	for i := range 20 {
		interleaved = append(interleaved, different[2*i], perturbed[i], different[2*i+1])
	}
	for _, tt := range []struct {
		name  string
		imgs  [][]byte
		block bool
		// flaggedFrom is the index of the first flagged request; -1:
		// none.
		flaggedFrom int
	}{
		{"perturbed copies", perturbed, false, threshold - 1},
		{"perturbed copies, blocked", perturbed, true, threshold - 1},
		{"different images", different[:25], true, -1},
		{"byte-identical retries", repeated, true, -1},
		{"perturbed copies among unrelated images", interleaved, true, len(interleaved) - 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			rec := &recorder{}
			m := &hashingModel{}
			h := NewServer(slog.New(slog.NewTextHandler(&logs, nil)), m,
				Config{ProbeThreshold: threshold, BlockProbing: tt.block, Audit: rec})
			post := func(img []byte, remote string) *httptest.ResponseRecorder {
				req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(img))
				req.RemoteAddr = remote
				req.Header.Set("Content-Type", "image/png")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				return w
			}
			const client = "198.51.100.9:5000"
			wantFlagged, wantCalls, wantAudits := 0, 0, 0
			for i, img := range tt.imgs {
				flagged := tt.flaggedFrom >= 0 && i >= tt.flaggedFrom
				// Classified and audited: all but the requests of a
				// blocked client after the one found flagged, which are
				// refused before their upload is read.
				classified := !flagged || !tt.block || i == tt.flaggedFrom
				w := post(img, client)
				if flagged && tt.block {
					var e errorResponse
					json.Unmarshal(w.Body.Bytes(), &e)
					if w.Code != 429 || e.Error.Code != codeProbing || w.Header().Get("Retry-After") == "" {
						t.Fatalf("request %d: %d Retry-After %q %s; want 429 %s with Retry-After", i, w.Code, w.Header().Get("Retry-After"), w.Body, codeProbing)
					}
				} else if w.Code != 200 {
					t.Fatalf("request %d: %d %s; want 200 (flagged: %v)", i, w.Code, w.Body, flagged)
				}
				if flagged {
					wantFlagged++
				}
				if classified {
					wantCalls++
					wantAudits++
				}
				if got := int(m.calls.Load()); got != wantCalls {
					t.Fatalf("request %d: %d classifications, want %d", i, got, wantCalls)
				}
				rec.mu.Lock()
				n := len(rec.evs)
				rec.mu.Unlock()
				if n != wantAudits {
					t.Fatalf("request %d: %d audit records, want %d", i, n, wantAudits)
				}
				if ev := rec.last(); classified && ev.Probing != flagged {
					t.Errorf("request %d: audit probing %v, want %v", i, ev.Probing, flagged)
				}
			}
			if tt.block && tt.flaggedFrom >= 0 {
				if ev := rec.last(); !ev.Probing || ev.Status != 429 || ev.ErrorCode != codeProbing {
					t.Errorf("audit record of the first refused request: %+v", ev)
				}
				// Another client is not affected.
				if w := post(tt.imgs[0], "198.51.100.10:5000"); w.Code != 200 {
					t.Errorf("another client: %d %s", w.Code, w.Body)
				}
			}

			mw := httptest.NewRecorder()
			h.ServeHTTP(mw, httptest.NewRequest("GET", "/metrics", nil))
			if want := "huskyai_probing_flagged_total " + strconv.Itoa(wantFlagged) + "\n"; !strings.Contains(mw.Body.String(), want) {
				t.Errorf("metrics lack %q", want)
			}
			warns := strings.Count(logs.String(), "probing suspected")
			if warns != wantFlagged {
				t.Errorf("%d probing warnings in the log, want %d", warns, wantFlagged)
			}
			if wantFlagged > 0 && (!strings.Contains(logs.String(), "level=WARN msg=\"probing suspected") ||
				!strings.Contains(logs.String(), "client=198.51.100.9 near_identical=")) {
				t.Errorf("probing warning lacks its level, client or count:\n%s", logs.String())
			}
			if strings.Contains(logs.String(), "IHDR") {
				t.Error("the log holds image bytes")
			}
		})
	}
}
