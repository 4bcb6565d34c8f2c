package tflite

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// maxWorkers bounds the goroutines that share one operation.
const maxWorkers = 16

// qjob is one operation shared among goroutines: each takes a scratch
// slot, then units until none are left.
type qjob struct {
	p     *qprogram
	ws    *qworkspace
	op    qranged
	n     int64 // units
	step  int64 // units taken at a time
	next  atomic.Int64
	slots atomic.Int64
	wg    sync.WaitGroup
}

// work takes units of j until none are left.
func (j *qjob) work() {
	s := &j.ws.scr[j.slots.Add(1)-1]
	for {
		lo := j.next.Add(j.step) - j.step
		if lo >= j.n {
			return
		}
		j.op.runRange(j.p, j.ws, s, int(lo), int(min(lo+j.step, j.n)))
	}
}

// parallel runs op over its units on up to GOMAXPROCS goroutines (this
// one and helpers), as many as ws has scratch for; an operation of few
// units runs here alone.
func (p *qprogram) parallel(ws *qworkspace, op qranged) {
	n := op.units(p)
	workers := min(runtime.GOMAXPROCS(0), len(ws.scr), n/2)
	if workers <= 1 {
		op.runRange(p, ws, &ws.scr[0], 0, n)
		return
	}
	j := &ws.job
	j.p, j.ws, j.op, j.n = p, ws, op, int64(n)
	j.step = int64(max(1, n/(4*workers)))
	j.next.Store(0)
	j.slots.Store(0)
	ch := qhelpers.start(workers - 1)
offer:
	for range workers - 1 {
		j.wg.Add(1)
		select {
		case ch <- j:
		default: // every helper is busy: go on with fewer
			j.wg.Done()
			break offer
		}
	}
	j.work()
	j.wg.Wait()
	j.p, j.ws, j.op = nil, nil, nil
}

// qhelpers are the goroutines that help with operations; they live for
// the rest of the process once started.
var qhelpers helperPool

type helperPool struct {
	mu sync.Mutex
	n  int
	ch chan *qjob
}

// start makes sure at least h helpers run and returns the channel they
// take jobs from.
func (h *helperPool) start(n int) chan *qjob {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ch == nil {
		h.ch = make(chan *qjob)
	}
	for ; h.n < min(n, maxWorkers); h.n++ {
		go func(ch chan *qjob) {
			for j := range ch {
				j.work()
				j.wg.Done()
			}
		}(h.ch)
	}
	return h.ch
}
