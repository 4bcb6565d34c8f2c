// Package qkernels holds the integer kernels of the engine's quantized
// path (package tflite's integer engine): an 8-bit matrix product with
// int32 accumulators, a depthwise convolution, and the requantization of
// int32 accumulators to 8 bits with TensorFlow Lite's fixed-point
// arithmetic and rounding, so that a layer's outputs equal TFLite's bit
// for bit.
//
// Activations are uint8 with a zero point (an int8 tensor is stored as
// uint8 by adding 128 to its values and its zero point, which changes no
// difference q - zero_point); weights are int8 with a zero point (uint8
// weights are stored minus 128, likewise). On amd64 CPUs with AVX-512
// VNNI the kernels run in AVX-512 assembly (VPDPBUSD); on those with
// AVX2 only, in AVX2 assembly (int16 products, VPMADDWD); elsewhere, and
// under -tags purego, in portable Go that computes the same integers
// (Kernel names the tier, SetKernel forces one).
package qkernels

import (
	"fmt"
	"math"
)

// QuantizeMultiplier splits a positive real multiplier into a Q31
// fixed-point multiplier in [2^30, 2^31) and a power-of-two exponent,
// real ~= m * 2^(shift-31), as TFLite's QuantizeMultiplier does (frexp,
// then rounding half away from zero).
func QuantizeMultiplier(real float64) (m int32, shift int) {
	if real == 0 {
		return 0, 0
	}
	q, e := math.Frexp(real)
	qf := int64(math.Round(q * (1 << 31)))
	if qf == 1<<31 {
		qf /= 2
		e++
	}
	if e < -31 {
		return 0, 0
	}
	if e > 30 {
		return math.MaxInt32, 30
	}
	return int32(qf), e
}

// SaturatingRoundingDoublingHighMul is gemmlowp's: the high 32 bits of
// 2*a*b, rounded to nearest (ties away from zero), saturated for
// a = b = MinInt32.
func SaturatingRoundingDoublingHighMul(a, b int32) int32 {
	if a == math.MinInt32 && b == math.MinInt32 {
		return math.MaxInt32
	}
	ab := int64(a) * int64(b)
	nudge := int64(1 << 30)
	if ab < 0 {
		nudge = 1 - 1<<30
	}
	return int32((ab + nudge) / (1 << 31)) // Go's / truncates, as C++'s does
}

// RoundingDivideByPOT is gemmlowp's x / 2^exp rounded to nearest, ties
// away from zero; exp in 0..31.
func RoundingDivideByPOT(x int32, exp int) int32 {
	mask := int32(1)<<exp - 1
	rem := x & mask
	threshold := mask >> 1
	if x < 0 {
		threshold++
	}
	r := x >> exp
	if rem > threshold {
		r++
	}
	return r
}

// MultiplyByQuantizedMultiplier is TFLite's x * m * 2^(shift-31): a left
// shift for a positive shift, the doubling high multiplication, then a
// rounding right shift for a negative one. The two roundings are
// TFLite's default; under SetSingleRounding(true) it rounds once.
func MultiplyByQuantizedMultiplier(x, m int32, shift int) int32 {
	if singleRounding {
		return multiplySingleRounding(x, m, shift)
	}
	left, right := max(shift, 0), max(-shift, 0)
	return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x*(1<<left), m), right)
}

// multiplySingleRounding is TFLite's MultiplyByQuantizedMultiplier built
// with TFLITE_SINGLE_ROUNDING: the 64-bit product rounded once (half
// up).
func multiplySingleRounding(x, m int32, shift int) int32 {
	total := 31 - shift
	return int32((int64(x)*int64(m) + int64(1)<<(total-1)) >> total)
}

// singleRounding selects multiplySingleRounding (SetSingleRounding).
var singleRounding bool

// SetSingleRounding makes every requantization round once, as TFLite
// built with TFLITE_SINGLE_ROUNDING does (and as references that
// requantize in floating point nearly do), instead of TFLite's default
// two roundings; the assembly kernels, which round twice, are bypassed
// while it is on. It is for tests that compare with such references,
// and must not be called while kernels run.
func SetSingleRounding(on bool) { singleRounding = on }

// Requant is the requantization of one layer's int32 accumulators to its
// 8-bit outputs, output channel by channel:
//
//	out[j] = clamp(Zero + MultiplyByQuantizedMultiplier(acc[j] + Bias[j] + rowTerm, m[j], shift[j]), Lo, Hi)
//
// It is laid out for the kernels: NewRequant builds it.
type Requant struct {
	N            int     // output channels
	Zero, Lo, Hi int32   // output zero point and activation range (uint8 domain)
	left         bool    // some channel shifts left
	fast         bool    // SetBound: the assembly may round in one step
	tab          []int32 // per block of 16 channels: bias, m, left, right, round, neg, mask, m of odd channels at even places (16 each)
}

// requantFields is the number of 16-channel vectors per block of tab.
const requantFields = 8

// NewRequant lays out the requantization of n channels with the given
// per-channel bias, multipliers and shifts (TFLite's, see
// QuantizeMultiplier); bias may be nil.
func NewRequant(bias, mult []int32, shift []int, zero, lo, hi int32) *Requant {
	n := len(mult)
	blocks := (n + 15) / 16
	r := &Requant{N: n, Zero: zero, Lo: lo, Hi: hi, tab: make([]int32, blocks*16*requantFields)}
	for j := range n {
		b := r.tab[(j/16)*16*requantFields:]
		c := j % 16
		if bias != nil {
			b[c] = bias[j]
		}
		left, right := max(shift[j], 0), max(-shift[j], 0)
		b[16+c] = mult[j]
		b[32+c] = int32(left)
		b[48+c] = int32(right)
		if right > 0 {
			b[64+c] = int32(1) << (right - 1)
			b[80+c] = -1
		}
		b[96+c] = int32(1<<right - 1)
		if c%2 == 1 {
			b[112+c-1] = mult[j]
		}
		r.left = r.left || left > 0
	}
	return r
}

// SetBound declares that every value requantized, accumulator plus bias
// plus row term, lies within -maxAbs..maxAbs. Below 2^30 the result of
// the doubling high multiply plus the rounding term cannot overflow, and
// the assembly's RoundingDivideByPOT adds them before one shift (the
// same results, fewer instructions). A layer knows its bound: K products of at most 255 x 255
// plus its largest bias.
func (r *Requant) SetBound(maxAbs int64) { r.fast = maxAbs >= 0 && maxAbs < 1<<30 }

// Bias returns channel j's bias.
func (r *Requant) Bias(j int) int32 { return r.tab[(j/16)*16*requantFields+j%16] }

// One requantizes one accumulator of channel j (with its bias and the
// row term added).
func (r *Requant) One(acc int32, j int) uint8 {
	b := r.tab[(j/16)*16*requantFields:]
	c := j % 16
	x := acc + b[c]
	var y int32
	if singleRounding {
		y = multiplySingleRounding(x, b[16+c], int(b[32+c]-b[48+c]))
	} else {
		y = RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x<<b[32+c], b[16+c]), int(b[48+c]))
	}
	return uint8(min(max(y+r.Zero, r.Lo), r.Hi))
}

// Row requantizes the accumulators acc[:N] of one output pixel, each plus
// rowTerm, to dst[:N]. acc must have room for N rounded up to 16.
func (r *Requant) Row(dst []uint8, acc []int32, rowTerm int32) {
	if rowTerm == 0 {
		r.Rows(dst, r.N, acc, (r.N+15)&^15, 1, nil)
		return
	}
	t := [1]int32{rowTerm}
	r.Rows(dst, r.N, acc, (r.N+15)&^15, 1, t[:])
}

// Rows requantizes rows rows of accumulators (lda apart; room for N
// rounded up to 16 in each) to rows of dst (ldd apart), row i's each plus
// terms[i] (terms nil: none).
func (r *Requant) Rows(dst []uint8, ldd int, acc []int32, lda, rows int, terms []int32) {
	n := r.N
	if rows < 1 || n == 0 {
		return
	}
	if terms == nil && rows > len(zeroTerms) {
		for i := 0; i < rows; i += len(zeroTerms) {
			r.Rows(dst[i*ldd:], ldd, acc[i*lda:], lda, min(len(zeroTerms), rows-i), nil)
		}
		return
	}
	w := (n + 15) &^ 15
	if ldd < n || lda < w || terms != nil && len(terms) < rows || len(dst) < (rows-1)*ldd+n || len(acc) < (rows-1)*lda+w {
		panic(fmt.Sprintf("qkernels: Requant.Rows: %d rows of %d channels: dst %d (ldd %d), acc %d (lda %d), %d terms",
			rows, n, len(dst), ldd, len(acc), lda, len(terms)))
	}
	if !singleRounding && requantAsm(r, dst, ldd, acc, lda, rows, terms) {
		return
	}
	for i := range rows {
		d, a := dst[i*ldd:i*ldd+n], acc[i*lda:i*lda+n]
		var term int32
		if terms != nil {
			term = terms[i]
		}
		for j := range n {
			d[j] = r.One(a[j]+term, j)
		}
	}
}

// zeroTerms are the row terms of Rows given none.
var zeroTerms [256]int32
