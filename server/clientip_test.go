package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/huskyai/huskyai/audit"
)

// recorder is an audit.Logger that keeps the prediction records, and
// the refusal counts apart.
type recorder struct {
	mu       sync.Mutex
	evs      []audit.Prediction
	refusals []audit.Refusals
}

func (r *recorder) Record(_ context.Context, ev audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev := ev.(type) {
	case audit.Prediction:
		r.evs = append(r.evs, ev)
	case audit.Refusals:
		r.refusals = append(r.refusals, ev)
	}
	return nil
}

func (r *recorder) last() audit.Prediction {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.evs) == 0 {
		return audit.Prediction{}
	}
	return r.evs[len(r.evs)-1]
}

// TestClientInLogAndAudit: the client the server decides on is the one
// the request's log line and audit record name.
func TestClientInLogAndAudit(t *testing.T) {
	img := encodeImage(t, "png", 8, 8)
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tt := range []struct {
		name, remote, xff string
		wantClient        string
		wantForwarded     string
	}{
		{"direct", "198.51.100.9:5000", "", "198.51.100.9", ""},
		{"spoofed", "198.51.100.9:5000", "203.0.113.7", "198.51.100.9", ""},
		{"via a trusted proxy", "10.0.0.1:5000", "6.6.6.6, 203.0.113.7", "203.0.113.7", "203.0.113.7"},
		{"IPv6 via a trusted proxy", "10.0.0.1:5000", "2001:db8::7", "2001:db8::7", "2001:db8::7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			rec := &recorder{}
			h := NewServer(slog.New(slog.NewTextHandler(&logs, nil)), &hashingModel{},
				Config{TrustedProxies: trusted, Audit: rec})
			req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(img))
			req.RemoteAddr = tt.remote
			req.Header.Set("Content-Type", "image/png")
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if !strings.Contains(logs.String(), " client="+tt.wantClient+" ") && !strings.Contains(logs.String(), " client="+tt.wantClient+"\n") {
				t.Errorf("log line lacks client=%s:\n%s", tt.wantClient, logs.String())
			}
			ev := rec.last()
			if ev.ClientAddr != tt.remote || ev.ForwardedFor != tt.wantForwarded {
				t.Errorf("audit client_addr %q forwarded_for %q; want %q and %q", ev.ClientAddr, ev.ForwardedFor, tt.remote, tt.wantForwarded)
			}
		})
	}
}
