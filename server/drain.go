package server

import (
	"sync"
	"sync/atomic"
)

// Drain coordinates a graceful shutdown between the command that runs the
// server and its handler (Config.Drain). After Start, /readyz answers 503
// (shutting_down), so that load balancers stop sending requests, and every
// answer carries "Connection: close", so that a keep-alive client opens
// its next connection elsewhere instead of finding this one closed under
// it. Working counts the requests whose upload has been read and that are
// being classified: when the shutdown deadline cuts connections, a
// command can tell requests it failed from uploads that never finished.
type Drain struct {
	once    sync.Once
	ch      chan struct{}
	working atomic.Int64

	mu       sync.Mutex
	finishes []func()
}

// Finish runs what the servers of this Drain do once no request is left,
// after the HTTP server has shut down: they write the audit records they
// keep back (the last minute's refusal counts). A nil Drain does nothing.
func (d *Drain) Finish() {
	if d == nil {
		return
	}
	d.mu.Lock()
	fs := d.finishes
	d.finishes = nil
	d.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// onFinish registers f to run at Finish.
func (d *Drain) onFinish(f func()) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.finishes = append(d.finishes, f)
}

// NewDrain returns a Drain that has not started.
func NewDrain() *Drain { return &Drain{ch: make(chan struct{})} }

// Start marks the server as shutting down. It may be called more than
// once.
func (d *Drain) Start() { d.once.Do(func() { close(d.ch) }) }

// Draining reports whether Start was called. A nil Drain never drains.
func (d *Drain) Draining() bool {
	if d == nil {
		return false
	}
	select {
	case <-d.ch:
		return true
	default:
		return false
	}
}

// Working returns how many requests are being classified.
func (d *Drain) Working() int64 {
	if d == nil {
		return 0
	}
	return d.working.Load()
}

// enter counts a request whose upload was read; the function it returns
// uncounts it.
func (d *Drain) enter() func() {
	if d == nil {
		return func() {}
	}
	d.working.Add(1)
	return func() { d.working.Add(-1) }
}
