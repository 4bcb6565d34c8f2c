package server

import (
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/huskyai/huskyai/classifier"
)

// batchModel is what the batcher needs of a model: running a batch of
// prepared images in one pass (Classifier.InferBatch).
type batchModel interface {
	InferBatch(ps []classifier.Prepared) ([]classifier.Result, error)
}

// Dynamic batching (Config.BatchMax > 1). A prediction request decodes and
// resizes its image under its own inference slot, as without batching,
// gives the slot back and hands the prepared tensor to the batcher. The
// batcher's goroutine gathers the tensors of concurrent requests for the
// same model, up to BatchMax of them, waiting at most BatchDelay after the
// first one arrived (and not at all when no other request is preparing an
// image that could join), and runs them through the engine in one forward
// pass, under one inference slot of its own: a batch of k requests
// occupies one slot, as one engine run does without batching, so
// huskyai_inference_in_flight still counts engine runs and never exceeds
// --max-inflight. Each request then gets its own result. A panic in a
// batch fails that batch's requests (500) and nothing else. The goroutine
// runs only while there is work and exits when the queue is empty, so a
// graceful shutdown, which waits for the handlers, drains the queue.

// DefaultBatchDelay is how long a batch waits for more requests when
// Config.BatchDelay is zero.
const DefaultBatchDelay = 2 * time.Millisecond

// batcher coalesces prepared images into batches.
type batcher struct {
	max   int
	delay time.Duration
	// run runs one batch of images prepared by c; onPanic reports a
	// recovered panic with its stack.
	run     func(c batchModel, ps []classifier.Prepared) ([]classifier.Result, error)
	onPanic func(v any, stack []byte)

	mu      sync.Mutex
	queue   []*batchItem
	coming  int  // requests preparing an image they will submit
	running bool // a loop goroutine runs
	wake    chan struct{}
}

type batchItem struct {
	c    batchModel
	p    classifier.Prepared
	at   time.Time
	done chan batchResult
}

type batchResult struct {
	res classifier.Result
	err error
}

func newBatcher(max int, delay time.Duration, run func(batchModel, []classifier.Prepared) ([]classifier.Result, error),
	onPanic func(v any, stack []byte)) *batcher {
	return &batcher{max: max, delay: delay, run: run, onPanic: onPanic, wake: make(chan struct{}, 1)}
}

// signal wakes the loop if it waits. Called with b.mu held.
func (b *batcher) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// expect tells the batcher that a request is preparing an image that it
// will submit (or withdraw with cancel): a batch short of max waits for it,
// up to the delay.
func (b *batcher) expect() {
	b.mu.Lock()
	b.coming++
	b.mu.Unlock()
}

// cancel withdraws an expect whose image will not come.
func (b *batcher) cancel() {
	b.mu.Lock()
	b.coming--
	b.signal()
	b.mu.Unlock()
}

// submit queues an image prepared by c and returns its result once its
// batch has run. expected says that the caller announced it with expect.
func (b *batcher) submit(c batchModel, p classifier.Prepared, expected bool) (classifier.Result, error) {
	it := &batchItem{c: c, p: p, at: time.Now(), done: make(chan batchResult, 1)}
	b.mu.Lock()
	if expected {
		b.coming--
	}
	b.queue = append(b.queue, it)
	if !b.running {
		b.running = true
		go b.loop()
	} else {
		b.signal()
	}
	b.mu.Unlock()
	r := <-it.done
	return r.res, r.err
}

// loop runs batches until the queue is empty.
func (b *batcher) loop() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		first := b.queue[0]
		n := 0
		for _, it := range b.queue {
			if it.c == first.c {
				n++
			}
		}
		if wait := time.Until(first.at.Add(b.delay)); n < b.max && b.coming > 0 && wait > 0 {
			b.mu.Unlock()
			timer.Reset(wait)
			select {
			case <-b.wake:
			case <-timer.C:
			}
			timer.Stop()
			continue
		}
		batch := make([]*batchItem, 0, min(n, b.max))
		rest := b.queue[:0]
		for _, it := range b.queue {
			if it.c == first.c && len(batch) < b.max {
				batch = append(batch, it)
			} else {
				rest = append(rest, it)
			}
		}
		clear(b.queue[len(rest):])
		b.queue = rest
		b.mu.Unlock()
		b.exec(first.c, batch)
	}
}

// exec runs one batch and hands each item its result.
func (b *batcher) exec(c batchModel, items []*batchItem) {
	ps := make([]classifier.Prepared, len(items))
	for i, it := range items {
		ps[i] = it.p
	}
	rs, err := b.safeRun(c, ps)
	for i, it := range items {
		if err != nil {
			it.done <- batchResult{classifier.Result{Image: it.p.Image, Timings: it.p.Timings}, err}
			continue
		}
		it.done <- batchResult{res: rs[i]}
	}
}

// safeRun is run, with a panic turned into an error of the batch.
func (b *batcher) safeRun(c batchModel, ps []classifier.Prepared) (rs []classifier.Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			rs, err = nil, fmt.Errorf("%w: panic in a batch of %d images: %v", classifier.ErrModel, len(ps), v)
			if b.onPanic != nil {
				b.onPanic(v, debug.Stack())
			}
		}
	}()
	rs, err = b.run(c, ps)
	if err == nil && len(rs) != len(ps) {
		err = fmt.Errorf("%w: %d results for a batch of %d images", classifier.ErrModel, len(rs), len(ps))
	}
	return rs, err
}

// batchFor returns c when requests are batched.
func (s *server) batchFor(c Classifier) (Classifier, bool) {
	return c, s.batch != nil
}

// batched prepares an image under the inference slot the caller took
// (release gives it back, even if prepare panics) and runs it in a batch.
func (s *server) batched(bc batchModel, release func(), prepare func() (classifier.Prepared, error)) (classifier.Result, error) {
	s.batch.expect()
	submitted := false
	defer func() {
		if !submitted {
			s.batch.cancel()
		}
	}()
	p, err := func() (classifier.Prepared, error) {
		defer release()
		return prepare()
	}()
	if err != nil {
		return classifier.Result{Image: p.Image, Timings: p.Timings}, err
	}
	submitted = true
	return s.batch.submit(bc, p, true)
}

// runBatch runs one batch under an inference slot, waiting for one as long
// as it takes: its requests were admitted already and hold no slot.
func (s *server) runBatch(c batchModel, ps []classifier.Prepared) ([]classifier.Result, error) {
	s.sem <- struct{}{}
	s.metrics.inference.Inc()
	defer func() {
		s.metrics.inference.Dec()
		<-s.sem
	}()
	s.metrics.batchSize.Observe(float64(len(ps)))
	return c.InferBatch(ps)
}
