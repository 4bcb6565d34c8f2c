package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Task is work that several goroutines share (see Parallel): Run is
// called once by each goroutine that joins, and returns when no work is
// left for it, typically by taking units of work from an atomic counter.
// A task embeds a Group, which counts the helpers still in its Run.
type Task interface {
	Run()
	group() *Group
}

// Group is the part of a Task that Parallel uses to wait for its helpers;
// embed it (its zero value is ready) in the task's struct. pending counts
// the helpers still in Run, for the caller to spin on; wg counts them too,
// for the caller to sleep on once it has spun for spinWait.
type Group struct {
	pending atomic.Int32
	wg      sync.WaitGroup
}

func (g *Group) group() *Group { return g }

// Parallel runs t.Run on the calling goroutine and on up to workers-1
// helper goroutines of a pool started once, and returns when every Run
// has returned: it looks for that for spinWait, then sleeps until it is
// so (a helper whose thread the operating system has put aside, on a
// loaded machine, must not be kept waiting by one that spins). A helper that is busy with another task is not waited
// for: the calling goroutine's Run takes the work it would have done. It
// allocates nothing once the pool has its helpers.
//
// A helper that finishes a task keeps looking for the next one for a
// short while (spinWait), yielding its CPU to any runnable goroutine
// between looks, before it sleeps: handing a layer's tiles to a helper
// that is already awake costs far less than waking one (a futex call and
// a scheduler hand-off, tens of microseconds), and an inference hands
// work over at every layer.
func Parallel(t Task, workers int) {
	g := t.group()
	if h := min(workers-1, maxHelpers); h > 0 {
		recruit(t, g, h)
	}
	t.Run()
	if g.pending.Load() != 0 {
		for start := time.Now(); g.pending.Load() != 0 && time.Since(start) < spinWait; {
			runtime.Gosched()
		}
	}
	g.wg.Wait() // also for a helper between its pending and its wg
}

// spinWait is how long an idle helper looks for work before it sleeps.
const spinWait = 100 * time.Microsecond

// maxHelpers bounds the helper goroutines of the pool.
const maxHelpers = 256

// helper states.
const (
	helperIdle   = iota // awake, looking for work (spinning)
	helperParked        // asleep on wake
	helperBusy          // given a task
)

// helper is one goroutine of the pool. A recruiter moves it from idle or
// parked to busy (a CAS: one recruiter wins), then stores the task and
// bumps seq, which the helper watches; a parked helper is also sent a
// wake-up. The helper moves itself back to idle when the task's Run has
// returned.
type helper struct {
	state atomic.Int32
	seq   atomic.Uint32
	task  Task
	wake  chan struct{}
}

var pool struct {
	mu      sync.Mutex
	started atomic.Int32
	h       [maxHelpers]helper
}

// recruit gives t to up to h helpers that are not busy, starting helpers
// first so that the pool has at least h.
func recruit(t Task, g *Group, h int) {
	n := int(pool.started.Load())
	if n < h {
		n = startHelpers(h)
	}
	got := 0
	for i := 0; i < n && got < h; i++ {
		hp := &pool.h[i]
		s := hp.state.Load()
		if s == helperBusy || !hp.state.CompareAndSwap(s, helperBusy) {
			continue
		}
		g.pending.Add(1)
		g.wg.Add(1)
		hp.task = t
		hp.seq.Add(1)
		if s == helperParked {
			hp.wake <- struct{}{}
		}
		got++
	}
}

// startHelpers makes sure at least h helper goroutines run and returns how
// many do. Helpers live for the rest of the process.
func startHelpers(h int) int {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	n := int(pool.started.Load())
	for ; n < min(h, maxHelpers); n++ {
		hp := &pool.h[n]
		hp.wake = make(chan struct{}, 1)
		go hp.loop()
		pool.started.Store(int32(n + 1))
	}
	return n
}

// loop is a helper's life: run each task it is given; between tasks,
// look for the next one for spinWait, then sleep until woken.
func (hp *helper) loop() {
	var seen uint32
	idleSince := time.Now()
	for {
		if s := hp.seq.Load(); s != seen {
			seen = s
			t := hp.task
			hp.task = nil
			t.Run()
			g := t.group()
			hp.state.Store(helperIdle)
			g.pending.Add(-1)
			g.wg.Done() // t may be reused from here on
			idleSince = time.Now()
			continue
		}
		if time.Since(idleSince) < spinWait {
			runtime.Gosched()
			continue
		}
		if hp.state.CompareAndSwap(helperIdle, helperParked) {
			<-hp.wake
		}
		// Given a task (while parked, or just before): its seq follows.
		idleSince = time.Now()
	}
}
