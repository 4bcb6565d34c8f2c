package hdf5

import (
	"errors"
	"fmt"
)

// signature is the 8-byte HDF5 format signature.
const signature = "\x89HDF\r\n\x1a\n"

// readSuperblock finds and decodes the superblock. The signature may follow a
// user block, at offset 0, 512, 1024, 2048, ...; addresses in the file are
// relative to where it is found.
func (f *File) readSuperblock() error {
	pos := -1
	for off := 0; off+len(signature) <= len(f.data); {
		if string(f.data[off:off+len(signature)]) == signature {
			pos = off
			break
		}
		if off == 0 {
			off = 512
		} else {
			off *= 2
		}
	}
	if pos < 0 {
		return errors.New("no HDF5 signature found")
	}
	f.base = uint64(pos)
	b := f.data[pos:]
	if len(b) < 9 {
		return errShort
	}
	f.sbVer = int(b[8])
	switch f.sbVer {
	case 0, 1:
		return f.readSuperblockV0(b)
	case 2, 3:
		return f.readSuperblockV2(b)
	}
	return fmt.Errorf("superblock version %d: %w", f.sbVer, ErrUnsupported)
}

// setSizes validates and records the address and length widths.
func (f *File) setSizes(off, length uint8) error {
	ok := func(n uint8) bool { return n == 2 || n == 4 || n == 8 }
	if !ok(off) || !ok(length) {
		return fmt.Errorf("size of offsets %d / lengths %d: %w", off, length, ErrUnsupported)
	}
	f.sizeOff, f.sizeLen = int(off), int(length)
	return nil
}

// setEOF records the end-of-file address after checking it against the data.
func (f *File) setEOF(eof uint64) error {
	have := uint64(len(f.data)) - f.base
	if eof == undef || eof > have {
		return fmt.Errorf("file truncated: end-of-file address %d beyond the %d bytes present", eof, have)
	}
	f.eof = eof
	return nil
}

func (f *File) readSuperblockV0(b []byte) error {
	r := &reader{b: b}
	r.skip(9)
	r.skip(4) // free-space, root symbol table, reserved, shared header versions
	sizeOff, sizeLen := r.u8(), r.u8()
	if r.err != nil {
		return r.err
	}
	if err := f.setSizes(sizeOff, sizeLen); err != nil {
		return err
	}
	r.sizeOff, r.sizeLen = f.sizeOff, f.sizeLen
	r.skip(1)     // reserved
	r.skip(2 + 2) // group leaf / internal node K
	r.skip(4)     // file consistency flags
	if f.sbVer == 1 {
		r.skip(2 + 2) // indexed storage internal node K, reserved
	}
	r.addr() // base address: superseded by where the signature was found
	r.addr() // free-space info address
	eof := r.addr()
	r.addr() // driver information block
	// Root group symbol table entry.
	r.addr() // link name offset
	root := r.addr()
	if r.err != nil {
		return r.err
	}
	if err := f.setEOF(eof); err != nil {
		return err
	}
	f.rootAddr = root
	return nil
}

func (f *File) readSuperblockV2(b []byte) error {
	if len(b) < 11 {
		return errShort
	}
	if err := f.setSizes(b[9], b[10]); err != nil {
		return err
	}
	r := f.newReader(b)
	r.skip(12) // signature, version, sizes, flags
	r.addr()   // base address
	r.addr()   // superblock extension address
	eof := r.addr()
	root := r.addr()
	if r.err != nil {
		return r.err
	}
	if err := verifyPrefix(b, r.off, "superblock"); err != nil {
		return err
	}
	if err := f.setEOF(eof); err != nil {
		return err
	}
	f.rootAddr = root
	return nil
}
