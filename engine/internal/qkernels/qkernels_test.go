package qkernels

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// roundHalfAway is num/den rounded to nearest, ties away from zero,
// computed exactly with big integers: the rule gemmlowp's
// SaturatingRoundingDoublingHighMul and RoundingDivideByPOT implement.
func roundHalfAway(num, den *big.Int) int64 {
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	twice := new(big.Int).Abs(new(big.Int).Lsh(r, 1))
	if twice.Cmp(new(big.Int).Abs(den)) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q.Int64()
}

// TestFixedPoint checks the fixed-point helpers against exact rational
// arithmetic, and QuantizeMultiplier against TFLite's documented examples.
func TestFixedPoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		a, b := int32(rng.Uint32()), int32(rng.Uint32())
		if rng.IntN(4) == 0 {
			a = int32(rng.IntN(2001) - 1000)
		}
		want := roundHalfAway(new(big.Int).Mul(big.NewInt(int64(a)), big.NewInt(int64(b))), big.NewInt(1<<31))
		if got := SaturatingRoundingDoublingHighMul(a, b); int64(got) != want {
			t.Fatalf("SRDHM(%d, %d) = %d, want %d", a, b, got, want)
		}
		e := rng.IntN(32)
		want = roundHalfAway(big.NewInt(int64(a)), new(big.Int).Lsh(big.NewInt(1), uint(e)))
		if got := RoundingDivideByPOT(a, e); int64(got) != want {
			t.Fatalf("RDBPOT(%d, %d) = %d, want %d", a, e, got, want)
		}
	}
	if got := SaturatingRoundingDoublingHighMul(math.MinInt32, math.MinInt32); got != math.MaxInt32 {
		t.Errorf("SRDHM(min, min) = %d, want saturation", got)
	}
	for _, c := range []struct {
		real  float64
		m     int32
		shift int
	}{
		{0, 0, 0}, {0.5, 1 << 30, 0}, {1, 1 << 30, 1}, {0.25, 1 << 30, -1},
		{0.75, 3 << 29, 0}, {1.5, 3 << 29, 1}, {1e-12, 0, 0},
		{1 - 1e-12, 1 << 30, 1}, // rounds up to 2^31: halved, exponent + 1
	} {
		m, s := QuantizeMultiplier(c.real)
		if m != c.m || s != c.shift {
			t.Errorf("QuantizeMultiplier(%g) = %d, %d; want %d, %d", c.real, m, s, c.m, c.shift)
		}
	}
	for range 2000 {
		real := math.Exp(rng.Float64()*20 - 18)
		m, s := QuantizeMultiplier(real)
		if got := float64(m) * math.Ldexp(1, s-31); math.Abs(got-real) > real*1e-9 {
			t.Fatalf("QuantizeMultiplier(%g) = %d * 2^(%d-31) = %g", real, m, s, got)
		}
	}
}

// withKernels runs f with each tier of kernels this CPU and build have
// (AVX-512 VNNI, AVX2, the portable Go), the tier forced before f packs
// its weights.
func withKernels(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := Kernel()
	defer SetKernel(saved)
	for _, name := range []string{"avx512-vnni", "avx2", "go"} {
		if _, ok := SetKernel(name); !ok {
			t.Logf("no %s kernels on this CPU or build", name)
			continue
		}
		t.Run(name, f)
	}
}

// TestRequantRow: Row (assembly or Go) against MultiplyByQuantizedMultiplier
// element by element, over shifts -31..+8, zero points 0, 128, 255, and
// accumulators from small to the int32 extremes.
func TestRequantRow(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, n := range []int{1, 15, 16, 17, 24, 33, 100} {
			for _, zero := range []int32{0, 128, 255} {
				mult, shift, bias := make([]int32, n), make([]int, n), make([]int32, n)
				for j := range n {
					mult[j], shift[j] = QuantizeMultiplier(math.Exp(rng.Float64()*24 - 20))
					if j%7 == 3 {
						shift[j] = -31 + rng.IntN(3)
					}
					if zero == 128 {
						shift[j] = min(shift[j], 0) // no left shift: the plain kernel
					}
					bias[j] = int32(rng.IntN(20001) - 10000)
				}
				lo, hi := int32(rng.IntN(40)), int32(215+rng.IntN(41))
				r := NewRequant(bias, mult, shift, zero, lo, hi)
				if zero != 255 {
					r.SetBound(1<<29 + 11001) // |acc| <= 2^29, |bias| <= 10^4, |row| <= 10^3 below
				}
				acc := make([]int32, (n+15)&^15)
				rows := make([]uint8, 2*n+3)
				acc2 := make([]int32, 2*len(acc)+16)
				for trial := range 20 {
					for j := range acc {
						acc[j] = int32(rng.IntN(1<<20) - 1<<19)
						if trial%5 == 4 {
							acc[j] = int32(rng.Uint32()) / 4
						}
					}
					row := int32(rng.IntN(2001) - 1000)
					dst := make([]uint8, n+1)
					dst[n] = 77
					r.Row(dst[:n], acc, row)
					for j := range n {
						y := MultiplyByQuantizedMultiplier(acc[j]+bias[j]+row, mult[j], shift[j])
						want := uint8(min(max(int64(y)+int64(zero), int64(lo)), int64(hi)))
						if dst[j] != want {
							t.Fatalf("n %d, channel %d: acc %d bias %d row %d m %d shift %d: %d, want %d",
								n, j, acc[j], bias[j], row, mult[j], shift[j], dst[j], want)
						}
					}
					if dst[n] != 77 {
						t.Fatalf("n %d: Row wrote past its %d outputs", n, n)
					}
					// No row terms.
					dst0 := make([]uint8, n)
					r.Rows(dst0, n, acc, len(acc), 1, nil)
					for j := range n {
						y := MultiplyByQuantizedMultiplier(acc[j]+bias[j], mult[j], shift[j])
						if want := uint8(min(max(int64(y)+int64(zero), int64(lo)), int64(hi))); dst0[j] != want {
							t.Fatalf("n %d, channel %d, no row term: %d, want %d", n, j, dst0[j], want)
						}
					}
					// The same accumulators as the second of two rows.
					copy(acc2[len(acc)+16:], acc)
					r.Rows(rows, n+3, acc2, len(acc)+16, 2, []int32{0, row})
					if string(rows[n+3:2*n+3]) != string(dst[:n]) {
						t.Fatalf("n %d: Rows' second row differs from Row", n)
					}
				}
			}
		}
	})
}

// TestGemm: Gemm (assembly or Go) against a plain triple loop, over
// row counts 1..14, 25 and 30 (every tail of the 12-row kernel and the
// AVX2 tier's 3-row one), K not a multiple of 4 and N not a multiple of
// the panel width, and RowSums likewise; the last shapes with extreme
// values only (activations 255, weights -128 or 127: the largest pair
// sums, and sums near 2^27).
func TestGemm(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for s, kn := range [][2]int{{1, 1}, {3, 5}, {4, 32}, {27, 32}, {16, 24}, {96, 16}, {130, 70}, {320, 1001}, {4097, 33}, {4100, 40}} {
			k, n := kn[0], kn[1]
			extreme := s >= 8
			w := make([]int8, k*n)
			for i := range w {
				w[i] = int8(rng.IntN(256) - 128)
				if extreme {
					w[i] = int8(-128 + 255*(i/k%2)) // -128 or 127 by column
				}
			}
			b := PackB(w, k, n)
			for _, m := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 25, 30} {
				lda := b.Kpad + rng.IntN(3)*4
				a := make([]uint8, m*lda)
				for i := range a {
					a[i] = uint8(rng.IntN(256))
					if extreme {
						a[i] = 255
					}
				}
				for i := range m {
					for q := k; q < lda; q++ {
						a[i*lda+q] = 255 // beyond K: must not count
					}
				}
				ldc := b.Npad + 16
				c := make([]int32, m*ldc)
				Gemm(c, ldc, a, lda, m, b)
				sums := make([]int32, m)
				RowSums(sums, a, lda, m, k)
				for i := range m {
					var rs int32
					for q := range k {
						rs += int32(a[i*lda+q])
					}
					if sums[i] != rs {
						t.Fatalf("k %d: row %d sums to %d, want %d", k, i, sums[i], rs)
					}
					for j := range n {
						var s int32
						for q := range k {
							s += int32(a[i*lda+q]) * int32(w[j*k+q])
						}
						if c[i*ldc+j] != s {
							t.Fatalf("m %d k %d n %d: c[%d][%d] = %d, want %d", m, k, n, i, j, c[i*ldc+j], s)
						}
					}
				}
			}
		}
	})
}

// TestDepthwiseRow: the assembly against the loop, channel counts around
// the 16-lane vectors and the 64-channel blocks, zero points 0, 128, 255,
// one to three pixels a call.
func TestDepthwiseRow(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, c := range []int{1, 7, 8, 9, 15, 16, 17, 24, 33, 39, 40, 64, 80, 96, 144} {
			for _, zero := range []int32{0, 128, 255} {
				taps, npix := 1+rng.IntN(9), 1+rng.IntN(3)
				step, lda := c*(1+rng.IntN(2)), c+rng.IntN(20)
				src := make([]uint8, 9*c+(npix-1)*step)
				w := make([]int32, 9*c)
				for i := range src {
					src[i] = uint8(rng.IntN(256))
				}
				for i := range w {
					w[i] = int32(rng.IntN(511) - 255)
				}
				offs := make([]int, 0, 2*taps)
				for range taps {
					offs = append(offs, rng.IntN(9)*c, rng.IntN(9)*c)
				}
				acc := make([]int32, (npix-1)*lda+c)
				DepthwiseRow(acc, lda, src, step, npix, w, offs, c, zero)
				for p := range npix {
					for i := range c {
						var s int32
						for q := range taps {
							s += (int32(src[p*step+offs[2*q]+i]) - zero) * w[offs[2*q+1]+i]
						}
						if acc[p*lda+i] != s {
							t.Fatalf("c %d zero %d: pixel %d channel %d = %d, want %d", c, zero, p, i, acc[p*lda+i], s)
						}
					}
				}
			}
		}
	})
}

// TestAdd: Add (assembly or Go) against TFLite's formula written out
// with MultiplyByQuantizedMultiplier, over random scales and zero points.
func TestAdd(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for trial := range 200 {
			sx, sy, so := rng.Float64()*0.5+0.001, rng.Float64()*0.5+0.001, rng.Float64()*0.5+0.001
			zx, zy, zo := int32(rng.IntN(256)), int32(rng.IntN(256)), int32(rng.IntN(256))
			lo, hi := int32(rng.IntN(30)), int32(225+rng.IntN(31))
			a := NewAdd(sx, sy, so, zx, zy, zo, lo, hi)
			n := 1 + rng.IntN(100)
			x, y, dst := make([]uint8, n), make([]uint8, n), make([]uint8, n)
			for i := range n {
				x[i], y[i] = uint8(rng.IntN(256)), uint8(rng.IntN(256))
			}
			a.Run(dst, x, y)
			twice := 2 * max(sx, sy)
			mx, ex := QuantizeMultiplier(sx / twice)
			my, ey := QuantizeMultiplier(sy / twice)
			mo, eo := QuantizeMultiplier(twice / (1 << 20 * so))
			for i := range n {
				v := MultiplyByQuantizedMultiplier(MultiplyByQuantizedMultiplier((int32(x[i])-zx)*(1<<20), mx, ex)+
					MultiplyByQuantizedMultiplier((int32(y[i])-zy)*(1<<20), my, ey), mo, eo) + zo
				if want := uint8(min(max(v, lo), hi)); dst[i] != want {
					t.Fatalf("trial %d, value %d: %d + %d = %d, want %d", trial, i, x[i], y[i], dst[i], want)
				}
			}
		}
	})
}

// TestQuantizePixels: the assembly against the Go loop on every pixel
// p/255, values just off them, and values outside [0,1].
func TestQuantizePixels(t *testing.T) {
	src := []float32{-1, -0.01, 1.01, 2, 1e9, -1e9, 0.4 / 255, 0.6 / 255, 254.4 / 255, 254.6 / 255}
	for p := range 256 {
		v := float32(p) / 255
		src = append(src, v, v+0.0019, v-0.0019)
	}
	for _, n := range []int{len(src), 17, 16, 15, 1} {
		withKernels(t, func(t *testing.T) {
			dst := make([]uint8, n)
			QuantizePixels(dst, src[:n])
			for i, v := range src[:n] {
				want := uint8(min(max(math.Floor(float64(v)*255+0.5), 0), 255))
				if dst[i] != want {
					t.Fatalf("%d values: %g -> %d, want %d", n, v, dst[i], want)
				}
			}
		})
	}
}

// TestSingleRounding: under SetSingleRounding(true) the product rounds
// once, half up, as TFLite's TFLITE_SINGLE_ROUNDING build does (checked
// against exact arithmetic), Row included (the assembly is bypassed).
func TestSingleRounding(t *testing.T) {
	SetSingleRounding(true)
	defer SetSingleRounding(false)
	rng := rand.New(rand.NewPCG(11, 12))
	for range 20000 {
		x := int32(rng.IntN(1<<24) - 1<<23)
		m, shift := QuantizeMultiplier(math.Exp(rng.Float64()*20 - 18))
		// floor(x*m / 2^(31-shift) + 1/2)
		den := new(big.Int).Lsh(big.NewInt(1), uint(31-shift))
		num := new(big.Int).Mul(big.NewInt(int64(x)), big.NewInt(int64(m)))
		num.Add(num.Lsh(num, 1), den)
		want := new(big.Int).Div(num, den.Lsh(den, 1)).Int64() // Div floors for positive divisors
		if got := MultiplyByQuantizedMultiplier(x, m, shift); int64(got) != want {
			t.Fatalf("x %d m %d shift %d: %d, want %d", x, m, shift, got, want)
		}
		r := NewRequant(nil, []int32{m}, []int{shift}, 0, 0, 255)
		dst, acc := make([]uint8, 1), make([]int32, 16)
		acc[0] = x
		r.Row(dst, acc, 0)
		if w := uint8(min(max(want, 0), 255)); dst[0] != w {
			t.Fatalf("Row: x %d: %d, want %d", x, dst[0], w)
		}
	}
}
