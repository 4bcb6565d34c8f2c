package jpegscale

import "bytes"

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
	per := total
	if ri > 0 {
		per = ri
	}
	buf, offs, ok := unstuff(data, (total+per-1)/per)
	if !ok {
		return false
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
// restart marker. There are at most intervals restart intervals, else ok
// is false, so that it allocates no more than len(data)+scanPad bytes and
// intervals+1 offsets (imageprep's estimate of the decode's memory counts
// them).
func unstuff(data []byte, intervals int) (buf []byte, offs []int, ok bool) {
	buf = make([]byte, 0, len(data)+scanPad)
	offs = make([]int, 1, intervals+1)
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
			if len(offs) == intervals {
				return nil, nil, false // more restart markers than intervals
			}
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
