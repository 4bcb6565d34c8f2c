package engine

import (
	"fmt"

	"github.com/huskyai/huskyai/engine/internal/kernels"
)

// convMaxPooler is a backend that runs a convolution and the 2x2 max
// pooling after it in one pass (kernels.Packed).
type convMaxPooler interface {
	ConvMaxPoolScratch(g *kernels.ConvGeom) int
	Conv2DMaxPoolPacked(dst, src []float32, w *kernels.PackedWeights, bias []float32, g *kernels.ConvGeom, scratch []float32, act kernels.Act)
}

// convMaxPool is a convolution and the 2x2, stride-2 max pooling that
// follows it, which New runs as one layer when the backend can
// (fuseConvPool): each pair of the convolution's output rows is pooled
// while it is in cache, by the goroutine that computed it, and the
// convolution's output is never written out whole.
type convMaxPool struct {
	conv *Conv2D // planned: its plan and packed weights are set
	pool *Pool2D
}

// LayerName implements Layer.
func (l *convMaxPool) LayerName() string { return l.conv.Name + "+" + l.pool.Name }

func (l *convMaxPool) outShape(in Shape) (Shape, error) {
	mid, err := l.conv.outShape(in)
	if err != nil {
		return Shape{}, err
	}
	return l.pool.outShape(mid)
}

func (l *convMaxPool) scratch(k kernels.Backend, _ Shape) int {
	if cp, ok := k.(convMaxPooler); ok {
		return cp.ConvMaxPoolScratch(l.conv.plan)
	}
	return 0
}

func (l *convMaxPool) forward(k kernels.Backend, dst, src []float32, _, _ Shape, scratch []float32) {
	cp, ok := k.(convMaxPooler)
	if !ok {
		// fuseConvPool fuses only for such a backend, and a model runs
		// on its backend or kernels.Serial of it, another Packed.
		panic(fmt.Sprintf("engine: layer %q: backend %s cannot run a fused convolution and pooling", l.LayerName(), k.Name()))
	}
	act, _ := l.conv.Activation.kernel()
	cp.Conv2DMaxPoolPacked(dst, src, l.conv.packed, l.conv.Bias, l.conv.plan, scratch, act)
}

func (l *convMaxPool) params(in, _ Shape) (int, int64) {
	mid, _ := l.conv.outShape(in)
	w, macs := l.conv.params(in, mid)
	pooled, _ := l.pool.outShape(mid)
	_, pm := l.pool.params(mid, pooled)
	return w, macs + pm
}

// fuseConvPool replaces, in a planned chain, each convolution followed by
// a 2x2, stride-2, unpadded max pooling with one convMaxPool layer, when
// the backend runs them in one pass and the convolution's activation is
// one its kernels apply (kernels.CanConvMaxPool). The activation buffers
// are then sized without the convolutions' outputs.
func (m *Model) fuseConvPool() {
	cp, ok := m.backend.(convMaxPooler)
	if !ok {
		return
	}
	layers, shapes := m.layers[:0:0], m.shapes[:1:1]
	for i := 0; i < len(m.layers); i++ {
		if i+1 < len(m.layers) {
			if c, p := convPoolPair(m.layers[i], m.layers[i+1]); c != nil {
				layers = append(layers, &convMaxPool{conv: c, pool: p})
				shapes = append(shapes, m.shapes[i+2])
				m.maxScr = max(m.maxScr, cp.ConvMaxPoolScratch(c.plan))
				i++
				continue
			}
		}
		layers = append(layers, m.layers[i])
		shapes = append(shapes, m.shapes[i+1])
	}
	m.layers, m.shapes = layers, shapes
	m.maxAct = 0
	for _, s := range shapes {
		m.maxAct = max(m.maxAct, s.Size())
	}
}

// convPoolPair returns l and next as a convolution and a max pooling that
// convMaxPool can run, or nil.
func convPoolPair(l, next Layer) (*Conv2D, *Pool2D) {
	c, ok := l.(*Conv2D)
	p, ok2 := next.(*Pool2D)
	if !ok || !ok2 || c.packed == nil || c.plan == nil || len(c.groups) > 0 || !kernels.CanConvMaxPool(c.plan) {
		return nil, nil
	}
	if _, fused := c.Activation.kernel(); !fused {
		return nil, nil
	}
	if !p.Max || p.KernelH != 2 || p.KernelW != 2 || p.StrideH != 2 || p.StrideW != 2 || p.Pad != (Padding{}) {
		return nil, nil
	}
	return c, p
}
