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

// maxRateClients bounds the clients the rate limiter remembers: about 150
// bytes each, so at most about 15 MB.
const maxRateClients = 100_000

// rateLimiter gives each client (an IPv4 address or an IPv6 /64, see
// bucketKey) a token bucket of golang.org/x/time/rate: limit requests
// per second on average, bursts of up to burst.
//
// Memory is bounded (clientTable, at most maxRateClients): a client whose
// bucket has filled up again is forgotten at the next sweep, which loses
// nothing (a new bucket starts full).
type rateLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	clients *clientTable[*rate.Limiter]
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
	rl := &rateLimiter{limit: rate.Limit(limit), burst: max(burst, 1)}
	rl.clients = newClientTable(maxRateClients, func(lim *rate.Limiter, now time.Time) bool {
		return lim.TokensAt(now) >= float64(rl.burst)
	})
	return rl
}

// reserve takes a token from key's bucket at now. When there is none, it
// takes nothing and returns ok false and how long until a token is
// available.
func (rl *rateLimiter) reserve(key netip.Prefix, now time.Time) (ok bool, retryAfter time.Duration) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	lim := rl.clients.getOrAdd(key, now, func() *rate.Limiter { return rate.NewLimiter(rl.limit, rl.burst) })
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

// size returns the number of clients remembered.
func (rl *rateLimiter) size() int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.clients.len()
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
