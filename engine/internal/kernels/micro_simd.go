//go:build goexperiment.simd && amd64

package kernels

import "simd/archsimd"

// simdKernels returns the simd/archsimd micro-kernels this CPU can run,
// best first.
func simdKernels() []microKernel {
	var ks []microKernel
	if archsimd.X86.AVX512() {
		ks = append(ks, microKernel{"avx512", 6, 32, micro512x6, micro512x4, micro512x2, microRow512, nil})
	}
	if archsimd.X86.AVX2() && archsimd.X86.FMA() {
		ks = append(ks, microKernel{"avx2", 6, 16, micro256x6, micro256x4, micro256x2, microRow256, nil})
	}
	return ks
}

// micro512x6 computes a 6x32 tile with AVX-512.
func micro512x6(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act) {
	a0, a1, a2 := a[:k], a[lda:lda+k], a[2*lda:2*lda+k]
	a3, a4, a5 := a[3*lda:3*lda+k], a[4*lda:4*lda+k], a[5*lda:5*lda+k]
	var c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51 archsimd.Float32x16
	o := 0
	for p := range a0 {
		bb := b[o : o+32]
		o += ldb
		b0 := archsimd.LoadFloat32x16((*[16]float32)(bb[:16]))
		b1 := archsimd.LoadFloat32x16((*[16]float32)(bb[16:32]))
		x := archsimd.BroadcastFloat32x16(a0[p])
		c00 = b0.MulAdd(x, c00)
		c01 = b1.MulAdd(x, c01)
		x = archsimd.BroadcastFloat32x16(a1[p])
		c10 = b0.MulAdd(x, c10)
		c11 = b1.MulAdd(x, c11)
		x = archsimd.BroadcastFloat32x16(a2[p])
		c20 = b0.MulAdd(x, c20)
		c21 = b1.MulAdd(x, c21)
		x = archsimd.BroadcastFloat32x16(a3[p])
		c30 = b0.MulAdd(x, c30)
		c31 = b1.MulAdd(x, c31)
		x = archsimd.BroadcastFloat32x16(a4[p])
		c40 = b0.MulAdd(x, c40)
		c41 = b1.MulAdd(x, c41)
		x = archsimd.BroadcastFloat32x16(a5[p])
		c50 = b0.MulAdd(x, c50)
		c51 = b1.MulAdd(x, c51)
	}
	store512(c, bias, act, c00, c01)
	store512(c[ldc:], bias, act, c10, c11)
	store512(c[2*ldc:], bias, act, c20, c21)
	store512(c[3*ldc:], bias, act, c30, c31)
	store512(c[4*ldc:], bias, act, c40, c41)
	store512(c[5*ldc:], bias, act, c50, c51)
}

// micro256x6 computes a 6x16 tile with AVX2 and FMA.
func micro256x6(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act) {
	a0, a1, a2 := a[:k], a[lda:lda+k], a[2*lda:2*lda+k]
	a3, a4, a5 := a[3*lda:3*lda+k], a[4*lda:4*lda+k], a[5*lda:5*lda+k]
	var c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51 archsimd.Float32x8
	o := 0
	for p := range a0 {
		bb := b[o : o+16]
		o += ldb
		b0 := archsimd.LoadFloat32x8((*[8]float32)(bb[:8]))
		b1 := archsimd.LoadFloat32x8((*[8]float32)(bb[8:16]))
		x := archsimd.BroadcastFloat32x8(a0[p])
		c00 = b0.MulAdd(x, c00)
		c01 = b1.MulAdd(x, c01)
		x = archsimd.BroadcastFloat32x8(a1[p])
		c10 = b0.MulAdd(x, c10)
		c11 = b1.MulAdd(x, c11)
		x = archsimd.BroadcastFloat32x8(a2[p])
		c20 = b0.MulAdd(x, c20)
		c21 = b1.MulAdd(x, c21)
		x = archsimd.BroadcastFloat32x8(a3[p])
		c30 = b0.MulAdd(x, c30)
		c31 = b1.MulAdd(x, c31)
		x = archsimd.BroadcastFloat32x8(a4[p])
		c40 = b0.MulAdd(x, c40)
		c41 = b1.MulAdd(x, c41)
		x = archsimd.BroadcastFloat32x8(a5[p])
		c50 = b0.MulAdd(x, c50)
		c51 = b1.MulAdd(x, c51)
	}
	store256(c, bias, act, c00, c01)
	store256(c[ldc:], bias, act, c10, c11)
	store256(c[2*ldc:], bias, act, c20, c21)
	store256(c[3*ldc:], bias, act, c30, c31)
	store256(c[4*ldc:], bias, act, c40, c41)
	store256(c[5*ldc:], bias, act, c50, c51)
}

func store512(c, bias []float32, act Act, v0, v1 archsimd.Float32x16) {
	if bias != nil {
		v0 = v0.Add(archsimd.LoadFloat32x16((*[16]float32)(bias[:16])))
		v1 = v1.Add(archsimd.LoadFloat32x16((*[16]float32)(bias[16:32])))
	}
	if act != ActNone {
		var z archsimd.Float32x16
		v0, v1 = v0.Max(z), v1.Max(z)
		if act == ActReLU6 {
			six := archsimd.BroadcastFloat32x16(6)
			v0, v1 = v0.Min(six), v1.Min(six)
		}
	}
	v0.Store((*[16]float32)(c[:16]))
	v1.Store((*[16]float32)(c[16:32]))
}

// microRow512 computes a 1x32 tile with AVX-512, in four partial sums to
// hide the latency of the fused multiply-adds.
func microRow512(c, a, b []float32, ldb, k int, bias []float32, act Act) {
	var s0, s1, t0, t1 archsimd.Float32x16
	a = a[:k]
	o, p := 0, 0
	for ; p+1 < k; p += 2 {
		bb := b[o : o+32]
		x := archsimd.BroadcastFloat32x16(a[p])
		s0 = archsimd.LoadFloat32x16((*[16]float32)(bb[:16])).MulAdd(x, s0)
		s1 = archsimd.LoadFloat32x16((*[16]float32)(bb[16:32])).MulAdd(x, s1)
		bb = b[o+ldb : o+ldb+32]
		x = archsimd.BroadcastFloat32x16(a[p+1])
		t0 = archsimd.LoadFloat32x16((*[16]float32)(bb[:16])).MulAdd(x, t0)
		t1 = archsimd.LoadFloat32x16((*[16]float32)(bb[16:32])).MulAdd(x, t1)
		o += 2 * ldb
	}
	if p < k {
		bb := b[o : o+32]
		x := archsimd.BroadcastFloat32x16(a[p])
		s0 = archsimd.LoadFloat32x16((*[16]float32)(bb[:16])).MulAdd(x, s0)
		s1 = archsimd.LoadFloat32x16((*[16]float32)(bb[16:32])).MulAdd(x, s1)
	}
	store512(c, bias, act, s0.Add(t0), s1.Add(t1))
}

func store256(c, bias []float32, act Act, v0, v1 archsimd.Float32x8) {
	if bias != nil {
		v0 = v0.Add(archsimd.LoadFloat32x8((*[8]float32)(bias[:8])))
		v1 = v1.Add(archsimd.LoadFloat32x8((*[8]float32)(bias[8:16])))
	}
	if act != ActNone {
		var z archsimd.Float32x8
		v0, v1 = v0.Max(z), v1.Max(z)
		if act == ActReLU6 {
			six := archsimd.BroadcastFloat32x8(6)
			v0, v1 = v0.Min(six), v1.Min(six)
		}
	}
	v0.Store((*[8]float32)(c[:8]))
	v1.Store((*[8]float32)(c[8:16]))
}

// microRow256 computes a 1x16 tile with AVX2 and FMA.
func microRow256(c, a, b []float32, ldb, k int, bias []float32, act Act) {
	var s0, s1, t0, t1 archsimd.Float32x8
	a = a[:k]
	o, p := 0, 0
	for ; p+1 < k; p += 2 {
		bb := b[o : o+16]
		x := archsimd.BroadcastFloat32x8(a[p])
		s0 = archsimd.LoadFloat32x8((*[8]float32)(bb[:8])).MulAdd(x, s0)
		s1 = archsimd.LoadFloat32x8((*[8]float32)(bb[8:16])).MulAdd(x, s1)
		bb = b[o+ldb : o+ldb+16]
		x = archsimd.BroadcastFloat32x8(a[p+1])
		t0 = archsimd.LoadFloat32x8((*[8]float32)(bb[:8])).MulAdd(x, t0)
		t1 = archsimd.LoadFloat32x8((*[8]float32)(bb[8:16])).MulAdd(x, t1)
		o += 2 * ldb
	}
	if p < k {
		bb := b[o : o+16]
		x := archsimd.BroadcastFloat32x8(a[p])
		s0 = archsimd.LoadFloat32x8((*[8]float32)(bb[:8])).MulAdd(x, s0)
		s1 = archsimd.LoadFloat32x8((*[8]float32)(bb[8:16])).MulAdd(x, s1)
	}
	store256(c, bias, act, s0.Add(t0), s1.Add(t1))
}

// micro512x4 computes a 4x32 tile like micro512x6, for the rows left
// over after the 6-row tiles; every element is summed in the same order.
func micro512x4(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act) {
	a0 := a[:k]
	a1 := a[lda : lda+k]
	a2 := a[2*lda : 2*lda+k]
	a3 := a[3*lda : 3*lda+k]
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x16
	o := 0
	for p := range a0 {
		bb := b[o : o+32]
		o += ldb
		b0 := archsimd.LoadFloat32x16((*[16]float32)(bb[:16]))
		b1 := archsimd.LoadFloat32x16((*[16]float32)(bb[16:32]))
		x := archsimd.BroadcastFloat32x16(a0[p])
		c00 = b0.MulAdd(x, c00)
		c01 = b1.MulAdd(x, c01)
		x = archsimd.BroadcastFloat32x16(a1[p])
		c10 = b0.MulAdd(x, c10)
		c11 = b1.MulAdd(x, c11)
		x = archsimd.BroadcastFloat32x16(a2[p])
		c20 = b0.MulAdd(x, c20)
		c21 = b1.MulAdd(x, c21)
		x = archsimd.BroadcastFloat32x16(a3[p])
		c30 = b0.MulAdd(x, c30)
		c31 = b1.MulAdd(x, c31)
	}
	store512(c, bias, act, c00, c01)
	store512(c[ldc:], bias, act, c10, c11)
	store512(c[2*ldc:], bias, act, c20, c21)
	store512(c[3*ldc:], bias, act, c30, c31)
}

// micro512x2 computes a 2x32 tile like micro512x6, for the rows left
// over after the 6-row tiles; every element is summed in the same order.
func micro512x2(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act) {
	a0 := a[:k]
	a1 := a[lda : lda+k]
	var c00, c01, c10, c11 archsimd.Float32x16
	o := 0
	for p := range a0 {
		bb := b[o : o+32]
		o += ldb
		b0 := archsimd.LoadFloat32x16((*[16]float32)(bb[:16]))
		b1 := archsimd.LoadFloat32x16((*[16]float32)(bb[16:32]))
		x := archsimd.BroadcastFloat32x16(a0[p])
		c00 = b0.MulAdd(x, c00)
		c01 = b1.MulAdd(x, c01)
		x = archsimd.BroadcastFloat32x16(a1[p])
		c10 = b0.MulAdd(x, c10)
		c11 = b1.MulAdd(x, c11)
	}
	store512(c, bias, act, c00, c01)
	store512(c[ldc:], bias, act, c10, c11)
}

// micro256x4 computes a 4x16 tile like micro256x6, for the rows left
// over after the 6-row tiles; every element is summed in the same order.
func micro256x4(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act) {
	a0 := a[:k]
	a1 := a[lda : lda+k]
	a2 := a[2*lda : 2*lda+k]
	a3 := a[3*lda : 3*lda+k]
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x8
	o := 0
	for p := range a0 {
		bb := b[o : o+16]
		o += ldb
		b0 := archsimd.LoadFloat32x8((*[8]float32)(bb[:8]))
		b1 := archsimd.LoadFloat32x8((*[8]float32)(bb[8:16]))
		x := archsimd.BroadcastFloat32x8(a0[p])
		c00 = b0.MulAdd(x, c00)
		c01 = b1.MulAdd(x, c01)
		x = archsimd.BroadcastFloat32x8(a1[p])
		c10 = b0.MulAdd(x, c10)
		c11 = b1.MulAdd(x, c11)
		x = archsimd.BroadcastFloat32x8(a2[p])
		c20 = b0.MulAdd(x, c20)
		c21 = b1.MulAdd(x, c21)
		x = archsimd.BroadcastFloat32x8(a3[p])
		c30 = b0.MulAdd(x, c30)
		c31 = b1.MulAdd(x, c31)
	}
	store256(c, bias, act, c00, c01)
	store256(c[ldc:], bias, act, c10, c11)
	store256(c[2*ldc:], bias, act, c20, c21)
	store256(c[3*ldc:], bias, act, c30, c31)
}

// micro256x2 computes a 2x16 tile like micro256x6, for the rows left
// over after the 6-row tiles; every element is summed in the same order.
func micro256x2(c []float32, ldc int, a []float32, lda int, b []float32, ldb, k int, bias []float32, act Act) {
	a0 := a[:k]
	a1 := a[lda : lda+k]
	var c00, c01, c10, c11 archsimd.Float32x8
	o := 0
	for p := range a0 {
		bb := b[o : o+16]
		o += ldb
		b0 := archsimd.LoadFloat32x8((*[8]float32)(bb[:8]))
		b1 := archsimd.LoadFloat32x8((*[8]float32)(bb[8:16]))
		x := archsimd.BroadcastFloat32x8(a0[p])
		c00 = b0.MulAdd(x, c00)
		c01 = b1.MulAdd(x, c01)
		x = archsimd.BroadcastFloat32x8(a1[p])
		c10 = b0.MulAdd(x, c10)
		c11 = b1.MulAdd(x, c11)
	}
	store256(c, bias, act, c00, c01)
	store256(c[ldc:], bias, act, c10, c11)
}
