package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// CanConvMaxPool reports whether Packed.Conv2DMaxPoolPacked runs the
// convolution g: one that reads its input in place (no padding, windows
// within the input; not a 1x1 product), with at least two output rows and
// columns to pool.
func CanConvMaxPool(g *ConvGeom) bool {
	return !pointwise(g) && paddedLen(g) == 0 && g.KH > 0 && g.KW > 0 && g.InC > 0 && g.OutC > 0 &&
		g.StrideH > 0 && g.StrideW > 0 && g.OutH >= 2 && g.OutW >= 2
}

// ConvMaxPoolScratch returns how many float32 of scratch
// Conv2DMaxPoolPacked needs for g: for each goroutine that may share the
// work (GOMAXPROCS of them, as it is when the model is loaded), two rows
// of the convolution's output and the im2col rows of one tile.
func (Packed) ConvMaxPoolScratch(g *ConvGeom) int {
	return min(runtime.GOMAXPROCS(0), maxSlots) * convPoolSlot(g)
}

// convPoolSlot is the scratch of one goroutine of Conv2DMaxPoolPacked.
func convPoolSlot(g *ConvGeom) int {
	return 2*g.OutW*g.OutC + maxTileRows*g.KH*g.KW*g.InC
}

// Conv2DMaxPoolPacked computes Conv2DPacked (dst = act(conv(src, w) +
// bias)) followed by MaxPool2x2 of its output, OutH/2 x OutW/2 x OutC,
// into dst, in one pass: each pair of output rows of the convolution is
// computed into a slot of scratch and pooled from there, in cache, by the
// goroutine that computed it, so that the convolution's whole output is
// never written to memory and read back; a last odd row, which the
// pooling leaves out, is not computed at all. Pairs of rows are shared
// between the calling goroutine and the helpers (see Parallel). The
// results are those of Conv2DPacked then MaxPool2x2, bit for bit. g must
// satisfy CanConvMaxPool, and scratch have ConvMaxPoolScratch(g)
// elements.
func (p Packed) Conv2DMaxPoolPacked(dst, src []float32, w *PackedWeights, bias []float32, g *ConvGeom, scratch []float32, act Act) {
	slot := convPoolSlot(g)
	workers := min(p.workers(), len(scratch)/slot, g.OutH/2)
	j := poolJobs.Get().(*poolJob)
	j.dst, j.src, j.w, j.bias, j.g, j.scratch, j.act, j.slot = dst, src, w, bias, g, scratch, act, slot
	j.next.Store(0)
	j.slots.Store(0)
	if workers > 1 {
		Parallel(j, workers)
	} else {
		j.Run()
	}
	j.dst, j.src, j.w, j.bias, j.g, j.scratch = nil, nil, nil, nil, nil, nil
	poolJobs.Put(j)
}

// poolJob is one Conv2DMaxPoolPacked: its units are the rows of the
// pooled output.
type poolJob struct {
	dst, src, bias, scratch []float32
	w                       *PackedWeights
	g                       *ConvGeom
	act                     Act
	slot                    int // float32s of scratch per goroutine
	next, slots             atomic.Int64
	Group
}

var poolJobs = sync.Pool{New: func() any { return new(poolJob) }}

// Run implements Task: pooled rows until none is left, each from two rows
// of the convolution computed into this goroutine's slot of scratch.
func (j *poolJob) Run() {
	g := j.g
	s := int(j.slots.Add(1) - 1)
	buf := j.scratch[s*j.slot : (s+1)*j.slot]
	rowLen := g.OutW * g.OutC
	conv, rest := buf[:2*rowLen], buf[2*rowLen:]
	pw, c := g.OutW/2, g.OutC
	for {
		y := int(j.next.Add(1) - 1)
		if y >= g.OutH/2 {
			return
		}
		convRows(conv, j.src, j.w, j.bias, g, rest, j.act, 2*y, 2)
		o := j.dst[y*pw*c : (y+1)*pw*c]
		if !maxPoolRowAsm(o, conv[:rowLen], conv[rowLen:], c, pw) {
			maxPoolRow(o, conv[:rowLen], conv[rowLen:], c, pw)
		}
	}
}

// convRows computes output rows [r0, r0+rows) of the convolution g into
// c, on the calling goroutine, as Conv2DPacked computes them: in place
// (implicitConv) when the micro-kernel allows it, else through im2col
// rows in scratch (maxTileRows*KH*KW*InC elements). g reads src in place
// (paddedLen(g) == 0).
func convRows(c, src []float32, w *PackedWeights, bias []float32, g *ConvGeom, scratch []float32, act Act, r0, rows int) {
	conv := convA{g: g, src: src, row0: r0, rows: rows}
	if implicitConv(g, w.panels != nil && w.kernel == micro.name) {
		conv.implicit, conv.ig = true, *g
	}
	gemm(c, nil, w.W, w, bias, rows*g.OutW, g.KH*g.KW*g.InC, g.OutC, act, conv, scratch, 1)
}
