package server

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Defaults and limits of the probing detector.
const (
	// DefaultProbeWindow is the default Config.ProbeWindow.
	DefaultProbeWindow = 10 * time.Minute
	// DefaultProbeDistance is the default Config.ProbeDistance: 64-bit
	// difference hashes at most this many bits apart are near-identical.
	DefaultProbeDistance = 10
	// MaxProbeThreshold is the largest Config.ProbeThreshold.
	MaxProbeThreshold = 1000

	// maxProbeClients bounds the clients the detector remembers.
	maxProbeClients = 10_000
)

// probeDetector notices a client that sends many images that are nearly,
// but not exactly, the same: the pattern of an attacker who perturbs an
// image a little at a time to learn how the model's answer moves
// (probing, or the search for an adversarial example).
//
// For each client (bucketKey) it remembers the uploads of the last window:
// when, the upload's perceptual hash (classifier.Result.PHash) and its
// SHA-256. An upload is near-identical when its hash is within distance
// bits of an earlier upload's of the window whose bytes differ; both are
// then counted. Byte-identical repeats are retries, counted neither way.
// The client is flagged while threshold or more of its uploads in the
// window are counted.
//
// Memory is bounded: a client keeps at most 2 x threshold uploads (the
// oldest uncounted ones go first, so interleaving unrelated images does
// not hide a probe), 32 bytes each, and at most maxProbeClients clients
// are kept (clientTable), those without an upload in the window being
// forgotten first: 10,000 x 40 x 32 bytes, about 13 MB, at the default
// threshold of 20.
type probeDetector struct {
	window    time.Duration
	threshold int
	distance  int
	perClient int

	mu      sync.Mutex
	clients *clientTable[*probeHistory]
}

// probeHistory is one client's uploads in the window, oldest first.
type probeHistory struct {
	uploads []probeUpload
}

// probeUpload is what the detector keeps of one upload.
type probeUpload struct {
	at    int64  // Unix nanoseconds
	phash uint64 // perceptual hash
	sum   uint64 // the first 8 bytes of the SHA-256 of the upload
	near  bool   // counted: near-identical to another upload of the window
}

// newProbeDetector returns the detector Config asks for, or nil when
// cfg.ProbeThreshold is not positive.
func newProbeDetector(cfg Config) *probeDetector {
	if cfg.ProbeThreshold <= 0 {
		return nil
	}
	d := &probeDetector{
		window:    cfg.ProbeWindow,
		threshold: min(max(cfg.ProbeThreshold, 2), MaxProbeThreshold),
		distance:  cfg.ProbeDistance,
	}
	if d.window <= 0 {
		d.window = DefaultProbeWindow
	}
	if d.distance <= 0 {
		d.distance = DefaultProbeDistance
	}
	d.perClient = 2 * d.threshold
	d.clients = newClientTable(maxProbeClients, func(h *probeHistory, now time.Time) bool {
		n := len(h.uploads)
		return n == 0 || h.uploads[n-1].at <= now.Add(-d.window).UnixNano()
	})
	return d
}

// observe records an upload of key at now, with its SHA-256 and
// perceptual hash, and returns the client's count of near-identical
// uploads in the window and whether it is flagged.
func (d *probeDetector) observe(key netip.Prefix, now time.Time, sha [32]byte, phash uint64) (count int, flagged bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.history(key, now)
	sum := binary.BigEndian.Uint64(sha[:8])
	up := probeUpload{at: now.UnixNano(), phash: phash, sum: sum}
	retry := false
	for i := range h.uploads {
		if h.uploads[i].sum == sum {
			retry = true
			break
		}
	}
	if !retry {
		for i := range h.uploads {
			if bits.OnesCount64(h.uploads[i].phash^phash) <= d.distance {
				h.uploads[i].near, up.near = true, true
			}
		}
		if len(h.uploads) >= d.perClient {
			h.drop()
		}
		h.uploads = append(h.uploads, up)
	}
	count = h.count()
	return count, count >= d.threshold
}

// blocked reports whether key is flagged at now, and if so how long until
// it no longer is (when enough of its counted uploads leave the window).
func (d *probeDetector) blocked(key netip.Prefix, now time.Time) (count int, wait time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h, ok := d.clients.m[key]
	if !ok {
		return 0, 0
	}
	h.expire(now.Add(-d.window).UnixNano())
	count = h.count()
	if count < d.threshold {
		return count, 0
	}
	// The count falls below the threshold when its (count-threshold)th
	// counted upload, oldest first, leaves the window.
	k := count - d.threshold
	for _, u := range h.uploads {
		if !u.near {
			continue
		}
		if k == 0 {
			return count, time.Unix(0, u.at).Add(d.window).Sub(now)
		}
		k--
	}
	return count, d.window // not reached
}

// history returns key's history, expired up to now, making room for it
// if it is new. d.mu is held.
func (d *probeDetector) history(key netip.Prefix, now time.Time) *probeHistory {
	h := d.clients.getOrAdd(key, now, func() *probeHistory { return &probeHistory{} })
	h.expire(now.Add(-d.window).UnixNano())
	return h
}

// size returns the number of clients remembered.
func (d *probeDetector) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.clients.len()
}

// expire drops the uploads at or before cutoff.
func (h *probeHistory) expire(cutoff int64) {
	i := 0
	for i < len(h.uploads) && h.uploads[i].at <= cutoff {
		i++
	}
	if i > 0 {
		h.uploads = append(h.uploads[:0], h.uploads[i:]...)
	}
}

// drop removes the oldest upload that is not counted, or the oldest one
// if all are.
func (h *probeHistory) drop() {
	i := 0
	for j, u := range h.uploads {
		if !u.near {
			i = j
			break
		}
	}
	h.uploads = append(h.uploads[:i], h.uploads[i+1:]...)
}

// count returns the number of counted uploads.
func (h *probeHistory) count() int {
	n := 0
	for _, u := range h.uploads {
		if u.near {
			n++
		}
	}
	return n
}

// probingBlocked answers 429 and returns true when Config.BlockProbing is
// set and c is flagged for probing, before the upload is read.
func (s *server) probingBlocked(w http.ResponseWriter, r *http.Request, c *client, now time.Time, warning string) bool {
	if s.probes == nil || !s.cfg.BlockProbing {
		return false
	}
	count, wait := s.probes.blocked(bucketKey(c.Addr), now)
	if wait <= 0 {
		return false
	}
	s.flagProbing(r, c, count)
	s.refuse(w, wait, codeProbing, probingMessage(wait), warning)
	return true
}

// checkProbing records a classified upload of the request's client in
// the probing detector (sha is the upload's SHA-256, phash its perceptual
// hash). When the client is flagged it counts, logs and marks the request
// for the audit record; with Config.BlockProbing it then sets Retry-After
// and returns block true and the message: the caller answers 429
// codeProbing instead of the verdict.
func (s *server) checkProbing(w http.ResponseWriter, r *http.Request, sha [32]byte, phash uint64) (block bool, message string) {
	if s.probes == nil {
		return false, ""
	}
	c := clientOf(r.Context())
	key, now := bucketKey(c.Addr), time.Now()
	count, flagged := s.probes.observe(key, now, sha, phash)
	if !flagged {
		return false, ""
	}
	s.flagProbing(r, c, count)
	if !s.cfg.BlockProbing {
		return false, ""
	}
	_, wait := s.probes.blocked(key, now)
	w.Header().Set("Retry-After", retryAfterSeconds(wait))
	return true, probingMessage(wait)
}

// flagProbing counts, logs and marks a request of a client flagged for
// probing, with count near-identical uploads in the window.
func (s *server) flagProbing(r *http.Request, c *client, count int) {
	c.probing = true
	s.metrics.probingFlagged.Inc()
	addLogAttrs(r.Context(), "probing", true)
	s.logger.WarnContext(r.Context(), "probing suspected: many near-identical images from one client",
		"request_id", requestIDOf(r.Context()), "client", c.String(),
		"near_identical", count, "window", s.probes.window.String(), "blocked", s.cfg.BlockProbing)
}

// probingMessage is the message of a 429 probing_suspected answer.
func probingMessage(wait time.Duration) string {
	return fmt.Sprintf("too many nearly identical images from your address; try again in %s seconds", retryAfterSeconds(wait))
}
