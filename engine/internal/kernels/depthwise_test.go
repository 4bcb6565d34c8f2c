package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDepthwiseTaps compares DepthwiseTaps (the CPU's assembly over whole
// vectors, Go after) with the sum written out, for channel counts around
// the vector and block sizes, and taps anywhere in src and w.
func TestDepthwiseTaps(t *testing.T) {
	for _, k := range append(dwKernels, dwImpl{}) {
		f, lanes := dwKernel, dwLanes
		dwKernel, dwLanes = k.kernel, k.lanes
		testDepthwiseTaps(t)
		dwKernel, dwLanes = f, lanes
	}
	defer func() {
		if recover() == nil {
			t.Error("a tap past the end of src did not panic")
		}
	}()
	DepthwiseTaps(make([]float32, 16), make([]float32, 20), make([]float32, 16), make([]float32, 16), []int{5, 0}, 16, ActNone)
}

func testDepthwiseTaps(t *testing.T) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range []int{1, 7, 8, 15, 16, 17, 31, 32, 63, 64, 65, 96, 144, 200} {
		for i, taps := range []int{0, 1, 4, 9, 25} {
			act := []Act{ActNone, ActReLU, ActReLU6}[i%3]
			src, w, bias := randSlice(r, 30*c+5), randSlice(r, 26*c+3), randSlice(r, c)
			offs := make([]int, 2*taps)
			for i := range taps {
				offs[2*i], offs[2*i+1] = r.IntN(29*c+5), r.IntN(25*c+3)
			}
			got := make([]float32, c+1)
			got[c] = 42
			DepthwiseTaps(got, src, w, bias, offs, c, act)
			for i := range c {
				want := bias[i]
				for k := range taps {
					want += src[offs[2*k]+i] * w[offs[2*k+1]+i]
				}
				if act != ActNone {
					want = max(want, 0)
				}
				if act == ActReLU6 {
					want = min(want, 6)
				}
				if math.Abs(float64(got[i]-want)) > 1e-5 {
					t.Fatalf("kernel of %d lanes, c %d, %d taps: channel %d is %g, want %g", dwLanes, c, taps, i, got[i], want)
				}
			}
			if got[c] != 42 {
				t.Fatalf("c %d: wrote past the channels", c)
			}
		}
	}
}

// TestUseAVX2: UseAVX2 selects the AVX2 micro-kernel and depthwise kernel
// and its restore puts the previous ones back.
func TestUseAVX2(t *testing.T) {
	before, lanes := micro.name, dwLanes
	restore, ok := UseAVX2()
	if !ok {
		t.Skip("no AVX2 assembly here")
	}
	if micro.name != "asm-avx2" || dwLanes != 8 {
		t.Errorf("UseAVX2: micro-kernel %s, depthwise lanes %d", micro.name, dwLanes)
	}
	restore()
	if micro.name != before || dwLanes != lanes {
		t.Errorf("restored: micro-kernel %s, depthwise lanes %d; want %s, %d", micro.name, dwLanes, before, lanes)
	}
}
