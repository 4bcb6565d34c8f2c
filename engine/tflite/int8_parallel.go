package tflite

import (
	"runtime"
	"sync/atomic"

	"github.com/huskyai/huskyai/engine/internal/kernels"
)

// maxWorkers bounds the goroutines that share one operation.
const maxWorkers = 16

// qjob is one operation shared among goroutines (a kernels.Task). Its
// units are cut into one contiguous range per goroutine: each goroutine
// takes a scratch slot and works through the range of that slot, step
// units at a time, then helps with the others' ranges. Goroutine i thus
// mostly computes the same part of each output, the part that the next
// operation's goroutine i mostly reads (the rows of a layer follow the
// rows of the layer before): data stays in that CPU's cache instead of
// moving between CPUs, which costs more than the work of a small layer.
type qjob struct {
	p       *qprogram
	ws      *qworkspace
	op      qranged
	n       int // units
	step    int // units taken at a time
	workers int
	slots   atomic.Int64
	ranges  [maxWorkers]qrange
	kernels.Group
}

// qrange is a goroutine's range of units: next is the first not taken
// yet, end the range's end. It fills a cache line, so that taking units
// from one range does not slow down the goroutine of another.
type qrange struct {
	next atomic.Int64
	end  int64
	_    [48]byte
}

// Run implements kernels.Task: it takes units of j, from its own range
// on, until none are left.
func (j *qjob) Run() {
	slot := int(j.slots.Add(1) - 1)
	s := &j.ws.scr[slot]
	for i := range j.workers {
		r := &j.ranges[(slot+i)%j.workers]
		for {
			lo := r.next.Add(int64(j.step)) - int64(j.step)
			if lo >= r.end {
				break
			}
			j.op.runRange(j.p, j.ws, s, int(lo), int(min(lo+int64(j.step), r.end)))
		}
	}
}

// parallel runs op over its units on up to GOMAXPROCS goroutines (this
// one and helpers of the kernels' pool, kernels.Parallel, which stay
// awake a short while between operations), as many as ws has scratch
// for; an operation of few units runs here alone.
func (p *qprogram) parallel(ws *qworkspace, op qranged) {
	n := op.units(p)
	workers := min(runtime.GOMAXPROCS(0), len(ws.scr), n/2)
	if workers <= 1 {
		op.runRange(p, ws, &ws.scr[0], 0, n)
		return
	}
	j := &ws.job
	j.p, j.ws, j.op, j.n, j.workers = p, ws, op, n, workers
	j.step = max(1, n/(4*workers))
	for i := range workers {
		j.ranges[i].next.Store(int64(i * n / workers))
		j.ranges[i].end = int64((i + 1) * n / workers)
	}
	j.slots.Store(0)
	kernels.Parallel(j, workers)
	j.p, j.ws, j.op = nil, nil, nil
}
