package imageprep

// A baseline JPEG decoded at 1/8, 2/8 or 4/8 of its size from its
// coefficients, without the full-size image.
//
// Each 8x8 block's DC coefficient is 8 times the block's mean, so the
// image at 1/8 scale (what libjpeg computes with scale_denom 8, the
// "1x1 IDCT") needs nothing else: the AC coefficients still have to be
// entropy-decoded, since Huffman codes have no index, but only to be
// skipped, which is one table lookup and one shift per code. At 2/8 and
// 4/8, and for chroma stored at a lower resolution than the output, each
// block gives the means of its 2x2 or 4x4 parts (or 2x1, ...), which are
// sums of its coefficients with fixed weights (segMean). That is where a
// big photo's decoding time goes, and why this is our own code:
// image/jpeg has no scaled decoding (it builds all 12 million pixels of a
// 12 MP photo, about 0.5 s here), and libjpeg-turbo needs cgo.
// decodeJPEGReduced handles the JPEGs cameras and phones write (baseline
// or extended sequential Huffman, 8-bit, grey or YCbCr, one interleaved
// scan, restart markers) and declines everything else, which is then
// decoded in full.

import (
	"bytes"
	"encoding/binary"
	"image/color"
	"math"
)

// huffTable is a Huffman table of a JPEG. fast maps the next huffFastBits
// bits of the stream to (code length << 8 | symbol) for codes of up to
// that length (0 for longer ones); the canonical maxcode/valptr/mincode
// arrays decode the rest. skip, for AC tables, maps the same bits to what
// skipping the coefficient takes: (code length + value bits) << 8 | how
// far the coefficient index moves (run + 1, 16 for 16 zeros, eobStep for
// the end of the block), so that one lookup and one shift skip it.
type huffTable struct {
	fast    [1 << huffFastBits]uint16
	skip    [1 << huffFastBits]uint16
	maxcode [17]int32
	mincode [17]int32
	valptr  [17]int32
	vals    [256]uint8
}

const (
	huffFastBits = 9
	// eobStep moves the coefficient index past any valid one: an index
	// of 128 or more after the loop means the block ended with EOB, one
	// of 65 to 127 that a run went past the 64th coefficient.
	eobStep = 128
)

// skipEntry is the skip value of an AC symbol whose code has l bits.
func skipEntry(sym uint8, l int) uint16 {
	r, s := int(sym>>4), int(sym&15)
	switch {
	case s == 0 && r == 15:
		return uint16(l)<<8 | 16
	case s == 0:
		return uint16(l)<<8 | eobStep
	}
	return uint16(l+s)<<8 | uint16(r+1)
}

// build makes the table from a DHT segment's 16 counts and symbols, and
// reports whether they form a valid prefix code.
func (t *huffTable) build(counts []byte, syms []byte) bool {
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		t.valptr[l], t.mincode[l] = k, code
		t.maxcode[l] = -1
		if n > 0 {
			t.maxcode[l] = code + n - 1
		}
		code += n
		k += n
		if code > 1<<l {
			return false // over-subscribed
		}
		code <<= 1
	}
	if int(k) != len(syms) || k > 256 {
		return false
	}
	copy(t.vals[:], syms)
	clear(t.fast[:])
	clear(t.skip[:])
	for l := 1; l <= huffFastBits; l++ {
		for c := t.mincode[l]; c <= t.maxcode[l]; c++ {
			sym := t.vals[t.valptr[l]+c-t.mincode[l]]
			lo := c << (huffFastBits - l)
			for e := lo; e < lo+1<<(huffFastBits-l); e++ {
				t.fast[e] = uint16(l)<<8 | uint16(sym)
				t.skip[e] = skipEntry(sym, l)
			}
		}
	}
	return true
}

// extend returns the value coded by the size bits (1 to 15) at the top of
// acc: JPEG's EXTEND, which makes those below half the range negative.
func extend(acc uint64, size uint) int32 {
	v := int32(acc >> ((64 - size) & 63))
	if v < 1<<(size-1) {
		v += -1<<size + 1
	}
	return v
}

// slow decodes a symbol whose code is longer than huffFastBits from the
// top 16 bits of acc, returning it and its code length (0 if no code).
func (t *huffTable) slow(acc uint64) (uint8, int) {
	code := int32(acc >> 48)
	for l := huffFastBits + 1; l <= 16; l++ {
		c := code >> (16 - l)
		if c <= t.maxcode[l] {
			return t.vals[t.valptr[l]+c-t.mincode[l]], l
		}
	}
	return 0, 0
}

// scanComp is a component of the frame, with its block plane of DC values.
type scanComp struct {
	id, h, v, tq int
	dcTab, acTab *huffTable
	bw, bh       int     // blocks per line and per column in the scan
	dc           []int32 // dequantized DC coefficient of each block
	// kx, ky are the output pixels per block along x and y: the scale
	// (1, 2 or 4 eighths) times the luma's samples per sample of this
	// component. Where they are not both 1, part holds, for each block,
	// the means of its kx x ky parts as output pixels, row by row,
	// computed from all its coefficients (partMeans).
	kx, ky int
	part   []uint8
}

// fullAC decodes all the AC values of a block into coef, in natural
// order and dequantized with q (zigzag order), from the bit reader of
// decodeInterval, and returns the reader's state and whether any AC value was
// not zero.
func fullAC(buf []byte, pos int, acc uint64, n uint, t *huffTable, q *[64]int32, coef *[64]int32) (int, uint64, uint, bool, bool) {
	nonzero := false
	for k := 1; k < 64; {
		var ok bool
		if pos, acc, n, ok = refill(buf, pos, acc, n); !ok {
			return pos, acc, n, false, false
		}
		// The fast and slow lookups written out, here and for the DC
		// value in decodeInterval: as a method they cost more than the
		// compiler inlines (90 against 80), and this is the hot loop.
		var sym uint8
		if e := t.fast[acc>>(64-huffFastBits)]; e != 0 {
			sym = uint8(e)
			acc <<= (e >> 8) & 63
			n -= uint(e >> 8)
		} else {
			var l int
			if sym, l = t.slow(acc); l == 0 {
				return pos, acc, n, false, false
			}
			acc <<= uint(l) & 63
			n -= uint(l)
		}
		r, size := int(sym>>4), uint(sym&15)
		if size == 0 {
			if r != 15 {
				break // end of block
			}
			k += 16
			continue
		}
		if k += r; k > 63 {
			return pos, acc, n, false, false
		}
		v := extend(acc, size)
		acc <<= size & 63
		n -= size
		coef[zigzag[k]] = v * q[k]
		nonzero = true
		k++
	}
	return pos, acc, n, nonzero, true
}

// zigzag maps the zigzag index of a coefficient to its natural index
// (row * 8 + column).
var zigzag = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

// segMean[i][j][u], for a block cut into k = 1 << i equal segments along
// an axis, is C(u)/2 times the mean of cos((2x+1) u pi/16) over segment j
// (C(0) = 1/sqrt 2, else 1). With the IDCT f(x,y) = sum_u sum_v C(u)/2
// C(v)/2 F(v,u) cos((2x+1) u pi/16) cos((2y+1) v pi/16), the mean of f
// over segment jx along x and jy along y is sum_v sum_u F(v,u)
// segMean[.][jx][u] segMean[.][jy][v]. Over the whole block (k = 1) only
// u = 0 is left; over halves, only u = 0 and the odd u.
var segMean = func() (m [4][8][8]float32) {
	for i := range 4 {
		k := 1 << i
		for j := range k {
			for u := range 8 {
				c := 0.5
				if u == 0 {
					c = 0.5 / math.Sqrt2
				}
				var sum float64
				for x := j * 8 / k; x < (j+1)*8/k; x++ {
					sum += math.Cos(float64(2*x+1) * float64(u) * math.Pi / 16)
				}
				v := c * sum / float64(8/k)
				if math.Abs(v) < 1e-9 {
					v = 0 // exactly, where the cosines cancel
				}
				m[i][j][u] = float32(v)
			}
		}
	}
	return m
}()

// log2 of 1, 2, 4 and 8.
var log2 = [9]int{1: 0, 2: 1, 4: 2, 8: 3}

// pixel is a mean as an output pixel: plus 128, rounded, clamped (in
// integers: float min and max are slow, for their NaN rules).
func pixel(m float32) uint8 {
	v := int32(m + 128.5) // truncation: only values that clamp to 0 round the wrong way
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return uint8(v)
}

// partMeans writes to part the means of the kx x ky parts (1, 2, 4 or 8
// each) of the block of natural-order coefficients coef, row by row, as
// output pixels.
func partMeans(coef *[64]int32, kx, ky int, part []uint8) {
	// The segments mirror each other: segment k-1-j weighs frequency u
	// by (-1)^u times what segment j does, so the first half of them give
	// the even and odd sums for all (the whole block, k = 1, has only u = 0).
	sx, sy := &segMean[log2[kx]], &segMean[log2[ky]]
	hx, hy := max(kx/2, 1), max(ky/2, 1)
	var along [8][8]float32 // along[v][jx]: row v of frequencies, meaned along x
	var rows [8]int         // the rows v that count, in order
	nrows := 0
	for v := range 8 {
		r := (*[8]int32)(coef[8*v : 8*v+8])
		if *r == [8]int32{} || sy[0][v] == 0 && (ky == 1 || sy[1][v] == 0) {
			continue
		}
		rows[nrows] = v
		nrows++
		f0, f1, f2, f3 := float32(r[0]), float32(r[1]), float32(r[2]), float32(r[3])
		f4, f5, f6, f7 := float32(r[4]), float32(r[5]), float32(r[6]), float32(r[7])
		for jx := range hx {
			w := &sx[jx]
			e := f0*w[0] + f2*w[2] + f4*w[4] + f6*w[6]
			o := f1*w[1] + f3*w[3] + f5*w[5] + f7*w[7]
			along[v][jx] = e + o
			along[v][kx-1-jx] = e - o // the same when kx = 1 (o is 0)
		}
	}
	for jy := range hy {
		w := &sy[jy]
		for jx := range kx {
			var e, o float32
			for _, v := range rows[:nrows] {
				if v%2 == 0 {
					e += along[v][jx] * w[v]
				} else {
					o += along[v][jx] * w[v]
				}
			}
			part[jy*kx+jx] = pixel(e + o)
			part[(ky-1-jy)*kx+jx] = pixel(e - o)
		}
	}
}

// quarterMeans is partMeans for kx = ky = 2 (4:2:0 chroma at 1/8, luma at
// 2/8), unrolled: only u, v in {0, 1, 3, 5, 7} count.
func quarterMeans(coef *[64]int32, part []uint8) {
	h := &segMean[1][0]
	_ = part[3]
	// Along x, for rows v = 0, 1, 3, 5, 7: the mean over the left half
	// is e + o, over the right half e - o.
	var e, o [5]float32
	for i, v := range [5]int{0, 1, 3, 5, 7} {
		r := (*[8]int32)(coef[8*v : 8*v+8])
		e[i] = float32(r[0]) * h[0]
		o[i] = float32(r[1])*h[1] + float32(r[3])*h[3] + float32(r[5])*h[5] + float32(r[7])*h[7]
	}
	l0, r0 := (e[0]+o[0])*h[0], (e[0]-o[0])*h[0]
	lo := (e[1]+o[1])*h[1] + (e[2]+o[2])*h[3] + (e[3]+o[3])*h[5] + (e[4]+o[4])*h[7]
	ro := (e[1]-o[1])*h[1] + (e[2]-o[2])*h[3] + (e[3]-o[3])*h[5] + (e[4]-o[4])*h[7]
	part[0], part[1], part[2], part[3] = pixel(l0+lo), pixel(r0+ro), pixel(l0-lo), pixel(r0-ro)
}

// refill tops up the bit reader of decodeInterval (buf, pos, acc, n) to at
// least 32 bits, loading 8 bytes at a time, and reports false if it would
// read past buf (which cannot happen while the bits handed out lie within
// the data, see scanPad). It is small enough for the compiler to inline.
func refill(buf []byte, pos int, acc uint64, n uint) (int, uint64, uint, bool) {
	if n >= 32 {
		return pos, acc, n, true
	}
	if pos+8 > len(buf) {
		return pos, acc, n, false
	}
	acc |= binary.BigEndian.Uint64(buf[pos:]) >> (n & 63)
	k := (63 - n) >> 3
	return pos + int(k), acc, n + k*8, true
}

// skipAC reads past one block's AC values from the bit reader of
// decodeInterval (buf, pos, acc, n), one lookup of t.skip and one shift
// per value, and returns the reader's new state, or false for a bad code
// or a run past the last coefficient. It is a function of its own so that
// its few variables stay in registers.
func skipAC(buf []byte, pos int, acc uint64, n uint, t *huffTable) (int, uint64, uint, bool) {
	k := 1
	for k < 64 {
		var ok bool
		if pos, acc, n, ok = refill(buf, pos, acc, n); !ok {
			return pos, acc, n, false
		}
		e := t.skip[acc>>(64-huffFastBits)]
		if e == 0 {
			sym, l := t.slow(acc)
			if l == 0 {
				return pos, acc, n, false
			}
			e = skipEntry(sym, l)
		}
		acc <<= (e >> 8) & 63 // & 63: a plain shift, no test for 64 or more
		n -= uint(e >> 8)
		k += int(e & 0xFF)
	}
	return pos, acc, n, k <= 64 || k >= eobStep
}

// decodeInterval decodes the blocks of the MCUs [from, to) of one restart
// interval, which starts buf: the interval's unstuffed data, followed by
// the data after it and, at the end, scanPad zero bytes. It stores each
// block's DC value and skips its AC values, and reports how many bits it
// used, or false for a bad code or run. The bit reader is in locals: acc
// holds the next n bits at its top (and below them correct further bits
// of the byte at pos, which the next 8-byte load ORs in again).
func decodeInterval(buf []byte, comps []scanComp, q *[4][64]int32, mcusX, from, to int) (int, bool) {
	var (
		acc  uint64
		n    uint
		pos  int
		pred [3]int32
	)
	mx, my := from%mcusX, from/mcusX
	for mcu := from; mcu < to; mcu, mx = mcu+1, mx+1 {
		if mx == mcusX {
			mx, my = 0, my+1
		}
		for c := range comps {
			cp := &comps[c]
			dcTab := cp.dcTab
			for y := range cp.v {
				for x := range cp.h {
					// The DC difference: a size, then that many bits.
					var ok bool
					if pos, acc, n, ok = refill(buf, pos, acc, n); !ok {
						return 0, false
					}
					var size uint
					if e := dcTab.fast[acc>>(64-huffFastBits)]; e != 0 {
						size = uint(e & 0xFF)
						acc <<= (e >> 8) & 63
						n -= uint(e >> 8)
					} else {
						sym, l := dcTab.slow(acc)
						if l == 0 {
							return 0, false
						}
						size = uint(sym)
						acc <<= uint(l) & 63
						n -= uint(l)
					}
					if size > 11 {
						return 0, false
					}
					if size > 0 {
						pred[c] += extend(acc, size)
						acc <<= size & 63
						n -= size
					}
					b := (my*cp.v+y)*cp.bw + mx*cp.h + x
					cp.dc[b] = pred[c] * q[cp.tq][0]
					// The AC values: skipped, unless the block gives more
					// than one output pixel.
					if cp.part != nil {
						coef := [64]int32{cp.dc[b]}
						var ac bool
						if pos, acc, n, ac, ok = fullAC(buf, pos, acc, n, cp.acTab, &q[cp.tq], &coef); !ok {
							return 0, false
						}
						kx, ky := cp.kx, cp.ky
						part := cp.part[b*kx*ky : (b+1)*kx*ky]
						switch {
						case !ac: // a flat block: every part is its mean
							v := uint8(min(max((cp.dc[b]+4)>>3+128, 0), 255))
							for i := range part {
								part[i] = v
							}
						case kx == 2 && ky == 2:
							quarterMeans(&coef, part)
						default:
							partMeans(&coef, kx, ky, part)
						}
					} else if pos, acc, n, ok = skipAC(buf, pos, acc, n, cp.acTab); !ok {
						return 0, false
					}
				}
			}
		}
	}
	return pos*8 - int(n), true
}

// decodeJPEGReduced returns the image of a JPEG at n/8 of its size (n =
// scale: 1, 2 or 4), ceil(w*n/8) x ceil(h*n/8) pixels, each the mean of
// the 8/n x 8/n pixels it stands for (at 1/8, the block's DC: ((DC*Q + 4) >> 3) +
// 128, clamped, as libjpeg's scale 1/8 gives it); ok is false for a JPEG
// it does not handle or finds anything wrong with: progressive or
// arithmetic coding, 12-bit samples, 2 or 4 components, Adobe RGB,
// sampling factors that do not divide, several scans, missing tables, a
// bad Huffman code, a restart marker out of place or data that ends early.
// It applies no Exif orientation.
func decodeJPEGReduced(data []byte, scale int) (*RGB, bool) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, false
	}
	var (
		q        [4][64]int32 // quantization tables, in zigzag order
		qSet     [4]bool
		tabs     [2][4]*huffTable
		comps    []scanComp
		w, h     int
		ri       int
		adobeRGB bool
	)
	i := 2
	for {
		for i < len(data) && data[i] == 0xFF && i+1 < len(data) && data[i+1] == 0xFF {
			i++ // fill bytes before a marker
		}
		if i+4 > len(data) || data[i] != 0xFF {
			return nil, false
		}
		m := data[i+1]
		n := int(data[i+2])<<8 | int(data[i+3])
		if m == 0xD8 || m == 0xD9 || m >= 0xD0 && m <= 0xD7 || m == 0x01 || n < 2 || i+2+n > len(data) {
			return nil, false
		}
		seg := data[i+4 : i+2+n]
		i += 2 + n
		switch {
		case m == 0xDB: // DQT: only the DC quantizer (the first value) matters
			for len(seg) > 0 {
				pq, tq := seg[0]>>4, seg[0]&15
				if tq > 3 {
					return nil, false
				}
				switch {
				case pq == 0 && len(seg) >= 65:
					for z := range 64 {
						q[tq][z] = int32(seg[1+z])
					}
					seg = seg[65:]
				case pq == 1 && len(seg) >= 129:
					for z := range 64 {
						q[tq][z] = int32(seg[1+2*z])<<8 | int32(seg[2+2*z])
					}
					seg = seg[129:]
				default:
					return nil, false
				}
				qSet[tq] = true
			}
		case m == 0xC4: // DHT
			for len(seg) > 0 {
				if len(seg) < 17 {
					return nil, false
				}
				tc, th := seg[0]>>4, seg[0]&15
				total := 0
				for _, c := range seg[1:17] {
					total += int(c)
				}
				if tc > 1 || th > 3 || len(seg) < 17+total {
					return nil, false
				}
				t := new(huffTable)
				if !t.build(seg[1:17], seg[17:17+total]) {
					return nil, false
				}
				tabs[tc][th], seg = t, seg[17+total:]
			}
		case m == 0xC0 || m == 0xC1: // baseline or extended sequential, Huffman
			if comps != nil || len(seg) < 6 || seg[0] != 8 {
				return nil, false
			}
			h, w = int(seg[1])<<8|int(seg[2]), int(seg[3])<<8|int(seg[4])
			nc := int(seg[5])
			if w == 0 || h == 0 || nc != 1 && nc != 3 || len(seg) != 6+3*nc {
				return nil, false
			}
			for c := range nc {
				p := seg[6+3*c:]
				cp := scanComp{id: int(p[0]), h: int(p[1] >> 4), v: int(p[1] & 15), tq: int(p[2])}
				if cp.h < 1 || cp.h > 4 || cp.v < 1 || cp.v > 4 || cp.tq > 3 {
					return nil, false
				}
				comps = append(comps, cp)
			}
		case m >= 0xC2 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
			return nil, false // progressive, lossless, arithmetic, hierarchical
		case m == 0xDD: // DRI
			if len(seg) != 2 {
				return nil, false
			}
			ri = int(seg[0])<<8 | int(seg[1])
		case m == 0xEE: // Adobe: transform 0 means the components are RGB
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" && seg[11] == 0 {
				adobeRGB = true
			}
		case m == 0xDA: // SOS: the one scan must hold every component
			if comps == nil || adobeRGB && len(comps) == 3 || len(seg) < 1 || int(seg[0]) != len(comps) || len(seg) != 4+2*len(comps) {
				return nil, false
			}
			for c := range comps {
				id, td, ta := int(seg[1+2*c]), int(seg[2+2*c]>>4), int(seg[2+2*c]&15)
				cp := &comps[c]
				if id != cp.id || td > 3 || ta > 3 || tabs[0][td] == nil || tabs[1][ta] == nil || !qSet[cp.tq] {
					return nil, false
				}
				cp.dcTab, cp.acTab = tabs[0][td], tabs[1][ta]
			}
			if ss, se, a := seg[1+2*len(comps)], seg[2+2*len(comps)], seg[3+2*len(comps)]; ss != 0 || se != 63 || a != 0 {
				return nil, false
			}
			if !decodeScan(data[i:], comps, &q, w, h, ri, scale) {
				return nil, false
			}
			return reducedImage(comps, w, h, scale), true
		}
	}
}

// decodeScan decodes the entropy-coded data of the scan that starts
// data into each component's plane of DC values.
func decodeScan(data []byte, comps []scanComp, q *[4][64]int32, w, h, ri, n int) bool {
	hmax, vmax := 1, 1
	for _, c := range comps {
		hmax, vmax = max(hmax, c.h), max(vmax, c.v)
	}
	var mcusX, mcusY int
	if len(comps) == 1 {
		// Not interleaved: one block per MCU, over the component's own size.
		c := &comps[0]
		cw, ch := (w*c.h+hmax-1)/hmax, (h*c.v+vmax-1)/vmax
		c.h, c.v, hmax, vmax = 1, 1, 1, 1
		mcusX, mcusY = (cw+7)/8, (ch+7)/8
	} else {
		mcusX, mcusY = (w+8*hmax-1)/(8*hmax), (h+8*vmax-1)/(8*vmax)
	}
	// Every block takes at least 2 bits (a DC code and an end of block),
	// so data too short for the blocks declared is refused before the
	// planes are allocated: they stay within a few times its size.
	blocks := 0
	for _, c := range comps {
		blocks += mcusX * c.h * mcusY * c.v
	}
	if blocks > 4*len(data) {
		return false
	}
	for c := range comps {
		cp := &comps[c]
		cp.bw, cp.bh = mcusX*cp.h, mcusY*cp.v
		cp.dc = make([]int32, cp.bw*cp.bh)
		cp.kx, cp.ky = n*hmax/cp.h, n*vmax/cp.v
		if hmax%cp.h != 0 || vmax%cp.v != 0 || cp.kx > 8 || cp.ky > 8 || cp.kx&(cp.kx-1) != 0 || cp.ky&(cp.ky-1) != 0 {
			return false // 3:1 sampling, say, or 4:1:1 at 4/8
		}
		if cp.kx*cp.ky > 1 {
			cp.part = make([]uint8, cp.kx*cp.ky*cp.bw*cp.bh)
		}
	}
	total := mcusX * mcusY
	buf, offs, ok := unstuff(data)
	if !ok {
		return false
	}
	per := total
	if ri > 0 {
		per = ri
	}
	if len(offs)-1 != (total+per-1)/per {
		return false
	}
	for s := 0; s+1 < len(offs); s++ {
		start, end := offs[s], offs[s+1]
		used, ok := decodeInterval(buf[start:], comps, q, mcusX, s*per, min(total, (s+1)*per))
		if !ok || used > (end-start)*8 {
			return false // a bad code, or data missing
		}
	}
	return true
}

// scanPad is the zero bytes after the scan data: dcBits.fill loads 8 bytes
// at a time and keeps at least 32 bits, so while the bits it has handed
// out lie within the data it reads at most 12 bytes past the end.
const scanPad = 16

// unstuff returns the entropy-coded data that starts data, with the
// stuffed zero after each 0xFF byte removed and scanPad zero bytes after the
// end, and the offsets in it where each restart interval starts, the
// end of the data last. The data ends at the first marker other than a
// restart marker.
func unstuff(data []byte) (buf []byte, offs []int, ok bool) {
	buf = make([]byte, 0, len(data)+8)
	offs = append(offs, 0)
	for i := 0; ; {
		j := bytes.IndexByte(data[i:], 0xFF)
		if j < 0 || i+j+1 >= len(data) {
			return nil, nil, false // no end of image
		}
		buf = append(buf, data[i:i+j]...)
		i += j
		switch m := data[i+1]; {
		case m == 0x00:
			buf = append(buf, 0xFF)
			i += 2
		case m >= 0xD0 && m <= 0xD7:
			offs = append(offs, len(buf))
			i += 2
		case m == 0xFF:
			i++
		default:
			offs = append(offs, len(buf))
			return append(buf, make([]byte, scanPad)...), offs, true
		}
	}
}

// reducedImage makes the RGB image at n/8 scale from the components'
// planes: ceil(w*n/8) x ceil(h*n/8) pixels.
func reducedImage(comps []scanComp, w, h, n int) *RGB {
	ow, oh := (w*n+7)/8, (h*n+7)/8
	planes := make([][]uint8, len(comps))
	for ci := range comps {
		planes[ci] = plane(&comps[ci], ow, oh)
	}
	m := NewRGB(ow, oh)
	for i := range ow * oh {
		p := m.Pix[3*i : 3*i+3]
		if len(comps) == 1 {
			p[0], p[1], p[2] = planes[0][i], planes[0][i], planes[0][i]
			continue
		}
		p[0], p[1], p[2] = color.YCbCrToRGB(planes[0][i], planes[1][i], planes[2][i])
	}
	return m
}

// plane returns component c's samples at the output resolution ow x oh:
// its blocks' DC pixels, or the means of their parts.
func plane(c *scanComp, ow, oh int) []uint8 {
	out := make([]uint8, ow*oh)
	kx, ky := c.kx, c.ky
	for y := range oh {
		row := out[y*ow : (y+1)*ow]
		if c.part == nil {
			for x, dc := range c.dc[y*c.bw : y*c.bw+ow] {
				row[x] = uint8(min(max((dc+4)>>3+128, 0), 255))
			}
			continue
		}
		by, jy := y/ky, y%ky
		for x := range row {
			b := by*c.bw + x/kx
			row[x] = c.part[b*kx*ky+jy*kx+x%kx]
		}
	}
	return out
}

// DecodeJPEGReduced decodes a JPEG at 1/8, 2/8 or 4/8 of its size, the
// smallest that is at least minW x minH upright, from its coefficients
// alone (see the top of jpegdc.go): ceil(w*n/8) x ceil(h*n/8) pixels,
// each the mean of the pixels it stands for, to within a few levels
// (TestDecodeJPEGReduced bounds the difference). Decode's header checks
// come first, and the Exif orientation is applied. ok is false, before
// anything is decoded, when even 4/8 is smaller than minW x minH or the
// header is one Decode refuses; and it is false when the data is not a
// JPEG this path decodes (progressive, CMYK, Adobe RGB, several scans,
// ...) or anything in it is wrong. The caller then decodes the image in
// full, which decides. DecodeForSize uses it in builds without libjpeg.
func DecodeJPEGReduced(data []byte, maxPixels int64, minW, minH int) (*RGB, Info, bool) {
	cfg, o, ok := scalableJPEG(data, maxPixels)
	if !ok {
		return nil, Info{}, false
	}
	n := 1
	for ; n <= 4; n *= 2 {
		w, h := (cfg.Width*n+7)/8, (cfg.Height*n+7)/8
		if o >= 5 {
			w, h = h, w
		}
		if w >= minW && h >= minH {
			break
		}
	}
	if n > 4 {
		return nil, Info{}, false
	}
	m, ok := decodeJPEGReduced(data, n)
	if !ok || m.Width != (cfg.Width*n+7)/8 || m.Height != (cfg.Height*n+7)/8 {
		return nil, Info{}, false
	}
	m, info := upright(m, cfg, o)
	return m, info, true
}
