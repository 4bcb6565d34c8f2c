package hdf5

import (
	"errors"
	"fmt"
)

// errShort is recorded by a reader that ran past the end of its buffer.
var errShort = errors.New("truncated structure")

// reader decodes little-endian fields from a byte slice. It never panics:
// reading past the end records errShort (the first error sticks) and yields
// zeros, so a decoder can read a whole structure and check err once.
type reader struct {
	b       []byte
	off     int
	sizeOff int
	sizeLen int
	err     error
}

func (f *File) newReader(b []byte) *reader {
	return &reader{b: b, sizeOff: f.sizeOff, sizeLen: f.sizeLen}
}

// fail records err unless an earlier error is already recorded.
func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// failf records a formatted error.
func (r *reader) failf(format string, args ...any) {
	r.fail(fmt.Errorf(format, args...))
}

func (r *reader) remaining() int { return len(r.b) - r.off }

// bytes returns the next n bytes (not copied).
func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail(errShort)
		r.off = len(r.b)
		return nil
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p
}

func (r *reader) skip(n int) { r.bytes(n) }

// uint reads an n-byte (0 < n <= 8) little-endian unsigned integer.
func (r *reader) uint(n int) uint64 {
	if n < 1 || n > 8 {
		r.failf("bad integer width %d", n)
		return 0
	}
	p := r.bytes(n)
	if p == nil {
		return 0
	}
	return leUint(p)
}

func (r *reader) u8() uint8   { return uint8(r.uint(1)) }
func (r *reader) u16() uint16 { return uint16(r.uint(2)) }
func (r *reader) u32() uint32 { return uint32(r.uint(4)) }
func (r *reader) u64() uint64 { return r.uint(8) }

// addr reads a file address; an all-ones value becomes undef.
func (r *reader) addr() uint64 {
	v := r.uint(r.sizeOff)
	if r.sizeOff < 8 && v == (uint64(1)<<(8*r.sizeOff))-1 {
		return undef
	}
	return v
}

// length reads a "size of lengths" field.
func (r *reader) length() uint64 { return r.uint(r.sizeLen) }

// signature consumes a 4-byte signature and checks it.
func (r *reader) signature(sig string) {
	p := r.bytes(4)
	if p != nil && string(p) != sig {
		r.failf("bad signature %q, want %q", p, sig)
	}
}

// leUint decodes up to 8 little-endian bytes.
func leUint(p []byte) uint64 {
	var v uint64
	for i := len(p) - 1; i >= 0; i-- {
		v = v<<8 | uint64(p[i])
	}
	return v
}

// beUint decodes up to 8 big-endian bytes.
func beUint(p []byte) uint64 {
	var v uint64
	for _, c := range p {
		v = v<<8 | uint64(c)
	}
	return v
}
