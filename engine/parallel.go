package engine

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/huskyai/huskyai/engine/internal/kernels"
)

// spreadWorkers returns how many goroutines the images of a batch of n
// are spread over: GOMAXPROCS when there are at least as many images as
// CPUs (and more than one CPU), else 1, in which case each layer of each
// image is split over the CPUs by the kernels instead. Splitting images
// rather than layers leaves no CPU waiting at every layer for the others,
// nor any part of a layer that runs on one CPU only (pooling, im2col of a
// padded input, small products).
func spreadWorkers(n int) int {
	w := runtime.GOMAXPROCS(0)
	if w < 2 || n < w {
		return 1
	}
	return w
}

// imageJob is n images spread over goroutines (Model.spread): each takes
// the next image from an atomic counter and runs it on a workspace of its
// own, with single-threaded kernels (Model.serial), writing its output to
// its place in dst.
type imageJob struct {
	m *Model
	imageWork
	next atomic.Int64
	kernels.Group
}

// imageWork is what an imageJob runs.
type imageWork struct {
	src, dst []float32
	isz, osz int // float32s per image in src and in dst
	n        int
	whole    bool // run the whole model (forwardOne); else layers [lo, hi) of a chain
	lo, hi   int
}

var imageJobs = sync.Pool{New: func() any { return new(imageJob) }}

// spread runs the images of job over w goroutines: the calling one and
// w-1 helpers of the kernels' pool (kernels.Parallel). It allocates
// nothing in steady state.
func (m *Model) spread(work imageWork, w int) {
	j := imageJobs.Get().(*imageJob)
	j.m, j.imageWork = m, work
	j.next.Store(0)
	kernels.Parallel(j, w)
	j.m, j.imageWork = nil, imageWork{}
	imageJobs.Put(j)
}

// Run implements kernels.Task: it runs images until none is left, taking
// a workspace only once it has one to run.
func (j *imageJob) Run() {
	var ws *workspace
	for {
		b := int(j.next.Add(1) - 1)
		if b >= j.n {
			break
		}
		if ws == nil {
			ws = j.m.getWorkspace()
		}
		src, dst := j.src[b*j.isz:(b+1)*j.isz], j.dst[b*j.osz:(b+1)*j.osz]
		if j.whole {
			copy(dst, j.m.forwardOne(ws, j.m.serial, src))
		} else {
			j.m.run(ws, j.m.serial, j.lo, j.hi, src, dst)
		}
	}
	if ws != nil {
		j.m.putWorkspace(ws)
	}
}
