package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// close reports whether got is within 1e-5 relative (to the largest
// magnitude of want) of want.
func closeTo(t *testing.T, got, want []float32) {
	t.Helper()
	closeToScale(t, got, want, 1)
}

// closeToScale is closeTo where the results before a clamping activation
// were as large as scale: their rounding errors scale with it.
func closeToScale(t *testing.T, got, want []float32, scale float64) {
	t.Helper()
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*scale || math.IsNaN(float64(got[i])) {
			t.Fatalf("element %d: got %v, want %v (scale %v)", i, got[i], want[i], scale)
		}
	}
}

func TestGemmAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{
		{1, 1, 1}, {1, 7, 3}, {3, 5, 17}, {4, 16, 16}, {5, 9, 33}, {7, 31, 65},
		{64, 27, 32}, {65, 288, 64}, {130, 100, 128}, {1, 2000, 128}, {2, 513, 1},
		{300, 3, 5}, {9, 40, 48}, {8, 300, 64}, {10, 50, 32}, {4, 1000, 64}, {2, 70, 16},
		// k = 1, large k, and row counts that leave every combination of
		// 4-, 2- and 1-row tails after 6- and 12-row blocks.
		{11, 1, 32}, {23, 1, 48}, {13, 3000, 64}, {71, 129, 96}, {35, 2, 17}, {62, 33, 160},
	}
	for _, mk := range microKernels() {
		withMicro(t, mk, func() { testGemmShapes(t, r, shapes) })
	}
}

// withMicro runs f with mk as the micro-kernel.
func withMicro(t testing.TB, mk microKernel, f func()) {
	t.Helper()
	saved := micro
	micro = mk
	defer func() { micro = saved }()
	f()
}

func testGemmShapes(t *testing.T, r *rand.Rand, shapes [][3]int) {
	for _, s := range shapes {
		m, k, n := s[0], s[1], s[2]
		for _, act := range []Act{ActNone, ActReLU, ActReLU6} {
			for _, withBias := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%dx%dx%d/act=%v/bias=%v", micro.name, m, k, n, act, withBias), func(t *testing.T) {
					a, b := randSlice(r, m*k), randSlice(r, k*n)
					var bias []float32
					if withBias {
						bias = randSlice(r, n)
					}
					want := make([]float32, m*n)
					Reference{}.Dense(want, a, b, bias, m, k, n)
					scale := 1.0
					for _, v := range want {
						scale = max(scale, math.Abs(float64(v)))
					}
					act.Apply(want)
					got := make([]float32, m*n)
					for i := range got {
						got[i] = float32(math.NaN())
					}
					Gemm(got, a, b, bias, m, k, n, act)
					closeToScale(t, got, want, scale)
				})
			}
		}
	}
}

func TestPackedConvAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := []ConvGeom{
		{InH: 9, InW: 7, InC: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1, OutC: 5},
		{InH: 16, InW: 16, InC: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 1, PadL: 1, OutC: 32},
		{InH: 15, InW: 13, InC: 4, KH: 5, KW: 3, StrideH: 2, StrideW: 3, PadT: 2, PadL: 1, OutC: 17},
		{InH: 10, InW: 10, InC: 16, KH: 1, KW: 1, StrideH: 1, StrideW: 1, OutC: 33},
		{InH: 11, InW: 12, InC: 6, KH: 2, KW: 2, StrideH: 2, StrideW: 2, OutC: 64},
		{InH: 4, InW: 4, InC: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 1, PadL: 1, OutC: 1},
		// Unpadded, with whole panels of output channels: implicit
		// convolutions (see TestImplicitConvSameAsIm2col), with output
		// rows that leave every tail of 4, 2 and 1 pixels.
		{InH: 20, InW: 20, InC: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1, OutC: 32},
		{InH: 9, InW: 33, InC: 32, KH: 3, KW: 3, StrideH: 1, StrideW: 1, OutC: 64},
		{InH: 7, InW: 9, InC: 64, KH: 3, KW: 3, StrideH: 1, StrideW: 1, OutC: 128},
		{InH: 13, InW: 17, InC: 5, KH: 3, KW: 2, StrideH: 2, StrideW: 3, OutC: 96},
		{InH: 5, InW: 40, InC: 1, KH: 5, KW: 5, StrideH: 1, StrideW: 1, OutC: 16},
	}
	for _, g := range cases {
		// Outputs as with padding split evenly (extra at the end).
		padB, padR := g.PadT, g.PadL
		g.OutH = (g.InH+g.PadT+padB-g.KH)/g.StrideH + 1
		g.OutW = (g.InW+g.PadL+padR-g.KW)/g.StrideW + 1
		src := randSlice(r, g.InH*g.InW*g.InC)
		w := randSlice(r, g.KH*g.KW*g.InC*g.OutC)
		bias := randSlice(r, g.OutC)
		n := g.OutH * g.OutW * g.OutC
		want := make([]float32, n)
		Reference{}.Conv2D(want, src, w, bias, &g, nil)
		for _, mk := range microKernels() {
			t.Run(fmt.Sprintf("%s/%+v", mk.name, g), func(t *testing.T) {
				got := make([]float32, n)
				var p Packed
				withMicro(t, mk, func() { p.Conv2D(got, src, w, bias, &g, make([]float32, p.ConvScratch(&g))) })
				closeTo(t, got, want)
			})
		}
	}
}

// TestGemmParallel runs products big enough to be shared with helpers from
// many goroutines at once.
func TestGemmParallel(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	r := rand.New(rand.NewPCG(5, 6))
	m, k, n := 200, 70, 48
	a, b, bias := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, n)
	want := make([]float32, m*n)
	Reference{}.Dense(want, a, b, bias, m, k, n)
	done := make(chan []float32)
	for range 8 {
		go func() {
			got := make([]float32, m*n)
			for range 20 {
				Gemm(got, a, b, bias, m, k, n, ActNone)
			}
			done <- got
		}()
	}
	for range 8 {
		closeTo(t, <-done, want)
	}
}

func TestGemmAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	m, k, n := 500, 100, 64
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	Gemm(c, a, b, nil, m, k, n, ActReLU)
	if allocs := testing.AllocsPerRun(20, func() { Gemm(c, a, b, nil, m, k, n, ActReLU) }); allocs != 0 {
		t.Errorf("Gemm allocates %v times per call", allocs)
	}
}

// TestPaddedConvAllocs requires a padded convolution, which runs on a
// padded copy of its input in the scratch, to allocate nothing.
func TestPaddedConvAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	g := ConvGeom{InH: 32, InW: 32, InC: 32, OutH: 32, OutW: 32, OutC: 64, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 1, PadL: 1}
	src, w, bias := randSlice(r, g.InH*g.InW*g.InC), randSlice(r, g.KH*g.KW*g.InC*g.OutC), randSlice(r, g.OutC)
	dst := make([]float32, g.OutH*g.OutW*g.OutC)
	var p Packed
	pw := p.PackWeights(w, g.KH*g.KW*g.InC, g.OutC)
	scratch := make([]float32, p.ConvScratch(&g))
	p.Conv2DPacked(dst, src, pw, bias, &g, scratch, ActReLU)
	if allocs := testing.AllocsPerRun(20, func() { p.Conv2DPacked(dst, src, pw, bias, &g, scratch, ActReLU) }); allocs != 0 {
		t.Errorf("a padded convolution allocates %v times per call", allocs)
	}
}

func benchConv(b *testing.B, k Backend, g ConvGeom) {
	r := rand.New(rand.NewPCG(9, 9))
	src := randSlice(r, g.InH*g.InW*g.InC)
	w := randSlice(r, g.KH*g.KW*g.InC*g.OutC)
	bias := randSlice(r, g.OutC)
	dst := make([]float32, g.OutH*g.OutW*g.OutC)
	scratch := make([]float32, k.ConvScratch(&g))
	b.ReportAllocs()
	for b.Loop() {
		k.Conv2D(dst, src, w, bias, &g, scratch)
	}
	flop := 2 * float64(g.OutH*g.OutW*g.OutC) * float64(g.KH*g.KW*g.InC)
	b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkConv runs the Husky network's three convolutions and its big
// dense layer (as a 1x1 convolution) on Gonum and on Packed with each
// micro-kernel the CPU has.
func BenchmarkConv(b *testing.B) {
	geoms := []ConvGeom{
		{InH: 128, InW: 128, InC: 3, OutH: 126, OutW: 126, OutC: 32, KH: 3, KW: 3, StrideH: 1, StrideW: 1},
		{InH: 63, InW: 63, InC: 32, OutH: 61, OutW: 61, OutC: 64, KH: 3, KW: 3, StrideH: 1, StrideW: 1},
		{InH: 30, InW: 30, InC: 64, OutH: 28, OutW: 28, OutC: 128, KH: 3, KW: 3, StrideH: 1, StrideW: 1},
		{InH: 1, InW: 1, InC: 25088, OutH: 1, OutW: 1, OutC: 128, KH: 1, KW: 1, StrideH: 1, StrideW: 1},
	}
	for _, g := range geoms {
		name := fmt.Sprintf("%dx%dx%d-%d", g.InH, g.InW, g.InC, g.OutC)
		b.Run("gonum/"+name, func(b *testing.B) { benchConv(b, Gonum{}, g) })
		for _, mk := range microKernels() {
			b.Run("packed-"+mk.name+"/"+name, func(b *testing.B) {
				withMicro(b, mk, func() { benchConv(b, Packed{}, g) })
			})
		}
	}
}

// TestPackedWeights checks the products that read weights packed at load,
// for each micro-kernel, including odd widths with columns left over.
func TestPackedWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, mk := range microKernels() {
		withMicro(t, mk, func() {
			for _, s := range [][3]int{{1, 300, 128}, {7, 50, 80}, {13, 27, 32}, {5, 9, 7}, {64, 64, 65}, {303, 16, 24}, {15, 96, 144}, {3, 1280, 1001}} {
				m, k, n := s[0], s[1], s[2]
				a, w, bias := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, n)
				want := make([]float32, m*n)
				Reference{}.Dense(want, a, w, bias, m, k, n)
				for i, v := range want {
					want[i] = max(v, 0)
				}
				var p Packed
				pw := p.PackWeights(w, k, n)
				got := make([]float32, m*n)
				p.DensePacked(got, a, pw, bias, m, ActReLU)
				closeTo(t, got, want)
			}
			g := ConvGeom{InH: 12, InW: 11, InC: 5, OutH: 12, OutW: 11, OutC: 40, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 1, PadL: 1}
			src, w := randSlice(r, 12*11*5), randSlice(r, 9*5*40)
			want, got := make([]float32, 12*11*40), make([]float32, 12*11*40)
			Reference{}.Conv2D(want, src, w, nil, &g, nil)
			var p Packed
			p.Conv2DPacked(got, src, p.PackWeights(w, 9*5, 40), nil, &g, make([]float32, p.ConvScratch(&g)), ActNone)
			closeTo(t, got, want)
		})
	}
}

// TestMicroKernelsDirect calls every function of every micro-kernel this
// CPU has on one tile, with strides wider than the tile, and checks the
// tile against a float64 product and that nothing around it was written.
func TestMicroKernelsDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, mk := range microKernels() {
		if mk.full == nil {
			continue // portable: everything goes through edge
		}
		for _, v := range []struct {
			name string
			rows int
			f    func(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act)
		}{
			{"full", mk.mr, mk.full},
			{"x4", 4, mk.x4},
			{"x2", 2, mk.x2},
			{"row", 1, func(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act) {
				mk.row(c, a[:k], b, ldb, k, bias, act)
			}},
		} {
			for _, k := range []int{0, 1, 2, 3, 7, 64, 577, 4099} {
				for _, act := range []Act{ActNone, ActReLU, ActReLU6} {
					for _, withBias := range []bool{false, true} {
						name := fmt.Sprintf("%s/%s/k=%d/act=%v/bias=%v", mk.name, v.name, k, act, withBias)
						t.Run(name, func(t *testing.T) {
							testTile(t, r, mk.nr, v.rows, k, act, withBias, v.f)
						})
					}
				}
			}
		}
	}
}

func testTile(t *testing.T, r *rand.Rand, nr, rows, k int, act Act, withBias bool,
	f func(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act)) {
	lda, ldb, ldc := k+3, nr+5, nr+7
	a := randSlice(r, rows*lda)
	b := randSlice(r, max(k, 1)*ldb)
	var bias []float32
	if withBias {
		bias = randSlice(r, nr)
	}
	const guard = 12345
	c := make([]float32, rows*ldc+3)
	for i := range c {
		c[i] = guard
	}
	f(c, ldc, a, lda, b, ldb, k, bias, act)
	want, got := make([]float32, rows*nr), make([]float32, rows*nr)
	scale := 1.0
	for i := range rows {
		for j := range nr {
			var s float64
			for p := range k {
				s += float64(a[i*lda+p]) * float64(b[p*ldb+j])
			}
			if bias != nil {
				s += float64(bias[j])
			}
			scale = max(scale, math.Abs(s))
			if act != ActNone {
				s = max(s, 0)
			}
			if act == ActReLU6 {
				s = min(s, 6)
			}
			want[i*nr+j] = float32(s)
			got[i*nr+j] = c[i*ldc+j]
			c[i*ldc+j] = guard
		}
	}
	for i, v := range c {
		if v != guard {
			t.Fatalf("element %d (row %d, column %d) outside the tile written: %v", i, i/ldc, i%ldc, v)
		}
	}
	closeToScale(t, got, want, scale)
}

// TestAsmKernelsSameOrder checks that the assembly kernels give each row
// bit for bit the same result whatever the size of its tile, as batched
// inference relies on.
func TestAsmKernelsSameOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, mk := range asmKernels() {
		for _, k := range []int{1, 5, 300, 25088} {
			nr, lda := mk.nr, k
			a, b, bias := randSlice(r, mk.mr*lda), randSlice(r, k*nr), randSlice(r, nr)
			want := make([]float32, nr)
			mk.row(want, a[:k], b, nr, k, bias, ActNone)
			for _, f := range []struct {
				name string
				rows int
				f    func(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act)
			}{{"full", mk.mr, mk.full}, {"x4", 4, mk.x4}, {"x2", 2, mk.x2}} {
				c := make([]float32, f.rows*nr)
				f.f(c, nr, a, lda, b, nr, k, bias, ActNone)
				for j := range nr {
					if c[j] != want[j] {
						t.Fatalf("%s %s k=%d column %d: %v, row kernel %v", mk.name, f.name, k, j, c[j], want[j])
					}
				}
			}
		}
	}
}

// TestImplicitConvSameAsIm2col checks that convolutions computed in place
// (implicitConv: one product per kernel row, summed in c), padded ones on
// a zero-padded copy of the input (padInput), give bit for bit what the
// same micro-kernel gives on the im2col rows, with packed and unpacked
// weights, bias and ReLU, on one goroutine and on several.
func TestImplicitConvSameAsIm2col(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	type padded struct {
		g          ConvGeom
		padB, padR int
	}
	geoms := []padded{
		{g: ConvGeom{InH: 128, InW: 128, InC: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1, OutC: 32}},
		{g: ConvGeom{InH: 63, InW: 63, InC: 32, KH: 3, KW: 3, StrideH: 1, StrideW: 1, OutC: 64}},
		{g: ConvGeom{InH: 30, InW: 30, InC: 64, KH: 3, KW: 3, StrideH: 1, StrideW: 1, OutC: 128}},
		{g: ConvGeom{InH: 11, InW: 29, InC: 7, KH: 2, KW: 4, StrideH: 2, StrideW: 2, OutC: 64}},
		// 'same' padding, as in the default model.
		{g: ConvGeom{InH: 128, InW: 128, InC: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 1, PadL: 1, OutC: 24}, padB: 1, padR: 1},
		{g: ConvGeom{InH: 32, InW: 32, InC: 32, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 1, PadL: 1, OutC: 64}, padB: 1, padR: 1},
		{g: ConvGeom{InH: 8, InW: 8, InC: 128, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 1, PadL: 1, OutC: 256}, padB: 1, padR: 1},
		// TF 'same' with stride 2 on even sizes: all the padding at the
		// bottom and right.
		{g: ConvGeom{InH: 16, InW: 16, InC: 8, KH: 3, KW: 3, StrideH: 2, StrideW: 2, OutC: 32}, padB: 1, padR: 1},
		// TF 'same' with even kernels: more at the bottom and right.
		{g: ConvGeom{InH: 13, InW: 19, InC: 5, KH: 4, KW: 2, StrideH: 1, StrideW: 1, PadT: 1, OutC: 48}, padB: 2, padR: 1},
		{g: ConvGeom{InH: 15, InW: 14, InC: 6, KH: 5, KW: 4, StrideH: 2, StrideW: 3, PadT: 1, PadL: 1, OutC: 32}, padB: 2, padR: 1},
		// Padding only on one side, or more at the top than the bottom
		// (the bottom row cropped), and kernels wider than the input.
		{g: ConvGeom{InH: 9, InW: 10, InC: 4, KH: 3, KW: 3, StrideH: 2, StrideW: 1, PadT: 2, PadL: 0, OutC: 16}, padB: 0, padR: 2},
		{g: ConvGeom{InH: 3, InW: 2, InC: 9, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadT: 2, PadL: 2, OutC: 32}, padB: 2, padR: 2},
		{g: ConvGeom{InH: 12, InW: 12, InC: 3, KH: 7, KW: 7, StrideH: 2, StrideW: 2, PadT: 3, PadL: 3, OutC: 64}, padB: 2, padR: 2},
	}
	tested := 0
	for _, mk := range microKernels() {
		if mk.strip == nil {
			continue
		}
		noStrip := mk
		noStrip.strip = nil
		for _, pg := range geoms {
			g := pg.g
			g.OutH = (g.InH+g.PadT+pg.padB-g.KH)/g.StrideH + 1
			g.OutW = (g.InW+g.PadL+pg.padR-g.KW)/g.StrideW + 1
			g.OutC -= g.OutC % mk.nr
			if g.OutC == 0 {
				continue
			}
			whole := g
			src := randSlice(r, g.InH*g.InW*g.InC)
			k := g.KH * g.KW * g.InC
			// packed 2: packed weights with a partial last panel (5
			// more channels), which runs through a tile of its own.
			for _, variant := range []int{0, 1, 2} {
				packed, g := variant > 0, whole
				if variant == 2 {
					g.OutC += 5
				}
				w := randSlice(r, g.KH*g.KW*g.InC*g.OutC)
				bias := randSlice(r, g.OutC)
				for _, procs := range []int{1, 2} {
					name := fmt.Sprintf("%s/%dx%dx%d-%d/k%dx%d/s%dx%d/pad%d,%d,%d,%d/packed=%v/procs=%d", mk.name, g.InH, g.InW, g.InC, g.OutC,
						g.KH, g.KW, g.StrideH, g.StrideW, g.PadT, pg.padB, g.PadL, pg.padR, packed, procs)
					t.Run(name, func(t *testing.T) {
						defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
						var p Packed
						run := func(m microKernel) []float32 {
							out := make([]float32, g.OutH*g.OutW*g.OutC)
							withMicro(t, m, func() {
								if !packed {
									p.Conv2DReLU(out, src, w, bias, &g, make([]float32, p.ConvScratch(&g)), ActReLU)
									return
								}
								p.Conv2DPacked(out, src, p.PackWeights(w, k, g.OutC), bias, &g, make([]float32, p.ConvScratch(&g)), ActReLU)
							})
							return out
						}
						var implicit bool
						withMicro(t, mk, func() { implicit = implicitConv(&g, packed) })
						if !implicit {
							t.Fatalf("%+v does not run as an implicit convolution", g)
						}
						got, want := run(mk), run(noStrip)
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("element %d: implicit %v, im2col %v", i, got[i], want[i])
							}
						}
						tested++
					})
				}
			}
		}
	}
	if tested == 0 && len(asmKernels()) > 0 {
		t.Fatal("no micro-kernel with a strip was tested")
	}
}
