package imageprep

// A baseline JPEG decoded at 1/8 scale from its DC coefficients alone.
//
// Each 8x8 block's DC coefficient is 8 times the block's mean, so the
// image at 1/8 scale (what libjpeg computes with scale_denom 8, the
// "1x1 IDCT") needs nothing else: the AC coefficients still have to be
// entropy-decoded, since Huffman codes have no index, but only to be
// skipped, which is one table lookup and one shift per code. That is
// where a big photo's decoding time goes, and why this is our own code:
// image/jpeg has no scaled decoding (it builds all 12 million pixels of a
// 12 MP photo, about 0.5 s here), and libjpeg-turbo needs cgo and still
// decodes every AC value into a coefficient block. decodeJPEGDC handles
// the JPEGs cameras and phones write (baseline or extended sequential
// Huffman, 8-bit, grey or YCbCr, one interleaved scan, restart markers)
// and declines everything else, which is then decoded in full.

import (
	"bytes"
	"encoding/binary"
	"image/color"
	"image/jpeg"
	"math"
)

// dcHuff is a Huffman table of a JPEG. fast maps the next huffFastBits
// bits of the stream to (code length << 8 | symbol) for codes of up to
// that length (0 for longer ones); the canonical maxcode/valptr/mincode
// arrays decode the rest. skip, for AC tables, maps the same bits to what
// skipping the coefficient takes: (code length + value bits) << 8 | how
// far the coefficient index moves (run + 1, 16 for 16 zeros, eobStep for
// the end of the block), so that one lookup and one shift skip it.
type dcHuff struct {
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
func (t *dcHuff) build(counts []byte, syms []byte) bool {
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

// slow decodes a symbol whose code is longer than huffFastBits from the
// top 16 bits of acc, returning it and its code length (0 if no code).
func (t *dcHuff) slow(acc uint64) (uint8, int) {
	code := int32(acc >> 48)
	for l := huffFastBits + 1; l <= 16; l++ {
		c := code >> (16 - l)
		if c <= t.maxcode[l] {
			return t.vals[t.valptr[l]+c-t.mincode[l]], l
		}
	}
	return 0, 0
}

// dcComp is a component of the frame, with its block plane of DC values.
type dcComp struct {
	id, h, v, tq int
	dcTab, acTab *dcHuff
	bw, bh       int     // blocks per line and per column in the scan
	dc           []int32 // dequantized DC coefficient of each block
	// part, for a component subsampled by 2 (the chroma of 4:2:0 and
	// 4:2:2), holds the mean of each of a block's 2x2 (or 2x1) parts, as
	// output pixels, computed from all the block's coefficients (see
	// partMeans), so that the component comes out at the luma's 1/8
	// resolution.
	part   []uint8
	fx, fy int // the luma's samples per sample of this component, along x and y
}

// fullAC decodes all the AC values of a block into coef, in natural
// order and dequantized with q (zigzag order), from the bit reader of
// dcInterval, and returns the reader's state and whether any AC value was
// not zero.
func fullAC(buf []byte, pos int, acc uint64, n uint, t *dcHuff, q *[64]int32, coef *[64]int32) (int, uint64, uint, bool, bool) {
	any := false
	for k := 1; k < 64; {
		if n < 32 {
			if pos+8 > len(buf) {
				return pos, acc, n, false, false
			}
			acc |= binary.BigEndian.Uint64(buf[pos:]) >> (n & 63)
			kk := (63 - n) >> 3
			pos += int(kk)
			n += kk * 8
		}
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
		v := int32(acc >> ((64 - size) & 63))
		acc <<= size & 63
		n -= size
		if v < 1<<(size-1) {
			v += -1<<size + 1
		}
		coef[zigzag[k]] = v * q[k]
		any = true
		k++
	}
	return pos, acc, n, any, true
}

// zigzag maps the zigzag index of a coefficient to its natural index
// (row * 8 + column).
var zigzag = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

// halfMean[u] is C(u)/2 times the mean of cos((2x+1) u pi/16) over the
// first half of a block, x = 0..3 (C(0) = 1/sqrt 2, else 1); over the
// second half it is the same for even u and its opposite for odd u, and
// for u = 2, 4, 6 it is 0. With the IDCT f(x,y) = sum_u sum_v C(u)/2
// C(v)/2 F(v,u) cos(..x..) cos(..y..), the mean of f over a half or a
// quarter of a block is thus a sum over u and v in {0, 1, 3, 5, 7} (only
// u = 0 along an axis that is not split, where the mean over the whole
// block of cos is 1 for u = 0 and 0 otherwise).
var halfMean = func() (h [8]float32) {
	for u := range 8 {
		c := 0.5
		if u == 0 {
			c = 0.5 / math.Sqrt2
		}
		var m float64
		for x := range 4 {
			m += c * math.Cos(float64(2*x+1)*float64(u)*math.Pi/16) / 4
		}
		if u%2 == 1 || u == 0 {
			h[u] = float32(m)
		}
	}
	return h
}()

// quarterMeans is partMeans for fx = fy = 2 (4:2:0 chroma), unrolled.
func quarterMeans(coef *[64]int32, part []uint8) {
	h := &halfMean
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
	px := func(m float32) uint8 { return uint8(min(max(m+128.5, 0), 255)) }
	part[0], part[1], part[2], part[3] = px(l0+lo), px(r0+ro), px(l0-lo), px(r0-ro)
}

// partMeans writes to part the means of the fx x fy parts of the block of
// natural-order coefficients coef (fx, fy 1 or 2), row by row, as pixel
// values (the mean plus 128, rounded and clamped).
func partMeans(coef *[64]int32, fx, fy int, part []uint8) {
	h := &halfMean
	rows := []int{0}
	if fy == 2 {
		rows = []int{0, 1, 3, 5, 7}
	}
	// For each row v of frequencies, the even (u = 0) and odd parts of the
	// mean along x of a half block.
	var ev, od [8]float32
	for _, v := range rows {
		r := coef[8*v : 8*v+8]
		ev[v] = float32(r[0]) * h[0]
		if fx == 2 {
			od[v] = float32(r[1])*h[1] + float32(r[3])*h[3] + float32(r[5])*h[5] + float32(r[7])*h[7]
		}
	}
	for py := range fy {
		for px := range fx {
			sx := float32(1 - 2*px)
			var m float32
			for _, v := range rows {
				gy := h[v]
				if py == 1 && v%2 == 1 {
					gy = -gy
				}
				m += (ev[v] + sx*od[v]) * gy
			}
			part[py*fx+px] = uint8(min(max(m+128.5, 0), 255))
		}
	}
}

// skipAC reads past one block's AC values, from index k on, from the bit reader of
// dcInterval (buf, pos, acc, n), one lookup of t.skip and one shift per
// value, and returns the reader's new state, or false for a bad code or a
// run past the last coefficient. It is a function of its own so that its
// few variables stay in registers.
func skipAC(buf []byte, pos int, acc uint64, n uint, t *dcHuff, k int) (int, uint64, uint, bool) {
	for k < 64 {
		if n < 32 {
			if pos+8 > len(buf) {
				return pos, acc, n, false
			}
			acc |= binary.BigEndian.Uint64(buf[pos:]) >> (n & 63)
			kk := (63 - n) >> 3
			pos += int(kk)
			n += kk * 8
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

// dcInterval decodes the blocks of the MCUs [from, to) of one restart
// interval, which starts buf: the interval's unstuffed data, followed by
// the data after it and, at the end, dcPad zero bytes. It stores each
// block's DC value and skips its AC values, and reports how many bits it
// used, or false for a bad code or run. The bit reader is in locals: acc
// holds the next n bits at its top (and below them correct further bits
// of the byte at pos, which the next 8-byte load ORs in again).
func dcInterval(buf []byte, comps []dcComp, q *[4][64]int32, mcusX, from, to int) (int, bool) {
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
					if n < 32 {
						if pos+8 > len(buf) {
							return 0, false
						}
						acc |= binary.BigEndian.Uint64(buf[pos:]) >> (n & 63)
						k := (63 - n) >> 3
						pos += int(k)
						n += k * 8
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
						v := int32(acc >> ((64 - size) & 63))
						acc <<= size & 63
						n -= size
						if v < 1<<(size-1) {
							v += -1<<size + 1
						}
						pred[c] += v
					}
					b := (my*cp.v+y)*cp.bw + mx*cp.h + x
					cp.dc[b] = pred[c] * q[cp.tq][0]
					// The AC values: skipped, but for a subsampled
					// component, whose parts need them.
					var ok bool
					if cp.part != nil {
						coef := [64]int32{cp.dc[b]}
						var ac bool
						if pos, acc, n, ac, ok = fullAC(buf, pos, acc, n, cp.acTab, &q[cp.tq], &coef); !ok {
							return 0, false
						}
						fx, fy := cp.fx, cp.fy
						part := cp.part[b*fx*fy : (b+1)*fx*fy]
						switch {
						case !ac: // a flat block: every part is its mean
							v := uint8(min(max((cp.dc[b]+4)>>3+128, 0), 255))
							for i := range part {
								part[i] = v
							}
						case fx == 2 && fy == 2:
							quarterMeans(&coef, part)
						default:
							partMeans(&coef, fx, fy, part)
						}
					} else if pos, acc, n, ok = skipAC(buf, pos, acc, n, cp.acTab, 1); !ok {
						return 0, false
					}
				}
			}
		}
	}
	return pos*8 - int(n), true
}

// decodeJPEGDC returns the 1/8-scale image of a JPEG, ceil(w/8) x ceil(h/8)
// pixels, each the mean of an 8x8 block as libjpeg's scale 1/8 gives it
// ((DC*Q + 4) >> 3) + 128, clamped), with chroma planes of lower
// resolution repeated to the luma's; ok is false for a JPEG it does not
// handle or finds anything wrong with: progressive or arithmetic coding,
// 12-bit samples, 2 or 4 components, Adobe RGB, several scans, missing
// tables, a bad Huffman code, a restart marker out of place or data that
// ends early. It applies no Exif orientation.
func decodeJPEGDC(data []byte) (*RGB, bool) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, false
	}
	var (
		q        [4][64]int32 // quantization tables, in zigzag order
		qSet     [4]bool
		tabs     [2][4]*dcHuff
		comps    []dcComp
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
				t := new(dcHuff)
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
				cp := dcComp{id: int(p[0]), h: int(p[1] >> 4), v: int(p[1] & 15), tq: int(p[2])}
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
			if !decodeDCScan(data[i:], comps, &q, w, h, ri) {
				return nil, false
			}
			return dcImage(comps, w, h), true
		}
	}
}

// decodeDCScan decodes the entropy-coded data of the scan that starts
// data into each component's plane of DC values.
func decodeDCScan(data []byte, comps []dcComp, q *[4][64]int32, w, h, ri int) bool {
	hmax, vmax := 1, 1
	for _, c := range comps {
		hmax, vmax = max(hmax, c.h), max(vmax, c.v)
	}
	var mcusX, mcusY int
	if len(comps) == 1 {
		// Not interleaved: one block per MCU, over the component's own size.
		c := &comps[0]
		cw, ch := (w*c.h+hmax-1)/hmax, (h*c.v+vmax-1)/vmax
		c.h, c.v = 1, 1
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
		cp.fx, cp.fy = hmax/cp.h, vmax/cp.v
		if fx, fy := cp.fx, cp.fy; fx <= 2 && fy <= 2 && fx*fy > 1 && hmax%cp.h == 0 && vmax%cp.v == 0 {
			cp.part = make([]uint8, fx*fy*cp.bw*cp.bh)
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
		used, ok := dcInterval(buf[start:], comps, q, mcusX, s*per, min(total, (s+1)*per))
		if !ok || used > (end-start)*8 {
			return false // a bad code, or data missing
		}
	}
	return true
}

// dcPad is the zero bytes after the scan data: dcBits.fill loads 8 bytes
// at a time and keeps at least 32 bits, so while the bits it has handed
// out lie within the data it reads at most 12 bytes past the end.
const dcPad = 16

// unstuff returns the entropy-coded data that starts data, with the
// stuffed zero after each 0xFF byte removed and dcPad zero bytes after the
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
			return append(buf, make([]byte, dcPad)...), offs, true
		}
	}
}

// dcImage makes the RGB image of the DC planes: ceil(w/8) x ceil(h/8)
// pixels. A component sampled at a lower resolution (the chroma of 4:2:0
// and 4:2:2) is interpolated linearly between the centres of its blocks,
// as libjpeg's "fancy" upsampling does, rather than repeated: the result
// is closer to the mean of each 8x8 block of the full decode.
func dcImage(comps []dcComp, w, h int) *RGB {
	ow, oh := (w+7)/8, (h+7)/8
	hmax, vmax := 1, 1
	for _, c := range comps {
		hmax, vmax = max(hmax, c.h), max(vmax, c.v)
	}
	planes := make([][]uint8, len(comps))
	for ci := range comps {
		planes[ci] = dcPlane(&comps[ci], ow, oh, hmax, vmax)
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

// parts returns the samples of component c, subsampled by fx, fy <= 2, at
// the output resolution ow x oh: the means of its blocks' parts.
func parts(c *dcComp, ow, oh, fx, fy int) []uint8 {
	out := make([]uint8, ow*oh)
	for y := range oh {
		for x := range ow {
			b := (y/fy)*c.bw + x/fx
			out[y*ow+x] = c.part[b*fx*fy+(y%fy)*fx+x%fx]
		}
	}
	return out
}

// dcPlane returns component c's samples at the output resolution ow x oh:
// the pixel of each block, ((DC + 4) >> 3) + 128 clamped, and between the
// blocks of a subsampled component a bilinear interpolation.
func dcPlane(c *dcComp, ow, oh, hmax, vmax int) []uint8 {
	fx, fy := hmax/c.h, vmax/c.v
	// The component's own pixels, over the blocks that cover the image.
	cw, ch := (ow+fx-1)/fx, (oh+fy-1)/fy
	own := make([]uint8, cw*ch)
	for y := range ch {
		for x := range cw {
			v := (c.dc[y*c.bw+x]+4)>>3 + 128
			own[y*cw+x] = uint8(min(max(v, 0), 255))
		}
	}
	if fx == 1 && fy == 1 {
		return own
	}
	if c.part != nil {
		return parts(c, ow, oh, fx, fy)
	}
	out := make([]uint8, ow*oh)
	// Output pixel x lies at (x + 0.5)/f - 0.5 in the component's pixels.
	type tap struct {
		i0, i1 int
		t      float32
	}
	taps := func(n, f, size int) []tap {
		ts := make([]tap, n)
		for x := range ts {
			u := (float32(x)+0.5)/float32(f) - 0.5
			i0 := int(u+1) - 1 // floor, u >= -0.5
			t := u - float32(i0)
			ts[x] = tap{min(max(i0, 0), size-1), min(max(i0+1, 0), size-1), t}
		}
		return ts
	}
	tx, ty := taps(ow, fx, cw), taps(oh, fy, ch)
	for y, vy := range ty {
		r0, r1 := own[vy.i0*cw:(vy.i0+1)*cw], own[vy.i1*cw:(vy.i1+1)*cw]
		for x, vx := range tx {
			a := float32(r0[vx.i0]) + (float32(r0[vx.i1])-float32(r0[vx.i0]))*vx.t
			b := float32(r1[vx.i0]) + (float32(r1[vx.i1])-float32(r1[vx.i0]))*vx.t
			out[y*ow+x] = uint8(a + (b-a)*vy.t + 0.5)
		}
	}
	return out
}

// DecodeJPEGEighth decodes a JPEG at 1/8 of its size, ceil(w/8) x
// ceil(h/8) pixels, from its coefficients alone (see the top of
// jpegdc.go), with Decode's header checks first and the Exif orientation
// applied. ok is false, before anything is decoded, when the upright 1/8
// image would be smaller than minW x minH, or when the header is one
// Decode refuses; and it is false when the data is not a JPEG this path
// decodes (progressive, CMYK, Adobe RGB, several scans, ...) or anything
// in it is wrong. The caller then decodes the image in full, which
// decides. Each pixel is the mean of an 8x8 block of the full decode to
// within a few levels (TestDecodeJPEGEighth bounds the difference).
// DecodeForSize uses it in builds without libjpeg.
func DecodeJPEGEighth(data []byte, maxPixels int64, minW, minH int) (*RGB, Info, bool) {
	if format, _ := Sniff(data); format != "jpeg" {
		return nil, Info{}, false
	}
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	// The same header check as decode, before any pixel is decoded.
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, Info{}, false
	}
	if cfg.ColorModel == color.CMYKModel {
		return nil, Info{}, false
	}
	o := exifOrientation(data)
	w8, h8 := (cfg.Width+7)/8, (cfg.Height+7)/8
	if o >= 5 {
		w8, h8 = h8, w8
	}
	if w8 < minW || h8 < minH {
		return nil, Info{}, false
	}
	m, ok := decodeJPEGDC(data)
	if !ok || m.Width != (cfg.Width+7)/8 || m.Height != (cfg.Height+7)/8 {
		return nil, Info{}, false
	}
	info := Info{Format: "jpeg", Width: cfg.Width, Height: cfg.Height}
	if o != 1 {
		m = orient(m, o)
		if o >= 5 {
			info.Width, info.Height = cfg.Height, cfg.Width
		}
	}
	return m, info, true
}
