package abuse

import (
	"net/netip"
	"time"
)

// Sweeps of a table.
const (
	// sweepEvery is how often idle clients are forgotten even when the
	// table is not full, so that it shrinks after a busy period.
	sweepEvery = time.Minute
	// sweepMinGap is the least time between two sweeps forced by a full
	// table, so that a flood of new clients does not make every insert
	// scan the whole table.
	sweepMinGap = time.Second
)

// table is the bounded per-client memory of the abuse defences (the
// rate limiter's token buckets, the probing detector's upload histories):
// state V per client (an IPv4 address or an IPv6 /64, see Key).
//
// Memory is bounded. Sweeps forget the clients that idle reports as
// holding nothing worth keeping; they run on any access at most every
// sweepEvery, and when a new client finds the table full (max clients) at
// most every sweepMinGap. If the table is still full, arbitrary clients
// are forgotten (Go's map order): the bound is on memory, and an attacker
// with more addresses than max is beyond what a per-client defence can
// stop. The owner holds its own lock around every call.
type table[V any] struct {
	max       int
	idle      func(v V, now time.Time) bool
	m         map[netip.Prefix]V
	lastSweep time.Time
}

// newTable returns a table of at most max clients.
func newTable[V any](max int, idle func(v V, now time.Time) bool) *table[V] {
	return &table[V]{max: max, idle: idle, m: make(map[netip.Prefix]V)}
}

// get returns key's state, if the table has it, sweeping when one is due.
func (t *table[V]) get(key netip.Prefix, now time.Time) (V, bool) {
	if now.Sub(t.lastSweep) >= sweepEvery {
		t.sweep(now)
	}
	v, ok := t.m[key]
	return v, ok
}

// getOrAdd returns key's state, adding the one that make returns (making
// room for it) when key is new.
func (t *table[V]) getOrAdd(key netip.Prefix, now time.Time, make func() V) V {
	if v, ok := t.get(key, now); ok {
		return v
	}
	if len(t.m) >= t.max && now.Sub(t.lastSweep) >= sweepMinGap {
		t.sweep(now)
	}
	for k := range t.m {
		if len(t.m) < t.max {
			break
		}
		delete(t.m, k)
	}
	v := make()
	t.m[key] = v
	return v
}

// sweep forgets the idle clients.
func (t *table[V]) sweep(now time.Time) {
	t.lastSweep = now
	for k, v := range t.m {
		if t.idle(v, now) {
			delete(t.m, k)
		}
	}
}

// len returns the number of clients remembered.
func (t *table[V]) len() int { return len(t.m) }
