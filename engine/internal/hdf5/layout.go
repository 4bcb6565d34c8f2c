package hdf5

import (
	"fmt"
)

// Layout classes.
const (
	layoutCompact    = 0
	layoutContiguous = 1
	layoutChunked    = 2
	layoutVirtual    = 3
)

// Chunk index types (layout message version 4); idxBTree1 stands for the
// version-3 layout's v1 B-tree.
const (
	idxBTree1     = 0
	idxSingle     = 1
	idxImplicit   = 2
	idxFixedArray = 3
	idxExtArray   = 4
	idxBTree2     = 5
)

// Layout version-4 chunked flags.
const (
	layoutDontFilterPartial = 0x01
	layoutSingleFiltered    = 0x02
)

// layout is a decoded data layout message.
type layout struct {
	class      int
	compact    []byte   // compact data
	addr       uint64   // contiguous data, or chunk index
	size       uint64   // contiguous data size
	chunk      []uint64 // chunk dimensions (dataspace rank)
	elemSize   uint64   // chunk element size
	index      int      // chunk index type
	flags      uint8    // version-4 chunked flags
	singleSize uint64   // Single Chunk index with filters: stored size
	singleMask uint32   // Single Chunk index with filters: filter mask
}

// parseLayout decodes a data layout message (versions 3 and 4) for a
// dataspace of the given rank.
func (f *File) parseLayout(b []byte, rank int) (*layout, error) {
	r := f.newReader(b)
	version := r.u8()
	l := &layout{class: int(r.u8())}
	if r.err != nil {
		return nil, fmt.Errorf("data layout: %w", r.err)
	}
	if version != 3 && version != 4 {
		return nil, fmt.Errorf("data layout version %d: %w", version, ErrUnsupported)
	}
	switch l.class {
	case layoutCompact:
		n := int(r.u16())
		l.compact = r.bytes(n)
	case layoutContiguous:
		l.addr = r.addr()
		l.size = r.length()
	case layoutChunked:
		if version == 4 {
			l.flags = r.u8()
		}
		ndims := int(r.u8())
		if r.err == nil && (ndims != rank+1 || rank == 0) {
			return nil, fmt.Errorf("chunked layout of %d dimensions for a dataspace of rank %d", ndims, rank)
		}
		enc := 4
		if version == 3 {
			l.addr = r.addr()
		} else {
			enc = int(r.u8())
			if r.err == nil && (enc < 1 || enc > 8) {
				return nil, fmt.Errorf("chunk dimension size width %d invalid", enc)
			}
		}
		for i := 0; i < ndims && r.err == nil; i++ {
			v := r.uint(enc)
			if r.err == nil && (v == 0 || v > maxDimension) {
				return nil, fmt.Errorf("chunk dimension %d of %d invalid", i, v)
			}
			if i < rank {
				l.chunk = append(l.chunk, v)
			} else {
				l.elemSize = v
			}
		}
		if version == 3 {
			l.index = idxBTree1
			break
		}
		l.index = int(r.u8())
		switch l.index {
		case idxSingle:
			if l.flags&layoutSingleFiltered != 0 {
				l.singleSize = r.length()
				l.singleMask = r.u32()
			}
		case idxImplicit:
		case idxFixedArray:
			r.u8() // page bits (repeated in the array header)
		case idxExtArray:
			r.skip(5) // refused when the data is read
		case idxBTree2:
			r.skip(6) // refused when the data is read
		default:
			if r.err == nil {
				return nil, fmt.Errorf("chunk index type %d unknown", l.index)
			}
		}
		l.addr = r.addr()
	case layoutVirtual:
		return nil, fmt.Errorf("virtual dataset layout: %w", ErrUnsupported)
	default:
		return nil, fmt.Errorf("data layout class %d unknown", l.class)
	}
	if r.err != nil {
		return nil, fmt.Errorf("data layout: %w", r.err)
	}
	return l, nil
}
