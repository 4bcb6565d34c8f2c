package jpegscale

import "encoding/binary"

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
