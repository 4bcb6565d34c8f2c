package server

import (
	"context"
	"runtime"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
)

// decodeBudget is Config.MaxDecodeMemory: the bytes that images being
// decoded may take (reserveDecode reserves them). A finished decode gives
// its bytes back only once the garbage collector has run after it: its
// buffers are then garbage, not free memory, and new decodes allocating on
// top of them would take the heap past the budget by as much. (Measured:
// with the bytes given back at once, TestServeMemoryUnderPodLimit's
// process peaked at 960 MiB in a 768 MiB pod; the heap had grown to 935 MB
// before a collection found 324 MB live.) So garbage stays counted until a
// collection: one starts when a quarter of the budget is garbage, or at
// once when a request waits for memory.
type decodeBudget struct {
	sem   *semaphore.Weighted
	size  int64
	gauge prometheus.Gauge // bytes reserved, garbage not yet collected included

	mu         sync.Mutex
	garbage    int64 // given back, not yet collected
	waiting    int   // requests waiting for memory
	collecting bool
	collected  func() // a test's hook after each collection
}

// newDecodeBudget returns a budget of size bytes.
func newDecodeBudget(size int64, gauge prometheus.Gauge) *decodeBudget {
	return &decodeBudget{sem: semaphore.NewWeighted(size), size: size, gauge: gauge}
}

// acquire reserves n bytes, waiting until ctx ends for them.
func (b *decodeBudget) acquire(ctx context.Context, n int64) error {
	if !b.sem.TryAcquire(n) {
		b.mu.Lock()
		b.waiting++
		b.collectLocked()
		b.mu.Unlock()
		err := b.sem.Acquire(ctx, n)
		b.mu.Lock()
		b.waiting--
		b.mu.Unlock()
		if err != nil {
			return err
		}
	}
	b.gauge.Add(float64(n))
	return nil
}

// release gives n bytes back, as garbage until the next collection.
func (b *decodeBudget) release(n int64) {
	b.mu.Lock()
	b.garbage += n
	b.collectLocked()
	b.mu.Unlock()
}

// collectLocked starts a collection where one is due; b.mu is held.
func (b *decodeBudget) collectLocked() {
	if b.collecting || b.garbage == 0 || b.garbage < b.size/4 && b.waiting == 0 {
		return
	}
	b.collecting = true
	go b.collect()
}

// collect runs the garbage collector and gives back the garbage counted
// before it started, for as long as collections are due.
func (b *decodeBudget) collect() {
	for {
		b.mu.Lock()
		n := b.garbage
		b.garbage = 0
		b.mu.Unlock()
		runtime.GC() // what was given back before this call is collected
		b.gauge.Sub(float64(n))
		b.sem.Release(n)
		b.mu.Lock()
		if hook := b.collected; hook != nil {
			hook()
		}
		if b.garbage == 0 || b.garbage < b.size/4 && b.waiting == 0 {
			b.collecting = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
	}
}
