package abuse

import (
	"net/netip"
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	a := netip.MustParsePrefix("203.0.113.7/32")
	b := netip.MustParsePrefix("2001:db8::/64")
	type step struct {
		at    time.Duration // since the start
		key   netip.Prefix
		ok    bool
		retry time.Duration // when refused
	}
	for _, tt := range []struct {
		name  string
		limit float64
		burst int
		steps []step
	}{
		{"burst then refused, refill", 1, 3, []step{
			{0, a, true, 0}, {0, a, true, 0}, {0, a, true, 0},
			{0, a, false, time.Second},
			{500 * time.Millisecond, a, false, 500 * time.Millisecond},
			{time.Second, a, true, 0},
			{time.Second, a, false, time.Second},
		}},
		{"clients are independent", 1, 1, []step{
			{0, a, true, 0}, {0, a, false, time.Second}, {0, b, true, 0}, {0, b, false, time.Second},
		}},
		{"a refused request takes no token", 2, 1, []step{
			{0, a, true, 0},
			{100 * time.Millisecond, a, false, 400 * time.Millisecond},
			{200 * time.Millisecond, a, false, 300 * time.Millisecond},
			{500 * time.Millisecond, a, true, 0},
		}},
		{"slow limit", 0.1, 1, []step{{0, a, true, 0}, {0, a, false, 10 * time.Second}}},
		{"default burst is twice the limit", 2, 0, []step{
			{0, a, true, 0}, {0, a, true, 0}, {0, a, true, 0}, {0, a, true, 0}, {0, a, false, 500 * time.Millisecond},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rl := NewRateLimiter(tt.limit, tt.burst)
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, s := range tt.steps {
				ok, retry := rl.Reserve(s.key, t0.Add(s.at))
				if ok != s.ok || (retry-s.retry).Abs() > time.Millisecond {
					t.Errorf("step %d (%v, %v): %v, retry after %v; want %v, %v", i, s.at, s.key, ok, retry, s.ok, s.retry)
				}
			}
		})
	}
	if rl := NewRateLimiter(0, 10); rl != nil {
		t.Error("NewRateLimiter(0, 10) is not nil: a zero limit must turn limiting off")
	}
}

// TestRateLimiterMemory: the limiter forgets clients whose bucket is full
// again, and never holds more than maxRateClients.
func TestRateLimiterMemory(t *testing.T) {
	rl := NewRateLimiter(1, 1)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := func(i int) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
	}
	// More clients than the cap, all at once: none is idle, so arbitrary
	// ones are dropped.
	for i := range maxRateClients + 500 {
		rl.Reserve(key(i), t0)
	}
	if n := rl.Size(); n > maxRateClients {
		t.Fatalf("%d clients remembered, more than %d", n, maxRateClients)
	}
	// A minute later every bucket is full again: the next request sweeps
	// them all.
	rl.Reserve(key(0), t0.Add(sweepEvery))
	if n := rl.Size(); n != 1 {
		t.Errorf("after the sweep %d clients remembered, want 1", n)
	}
	// A client that was forgotten starts with a full bucket, which is
	// what it would have had.
	if ok, _ := rl.Reserve(key(7), t0.Add(sweepEvery)); !ok {
		t.Error("a forgotten idle client was refused")
	}
}

// TestRateLimiterReserveN checks requests that cost several predictions:
// up to a burst they need that many tokens; beyond it a full bucket, and
// the rest is debt the next request waits out.
func TestRateLimiterReserveN(t *testing.T) {
	a := netip.MustParsePrefix("203.0.113.7/32")
	t0 := time.Unix(1_700_000_000, 0)
	type step struct {
		at    time.Duration
		n     int
		ok    bool
		retry time.Duration
	}
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{"within the burst", []step{{0, 15, true, 0}, {0, 5, true, 0}, {0, 1, false, 100 * time.Millisecond}}},
		{"needs n tokens, refused takes none", []step{{0, 15, true, 0}, {0, 10, false, 500 * time.Millisecond},
			{0, 5, true, 0}}},
		{"beyond the burst: a full bucket, then debt", []step{{0, 65, true, 0}, {0, 1, false, 4600 * time.Millisecond},
			{4600 * time.Millisecond, 1, true, 0}}},
		{"beyond the burst needs a full bucket", []step{{0, 1, true, 0}, {0, 65, false, 100 * time.Millisecond},
			{100 * time.Millisecond, 65, true, 0}}},
	} {
		rl := NewRateLimiter(10, 20)
		for i, s := range tt.steps {
			ok, retry := rl.ReserveN(a, t0.Add(s.at), s.n)
			if ok != s.ok || retry != s.retry {
				t.Errorf("%s: step %d (n %d at %v): ok %v retry %v, want %v %v", tt.name, i, s.n, s.at, ok, retry, s.ok, s.retry)
			}
		}
	}
}
