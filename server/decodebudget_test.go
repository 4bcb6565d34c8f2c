package server

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestDecodeBudgetCollects: bytes given back stay reserved until a garbage
// collection, which starts when a quarter of the budget is garbage or a
// request waits for memory; the waiter then gets its bytes, and the gauge
// counts reserved and uncollected bytes.
func TestDecodeBudgetCollects(t *testing.T) {
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
	b := newDecodeBudget(1000, gauge)
	collected := make(chan struct{}, 10)
	b.collected = func() { collected <- struct{}{} }
	ctx := context.Background()

	// 200 given back: under a quarter, nobody waits: no collection.
	if err := b.acquire(ctx, 900); err != nil {
		t.Fatal(err)
	}
	b.release(200)
	select {
	case <-collected:
		t.Fatal("a collection for 200 of 1000 bytes given back, with nobody waiting")
	case <-time.After(50 * time.Millisecond):
	}
	if b.sem.TryAcquire(200) {
		t.Fatal("bytes given back were free before a collection")
	}
	if g := testutil.ToFloat64(gauge); g != 900 {
		t.Errorf("gauge %v, want 900 (700 held, 200 not yet collected)", g)
	}

	// A request waits for 300: a collection gives the 200 back.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.acquire(wctx, 300); err != nil {
		t.Fatalf("the waiter: %v", err)
	}
	<-collected
	if g := testutil.ToFloat64(gauge); g != 1000 {
		t.Errorf("gauge %v, want 1000", g)
	}

	// 1000 given back: a quarter and more, a collection starts unasked.
	b.release(1000)
	select {
	case <-collected:
	case <-time.After(5 * time.Second):
		t.Fatal("no collection after the whole budget was given back")
	}
	if !b.sem.TryAcquire(1000) {
		t.Error("the budget is not whole again after the collection")
	}
	if g := testutil.ToFloat64(gauge); g != 0 {
		t.Errorf("gauge %v, want 0", g)
	}
}
