package hdf5

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// lookup3 is Bob Jenkins' lookup3 "hashlittle" hash, which HDF5 uses (with
// an initial value of zero) to checksum version-2 metadata.
func lookup3(k []byte, initval uint32) uint32 {
	a := 0xdeadbeef + uint32(len(k)) + initval
	b, c := a, a
	for len(k) > 12 {
		a += binary.LittleEndian.Uint32(k[0:])
		b += binary.LittleEndian.Uint32(k[4:])
		c += binary.LittleEndian.Uint32(k[8:])
		// mix
		a -= c
		a ^= bits.RotateLeft32(c, 4)
		c += b
		b -= a
		b ^= bits.RotateLeft32(a, 6)
		a += c
		c -= b
		c ^= bits.RotateLeft32(b, 8)
		b += a
		a -= c
		a ^= bits.RotateLeft32(c, 16)
		c += b
		b -= a
		b ^= bits.RotateLeft32(a, 19)
		a += c
		c -= b
		c ^= bits.RotateLeft32(b, 4)
		b += a
		k = k[12:]
	}
	if len(k) == 0 {
		return c
	}
	var tail [12]byte
	copy(tail[:], k)
	a += binary.LittleEndian.Uint32(tail[0:])
	b += binary.LittleEndian.Uint32(tail[4:])
	c += binary.LittleEndian.Uint32(tail[8:])
	// final
	c ^= b
	c -= bits.RotateLeft32(b, 14)
	a ^= c
	a -= bits.RotateLeft32(c, 11)
	b ^= a
	b -= bits.RotateLeft32(a, 25)
	c ^= b
	c -= bits.RotateLeft32(b, 16)
	a ^= c
	a -= bits.RotateLeft32(c, 4)
	b ^= a
	b -= bits.RotateLeft32(a, 14)
	c ^= b
	c -= bits.RotateLeft32(b, 24)
	return c
}

// verifyChecksum checks that the 4 bytes following body hold the lookup3
// checksum of body. b must be body followed by the stored checksum.
func verifyChecksum(b []byte, what string) error {
	if len(b) < 4 {
		return fmt.Errorf("%s: %w", what, errShort)
	}
	n := len(b) - 4
	want := binary.LittleEndian.Uint32(b[n:])
	if got := lookup3(b[:n], 0); got != want {
		return fmt.Errorf("%s: checksum mismatch (stored %#08x, computed %#08x)", what, want, got)
	}
	return nil
}

// verifyPrefix checks that b[:n] is followed by its lookup3 checksum.
func verifyPrefix(b []byte, n int, what string) error {
	if n < 0 || n > len(b)-4 {
		return fmt.Errorf("%s: %w", what, errShort)
	}
	return verifyChecksum(b[:n+4], what)
}
