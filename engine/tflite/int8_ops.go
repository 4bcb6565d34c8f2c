package tflite

import (
	"fmt"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/internal/qkernels"
	tfl "github.com/huskyai/huskyai/engine/internal/tflite"
)

// operator translates one TFLite operator into integer ops.
func (b *qbuilder) operator(op tfl.Operator) error {
	if int(op.OpcodeIndex) >= len(b.m.OperatorCodes) || len(op.Outputs) != 1 || len(op.Inputs) < 1 {
		return fmt.Errorf("malformed operator")
	}
	code := b.m.OperatorCodes[op.OpcodeIndex]
	if b.done {
		// After the logits only conversions of the (float) output.
		switch code {
		case tfl.OpQuantize, tfl.OpDequantize, tfl.OpReshape, tfl.OpSqueeze:
			return nil
		}
		return fmt.Errorf("follows the softmax")
	}
	switch code {
	case tfl.OpConv2D:
		return b.conv(op)
	case tfl.OpFullyConnected:
		return b.fullyConnected(op)
	case tfl.OpDepthwiseConv2D:
		return b.depthwise(op)
	case tfl.OpAdd:
		return b.add(op)
	case tfl.OpAveragePool2D:
		return b.avgPool(op)
	case tfl.OpMean:
		return b.mean(op)
	case tfl.OpReshape, tfl.OpSqueeze:
		return b.reshape(op)
	case tfl.OpQuantize:
		return b.requantize(op)
	case tfl.OpSoftmax, tfl.OpDequantize:
		return b.logits(op, code == tfl.OpSoftmax)
	}
	return fmt.Errorf("operator not supported by the integer path")
}

// inOut returns op's first input (computed) and its output (a new
// tensor).
func (b *qbuilder) inOut(op tfl.Operator) (in, out int, err error) {
	if in, err = b.source(op.Inputs[0]); err != nil {
		return 0, 0, err
	}
	if out, err = b.newTensor(op.Outputs[0]); err != nil {
		return 0, 0, err
	}
	return in, out, nil
}

// conv: CONV_2D, weights [O,KH,KW,I]; options as the float loader reads
// them (convOptions).
func (b *qbuilder) conv(op tfl.Operator) error {
	in, out, err := b.inOut(op)
	if err != nil {
		return err
	}
	w, err := b.weights(op, 0)
	if err != nil {
		return err
	}
	ti := &b.p.tensors[in]
	if len(w.shape) != 4 || int(w.shape[3]) != ti.shape.C {
		return fmt.Errorf("weights of shape %v for an input of %d channels", w.shape, ti.shape.C)
	}
	kh, kw := int(w.shape[1]), int(w.shape[2])
	sh, sw, pad, act, err := convOptions(op.Options, ti.shape, kh, kw, 3, 4)
	if err != nil {
		return err
	}
	return b.gemmOp(op, in, out, w, act, qgeom{kh: kh, kw: kw, sh: sh, sw: sw, padT: pad.Top, padL: pad.Left, padB: pad.Bottom, padR: pad.Right})
}

// fullyConnected: FULLY_CONNECTED, weights [O,I], as a 1x1 convolution
// of the flattened input.
func (b *qbuilder) fullyConnected(op tfl.Operator) error {
	in, out, err := b.inOut(op)
	if err != nil {
		return err
	}
	w, err := b.weights(op, 0)
	if err != nil {
		return err
	}
	if len(w.shape) != 2 || int(w.shape[1]) != b.p.tensors[in].shape.Size() || op.Options.Int8(1, 0) != 0 {
		return fmt.Errorf("weights of shape %v (format %d) for an input of %d values", w.shape, op.Options.Int8(1, 0), b.p.tensors[in].shape.Size())
	}
	act, err := fused(op.Options.Int8(0, 0))
	if err != nil {
		return err
	}
	flat := b.p.tensors[in]
	flat.shape = engine.Shape{H: 1, W: 1, C: flat.shape.Size()}
	b.p.tensors = append(b.p.tensors, flat)
	b.p.alias = append(b.p.alias, [2]int{len(b.p.tensors) - 1, in})
	return b.gemmOp(op, len(b.p.tensors)-1, out, w, act, qgeom{kh: 1, kw: 1, sh: 1, sw: 1})
}

// gemmOp adds a convolution computed as a matrix product.
func (b *qbuilder) gemmOp(op tfl.Operator, in, out int, w *qweights, act engine.Activation, g qgeom) error {
	ti, to := &b.p.tensors[in], &b.p.tensors[out]
	g.in, g.out = ti.shape, to.shape
	if err := g.check(); err != nil {
		return err
	}
	n, k := len(w.scales), g.kh*g.kw*g.in.C
	if n != g.out.C || len(w.w) != n*k {
		return fmt.Errorf("%d weights for %d filters of %d values", len(w.w), g.out.C, k)
	}
	bias, err := b.bias(op, ti, w)
	if err != nil {
		return err
	}
	bound := maxProducts(k, bias)
	pb := qkernels.PackB(w.w, k, n)
	zx := ti.zero
	for j := range n {
		// sum (x-zx)(w-zw) = sum x*w - zw*sum x - zx*sum w + k*zx*zw:
		// the terms without x go into the bias, zw*sum x into each
		// row's term.
		bias[j] += -zx*pb.ColSum[j] + int32(k)*zx*w.zero
	}
	c := &qconv{in: in, out: out, g: g, k: k, kpad: pb.Kpad, zx: uint8(zx), zw: w.zero}
	c.direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.padT == 0 && g.padL == 0 && g.in.C%4 == 0
	for _, r := range colParts(g.out.H*g.out.W, n) {
		sub := &qweights{w: w.w[r[0]*k : r[1]*k], zero: w.zero, scales: w.scales[r[0]:r[1]]}
		pp := pb
		if r[1]-r[0] < n {
			pp = qkernels.PackB(sub.w, k, r[1]-r[0])
		}
		rq, err := requant(ti, to, sub, bias[r[0]:r[1]], act)
		if err != nil {
			return err
		}
		rq.SetBound(bound)
		c.parts = append(c.parts, qcols{b: pp, rq: rq, c0: r[0]})
	}
	b.p.ops = append(b.p.ops, c)
	b.p.colBytes = max(b.p.colBytes, qkernels.MR*pb.Kpad)
	b.p.accLen = max(b.p.accLen, qkernels.MR*pb.Npad)
	b.p.params += len(w.w)
	b.p.macs += int64(g.out.H*g.out.W) * int64(k) * int64(n)
	return nil
}

// colParts splits the n output channels of a product of m rows into
// runs of whole panels that goroutines may share: one run when there are
// rows enough to share, else runs of about colPanels panels, so that
// the last layers of a network (7x7 pixels, a fully connected layer)
// split over 2 CPUs evenly.
func colParts(m, n int) [][2]int {
	panels := (n + qkernels.NR - 1) / qkernels.NR
	if (m+qkernels.MR-1)/qkernels.MR >= 8 || panels < 2*colPanels {
		return [][2]int{{0, n}}
	}
	parts := (panels + colPanels - 1) / colPanels
	r := make([][2]int, parts)
	p0 := 0
	for i := range r {
		p1 := p0 + panels/parts
		if i < panels%parts {
			p1++
		}
		r[i] = [2]int{p0 * qkernels.NR, min(p1*qkernels.NR, n)}
		p0 = p1
	}
	return r
}

// colPanels is the panels of a run of output channels (colParts).
const colPanels = 4

// maxProducts bounds the accumulator of k products of 8-bit differences
// (q - zero_point, each within -255..255) plus the largest bias.
func maxProducts(k int, bias []int32) int64 {
	b := int64(0)
	for _, v := range bias {
		b = max(b, int64(v), -int64(v))
	}
	return int64(k)*255*255 + b
}

// depthwise: DEPTHWISE_CONV_2D with depth multiplier 1, weights
// [1,KH,KW,C].
func (b *qbuilder) depthwise(op tfl.Operator) error {
	in, out, err := b.inOut(op)
	if err != nil {
		return err
	}
	w, err := b.weights(op, 3)
	if err != nil {
		return err
	}
	ti, to := &b.p.tensors[in], &b.p.tensors[out]
	c := ti.shape.C
	if len(w.shape) != 4 || w.shape[0] != 1 || int(w.shape[3]) != c || to.shape.C != c {
		return fmt.Errorf("weights of shape %v for %d channels in, %d out (only depth multiplier 1 runs in integers)", w.shape, c, to.shape.C)
	}
	kh, kw := int(w.shape[1]), int(w.shape[2])
	if kh*kw > qkernels.MaxTaps {
		return fmt.Errorf("a %dx%d window is larger than %d taps", kh, kw, qkernels.MaxTaps)
	}
	sh, sw, pad, act, err := convOptions(op.Options, ti.shape, kh, kw, 4, 5)
	if err != nil {
		return err
	}
	g := qgeom{in: ti.shape, out: to.shape, kh: kh, kw: kw, sh: sh, sw: sw, padT: pad.Top, padL: pad.Left, padB: pad.Bottom, padR: pad.Right}
	if err := g.check(); err != nil {
		return err
	}
	bias, err := b.bias(op, ti, w)
	if err != nil {
		return err
	}
	rq, err := requant(ti, to, w, bias, act)
	if err != nil {
		return err
	}
	rq.SetBound(maxProducts(kh*kw, bias))
	wz := make([]int32, len(w.w))
	for k, v := range w.w {
		wz[k] = int32(v) - w.zero
	}
	b.p.ops = append(b.p.ops, &qdepthwise{in: in, out: out, g: g, w: wz, rq: rq, zx: ti.zero})
	b.p.accLen = max(b.p.accLen, to.shape.W*((c+15)&^15))
	b.p.params += len(w.w)
	b.p.macs += int64(to.shape.Size()) * int64(kh*kw)
	return nil
}

// add: ADD of two computed tensors of one shape, with TFLite's
// arithmetic (both inputs scaled to twice the larger input scale, with 20
// bits of headroom, summed, then scaled to the output).
func (b *qbuilder) add(op tfl.Operator) error {
	if len(op.Inputs) != 2 {
		return fmt.Errorf("%d inputs, want 2", len(op.Inputs))
	}
	x, out, err := b.inOut(op)
	if err != nil {
		return err
	}
	y, err := b.source(op.Inputs[1])
	if err != nil {
		return err
	}
	tx, ty, to := &b.p.tensors[x], &b.p.tensors[y], &b.p.tensors[out]
	if tx.shape != ty.shape || tx.shape != to.shape {
		return fmt.Errorf("shapes %v + %v -> %v; only equal shapes are supported", tx.shape, ty.shape, to.shape)
	}
	act, err := fused(op.Options.Int8(0, 0))
	if err != nil {
		return err
	}
	lo, hi, err := actRange(act, to)
	if err != nil {
		return err
	}
	a := &qadd{x: x, y: y, out: out, k: qkernels.NewAdd(tx.scale, ty.scale, to.scale, tx.zero, ty.zero, to.zero, lo, hi)}
	b.p.ops = append(b.p.ops, a)
	return nil
}

// avgPool: AVERAGE_POOL_2D with one scale and zero point in and out
// (TFLite's 8-bit pooling does not rescale); the average of the window's
// valid cells, rounded half away from zero.
func (b *qbuilder) avgPool(op tfl.Operator) error {
	in, out, err := b.inOut(op)
	if err != nil {
		return err
	}
	ti, to := &b.p.tensors[in], &b.p.tensors[out]
	if ti.scale != to.scale || ti.zero != to.zero || ti.signed != to.signed {
		return fmt.Errorf("input and output quantization differ")
	}
	o := op.Options
	kw, kh := int(o.Int(3, 0)), int(o.Int(4, 0))
	if kw < 1 || kh < 1 || kw > engine.MaxWindow || kh > engine.MaxWindow {
		return fmt.Errorf("filter %dx%d is outside 1..%d", kh, kw, engine.MaxWindow)
	}
	sh, sw, pad, err := window(o, ti.shape, kh, kw)
	if err != nil {
		return err
	}
	act, err := fused(o.Int8(5, 0))
	if err != nil {
		return err
	}
	lo, hi, err := actRange(act, to)
	if err != nil {
		return err
	}
	g := qgeom{in: ti.shape, out: to.shape, kh: kh, kw: kw, sh: sh, sw: sw, padT: pad.Top, padL: pad.Left, padB: pad.Bottom, padR: pad.Right}
	if err := g.check(); err != nil || to.shape.C != ti.shape.C {
		return fmt.Errorf("output %v for input %v", to.shape, ti.shape)
	}
	b.p.ops = append(b.p.ops, &qpool{in: in, out: out, g: g, lo: lo, hi: hi, signed: ti.signed})
	b.p.accLen = max(b.p.accLen, g.in.C) // a window's sums
	return nil
}

// mean: MEAN over the spatial axes [1,2] of int8 tensors, as TFLite's
// integer Mean computes it: the sum of q - zero_in, times in/out scale
// (MultiplyByQuantizedMultiplier), divided by the count rounding half
// away from zero, plus zero_out.
func (b *qbuilder) mean(op tfl.Operator) error {
	if len(op.Inputs) != 2 {
		return fmt.Errorf("%d inputs, want 2", len(op.Inputs))
	}
	t, data, err := b.constBytes(op.Inputs[1], 4)
	if err != nil || t.Type != tfl.Int32 || len(data) != 8 || int32(le32(data)) != 1 || int32(le32(data[4:])) != 2 {
		return fmt.Errorf("mean over axes other than [1 2] (%v)", err)
	}
	in, out, err := b.inOut(op)
	if err != nil {
		return err
	}
	ti, to := &b.p.tensors[in], &b.p.tensors[out]
	if to.shape.Size() != ti.shape.C {
		return fmt.Errorf("output %v for input %v", to.shape, ti.shape)
	}
	if !ti.signed || !to.signed {
		// TFLite's uint8 MEAN rescales in float32, not as below.
		return fmt.Errorf("MEAN of uint8 tensors is not run in integers")
	}
	m := &qmean{in: in, out: out, zi: ti.zero, zo: to.zero}
	m.mult, m.shift = qkernels.QuantizeMultiplier(ti.scale / to.scale)
	b.p.ops = append(b.p.ops, m)
	return nil
}

// le32 reads a little-endian uint32.
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// reshape: RESHAPE or SQUEEZE to one vector with the same quantization:
// the output shares the input's buffer.
func (b *qbuilder) reshape(op tfl.Operator) error {
	in, out, err := b.inOut(op)
	if err != nil {
		return err
	}
	ti, to := &b.p.tensors[in], &b.p.tensors[out]
	if to.shape.Size() != ti.shape.Size() || to.shape.H*to.shape.W != 1 || to.scale != ti.scale || to.zero != ti.zero {
		return fmt.Errorf("reshape of %v to %v; only a reshape to one vector of the same quantization is supported", ti.shape, to.shape)
	}
	b.p.alias = append(b.p.alias, [2]int{out, in})
	return nil
}

// requantize: QUANTIZE of an 8-bit tensor (uint8 to int8, say): an alias
// when the scale is the same and the zero points agree in the uint8
// domain, else a requantization of every value.
func (b *qbuilder) requantize(op tfl.Operator) error {
	in, out, err := b.inOut(op)
	if err != nil {
		return err
	}
	ti, to := &b.p.tensors[in], &b.p.tensors[out]
	if ti.shape != to.shape {
		return fmt.Errorf("shape %v to %v", ti.shape, to.shape)
	}
	if ti.scale == to.scale && ti.zero == to.zero {
		b.p.alias = append(b.p.alias, [2]int{out, in})
		return nil
	}
	m, s := qkernels.QuantizeMultiplier(ti.scale / to.scale)
	rq := qkernels.NewRequant([]int32{-ti.zero}, []int32{m}, []int{s}, to.zero, 0, 255)
	rq.SetBound(255)
	b.p.ops = append(b.p.ops, &qrequant{in: in, out: out, rq: rq})
	return nil
}

// logits: the SOFTMAX (or DEQUANTIZE) that ends the integer program: its
// input is dequantized and, for a softmax, run through a float32 softmax
// with the operator's beta.
func (b *qbuilder) logits(op tfl.Operator, softmax bool) error {
	in, err := b.source(op.Inputs[0])
	if err != nil {
		return err
	}
	b.p.logits, b.p.softmax, b.done = in, softmax, true
	if softmax {
		b.p.beta = op.Options.Float(0, 0)
	}
	return nil
}
