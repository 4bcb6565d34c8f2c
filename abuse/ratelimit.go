package abuse

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxRateClients bounds the clients the rate limiter remembers: about 150
// bytes each, so at most about 15 MB.
const maxRateClients = 100_000

// RateLimiter gives each client (an IPv4 address or an IPv6 /64, see
// Key) a token bucket of golang.org/x/time/rate: limit requests
// per second on average, bursts of up to burst.
//
// Memory is bounded (table, at most maxRateClients): a client whose
// bucket has filled up again is forgotten at the next sweep, which loses
// nothing (a new bucket starts full).
type RateLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	clients *table[*rate.Limiter]
}

// NewRateLimiter returns a limiter of limit requests per second with
// bursts of burst (at least 1; zero means twice the limit), or nil when
// limit is not positive: no rate limiting.
func NewRateLimiter(limit float64, burst int) *RateLimiter {
	if limit <= 0 || math.IsNaN(limit) {
		return nil
	}
	if burst <= 0 {
		burst = int(math.Min(math.Ceil(2*limit), 1<<20))
	}
	rl := &RateLimiter{limit: rate.Limit(limit), burst: max(burst, 1)}
	rl.clients = newTable(maxRateClients, func(lim *rate.Limiter, now time.Time) bool {
		return lim.TokensAt(now) >= float64(rl.burst)
	})
	return rl
}

// Reserve takes a token from key's bucket at now. When there is none, it
// takes nothing and returns ok false and how long until a token is
// available.
func (rl *RateLimiter) Reserve(key netip.Prefix, now time.Time) (ok bool, retryAfter time.Duration) {
	return rl.ReserveN(key, now, 1)
}

// ReserveN takes n tokens from key's bucket at now, for a request that
// costs n predictions (an explanation runs the model dozens of times).
// It needs min(n, burst) tokens in the bucket; the rest of n, beyond a
// full burst, is taken as debt, so that the client's next request waits
// until the bucket has refilled that much. When the bucket holds too few
// tokens it takes nothing and returns ok false and how long until it
// holds enough.
func (rl *RateLimiter) ReserveN(key netip.Prefix, now time.Time, n int) (ok bool, retryAfter time.Duration) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	lim := rl.clients.getOrAdd(key, now, func() *rate.Limiter { return rate.NewLimiter(rl.limit, rl.burst) })
	first := min(max(n, 1), rl.burst)
	res := lim.ReserveN(now, first)
	if !res.OK() {
		// Only when burst < 1, which NewRateLimiter prevents.
		return false, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	// The debt: reservations taken and kept, whatever their delay.
	for left := n - first; left > 0; left -= rl.burst {
		lim.ReserveN(now, min(left, rl.burst))
	}
	return true, 0
}

// Size returns the number of clients remembered.
func (rl *RateLimiter) Size() int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.clients.len()
}

// Limit is the average rate allowed, in requests per second.
func (rl *RateLimiter) Limit() float64 { return float64(rl.limit) }

// Burst is the largest burst allowed.
func (rl *RateLimiter) Burst() int { return rl.burst }
