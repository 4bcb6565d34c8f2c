package server

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits of the rate limiter's memory.
const (
	// maxRateClients bounds the clients the rate limiter remembers: about
	// 150 bytes each, so at most about 15 MB.
	maxRateClients = 100_000
	// rateSweepEvery is how often idle clients are forgotten even when
	// the table is not full, so that it shrinks after a busy period.
	rateSweepEvery = time.Minute
	// rateSweepMinGap is the least time between two sweeps forced by a
	// full table, so that a flood of new clients does not make every
	// insert scan the whole table.
	rateSweepMinGap = time.Second
)

// rateLimiter gives each client (an IPv4 address or an IPv6 /64, see
// bucketKey) a token bucket of golang.org/x/time/rate: limit requests
// per second on average, bursts of up to burst.
//
// Memory is bounded. A client whose bucket has filled up again is
// forgotten at the next sweep, which loses nothing (a new bucket starts
// full). Sweeps run at most every rateSweepEvery on any request, and when
// a new client finds the table full (maxRateClients), at most every
// rateSweepMinGap. If the table is still full, arbitrary clients are
// forgotten (Go's map order), which gives them a full bucket again: the
// bound is on memory; an attacker with more than maxRateClients
// addresses is beyond what a per-client limit can stop.
type rateLimiter struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	clients   map[netip.Prefix]*rate.Limiter
	lastSweep time.Time
}

// newRateLimiter returns a limiter of limit requests per second with
// bursts of burst (at least 1; zero means twice the limit), or nil when
// limit is not positive: no rate limiting.
func newRateLimiter(limit float64, burst int) *rateLimiter {
	if limit <= 0 || math.IsNaN(limit) {
		return nil
	}
	if burst <= 0 {
		burst = int(math.Min(math.Ceil(2*limit), 1<<20))
	}
	return &rateLimiter{
		limit:   rate.Limit(limit),
		burst:   max(burst, 1),
		clients: make(map[netip.Prefix]*rate.Limiter),
	}
}

// reserve takes a token from key's bucket at now. When there is none, it
// takes nothing and returns ok false and how long until a token is
// available.
func (rl *rateLimiter) reserve(key netip.Prefix, now time.Time) (ok bool, retryAfter time.Duration) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if now.Sub(rl.lastSweep) >= rateSweepEvery {
		rl.sweep(now)
	}
	lim := rl.clients[key]
	if lim == nil {
		if len(rl.clients) >= maxRateClients && now.Sub(rl.lastSweep) >= rateSweepMinGap {
			rl.sweep(now)
		}
		for k := range rl.clients {
			if len(rl.clients) < maxRateClients {
				break
			}
			delete(rl.clients, k)
		}
		lim = rate.NewLimiter(rl.limit, rl.burst)
		rl.clients[key] = lim
	}
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		// Only when burst < 1, which newRateLimiter prevents.
		return false, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep forgets the clients whose bucket is full again. rl.mu is held.
func (rl *rateLimiter) sweep(now time.Time) {
	rl.lastSweep = now
	for k, lim := range rl.clients {
		if lim.TokensAt(now) >= float64(rl.burst) {
			delete(rl.clients, k)
		}
	}
}

// size returns the number of clients remembered.
func (rl *rateLimiter) size() int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return len(rl.clients)
}

// retryAfterSeconds is the Retry-After value for a wait of d: whole
// seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}

// admitClient applies the per-client defences that need no upload, before
// a prediction request's body is read or a slot is taken: the rate limit,
// then (with Config.BlockProbing) the block of a client flagged for
// probing. It answers 429 with Retry-After and returns false when the
// request is refused. warning is the model warning for the error body.
func (s *server) admitClient(w http.ResponseWriter, r *http.Request, warning string) bool {
	c := clientOf(r.Context())
	now := time.Now()
	if s.limiter != nil {
		if ok, wait := s.limiter.reserve(bucketKey(c.Addr), now); !ok {
			s.metrics.rateLimited.Inc()
			s.refuse(w, wait, codeRateLimited, fmt.Sprintf(
				"too many prediction requests from your address: the limit is %g per second, in bursts of up to %d; try again in %s seconds",
				float64(s.limiter.limit), s.limiter.burst, retryAfterSeconds(wait)), warning)
			return false
		}
	}
	return !s.probingBlocked(w, r, c, now, warning)
}

// refuse answers 429 with Retry-After for a wait of d, and closes the
// connection, since the upload that may follow is not read.
func (s *server) refuse(w http.ResponseWriter, d time.Duration, code, message, warning string) {
	w.Header().Set("Retry-After", retryAfterSeconds(d))
	w.Header().Set("Connection", "close")
	errorJSON(w, http.StatusTooManyRequests, code, message, warning)
}
