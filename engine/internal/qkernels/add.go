package qkernels

import "fmt"

// addLeftShift is the headroom TFLite's 8-bit ADD gives its inputs.
const addLeftShift = 20

// Add is TFLite's 8-bit ADD of two tensors of one shape: both inputs
// scaled to twice the larger input scale with 20 bits of headroom,
// summed, then scaled to the output, each step a
// MultiplyByQuantizedMultiplier. NewAdd builds it.
type Add struct {
	zx, zy, zo, lo, hi int32
	mx, my, mo         int32
	sx, sy, so         int
	tab                [20]int32     // for the assembly: zx, zy, zo, lo, hi, then m, right, round, neg, mask of x, y, out
	tab8               [20 * 8]int32 // tab, each value 8 times: the AVX2 tier's memory operands
	asm                bool          // no left shifts: the assembly applies
}

// NewAdd computes the multipliers of an ADD with input scales and zero
// points (sx, zx), (sy, zy), output (so, zo) and output range lo..hi
// (uint8 domain), as TFLite's Prepare of ADD does.
func NewAdd(sx, sy, so float64, zx, zy, zo, lo, hi int32) *Add {
	twice := 2 * max(sx, sy)
	a := &Add{zx: zx, zy: zy, zo: zo, lo: lo, hi: hi}
	a.mx, a.sx = QuantizeMultiplier(sx / twice)
	a.my, a.sy = QuantizeMultiplier(sy / twice)
	a.mo, a.so = QuantizeMultiplier(twice / (float64(1<<addLeftShift) * so))
	a.tab = [20]int32{zx, zy, zo, lo, hi}
	a.asm = true
	for i, ms := range [][2]int64{{int64(a.mx), int64(a.sx)}, {int64(a.my), int64(a.sy)}, {int64(a.mo), int64(a.so)}} {
		right := -ms[1]
		if right < 0 {
			a.asm = false
			continue
		}
		t := a.tab[5+5*i:]
		t[0], t[1] = int32(ms[0]), int32(right)
		if right > 0 {
			t[2], t[3] = int32(1)<<(right-1), -1
		}
		t[4] = int32(int64(1)<<right - 1)
	}
	for i, v := range a.tab {
		for l := range 8 {
			a.tab8[8*i+l] = v
		}
	}
	return a
}

// Run computes dst = x + y (requantized), value by value.
func (a *Add) Run(dst, x, y []uint8) {
	if len(x) < len(dst) || len(y) < len(dst) {
		panic(fmt.Sprintf("qkernels: Add: %d outputs from %d and %d inputs", len(dst), len(x), len(y)))
	}
	done := 0
	if !singleRounding {
		done = addAsm(dst, x, y, a)
	}
	for i := done; i < len(dst); i++ {
		sx := MultiplyByQuantizedMultiplier((int32(x[i])-a.zx)<<addLeftShift, a.mx, a.sx)
		sy := MultiplyByQuantizedMultiplier((int32(y[i])-a.zy)<<addLeftShift, a.my, a.sy)
		v := MultiplyByQuantizedMultiplier(sx+sy, a.mo, a.so) + a.zo
		dst[i] = uint8(min(max(v, a.lo), a.hi))
	}
}
