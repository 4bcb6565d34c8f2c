package tflite

import (
	"fmt"
	"math"
	"runtime"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/internal/qkernels"
)

// qprogram is a quantized model as integer ops over 8-bit tensors: the
// integer path. It is an engine.Op: the engine's [0,1] pixels in, the
// model's probabilities (or dequantized outputs) out. Safe for concurrent
// use: each inference takes a workspace from spare.
type qprogram struct {
	in       engine.Shape
	tensors  []qtensor
	alias    [][2]int // tensor a shares tensor b's buffer
	ops      []qop
	logits   int     // the tensor the float output is computed from
	softmax  bool    // a softmax of the dequantized logits, times beta
	beta     float32 //
	outSize  int
	colBytes int // im2col rows of one micro-kernel call
	accLen   int // int32 accumulators of one micro-kernel call or pixel
	bufSizes []int
	params   int
	macs     int64
	spare    chan *qworkspace
}

// qtensor is an 8-bit activation tensor, stored as uint8 (int8 values
// plus 128, zero point likewise).
type qtensor struct {
	name   string
	shape  engine.Shape
	scale  float64
	zero   int32
	signed bool // int8 in the file
	buf    int  // its buffer in a workspace
}

// qgeom is the geometry of a windowed op.
type qgeom struct {
	in, out    engine.Shape
	kh, kw     int
	sh, sw     int
	padT, padL int
	padB, padR int
}

// check checks the output's height and width against the input's and
// the window's.
func (g *qgeom) check() error {
	if g.in.H+g.padT+g.padB < g.kh || g.in.W+g.padL+g.padR < g.kw ||
		g.out.H != (g.in.H+g.padT+g.padB-g.kh)/g.sh+1 || g.out.W != (g.in.W+g.padL+g.padR-g.kw)/g.sw+1 {
		return fmt.Errorf("output %v for input %v and a %dx%d window", g.out, g.in, g.kh, g.kw)
	}
	return nil
}

// qop is one integer operation, run by one goroutine.
type qop interface {
	run(p *qprogram, ws *qworkspace)
	inputs() []int // the tensors it reads
	output() int   // the tensor it writes
}

// qranged is an operation whose work splits into units that goroutines
// share (see parallel): runRange does units [lo, hi) with scratch s.
type qranged interface {
	units(p *qprogram) int
	runRange(p *qprogram, ws *qworkspace, s *qscratch, lo, hi int)
}

// qworkspace is the memory of one inference: a buffer per tensor (or
// shared by aliases), the scratch of each goroutine that may work on it,
// and the job that shares an operation among them.
type qworkspace struct {
	bufs [][]uint8
	scr  []qscratch
	job  qjob
}

// qscratch is one goroutine's scratch: im2col rows, accumulators, row
// terms. The padding keeps the row terms, written at every block of
// rows, off the cache line of the next goroutine's slice headers, read
// at every block (MobileNetV2 at 2 CPUs: 1.85 ms with it, 2.23 without).
type qscratch struct {
	col  []uint8
	acc  []int32
	rows [qkernels.MR]int32
	_    [64]byte
}

// plan gives every tensor a buffer. An alias shares its target's; a
// buffer whose tensors no later op reads goes to the next tensor that
// fits (an op's output never takes the buffer of an input it reads).
func (p *qprogram) plan() {
	root := make([]int, len(p.tensors)) // whose buffer each tensor uses
	for i := range root {
		root[i] = i
	}
	for _, a := range p.alias {
		root[a[0]] = root[a[1]]
	}
	last := make([]int, len(p.tensors)) // the last op reading a root
	for k, op := range p.ops {
		for _, t := range op.inputs() {
			last[root[t]] = max(last[root[t]], k)
		}
	}
	last[root[p.logits]] = len(p.ops)
	buf := make([]int, len(p.tensors))
	for i := range buf {
		buf[i] = -1
	}
	var free, live []int
	assign := func(r int) {
		need, best := p.tensors[r].shape.Size(), -1
		for i, b := range free {
			if p.bufSizes[b] >= need && (best < 0 || p.bufSizes[b] < p.bufSizes[free[best]]) {
				best = i
			}
		}
		if best < 0 {
			buf[r] = len(p.bufSizes)
			p.bufSizes = append(p.bufSizes, need)
		} else {
			buf[r] = free[best]
			free = append(free[:best], free[best+1:]...)
		}
		live = append(live, r)
	}
	assign(root[0])
	for k, op := range p.ops {
		if r := root[op.output()]; buf[r] < 0 {
			assign(r)
		}
		kept := live[:0]
		for _, r := range live {
			if last[r] <= k {
				free = append(free, buf[r])
			} else {
				kept = append(kept, r)
			}
		}
		live = kept
	}
	for i := range p.tensors {
		p.tensors[i].buf = buf[root[i]]
	}
	p.spare = make(chan *qworkspace, runtime.GOMAXPROCS(0)+1)
}

// OutShape implements engine.Op.
func (p *qprogram) OutShape(in engine.Shape) (engine.Shape, error) {
	if in != p.in {
		return engine.Shape{}, fmt.Errorf("integer program for input %v given %v", p.in, in)
	}
	return engine.Shape{H: 1, W: 1, C: p.outSize}, nil
}

// Params implements engine.Op.
func (p *qprogram) Params() (int, int64) { return p.params, p.macs }

// Kernels names the integer path's arithmetic and kernels, for
// engine.Model.Backend: "int8 avx512-vnni", "int8 avx2" or "int8 go".
func (p *qprogram) Kernels() string { return "int8 " + qkernels.Kernel() }

// Run implements engine.Op: quantizes the [0,1] pixels to 0..255 (the
// uint8 input's values; int8 inputs take them minus 128), runs the ops
// and writes the dequantized logits, through a softmax if the model ends
// with one.
func (p *qprogram) Run(dst, src []float32) {
	var ws *qworkspace
	select {
	case ws = <-p.spare:
	default:
		ws = p.newWorkspace()
	}
	qkernels.QuantizePixels(ws.bufs[p.tensors[0].buf], src)
	for _, op := range p.ops {
		if r, ok := op.(qranged); ok {
			p.parallel(ws, r)
		} else {
			op.run(p, ws)
		}
	}
	t := &p.tensors[p.logits]
	q := ws.bufs[t.buf][:p.outSize]
	for i, v := range q {
		dst[i] = float32(t.scale * float64(int32(v)-t.zero))
	}
	if p.softmax {
		softmax(dst[:p.outSize], p.beta)
	}
	select {
	case p.spare <- ws:
	default:
	}
}

// softmax replaces x by softmax(beta*x).
func softmax(x []float32, beta float32) {
	top := float32(math.Inf(-1))
	for _, v := range x {
		top = max(top, v)
	}
	var sum float64
	for i, v := range x {
		e := math.Exp(float64(beta * (v - top)))
		x[i] = float32(e)
		sum += e
	}
	for i := range x {
		x[i] = float32(float64(x[i]) / sum)
	}
}

// newWorkspace allocates the memory of one inference.
func (p *qprogram) newWorkspace() *qworkspace {
	ws := &qworkspace{scr: make([]qscratch, min(runtime.GOMAXPROCS(0), maxWorkers))}
	for i := range ws.scr {
		ws.scr[i] = qscratch{col: make([]uint8, p.colBytes), acc: make([]int32, p.accLen)}
	}
	for _, n := range p.bufSizes {
		ws.bufs = append(ws.bufs, make([]uint8, n))
	}
	return ws
}

// qconv is a convolution (or fully connected layer) as a matrix product:
// output pixels are rows, MR at a time, read from the input in place
// (direct: 1x1, stride 1) or gathered by im2col. Its output channels are
// one run, or several (colParts) when there are few rows.
type qconv struct {
	in, out int
	g       qgeom
	k, kpad int // products per output value, padded to 4
	parts   []qcols
	zx      uint8 // input zero point: the padding's value
	zw      int32 // weight zero point (int8 domain)
	direct  bool
}

// qcols is a run of a convolution's output channels from c0 on: their
// packed weights and requantization.
type qcols struct {
	b  *qkernels.PackedB
	rq *qkernels.Requant
	c0 int
}

func (c *qconv) inputs() []int { return []int{c.in} }
func (c *qconv) output() int   { return c.out }

// units are blocks of MR output pixels times runs of output channels,
// run by run (goroutines that take neighbouring units then share the
// rows, a few, and not the weights).
func (c *qconv) units(*qprogram) int {
	return (c.g.out.H*c.g.out.W + qkernels.MR - 1) / qkernels.MR * len(c.parts)
}

func (c *qconv) run(p *qprogram, ws *qworkspace) { c.runRange(p, ws, &ws.scr[0], 0, c.units(p)) }

func (c *qconv) runRange(p *qprogram, ws *qworkspace, s *qscratch, lo, hi int) {
	src, dst := ws.bufs[p.tensors[c.in].buf], ws.bufs[p.tensors[c.out].buf]
	m, n, k := c.g.out.H*c.g.out.W, c.g.out.C, c.k
	var a []uint8
	var terms []int32
	lda, prev := c.kpad, -1
	blocks := (m + qkernels.MR - 1) / qkernels.MR
	// One goroutine doing all the units takes them block by block, each
	// block's rows and terms once for all the runs.
	whole := lo == 0 && hi == blocks*len(c.parts)
	for u := lo; u < hi; u++ {
		blk, part := u%blocks, &c.parts[u/blocks]
		if whole {
			blk, part = u/len(c.parts), &c.parts[u%len(c.parts)]
		}
		r0 := blk * qkernels.MR
		rows := min(qkernels.MR, m-r0)
		if blk != prev { // the rows, and their terms, of a new block
			prev = blk
			a, lda = s.col, c.kpad
			if c.direct {
				a, lda = src[r0*k:], k
			} else {
				c.im2col(a, src, r0, rows)
			}
			if c.zw != 0 {
				terms = s.rows[:rows]
				qkernels.RowSums(terms, a, lda, rows, k)
				for i := range terms {
					terms[i] *= -c.zw
				}
			}
		}
		npad := part.b.Npad
		qkernels.Gemm(s.acc, npad, a, lda, rows, part.b)
		part.rq.Rows(dst[r0*n+part.c0:], n, s.acc, npad, rows, terms)
	}
}

// im2col gathers the windows of output pixels r0..r0+rows-1 into rows of
// Kpad bytes of a: the padding takes the input's zero point, the bytes
// after K zero.
func (c *qconv) im2col(a, src []uint8, r0, rows int) {
	g := &c.g
	kpad, ch := c.kpad, g.in.C
	for i := range rows {
		oy, ox := (r0+i)/g.out.W, (r0+i)%g.out.W
		row := a[i*kpad : (i+1)*kpad]
		o := 0
		x0 := ox*g.sw - g.padL
		for ky := range g.kh {
			iy := oy*g.sh - g.padT + ky
			seg := row[o : o+g.kw*ch]
			o += g.kw * ch
			switch {
			case iy < 0 || iy >= g.in.H:
				fill(seg, c.zx)
			case x0 >= 0 && x0+g.kw <= g.in.W:
				// The window's row lies inside the input: one copy.
				copy(seg, src[(iy*g.in.W+x0)*ch:])
			default:
				for kx := range g.kw {
					ix := x0 + kx
					if ix < 0 || ix >= g.in.W {
						fill(seg[kx*ch:(kx+1)*ch], c.zx)
					} else {
						copy(seg[kx*ch:(kx+1)*ch], src[(iy*g.in.W+ix)*ch:])
					}
				}
			}
		}
		clear(row[o:])
	}
}

// fill sets every byte of b to v.
func fill(b []uint8, v uint8) {
	for i := range b {
		b[i] = v
	}
}

// qdepthwise is a depthwise convolution (multiplier 1), one output pixel
// at a time over all channels.
type qdepthwise struct {
	in, out int
	g       qgeom
	w       []int32 // [KH][KW][C], minus the weight zero point
	rq      *qkernels.Requant
	zx      int32
}

func (d *qdepthwise) inputs() []int { return []int{d.in} }
func (d *qdepthwise) output() int   { return d.out }

// units are output rows.
func (d *qdepthwise) units(*qprogram) int { return d.g.out.H }

func (d *qdepthwise) run(p *qprogram, ws *qworkspace) { d.runRange(p, ws, &ws.scr[0], 0, d.units(p)) }

func (d *qdepthwise) runRange(p *qprogram, ws *qworkspace, s *qscratch, lo, hi int) {
	src, dst := ws.bufs[p.tensors[d.in].buf], ws.bufs[p.tensors[d.out].buf]
	g := &d.g
	c, ow := g.in.C, g.out.W
	lda := (c + 15) &^ 15
	// The output pixels whose windows lie inside the input's width.
	x0 := min((g.padL+g.sw-1)/g.sw, ow)
	x1 := x0
	if g.in.W+g.padL >= g.kw {
		x1 = max(min((g.in.W+g.padL-g.kw)/g.sw+1, ow), x0)
	}
	for oy := lo; oy < hi; oy++ {
		acc := s.acc[:ow*lda]
		for ox := range x0 {
			d.taps(acc[ox*lda:], src, oy, ox, 1)
		}
		if x1 > x0 {
			d.taps(acc[x0*lda:], src, oy, x0, x1-x0)
		}
		for ox := x1; ox < ow; ox++ {
			d.taps(acc[ox*lda:], src, oy, ox, 1)
		}
		d.rq.Rows(dst[oy*ow*c:], c, acc, lda, ow, nil)
	}
}

// taps computes the accumulators of npix output pixels from (oy, ox) on,
// whose windows have the same taps inside the input (all of them but
// the rows or columns in the padding).
func (d *qdepthwise) taps(acc []int32, src []uint8, oy, ox, npix int) {
	g := &d.g
	c := g.in.C
	var offs [2 * qkernels.MaxTaps]int
	n := 0
	for ky := range g.kh {
		iy := oy*g.sh - g.padT + ky
		if iy < 0 || iy >= g.in.H {
			continue
		}
		for kx := range g.kw {
			ix := ox*g.sw - g.padL + kx
			if ix < 0 || ix >= g.in.W {
				continue
			}
			offs[n], offs[n+1] = (iy*g.in.W+ix)*c, (ky*g.kw+kx)*c
			n += 2
		}
	}
	qkernels.DepthwiseRow(acc, (c+15)&^15, src, g.sw*c, npix, d.w, offs[:n], c, d.zx)
}

// qadd is TFLite's 8-bit ADD (qkernels.Add).
type qadd struct {
	x, y, out int
	k         *qkernels.Add
}

func (a *qadd) inputs() []int { return []int{a.x, a.y} }
func (a *qadd) output() int   { return a.out }

// addChunk is the values of one unit of an ADD.
const addChunk = 4096

// units are runs of addChunk values.
func (a *qadd) units(p *qprogram) int {
	return (p.tensors[a.out].shape.Size() + addChunk - 1) / addChunk
}

func (a *qadd) run(p *qprogram, ws *qworkspace) { a.runRange(p, ws, nil, 0, a.units(p)) }

func (a *qadd) runRange(p *qprogram, ws *qworkspace, _ *qscratch, lo, hi int) {
	n := p.tensors[a.out].shape.Size()
	i, j := lo*addChunk, min(hi*addChunk, n)
	a.k.Run(ws.bufs[p.tensors[a.out].buf][i:j], ws.bufs[p.tensors[a.x].buf][i:j], ws.bufs[p.tensors[a.y].buf][i:j])
}

// qpool is TFLite's 8-bit average pooling: the rounded average of the
// valid cells of each window (in the file's own type: int8 averages
// round their negative sums away from zero).
type qpool struct {
	in, out int
	g       qgeom
	lo, hi  int32
	signed  bool
}

func (q *qpool) inputs() []int { return []int{q.in} }
func (q *qpool) output() int   { return q.out }

func (q *qpool) run(p *qprogram, ws *qworkspace) {
	src, dst := ws.bufs[p.tensors[q.in].buf], ws.bufs[p.tensors[q.out].buf]
	g := &q.g
	c := g.in.C
	off := int32(0)
	if q.signed {
		off = 128
	}
	// A window's sums, channel by channel, adding its pixels one after
	// the other (each a run of c bytes).
	acc := ws.scr[0].acc[:c]
	for oy := range g.out.H {
		y0, y1 := max(oy*g.sh-g.padT, 0), min(oy*g.sh-g.padT+g.kh, g.in.H)
		for ox := range g.out.W {
			x0, x1 := max(ox*g.sw-g.padL, 0), min(ox*g.sw-g.padL+g.kw, g.in.W)
			cnt := int32((y1 - y0) * (x1 - x0))
			clear(acc)
			for iy := y0; iy < y1; iy++ {
				for ix := x0; ix < x1; ix++ {
					px := src[(iy*g.in.W+ix)*c:][:c]
					for ch, v := range px {
						acc[ch] += int32(v)
					}
				}
			}
			out := dst[(oy*g.out.W+ox)*c:][:c]
			for ch, a := range acc {
				v := roundDiv(a-off*cnt, cnt) + off
				out[ch] = uint8(min(max(v, q.lo), q.hi))
			}
		}
	}
}

// roundDiv is TFLite's rounded integer division of the 8-bit averages:
// half away from zero.
func roundDiv(acc, n int32) int32 {
	if acc > 0 {
		return (acc + n/2) / n
	}
	return (acc - n/2) / n
}

// qmean is TFLite's integer MEAN over the spatial axes (see
// qbuilder.mean).
type qmean struct {
	in, out int
	zi, zo  int32
	mult    int32
	shift   int
}

func (m *qmean) inputs() []int { return []int{m.in} }
func (m *qmean) output() int   { return m.out }

func (m *qmean) run(p *qprogram, ws *qworkspace) {
	src, dst := ws.bufs[p.tensors[m.in].buf], ws.bufs[p.tensors[m.out].buf]
	s := p.tensors[m.in].shape
	hw, c := s.H*s.W, s.C
	for ch := range c {
		var acc int32
		for i := range hw {
			acc += int32(src[i*c+ch]) - m.zi
		}
		v := roundDiv(qkernels.MultiplyByQuantizedMultiplier(acc, m.mult, m.shift), int32(hw)) + m.zo
		dst[ch] = uint8(min(max(v, 0), 255))
	}
}

// qrequant is QUANTIZE from one 8-bit quantization to another.
type qrequant struct {
	in, out int
	rq      *qkernels.Requant
}

func (r *qrequant) inputs() []int { return []int{r.in} }
func (r *qrequant) output() int   { return r.out }

func (r *qrequant) run(p *qprogram, ws *qworkspace) {
	src, dst := ws.bufs[p.tensors[r.in].buf], ws.bufs[p.tensors[r.out].buf]
	for i := range p.tensors[r.out].shape.Size() {
		dst[i] = r.rq.One(int32(src[i]), 0)
	}
}
