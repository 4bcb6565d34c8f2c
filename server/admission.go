package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/huskyai/huskyai/abuse"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/imageprep"
)

// clientPending counts each client's admitted prediction requests (keyed
// as the rate limiter keys clients: IPv4 address, IPv6 /64), so that one
// client cannot hold every place of Config.MaxPending.
type clientPending struct {
	mu sync.Mutex
	n  map[netip.Prefix]int
}

// take counts one more request of client k, unless it already has max.
func (p *clientPending) take(k netip.Prefix, max int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		p.n = map[netip.Prefix]int{}
	}
	if p.n[k] >= max {
		return false
	}
	p.n[k]++
	return true
}

// give uncounts one request of client k.
func (p *clientPending) give(k netip.Prefix) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[k]--; p.n[k] <= 0 {
		delete(p.n, k)
	}
}

// admit is admitPlaces for an HTTP request, whose body's reading it also
// makes keep to MinUploadRate (guardUpload).
func (s *server) admit(w http.ResponseWriter, r *http.Request) (release func(), ue *uploadError) {
	release, ue = s.admitPlaces(r.Context(), w.Header())
	if ue == nil {
		s.guardUpload(w, r)
	}
	return release, ue
}

// admitPlaces takes the request's places before its body is read: one of
// its client's MaxPendingPerClient (429 too_many_pending when none is
// left, so that one client cannot hold the queue) and one of MaxPending
// (503 when none is left). The caller answers the refusal with ue and
// calls release when the request is done. ctx and hdr are the request's,
// as the pipeline takes them.
func (s *server) admitPlaces(ctx context.Context, hdr http.Header) (release func(), ue *uploadError) {
	key := abuse.Key(clientOf(ctx).Addr)
	if !s.perClient.take(key, s.cfg.MaxPendingPerClient) {
		s.metrics.rejected.WithLabelValues("client_pending").Inc()
		s.auditRefusal(ctx, http.StatusTooManyRequests, codeTooManyPending)
		hdr.Set("Connection", "close")
		hdr.Set("Retry-After", "1")
		return nil, &uploadError{http.StatusTooManyRequests, codeTooManyPending,
			"this client already has as many uploads in progress as the server takes from one client; wait for them to finish"}
	}
	releasePending, ok := s.admitPending(hdr)
	if !ok {
		s.perClient.give(key)
		s.auditRefusal(ctx, http.StatusServiceUnavailable, codeBusy)
		return nil, &uploadError{http.StatusServiceUnavailable, codeBusy, "the server is busy with other uploads; try again in a moment"}
	}
	return func() {
		releasePending()
		s.perClient.give(key)
	}, nil
}

// guardUpload makes reading r's body fail with a timeout (408
// upload_timeout) once the upload falls below Config.MinUploadRate on
// average after Config.UploadGrace, as nginx's client_body_timeout cuts a
// stalled upload, rather than letting a trickle hold its place until the
// whole read timeout: before each read the connection's read deadline is
// set to when the bytes received so far would fall below the rate.
func (s *server) guardUpload(w http.ResponseWriter, r *http.Request) {
	if s.cfg.MinUploadRate <= 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	r.Body = &rateReader{ReadCloser: r.Body, rc: http.NewResponseController(w), start: time.Now(),
		rate: float64(s.cfg.MinUploadRate), grace: s.cfg.UploadGrace}
}

// rateReader is guardUpload's body.
type rateReader struct {
	io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	n     int64
	rate  float64 // bytes per second
	grace time.Duration
}

func (g *rateReader) Read(p []byte) (int, error) {
	due := time.Duration(float64(g.n) / g.rate * float64(time.Second))
	// Where the connection has no deadlines (a test's recorder), the
	// server's own read timeout still applies.
	_ = g.rc.SetReadDeadline(g.start.Add(max(g.grace, due)))
	n, err := g.ReadCloser.Read(p)
	g.n += int64(n)
	return n, err
}

// memoryEstimator is a model that tells, from an image's header, the
// memory preparing it takes (classifier.Classifier.PrepareCost), and that
// asks before it takes more (classifier.Classifier.PrepareFallback).
type memoryEstimator interface {
	PrepareCost(img []byte) (imageprep.Cost, imageprep.Info, error)
	PrepareFallback(img []byte, full func() error) (classifier.Prepared, error)
	ClassifyFallback(img []byte, full func() error) (classifier.Result, error)
}

// codeTooCostly answers an image whose decode alone needs more than
// Config.MaxDecodeMemory.
const codeTooCostly = "image_too_costly"

// decodeGrant is the decode memory a request holds (reserveDecode).
type decodeGrant struct {
	s        *server
	ctx      context.Context
	info     imageprep.Info
	held     int64 // reserved so far
	max      int64 // what the full decode needs
	released bool
}

// reserveDecode reserves the memory that decoding its image will take, from
// its header, within Config.MaxDecodeMemory: waiting for room at most the
// queue timeout (then 503), refusing with 422 an image that alone needs
// more than the budget, and with Prepare's own answer (415, 422) a header
// Prepare would refuse.
//
// It reserves in two steps where a cheaper decoder may take the image (a
// baseline JPEG, imageprep.Cost): what that decoder needs first, and the
// rest only if it gives up and the full decode follows (decodeGrant.full,
// which the model calls; it waits like the first step). Most uploads are
// such JPEGs, and their first step is 4 to 5 times smaller than the full
// decode, so that many more of them fit in the same budget.
//
// The grant's release gives the memory back. Tensors, models that cannot
// tell (test doubles, ONNX Runtime) and a server without a budget reserve
// nothing (a nil grant, whose methods do nothing).
func (s *server) reserveDecode(ctx context.Context, c Classifier, it inferItem) (*decodeGrant, *uploadError) {
	me, ok := c.(memoryEstimator)
	if it.tensor != nil || !ok || s.decodeMem == nil {
		return nil, nil
	}
	cost, info, err := me.PrepareCost(it.img)
	if err != nil {
		st, code, msg := classifyError(err)
		return nil, &uploadError{st, code, msg}
	}
	g := &decodeGrant{s: s, ctx: ctx, info: info, max: cost.Max}
	if ue := g.reserve(cost.Expected); ue != nil {
		return nil, ue
	}
	return g, nil
}

// reserve adds n bytes to the grant, waiting at most the queue timeout.
func (g *decodeGrant) reserve(n int64) *uploadError {
	s := g.s
	if g.held+n > s.cfg.MaxDecodeMemory {
		return &uploadError{http.StatusUnprocessableEntity, codeTooCostly, fmt.Sprintf(
			"decoding this %dx%d %s image would take about %d MiB of memory, more than this server allows for images (%d MiB)",
			g.info.Width, g.info.Height, g.info.Format, (g.held+n+1<<20-1)>>20, s.cfg.MaxDecodeMemory>>20)}
	}
	ctx, cancel := context.WithTimeout(g.ctx, s.cfg.QueueTimeout)
	defer cancel()
	if err := s.decodeMem.acquire(ctx, n); err != nil {
		s.metrics.rejected.WithLabelValues("memory").Inc()
		return &uploadError{http.StatusServiceUnavailable, codeBusy, "the server is busy decoding other images; try again in a moment"}
	}
	g.held += n
	return nil
}

// full reserves the rest of the full decode's memory, before a cheaper
// decoder's fallback to it; its error is an *uploadError.
func (g *decodeGrant) full() error {
	if g == nil || g.held >= g.max {
		return nil
	}
	if ue := g.reserve(g.max - g.held); ue != nil {
		return ue
	}
	return nil
}

// release gives the grant's memory back (to be free once collected:
// decodeBudget).
func (g *decodeGrant) release() {
	if g == nil || g.released {
		return
	}
	g.released = true
	g.s.decodeMem.release(g.held)
}

// prepare runs c's Prepare on it's image under grant g.
func prepare(c Classifier, it inferItem, g *decodeGrant) (classifier.Prepared, error) {
	if me, ok := c.(memoryEstimator); ok && g != nil {
		return me.PrepareFallback(it.img, g.full)
	}
	return c.Prepare(it.img)
}

// classifyImage runs c's Classify on it's image under grant g.
func classifyImage(c Classifier, it inferItem, g *decodeGrant) (classifier.Result, error) {
	if me, ok := c.(memoryEstimator); ok && g != nil {
		return me.ClassifyFallback(it.img, g.full)
	}
	return c.Classify(it.img)
}
