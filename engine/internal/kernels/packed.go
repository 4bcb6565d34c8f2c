package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas/gonum"
)

// Packed is huskyai's own GEMM backend. Convolutions read their input in
// place when the micro-kernel allows it (see implicitConv: one product per
// kernel row, no im2col at all), padded ones from a zero-padded copy of
// the input in the scratch (see padInput); the others are lowered with
// im2col like Gonum, but one tile of rows at a time into a per-goroutine
// slot of the scratch, so the lowered rows stay in cache. Every product
// runs through a register-blocked micro-kernel (on amd64, hand-written
// assembly: 12x32 AVX-512 or 6x16 AVX2+FMA when the CPU has them; with
// GOEXPERIMENT=simd, simd/archsimd ones too; else a portable loop of
// gonum's assembly SAXPY), with the bias and an optional
// ReLU applied as the tile is stored. Weights can be packed once, at load,
// into the panels the micro-kernel streams through (see Backend.PackWeights).
// Large products are split into tiles shared, through an atomic counter,
// between the calling goroutine and a fixed pool of helper goroutines
// started once, so that an inference in steady state allocates nothing.
// The Packed that Serial returns runs each product on the calling
// goroutine alone, for callers that spread whole images over the CPUs.
type Packed struct {
	serial bool // no helpers: every product on the calling goroutine
}

// Serial returns b computing on the calling goroutine only: for Packed, a
// Packed that never hands tiles to helper goroutines, for callers that run
// several inferences side by side, one per CPU; any other backend as it is.
// Its results are those of b, bit for bit (tiles only change who computes
// them, never the order of a sum), and its weights are b's (PackWeights is
// the same).
func Serial(b Backend) Backend {
	if p, ok := b.(Packed); ok {
		p.serial = true
		return p
	}
	return b
}

// Workers returns how many goroutines the operations of b may share: 1
// for the Packed that Serial returns, else GOMAXPROCS. The engine uses it
// for the layers it splits itself (depthwise convolutions).
func Workers(b Backend) int {
	if p, ok := b.(Packed); ok {
		return p.workers()
	}
	return runtime.GOMAXPROCS(0)
}

// workers is how many goroutines may share one product: GOMAXPROCS, or 1
// for a serial Packed.
func (p Packed) workers() int {
	if p.serial {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}

// Name implements Backend.
func (Packed) Name() string { return "packed-" + micro.name }

// ConvScratch implements Backend: for a padded convolution, first room
// for the zero-padded copy of its input (see padInput), then, for each
// goroutine that may work on the convolution (GOMAXPROCS of them, as it
// is when the model is loaded), the im2col rows of one tile. Tiles are
// lowered one at a time, into cache, rather than the whole image at once.
// Both are reserved whatever the micro-kernel, which tests may change
// after the scratch is sized (UseMicroKernel).
func (Packed) ConvScratch(g *ConvGeom) int {
	if pointwise(g) {
		return 0
	}
	return paddedLen(g) + min(runtime.GOMAXPROCS(0), maxSlots)*maxTileRows*g.KH*g.KW*g.InC
}

const (
	// maxTileRows bounds the rows of a tile (micro-kernel rows times 64/mr).
	maxTileRows = 64
	// maxSlots bounds the goroutines that share one convolution.
	maxSlots = 16
)

// Conv2D implements Backend.
func (p Packed) Conv2D(dst, src, w, bias []float32, g *ConvGeom, scratch []float32) {
	p.Conv2DReLU(dst, src, w, bias, g, scratch, ActNone)
}

// Dense implements Backend.
func (p Packed) Dense(dst, src, w, bias []float32, rows, in, out int) {
	p.DenseReLU(dst, src, w, bias, rows, in, out, ActNone)
}

// Conv2DReLU is Conv2D followed, if relu, by max(x, 0), in one pass.
func (p Packed) Conv2DReLU(dst, src, w, bias []float32, g *ConvGeom, scratch []float32, act Act) {
	p.conv(dst, src, w, nil, bias, g, scratch, act)
}

// DenseReLU is Dense followed, if relu, by max(x, 0), in one pass.
func (p Packed) DenseReLU(dst, src, w, bias []float32, rows, in, out int, act Act) {
	gemm(dst, src, w, nil, bias, rows, in, out, act, convA{}, nil, p.workers())
}

func (p Packed) conv(dst, src, w []float32, pw *PackedWeights, bias []float32, g *ConvGeom, scratch []float32, act Act) {
	k := g.KH * g.KW * g.InC
	if pointwise(g) {
		gemm(dst, src, w, pw, bias, g.OutH*g.OutW, k, g.OutC, act, convA{}, nil, p.workers())
		return
	}
	conv := convA{g: g, src: src}
	if implicitConv(g, pw != nil && pw.panels != nil && pw.kernel == micro.name) {
		conv.implicit, conv.ig = true, *g
		if n := paddedLen(g); n > 0 {
			// The padded copy goes first, the im2col slots (unused by
			// an implicit convolution) after it.
			conv.ig = padInput(scratch[:n], src, g)
			conv.src, scratch = scratch[:n], scratch[n:]
		}
	}
	gemm(dst, nil, w, pw, bias, g.OutH*g.OutW, k, g.OutC, act, conv, scratch, p.workers())
}

// implicitConv reports whether the convolution g can run on the current
// micro-kernel without im2col: with no padding, the KW x InC patch rows
// of an output row's pixels lie in place in src, InC*StrideW floats apart,
// so each KH row of the kernel is one product of overlapping rows of src
// with KW*InC rows of the weights, and the KH products add up in c
// (flagLoad, flagPartial) in the very order of one product over the im2col
// rows: the results are the same, bit for bit. A padded convolution (or
// one whose window runs past the bottom or right edge: padding there)
// reads a copy of src with the zeros im2col would write (padInput), so it
// too gives the same bits. It needs the strip of the assembly kernels, and
// output channels in whole panels unless the weights are packed (the last
// panel then is zero-padded).
func implicitConv(g *ConvGeom, packed bool) bool {
	return micro.strip != nil && (g.OutC%micro.nr == 0 || packed) && g.PadT >= 0 && g.PadL >= 0 &&
		g.KH > 0 && g.KW > 0 && g.InC > 0 &&
		g.StrideH > 0 && g.StrideW > 0 && g.OutH > 0 && g.OutW > 0
}

// paddedLen returns the float32s of the zero-padded copy of g's input that
// an implicit convolution reads (padInput), or 0 if it reads src in place:
// when g has no padding and its windows lie within the input.
func paddedLen(g *ConvGeom) int {
	if g.PadT < 0 || g.PadL < 0 || g.StrideH <= 0 || g.StrideW <= 0 || g.OutH <= 0 || g.OutW <= 0 {
		return 0 // not run implicitly
	}
	h, w := (g.OutH-1)*g.StrideH+g.KH, (g.OutW-1)*g.StrideW+g.KW
	if g.PadT == 0 && g.PadL == 0 && h <= g.InH && w <= g.InW {
		return 0
	}
	return h * w * g.InC
}

// padInput writes to dst the input src of g padded with zeros (PadT rows
// at the top, PadL columns at the left, and at the bottom and right as
// many as the windows of OutH x OutW outputs reach past src, cropping any
// rows and columns they do not reach) and returns the geometry of the
// same convolution on dst, unpadded. dst has paddedLen(g) elements.
func padInput(dst, src []float32, g *ConvGeom) ConvGeom {
	h, w := (g.OutH-1)*g.StrideH+g.KH, (g.OutW-1)*g.StrideW+g.KW
	c := g.InC
	dst = dst[:h*w*c]
	// Columns [x0, x1) of a padded row come from src.
	x0, x1 := min(g.PadL, w), min(g.PadL+g.InW, w)
	for y := range h {
		row := dst[y*w*c : (y+1)*w*c]
		iy := y - g.PadT
		if iy < 0 || iy >= g.InH || x0 >= x1 {
			clear(row)
			continue
		}
		clear(row[:x0*c])
		copy(row[x0*c:x1*c], src[iy*g.InW*c:])
		clear(row[x1*c:])
	}
	pg := *g
	pg.InH, pg.InW, pg.PadT, pg.PadL = h, w, 0, 0
	return pg
}

// convA is the A operand of a convolution: the im2col matrix of src,
// produced a tile of rows at a time. A nil g means a plain matrix.
type convA struct {
	g        *ConvGeom
	src      []float32
	implicit bool // see implicitConv: tiles are output rows, no scratch
	// ig is the geometry an implicit convolution reads src with: g, or
	// g unpadded when src is the padded copy of the input (padInput). A
	// value, so that a padded convolution allocates nothing.
	ig ConvGeom
	// row0 and rows, where rows is not 0, restrict the product to output
	// rows [row0, row0+rows) of the convolution, c holding only them
	// (see convRows).
	row0, rows int
}

// outRows is the number of output rows of the convolution the product
// computes.
func (a *convA) outRows() int {
	if a.rows > 0 {
		return a.rows
	}
	return a.g.OutH
}

// PackedWeights is a k x n weight matrix together with its columns
// rearranged into the nr-wide panels a micro-kernel reads: panel q holds
// columns q*nr to q*nr+nr-1 of every row, one row after another, so that
// the kernel streams through contiguous memory. Columns left over after
// the last whole panel are read from W.
type PackedWeights struct {
	W      []float32
	K, N   int
	kernel string // the micro-kernel the panels are for
	nr     int
	panels []float32
}

// PackWeights implements Backend.
func (Packed) PackWeights(w []float32, k, n int) *PackedWeights {
	pw := &PackedWeights{W: w[:k*n], K: k, N: n, kernel: micro.name, nr: micro.nr}
	nr := micro.nr
	if micro.full == nil {
		return pw // the portable kernel reads W
	}
	// The columns after the last whole panel go in one more panel, padded
	// with zero columns: the micro-kernel computes it into a tile of its
	// own (lastPanel), and only the real columns are copied out.
	q := (n + nr - 1) / nr
	pw.panels = make([]float32, q*k*nr)
	for i := range q {
		panel := pw.panels[i*k*nr : (i+1)*k*nr]
		cols := min(nr, n-i*nr)
		for p := range k {
			copy(panel[p*nr:p*nr+cols], w[p*n+i*nr:p*n+i*nr+cols])
		}
	}
	return pw
}

// Conv2DPacked implements Backend.
func (p Packed) Conv2DPacked(dst, src []float32, w *PackedWeights, bias []float32, g *ConvGeom, scratch []float32, act Act) {
	p.conv(dst, src, w.W, w, bias, g, scratch, act)
}

// DensePacked implements Backend.
func (p Packed) DensePacked(dst, src []float32, w *PackedWeights, bias []float32, rows int, act Act) {
	gemm(dst, src, w.W, w, bias, rows, w.K, w.N, act, convA{}, nil, p.workers())
}

// A microKernel computes c = bias + a*b (bias nil meaning zero), then
// max(c, 0) if relu, for one tile: full for mr x nr tiles, x4 and x2 for
// 4 x nr and 2 x nr ones (the rows a tile has left over after its mr-row
// blocks, summed in the same order as full), row for 1 x nr ones. A
// product of a few rows (a small batch through a dense layer) thus reads
// each panel of b once or twice rather than once per row. The portable set
// has no functions and an unreachable nr, so that every row of a tile goes
// through edge, a SAXPY per element of a. strip, where not nil, runs any
// number of rows with the flags of the assembly kernels (flagLoad and
// flagPartial split a product along k), which convolutions use to read
// their input (or its padded copy) in place (see implicitConv).
type microKernel struct {
	name   string
	mr, nr int
	full   func(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act)
	x4, x2 func(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act)
	row    func(c, a, b []float32, ldb, k int, bias []float32, act Act)
	strip  stripFunc
}

// Flags of a stripFunc (and of the assembly kernels, micro_amd64_gen.py).
const (
	flagReLU    = 1 // max(x, 0) after the bias
	flagLoad    = 2 // start from the tile in c, not zero
	flagPartial = 4 // store the sum without bias or ReLU
	flagReLU6   = 8 // with flagReLU: min(x, 6) after the max
)

// actFlags are the flags of the activation act.
func actFlags(act Act) int {
	switch act {
	case ActReLU:
		return flagReLU
	case ActReLU6:
		return flagReLU | flagReLU6
	}
	return 0
}

// A stripFunc computes rows x nr of c from a (rows of k, lda apart, which
// may overlap) and b (k rows of nr, ldb apart), with the kernel's flags.
type stripFunc func(rows int, c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, flags int)

var portable = microKernel{name: "go", mr: 4, nr: 1 << 30}

// microKernels returns the micro-kernels this build and CPU can run, best
// first: the assembly ones (amd64, unless built with -tags purego), then
// the simd/archsimd ones (GOEXPERIMENT=simd on amd64), then portable. The
// assembly kernels come first because they are faster than the archsimd
// ones, which Go compiles with 16 vector registers only.
func microKernels() []microKernel {
	ks := append(asmKernels(), simdKernels()...)
	return append(ks, portable)
}

// micro is the kernel Gemm uses: the best of microKernels() for this CPU.
var micro = microKernels()[0]

// MicroKernels names the micro-kernels Packed can run in this build on
// this CPU, best (the default) first: "asm-avx512", "asm-avx2" (assembly,
// amd64 without -tags purego), "avx512", "avx2" (simd/archsimd, with
// GOEXPERIMENT=simd), "go" (portable, always there).
func MicroKernels() []string {
	var names []string
	for _, mk := range microKernels() {
		names = append(names, mk.name)
	}
	return names
}

// UseMicroKernel makes Packed run the named micro-kernel (one of
// MicroKernels) from now on and returns a function that puts the previous
// one back, or false if there is no such kernel here. It is for tests and
// benchmarks: it must not be called while Packed is in use, and weights
// packed for another kernel are then read unpacked, so load models after.
func UseMicroKernel(name string) (restore func(), ok bool) {
	for _, mk := range microKernels() {
		if mk.name == name {
			saved := micro
			micro = mk
			return func() { micro = saved }, true
		}
	}
	return nil, false
}

// Gemm computes c = a*b + bias (and max(c, 0) if relu) for row-major
// a (m x k), b (k x n) and c (m x n). bias has n elements or is nil.
func Gemm(c, a, b, bias []float32, m, k, n int, act Act) {
	gemm(c, a, b, nil, bias, m, k, n, act, convA{}, nil, runtime.GOMAXPROCS(0))
}

// gemm is Gemm, reading b from the panels of pb when pb was packed for the
// current micro-kernel. If conv.g is not nil, a is nil and each tile's rows
// of a are made from conv into a slot of scratch, one per goroutine. Up
// to workers goroutines (the caller and helpers) share the tiles.
func gemm(c, a, b []float32, pb *PackedWeights, bias []float32, m, k, n int, act Act, conv convA, scratch []float32, workers int) {
	if m == 0 || n == 0 {
		return
	}
	c, b = c[:m*n], b[:k*n]
	if conv.g == nil {
		a = a[:m*k]
	}
	if bias != nil {
		bias = bias[:n]
	}
	j := jobs.Get().(*gemmJob)
	*j = gemmJob{c: c, a: a, b: b, bias: bias, m: m, k: k, n: n, act: act, mk: micro, conv: conv, scratch: scratch}
	if pb != nil && pb.panels != nil && pb.kernel == micro.name && pb.nr == micro.nr && pb.K == k && pb.N == n {
		j.panels = pb.panels
	}
	mr, nr := j.mk.mr, j.mk.nr
	// Tiles: blocks of rows over all columns when there are many rows,
	// else (a matrix-vector product, say) blocks of nr columns.
	j.mb = mr * max(1, maxTileRows/mr)
	j.nb = n
	j.rt = (m + j.mb - 1) / j.mb
	if j.rt < 4*workers && n > nr {
		per := max(1, (n+nr-1)/nr/(4*workers))
		j.nb = per * nr
	}
	j.ct = (n + j.nb - 1) / j.nb
	if conv.implicit {
		j.rt, j.ct = conv.outRows(), 1
	}
	units := j.rt * j.ct
	// Small products are not worth waking helpers for.
	h := 0
	if units > 1 && int64(m)*int64(k)*int64(n) >= 1<<16 {
		h = min(workers, units) - 1
		if conv.g != nil && !conv.implicit {
			h = min(h, len(scratch)/(j.mb*k)-1)
		}
	}
	if h > 0 {
		Parallel(j, h+1)
	} else {
		j.work()
	}
	*j = gemmJob{}
	jobs.Put(j)
}

type gemmJob struct {
	c, a, b, bias  []float32
	panels         []float32 // b packed for mk, or nil
	m, k, n        int
	act            Act
	mk             microKernel
	mb, nb, rt, ct int
	conv           convA
	scratch        []float32
	next, slots    atomic.Int64
	Group
}

// Run implements Task.
func (j *gemmJob) Run() { j.work() }

var jobs = sync.Pool{New: func() any { return new(gemmJob) }}

// work takes tiles until none are left.
func (j *gemmJob) work() {
	units := int64(j.rt * j.ct)
	if j.conv.implicit {
		for {
			u := j.next.Add(1) - 1
			if u >= units {
				return
			}
			j.convRow(int(u))
		}
	}
	var buf []float32
	if j.conv.g != nil {
		slot := int(j.slots.Add(1) - 1)
		buf = j.scratch[slot*j.mb*j.k : (slot+1)*j.mb*j.k]
	}
	for {
		u := j.next.Add(1) - 1
		if u >= units {
			return
		}
		ri, ci := int(u)/j.ct, int(u)%j.ct
		i0, j0 := ri*j.mb, ci*j.nb
		i1 := min(i0+j.mb, j.m)
		a, ai := j.a, i0
		if j.conv.g != nil {
			a, ai = buf[:(i1-i0)*j.k], 0
			p0 := j.conv.row0 * j.conv.g.OutW
			im2colRows(a, j.conv.src, j.conv.g, p0+i0, p0+i1)
		}
		j.tile(a, ai, i0, i1, j0, min(j0+j.nb, j.n))
	}
}

// convRow computes output row oy of an implicit convolution (see
// implicitConv): for each panel of nr output channels and each run of mr
// pixels, one strip call per row of the kernel, accumulating in c.
func (j *gemmJob) convRow(oy int) {
	g := &j.conv.ig
	n, k, nr, mr := j.n, j.k, j.mk.nr, j.mk.mr
	kwc, lda := g.KW*g.InC, g.StrideW*g.InC
	c := j.c[oy*g.OutW*n : (oy+1)*g.OutW*n]
	for q := 0; q < n; q += nr {
		// The last panel, if partial (implicitConv allows it only with
		// packed weights, zero-padded), goes through a tile of its own
		// (see lastPanel).
		var t *edgeTile
		var bias []float32
		cq, ldc := c[q:], n
		if q+nr > n {
			t = edgeTiles.Get().(*edgeTile)
			bias = t.tileBias(j.bias, q, n, nr)
			cq, ldc = t.c[:], nr
		} else if j.bias != nil {
			bias = j.bias[q : q+nr]
		}
		for x0 := 0; x0 < g.OutW; x0 += mr {
			rows := min(mr, g.OutW-x0)
			for ky := range g.KH {
				a := j.conv.src[(((oy+j.conv.row0)*g.StrideH+ky)*g.InW+x0*g.StrideW)*g.InC:]
				var b []float32
				ldb := n
				if j.panels != nil {
					b, ldb = j.panels[q*k+ky*kwc*nr:], nr
				} else {
					b = j.b[ky*kwc*n+q:]
				}
				flags := 0
				if ky > 0 {
					flags |= flagLoad
				}
				if ky < g.KH-1 {
					flags |= flagPartial
				} else {
					flags |= actFlags(j.act)
				}
				if t != nil {
					j.mk.strip(rows, cq, ldc, a, lda, b, ldb, kwc, bias, flags)
					continue
				}
				j.mk.strip(rows, cq[x0*n:], ldc, a, lda, b, ldb, kwc, bias, flags)
			}
			if t != nil {
				for r := range rows {
					copy(c[(x0+r)*n+q:(x0+r)*n+n], t.c[r*nr:])
				}
			}
		}
		if t != nil {
			edgeTiles.Put(t)
		}
	}
}

// tile computes rows [i0,i1) x columns [j0,j1) of c; row i0 of a is row
// ai of the slice a.
func (j *gemmJob) tile(a []float32, ai, i0, i1, j0, j1 int) {
	c, b, k, n := j.c, j.b, j.k, j.n
	aoff := ai - i0
	mr, nr := j.mk.mr, j.mk.nr
	var bias []float32
	jj := j0
	for ; jj+nr <= j1; jj += nr {
		if j.bias != nil {
			bias = j.bias[jj : jj+nr]
		}
		bp, ldb := b[jj:], n
		if j.panels != nil {
			bp, ldb = j.panels[jj*k:(jj+nr)*k], nr
		}
		i := i0
		for ; i+mr <= i1; i += mr {
			j.mk.full(c[i*n+jj:], n, a[(i+aoff)*k:], k, bp, ldb, k, bias, j.act)
		}
		for i+4 <= i1 && j.mk.x4 != nil {
			j.mk.x4(c[i*n+jj:], n, a[(i+aoff)*k:], k, bp, ldb, k, bias, j.act)
			i += 4
		}
		if i+2 <= i1 && j.mk.x2 != nil {
			j.mk.x2(c[i*n+jj:], n, a[(i+aoff)*k:], k, bp, ldb, k, bias, j.act)
			i += 2
		}
		for ; i < i1; i++ {
			j.mk.row(c[i*n+jj:], a[(i+aoff)*k:(i+aoff+1)*k], bp, ldb, k, bias, j.act)
		}
	}
	if jj < j1 && j.panels != nil && j1 == n {
		j.lastPanel(a[(i0+aoff)*k:], i0, i1, jj)
		return
	}
	if jj < j1 {
		edge(c, a[aoff*k+i0*k:], b, j.bias, i0, i1, jj, j1, k, n, j.act)
	}
}

// edgeTile is the room of lastPanel: one micro-kernel tile and its bias,
// nr wide, for the largest kernel (12 x 32).
type edgeTile struct {
	c    [12 * 32]float32
	bias [32]float32
}

var edgeTiles = sync.Pool{New: func() any { return new(edgeTile) }}

// tileBias returns the bias of the nr columns from j0 (the last, partial
// panel: zero after column n), or nil.
func (t *edgeTile) tileBias(bias []float32, j0, n, nr int) []float32 {
	if bias == nil {
		return nil
	}
	b := t.bias[:nr]
	clear(b[copy(b, bias[j0:n]):])
	return b
}

// lastPanel computes rows [i0,i1) of the columns from j0 to n, fewer than
// nr, from the zero-padded last panel of the packed weights: each block of
// rows goes through the micro-kernel into a tile of nr columns, and the
// real columns are copied to c. a starts at row i0.
func (j *gemmJob) lastPanel(a []float32, i0, i1, j0 int) {
	c, k, n := j.c, j.k, j.n
	mr, nr := j.mk.mr, j.mk.nr
	t := edgeTiles.Get().(*edgeTile)
	defer edgeTiles.Put(t)
	bias := t.tileBias(j.bias, j0, n, nr)
	bp := j.panels[j0*k : (j0+nr)*k]
	for i := i0; i < i1; {
		rows, f := 1, j.mk.full
		switch r := i1 - i; {
		case r >= mr:
			rows = mr
		case r >= 4 && j.mk.x4 != nil:
			rows, f = 4, j.mk.x4
		case r >= 2 && j.mk.x2 != nil:
			rows, f = 2, j.mk.x2
		default:
			f = nil
		}
		ai := a[(i-i0)*k:]
		if f != nil {
			f(t.c[:], nr, ai, k, bp, nr, k, bias, j.act)
		} else {
			j.mk.row(t.c[:nr], ai[:k], bp, nr, k, bias, j.act)
		}
		for r := range rows {
			copy(c[(i+r)*n+j0:(i+r)*n+n], t.c[r*nr:])
		}
		i += rows
	}
}

// edgeK is the depth of the blocks edge walks a in, so that the rows of b
// it reads stay in cache while it goes through the tile's rows.
const edgeK = 64

// edge computes rows [i0,i1) of columns [j0,j1) of c, the columns left
// over after the nr-wide panels (all of them for the portable kernel), by
// a SAXPY per element of a: a[0] is the start of row i0.
func edge(c, a, b, bias []float32, i0, i1, j0, j1, k, n int, act Act) {
	w := j1 - j0
	for i := i0; i < i1; i++ {
		ci := c[i*n+j0 : i*n+j1]
		if bias != nil {
			copy(ci, bias[j0:j1])
		} else {
			clear(ci)
		}
	}
	for p0 := 0; p0 < k; p0 += edgeK {
		p1 := min(p0+edgeK, k)
		for i := i0; i < i1; i++ {
			ci := c[i*n+j0 : i*n+j1]
			ai := a[(i-i0)*k : (i-i0+1)*k]
			for p := p0; p < p1; p++ {
				if v := ai[p]; v != 0 {
					saxpy(w, v, b[p*n+j0:p*n+j1], 1, ci, 1)
				}
			}
		}
	}
	for i := i0; i < i1; i++ {
		act.Apply(c[i*n+j0 : i*n+j1])
	}
}

// saxpy is gonum's assembly SAXPY, which allocates nothing and starts no
// goroutines; the portable build does its arithmetic through it.
var saxpy = gonum.Implementation{}.Saxpy
