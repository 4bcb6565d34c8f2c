package abuse

import (
	"net/netip"
	"testing"
	"time"
)

// TestProbeDetector follows one client's near-identical uploads through
// the window: flagged at the threshold, blocked until enough of them are
// older than the window.
func TestProbeDetector(t *testing.T) {
	d := NewProbeDetector(3, time.Minute, 2)
	key := netip.MustParsePrefix("203.0.113.7/32")
	other := netip.MustParsePrefix("203.0.113.8/32")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sha := func(i byte) [32]byte { return [32]byte{i} }
	type step struct {
		at    time.Duration
		key   netip.Prefix
		sum   byte
		phash uint64
		count int
		flag  bool
		wait  time.Duration // blocked() right after
	}
	for i, s := range []step{
		{0, key, 1, 0b0000, 0, false, 0},
		{10 * time.Second, key, 2, 0xff00, 0, false, 0},      // far from the first
		{20 * time.Second, key, 3, 0b0011, 2, false, 0},      // 2 bits from #1: both count
		{25 * time.Second, key, 3, 0b0011, 2, false, 0},      // a retry: not counted
		{25 * time.Second, other, 4, 0b0001, 0, false, 0},    // another client
		{30 * time.Second, key, 4, 0xff01, 4, true, 0},       // near #2: 4 counted
		{40 * time.Second, key, 5, 0b0001, 5, true, 0},       // near #1, #3
		{61 * time.Second, key, 6, 0xf0f0_f0f0, 4, true, 0},  // #1 gone; unrelated
		{71 * time.Second, key, 7, 0x0f0f_0f0f, 3, true, 0},  // #2 gone
		{81 * time.Second, key, 8, 0xaaaa_aaaa, 2, false, 0}, // #3 gone
	} {
		now := t0.Add(s.at)
		count, flag := d.Observe(s.key, now, sha(s.sum), s.phash)
		if count != s.count || flag != s.flag {
			t.Errorf("step %d: count %d flagged %v; want %d %v", i, count, flag, s.count, s.flag)
		}
		_, wait := d.Blocked(s.key, now)
		if flag && wait <= 0 || !flag && wait != 0 {
			t.Errorf("step %d: blocked for %v while flagged %v", i, wait, flag)
		}
	}
	// Four counted uploads at 0, 10, 20 and 40 s: at 40 s the client is
	// blocked until the count falls below 3, when the upload of 10 s
	// leaves the window, 30 s later.
	d2 := NewProbeDetector(3, time.Minute, 2)
	for i, at := range []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second} {
		d2.Observe(key, t0.Add(at), sha(byte(i)), uint64(i&1))
	}
	if count, wait := d2.Blocked(key, t0.Add(40*time.Second)); count != 4 || wait != 30*time.Second {
		t.Errorf("blocked: count %d for %v; want 4 for 30s (until the upload at 10 s leaves)", count, wait)
	}
	if _, wait := d2.Blocked(key, t0.Add(70*time.Second)); wait != 0 {
		t.Errorf("still blocked %v after the window", wait)
	}
	if NewProbeDetector(0, 0, 0) != nil {
		t.Error("the zero Config made a probing detector")
	}
}

// TestProbeDetectorMemory: a client's history and the number of clients
// stay bounded.
func TestProbeDetectorMemory(t *testing.T) {
	d := NewProbeDetector(5, 0, 0)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := netip.MustParsePrefix("203.0.113.7/32")
	for i := range 1000 {
		d.Observe(key, t0, [32]byte{byte(i), byte(i >> 8)}, uint64(i)*0x9e3779b97f4a7c15)
	}
	if n := len(d.clients.m[key].uploads); n != 2*5 {
		t.Errorf("one client keeps %d uploads, want %d", n, 2*5)
	}
	for i := range maxProbeClients + 100 {
		k := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		d.Observe(k, t0, [32]byte{1}, 1)
	}
	if n := d.Size(); n > maxProbeClients {
		t.Errorf("%d clients remembered, more than %d", n, maxProbeClients)
	}
	d.Observe(key, t0.Add(DefaultProbeWindow+time.Second), [32]byte{2}, 2)
	if n := d.Size(); n != 1 {
		t.Errorf("after the window %d clients remembered, want 1", n)
	}
}

// TestProbeDetectorObserveN checks that an upload the model ran n times
// on counts as n near-identical uploads, once.
func TestProbeDetectorObserveN(t *testing.T) {
	key := netip.MustParsePrefix("203.0.113.7/32")
	t0 := time.Unix(1_700_000_000, 0)
	d := NewProbeDetector(20, time.Minute, 4)
	if n, flagged := d.ObserveN(key, t0, [32]byte{1}, 0xff, 10); n != 10 || flagged {
		t.Fatalf("one upload run 10 times: count %d flagged %v, want 10, false", n, flagged)
	}
	if n, flagged := d.ObserveN(key, t0, [32]byte{1}, 0xff, 10); n != 10 || flagged {
		t.Fatalf("the same bytes again: count %d flagged %v, want 10, false", n, flagged)
	}
	if n, flagged := d.ObserveN(key, t0, [32]byte{2}, 0xfe, 10); n != 20 || !flagged {
		t.Fatalf("a near-identical upload run 10 times: count %d flagged %v, want 20, true", n, flagged)
	}
	other := netip.MustParsePrefix("198.51.100.1/32")
	if n, _ := d.ObserveN(other, t0, [32]byte{3}, 0xff, 65); n != 40 {
		t.Fatalf("65 runs of one upload: count %d, want the history's bound 40", n)
	}
}
