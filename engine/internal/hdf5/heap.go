package hdf5

import (
	"bytes"
	"fmt"
	"math/bits"
	"sort"
)

// localHeap is the data segment of a local heap ("HEAP"), which holds the
// link names of a symbol-table group.
type localHeap struct{ data []byte }

func (f *File) readLocalHeap(addr uint64) (*localHeap, error) {
	b, err := f.tail(addr)
	if err != nil {
		return nil, fmt.Errorf("local heap: %w", err)
	}
	r := f.newReader(b)
	r.signature("HEAP")
	if v := r.u8(); v != 0 && r.err == nil {
		return nil, fmt.Errorf("local heap version %d: %w", v, ErrUnsupported)
	}
	r.skip(3)
	size := r.length()
	r.length() // free list head
	dataAddr := r.addr()
	if r.err != nil {
		return nil, fmt.Errorf("local heap at %#x: %w", addr, r.err)
	}
	data, err := f.slice(dataAddr, size)
	if err != nil {
		return nil, fmt.Errorf("local heap at %#x data segment: %w", addr, err)
	}
	if err := f.spend(size); err != nil {
		return nil, err
	}
	return &localHeap{data: data}, nil
}

// str returns the NUL-terminated string at offset off.
func (h *localHeap) str(off uint64) (string, error) {
	if off >= uint64(len(h.data)) {
		return "", fmt.Errorf("local heap offset %d outside %d-byte heap", off, len(h.data))
	}
	s := h.data[off:]
	i := bytes.IndexByte(s, 0)
	if i < 0 {
		return "", fmt.Errorf("local heap string at %d not terminated", off)
	}
	return string(s[:i]), nil
}

// globalObject returns object index idx of the global heap collection
// ("GCOL") at addr. Collections are decoded once and cached.
func (f *File) globalObject(addr uint64, idx uint32) ([]byte, error) {
	f.mu.Lock()
	objs, ok := f.gheaps[addr]
	f.mu.Unlock()
	if !ok {
		var err error
		if objs, err = f.readGlobalHeap(addr); err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.gheaps[addr] = objs
		f.mu.Unlock()
	}
	if idx > 0xffff {
		return nil, fmt.Errorf("global heap %#x: object %d not found", addr, idx)
	}
	obj, ok := objs[uint16(idx)]
	if !ok {
		return nil, fmt.Errorf("global heap %#x: object %d not found", addr, idx)
	}
	return obj, nil
}

func (f *File) readGlobalHeap(addr uint64) (map[uint16][]byte, error) {
	b, err := f.tail(addr)
	if err != nil {
		return nil, fmt.Errorf("global heap: %w", err)
	}
	r := f.newReader(b)
	r.signature("GCOL")
	if v := r.u8(); v != 1 && r.err == nil {
		return nil, fmt.Errorf("global heap version %d: %w", v, ErrUnsupported)
	}
	r.skip(3)
	size := r.length()
	if r.err != nil {
		return nil, fmt.Errorf("global heap at %#x: %w", addr, r.err)
	}
	if size > uint64(len(b)) || size < uint64(r.off) {
		return nil, fmt.Errorf("global heap at %#x: collection size %d invalid", addr, size)
	}
	if err := f.spend(size); err != nil {
		return nil, err
	}
	r.b = b[:size]
	objs := make(map[uint16][]byte)
	hdr := 8 + f.sizeLen
	for r.remaining() >= hdr {
		idx := r.u16()
		r.u16() // reference count
		r.skip(4)
		n := r.length()
		if idx == 0 { // free space: the rest of the collection
			break
		}
		if n > uint64(r.remaining()) {
			return nil, fmt.Errorf("global heap at %#x: object %d of %d bytes: %w", addr, idx, n, errShort)
		}
		objs[idx] = r.bytes(int(n))
		if pad := (8 - int(n%8)) % 8; pad <= r.remaining() {
			r.skip(pad)
		} else {
			break
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("global heap at %#x: %w", addr, r.err)
	}
	return objs, nil
}

// fractalHeap is a decoded fractal heap header ("FRHP") together with the
// list of its direct blocks, which is all that reading managed objects
// needs.
type fractalHeap struct {
	f          *File
	addr       uint64
	hugeBTree  uint64   // v2 B-tree indexing huge objects
	hugeRecs   [][]byte // its records, loaded on first use
	idLen      int
	checksumDB bool
	width      int
	startSize  uint64
	maxDirect  uint64
	offBytes   int // bytes of a heap offset in IDs and block headers
	lenBytes   int // bytes of an object length in managed IDs
	maxDirRows int
	blocks     []heapBlock // sorted by heap offset
}

// heapBlock is one direct block of a fractal heap.
type heapBlock struct {
	off  uint64 // heap offset of the first byte (block header included)
	data []byte // the whole block
}

func log2(v uint64) int { return bits.Len64(v) - 1 }

// limitEncSize is the number of bytes HDF5 uses to encode values up to v.
func limitEncSize(v uint64) int { return log2(v)/8 + 1 }

func (f *File) readFractalHeap(addr uint64, depth int) (*fractalHeap, error) {
	b, err := f.tail(addr)
	if err != nil {
		return nil, fmt.Errorf("fractal heap: %w", err)
	}
	r := f.newReader(b)
	r.signature("FRHP")
	if v := r.u8(); v != 0 && r.err == nil {
		return nil, fmt.Errorf("fractal heap version %d: %w", v, ErrUnsupported)
	}
	h := &fractalHeap{f: f, addr: addr}
	h.idLen = int(r.u16())
	filterLen := r.u16()
	flags := r.u8()
	h.checksumDB = flags&2 != 0
	maxManaged := r.u32()
	r.length() // next huge object ID
	h.hugeBTree = r.addr()
	r.length() // free space in managed blocks
	r.addr()   // free-space manager
	r.length() // managed space
	r.length() // allocated managed space
	r.length() // direct block allocation iterator offset
	r.length() // number of managed objects
	r.length() // size of huge objects
	r.length() // number of huge objects
	r.length() // size of tiny objects
	r.length() // number of tiny objects
	h.width = int(r.u16())
	h.startSize = r.length()
	h.maxDirect = r.length()
	maxHeapBits := int(r.u16())
	r.u16() // starting rows of root indirect block
	root := r.addr()
	curRows := int(r.u16())
	if r.err != nil {
		return nil, fmt.Errorf("fractal heap at %#x: %w", addr, r.err)
	}
	if filterLen != 0 {
		return nil, fmt.Errorf("fractal heap at %#x: filtered heap: %w", addr, ErrUnsupported)
	}
	if err := verifyPrefix(b, r.off, "fractal heap header"); err != nil {
		return nil, err
	}
	pow2 := func(v uint64) bool { return v != 0 && v&(v-1) == 0 }
	switch {
	case h.width == 0 || h.width > 1<<16 || !pow2(uint64(h.width)):
		return nil, fmt.Errorf("fractal heap at %#x: table width %d invalid", addr, h.width)
	case !pow2(h.startSize) || !pow2(h.maxDirect) || h.startSize > h.maxDirect || h.maxDirect > 1<<32:
		return nil, fmt.Errorf("fractal heap at %#x: block sizes %d..%d invalid", addr, h.startSize, h.maxDirect)
	case maxHeapBits < 1 || maxHeapBits > 64 || maxHeapBits < log2(h.maxDirect):
		return nil, fmt.Errorf("fractal heap at %#x: maximum heap size 2^%d invalid", addr, maxHeapBits)
	case h.idLen < 1 || h.idLen > 1<<10:
		return nil, fmt.Errorf("fractal heap at %#x: heap ID length %d invalid", addr, h.idLen)
	}
	h.offBytes = (maxHeapBits + 7) / 8
	h.lenBytes = min((log2(h.maxDirect)+7)/8, limitEncSize(uint64(maxManaged)))
	h.maxDirRows = log2(h.maxDirect) - log2(h.startSize) + 2
	if root == undef {
		return h, nil
	}
	w := &heapWalk{f: f, h: h, seen: map[uint64]bool{}, maxDepth: depth}
	if curRows == 0 {
		err = w.direct(root, 0, h.startSize)
	} else {
		err = w.indirect(root, 0, curRows, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("fractal heap at %#x: %w", addr, err)
	}
	sort.Slice(h.blocks, func(i, j int) bool { return h.blocks[i].off < h.blocks[j].off })
	return h, nil
}

// heapWalk collects the direct blocks of a fractal heap.
type heapWalk struct {
	f        *File
	h        *fractalHeap
	seen     map[uint64]bool
	maxDepth int
}

// rowSize is the block size of row r of the doubling table.
func (h *fractalHeap) rowSize(r int) uint64 {
	if r == 0 {
		return h.startSize
	}
	return h.startSize << (r - 1)
}

func (w *heapWalk) visit(addr uint64) error {
	if w.seen[addr] {
		return fmt.Errorf("block %#x referenced twice", addr)
	}
	if len(w.seen) > 1<<20 {
		return fmt.Errorf("too many blocks")
	}
	w.seen[addr] = true
	return nil
}

func (w *heapWalk) direct(addr, off, size uint64) error {
	if err := w.visit(addr); err != nil {
		return err
	}
	b, err := w.f.slice(addr, size)
	if err != nil {
		return fmt.Errorf("direct block: %w", err)
	}
	if err := w.f.spend(size); err != nil {
		return err
	}
	r := w.f.newReader(b)
	r.signature("FHDB")
	r.skip(1) // version
	r.addr()  // heap header address
	boff := r.uint(w.h.offBytes)
	if r.err != nil {
		return fmt.Errorf("direct block at %#x: %w", addr, r.err)
	}
	if boff != off {
		return fmt.Errorf("direct block at %#x: heap offset %d, want %d", addr, boff, off)
	}
	if w.h.checksumDB {
		// The checksum covers the whole block with the checksum field zeroed.
		if r.remaining() < 4 {
			return fmt.Errorf("direct block at %#x: %w", addr, errShort)
		}
		want := leUint(b[r.off : r.off+4])
		tmp := make([]byte, len(b))
		copy(tmp, b)
		clear(tmp[r.off : r.off+4])
		if got := lookup3(tmp, 0); uint64(got) != want {
			return fmt.Errorf("direct block at %#x: checksum mismatch", addr)
		}
	}
	w.h.blocks = append(w.h.blocks, heapBlock{off: off, data: b})
	return nil
}

func (w *heapWalk) indirect(addr, off uint64, nrows, depth int) error {
	h := w.h
	if depth > w.maxDepth || depth > 64 {
		return fmt.Errorf("indirect blocks nested too deeply")
	}
	if nrows < 1 || nrows > 64 {
		return fmt.Errorf("indirect block at %#x: %d rows invalid", addr, nrows)
	}
	if err := w.visit(addr); err != nil {
		return err
	}
	b, err := w.f.tail(addr)
	if err != nil {
		return fmt.Errorf("indirect block: %w", err)
	}
	r := w.f.newReader(b)
	r.signature("FHIB")
	r.skip(1) // version
	r.addr()  // heap header address
	boff := r.uint(h.offBytes)
	if r.err != nil {
		return fmt.Errorf("indirect block at %#x: %w", addr, r.err)
	}
	if boff != off {
		return fmt.Errorf("indirect block at %#x: heap offset %d, want %d", addr, boff, off)
	}
	type child struct {
		addr, off, size uint64
		row             int
	}
	var kids []child
	pos := off
	for row := 0; row < nrows; row++ {
		size := h.rowSize(row)
		if size > 1<<62 || size == 0 {
			return fmt.Errorf("indirect block at %#x: row %d too large", addr, row)
		}
		for col := 0; col < h.width; col++ {
			a := r.addr()
			if r.err != nil {
				return fmt.Errorf("indirect block at %#x: %w", addr, r.err)
			}
			if a != undef {
				kids = append(kids, child{a, pos, size, row})
			}
			pos += size
		}
	}
	if err := w.f.spend(uint64(r.off)); err != nil {
		return err
	}
	if err := verifyPrefix(b, r.off, "indirect block"); err != nil {
		return fmt.Errorf("at %#x: %w", addr, err)
	}
	for _, k := range kids {
		if k.row < h.maxDirRows {
			if err := w.direct(k.addr, k.off, k.size); err != nil {
				return err
			}
			continue
		}
		// A child indirect block's rows follow from its span.
		rows := log2(k.size) - log2(h.startSize*uint64(h.width)) + 1
		if err := w.indirect(k.addr, k.off, rows, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// object returns the heap object with the given heap ID.
func (h *fractalHeap) object(id []byte) ([]byte, error) {
	if len(id) == 0 {
		return nil, fmt.Errorf("empty heap ID")
	}
	switch id[0] >> 4 & 3 {
	case 0: // managed
		r := &reader{b: id[1:]}
		off := r.uint(h.offBytes)
		n := r.uint(h.lenBytes)
		if r.err != nil {
			return nil, fmt.Errorf("heap ID: %w", r.err)
		}
		i := sort.Search(len(h.blocks), func(i int) bool { return h.blocks[i].off > off }) - 1
		if i < 0 {
			return nil, fmt.Errorf("heap offset %d not in any block", off)
		}
		blk := h.blocks[i]
		rel := off - blk.off
		if rel >= uint64(len(blk.data)) || n > uint64(len(blk.data))-rel {
			return nil, fmt.Errorf("heap object [%d, +%d) outside its block", off, n)
		}
		return blk.data[rel : rel+n], nil
	case 2: // tiny: the data is in the ID
		n := int(id[0]&0x0f) + 1
		if 1+n > len(id) {
			return nil, fmt.Errorf("tiny heap object of %d bytes in %d-byte ID", n, len(id))
		}
		return id[1 : 1+n], nil
	case 1:
		return h.hugeObject(id)
	}
	return nil, fmt.Errorf("heap ID type %d invalid", id[0]>>4&3)
}

// hugeObject returns a "huge" object, one stored outside the heap's blocks.
// Its heap ID either holds the object's address and length directly or, when
// too short for that, a key into the heap's v2 B-tree of huge objects.
func (h *fractalHeap) hugeObject(id []byte) ([]byte, error) {
	f := h.f
	if len(id)-1 >= f.sizeOff+f.sizeLen {
		r := f.newReader(id[1:])
		addr, n := r.addr(), r.length()
		if r.err != nil {
			return nil, fmt.Errorf("huge object ID: %w", r.err)
		}
		return f.slice(addr, n)
	}
	key := leUint(id[1:min(len(id), 9)])
	if h.hugeRecs == nil {
		recs, err := f.btreeV2Records(h.hugeBTree, 1)
		if err != nil {
			return nil, fmt.Errorf("huge objects: %w", err)
		}
		h.hugeRecs = recs
	}
	for _, rec := range h.hugeRecs {
		// address, length, ID
		r := f.newReader(rec)
		addr, n, recID := r.addr(), r.length(), r.length()
		if r.err != nil {
			return nil, fmt.Errorf("huge object record: %w", r.err)
		}
		if recID == key {
			obj, err := f.slice(addr, n)
			if err != nil {
				return nil, fmt.Errorf("huge object %d: %w", key, err)
			}
			return obj, nil
		}
	}
	return nil, fmt.Errorf("huge object %d not found", key)
}
