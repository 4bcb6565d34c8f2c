package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// securityHeaders are set on every response. The page loads only its own
// files (no CDN, no inline script); blob: is for the local preview of the
// chosen image.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	"X-Content-Type-Options":  "nosniff",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "no-referrer",
	"Cache-Control":           "no-store",
}

// hsts is the Strict-Transport-Security of answers over TLS: browsers
// that reached the service over HTTPS keep to HTTPS for two years.
const hsts = "max-age=63072000"

// middleware wraps the whole mux: security headers (and HSTS over TLS;
// behind a proxy that terminates TLS, the proxy sets it) and request ids.
func (s *server) middleware(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", hsts)
		}
		if s.cfg.Drain.Draining() {
			// net/http closes the connection after this answer.
			w.Header().Set("Connection", "close")
		}
		id := requestID(r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), logKey{}, &logAttrs{id: id})
		ctx = s.withClient(ctx, r)
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// instrument wraps the handler of one route: it recovers panics (500),
// counts and times the request, and logs one line per request.
func (s *server) instrument(route string, h http.Handler) http.Handler {
	inflight := s.metrics.inflight.WithLabelValues(route)
	duration := s.metrics.duration.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		inflight.Inc()
		r, endSpan := s.startSpan(r, route)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == http.ErrAbortHandler {
				inflight.Dec()
				panic(p)
			}
			if p != nil {
				s.logger.ErrorContext(r.Context(), "panic serving request",
					"request_id", requestIDOf(r.Context()), "route", route,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					errorJSON(sw, http.StatusInternalServerError, codeInternal, "internal error", "")
				}
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			endSpan(sw.status)
			elapsed := time.Since(start)
			inflight.Dec()
			duration.Observe(elapsed.Seconds())
			s.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
			attrs := []any{
				"request_id", requestIDOf(r.Context()),
				"method", r.Method,
				"route", route,
				"status", sw.status,
				"duration_ms", float64(elapsed.Microseconds()) / 1000,
				"bytes_out", sw.written,
			}
			s.logRequest(r.Context(), sw.status, attrs)
		}()
		h.ServeHTTP(sw, r)
	})
}

// logRequest logs the line of a request answered with status (over gRPC,
// the HTTP status of the same answer), with attrs and those the handlers
// added: at info, at error for a 5xx, and sampled at warning for 429 and
// 503 (shedSampler).
func (s *server) logRequest(ctx context.Context, status int, attrs []any) {
	attrs = append(attrs, extraLogAttrs(ctx)...)
	level := slog.LevelInfo
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		// Shedding load is the service working as designed, and comes in
		// floods: a warning, sampled.
		ok, suppressed := s.shed.allow(time.Now())
		if !ok {
			return
		}
		level = slog.LevelWarn
		if suppressed > 0 {
			attrs = append(attrs, "suppressed_before", suppressed)
		}
	case status >= 500:
		level = slog.LevelError
	}
	s.logger.Log(ctx, level, "request", attrs...)
}

// shedBurst is how many log lines of 429 and 503 answers a second lets
// through; the others are counted, and the next line that passes says how
// many it stands for (the metrics count every answer).
const shedBurst = 10

// shedSampler samples the log lines of load-shedding answers. The zero
// value is ready to use.
type shedSampler struct {
	mu         sync.Mutex
	second     time.Time
	n          int
	suppressed int
}

// allow reports whether the line of an answer at now is logged and, if
// so, how many lines were suppressed since the last one that was.
func (s *shedSampler) allow(now time.Time) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := now.Truncate(time.Second); !sec.Equal(s.second) {
		s.second, s.n = sec, 0
	}
	if s.n >= shedBurst {
		s.suppressed++
		return false, 0
	}
	s.n++
	n := s.suppressed
	s.suppressed = 0
	return true, n
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status  int
	written int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.written += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logKey is the context key of a request's *logAttrs.
type logKey struct{}

// logAttrs carries a request's id and the attributes handlers add to its
// log line.
type logAttrs struct {
	id    string
	mu    sync.Mutex
	attrs []any
}

// addLogAttrs adds key-value pairs to the request's log line.
func addLogAttrs(ctx context.Context, args ...any) {
	if la, ok := ctx.Value(logKey{}).(*logAttrs); ok {
		la.mu.Lock()
		la.attrs = append(la.attrs, args...)
		la.mu.Unlock()
	}
}

func extraLogAttrs(ctx context.Context) []any {
	la, ok := ctx.Value(logKey{}).(*logAttrs)
	if !ok {
		return nil
	}
	la.mu.Lock()
	defer la.mu.Unlock()
	return append([]any(nil), la.attrs...)
}

func requestIDOf(ctx context.Context) string {
	if la, ok := ctx.Value(logKey{}).(*logAttrs); ok {
		return la.id
	}
	return ""
}

// requestID returns the client's X-Request-Id if it is short and made of
// safe characters, else a new random one.
func requestID(given string) string {
	if len(given) > 0 && len(given) <= 128 {
		ok := true
		for _, c := range given {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
				ok = false
				break
			}
		}
		if ok {
			return given
		}
	}
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
