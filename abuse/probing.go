package abuse

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"sync"
	"time"
)

// Defaults and limits of the probing detector.
const (
	// DefaultProbeWindow is the window of NewProbeDetector when it is given none.
	DefaultProbeWindow = 10 * time.Minute
	// DefaultProbeDistance is the distance of NewProbeDetector when it is
	// given none: 64-bit difference hashes at most this many bits apart
	// are near-identical.
	DefaultProbeDistance = 10
	// MaxProbeThreshold is the largest threshold of NewProbeDetector.
	MaxProbeThreshold = 1000

	// maxProbeClients bounds the clients the detector remembers.
	maxProbeClients = 10_000
)

// ProbeDetector notices a client that sends many images that are nearly,
// but not exactly, the same: the pattern of an attacker who perturbs an
// image a little at a time to learn how the model's answer moves
// (probing, or the search for an adversarial example).
//
// For each client (Key) it remembers the uploads of the last window:
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
// are kept (table), those without an upload in the window being
// forgotten first: 10,000 x 40 x 32 bytes, about 13 MB, at the default
// threshold of 20.
type ProbeDetector struct {
	window    time.Duration
	threshold int
	distance  int
	perClient int

	mu      sync.Mutex
	clients *table[*probeHistory]
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

// NewProbeDetector returns a detector that flags a client with threshold
// (at least 2, at most MaxProbeThreshold) near-identical uploads within
// window, near-identical meaning perceptual hashes at most distance bits
// apart; zero window and distance take the defaults. It returns nil when
// threshold is not positive: no detection.
func NewProbeDetector(threshold int, window time.Duration, distance int) *ProbeDetector {
	if threshold <= 0 {
		return nil
	}
	d := &ProbeDetector{
		window:    window,
		threshold: min(max(threshold, 2), MaxProbeThreshold),
		distance:  distance,
	}
	if d.window <= 0 {
		d.window = DefaultProbeWindow
	}
	if d.distance <= 0 {
		d.distance = DefaultProbeDistance
	}
	d.perClient = 2 * d.threshold
	d.clients = newTable(maxProbeClients, func(h *probeHistory, now time.Time) bool {
		n := len(h.uploads)
		return n == 0 || h.uploads[n-1].at <= now.Add(-d.window).UnixNano()
	})
	return d
}

// Observe records an upload of key at now, with its SHA-256 and
// perceptual hash, and returns the client's count of near-identical
// uploads in the window and whether it is flagged.
func (d *ProbeDetector) Observe(key netip.Prefix, now time.Time, sha [32]byte, phash uint64) (count int, flagged bool) {
	return d.ObserveN(key, now, sha, phash, 1)
}

// ObserveN is Observe for an upload the model ran n times on variations
// of (an explanation: the picture with one part after another covered),
// which a client probing the model would have to send as n near-identical
// uploads: it counts as n of them. As with Observe, sending the same
// bytes again counts nothing more.
func (d *ProbeDetector) ObserveN(key netip.Prefix, now time.Time, sha [32]byte, phash uint64, n int) (count int, flagged bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.history(key, now)
	sum := binary.BigEndian.Uint64(sha[:8])
	for k := range uint64(max(n, 1)) {
		d.observe(h, probeUpload{at: now.UnixNano(), phash: phash, sum: sum + k})
	}
	count = h.count()
	return count, count >= d.threshold
}

// observe adds up to h unless it is a retry (the same sum as one of the
// window), marking it and the uploads it is near-identical to. d.mu is
// held.
func (d *ProbeDetector) observe(h *probeHistory, up probeUpload) {
	for i := range h.uploads {
		if h.uploads[i].sum == up.sum {
			return
		}
	}
	for i := range h.uploads {
		if bits.OnesCount64(h.uploads[i].phash^up.phash) <= d.distance {
			h.uploads[i].near, up.near = true, true
		}
	}
	if len(h.uploads) >= d.perClient {
		h.drop()
	}
	h.uploads = append(h.uploads, up)
}

// Blocked reports whether key is flagged at now, and if so how long until
// it no longer is (when enough of its counted uploads leave the window).
func (d *ProbeDetector) Blocked(key netip.Prefix, now time.Time) (count int, wait time.Duration) {
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
func (d *ProbeDetector) history(key netip.Prefix, now time.Time) *probeHistory {
	h := d.clients.getOrAdd(key, now, func() *probeHistory { return &probeHistory{} })
	h.expire(now.Add(-d.window).UnixNano())
	return h
}

// Size returns the number of clients remembered.
func (d *ProbeDetector) Size() int {
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

// Window is the detector's sliding window.
func (d *ProbeDetector) Window() time.Duration { return d.window }
