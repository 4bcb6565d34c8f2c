package hdf5

import (
	"fmt"
)

// chunkRec locates one stored chunk.
type chunkRec struct {
	scaled []uint64 // chunk grid coordinates
	addr   uint64
	size   uint64 // stored (filtered) size
	mask   uint32 // filters skipped
}

// chunkGrid describes how a chunked dataset divides into chunks.
type chunkGrid struct {
	dims    []uint64 // dataspace dimensions
	chunk   []uint64 // chunk dimensions
	n       []uint64 // chunks per dimension (current extent)
	maxN    []uint64 // chunks per dimension (maximum extent)
	total   uint64   // chunks in the current extent
	maxTot  uint64   // chunks in the maximum extent
	nbytes  uint64   // bytes per (unfiltered) chunk
	elemSz  int
	visited map[uint64]bool
}

func ceilDiv(a, b uint64) uint64 { return a/b + min(a%b, 1) }

// linear returns the row-major index of scaled coordinates in a grid with
// per-dimension sizes n.
func linear(scaled, n []uint64) uint64 {
	var k uint64
	for i, s := range scaled {
		k = k*n[i] + s
	}
	return k
}

// unlinear is the inverse of linear.
func unlinear(k uint64, n []uint64) []uint64 {
	out := make([]uint64, len(n))
	for i := len(n) - 1; i >= 0; i-- {
		out[i] = k % n[i]
		k /= n[i]
	}
	return out
}

func (d *Dataset) grid() (*chunkGrid, error) {
	f, l := d.f, d.layout
	limit := uint64(f.opts.MaxDatasetBytes)
	g := &chunkGrid{dims: d.space.dims, chunk: l.chunk, elemSz: d.dt.size, visited: map[uint64]bool{}}
	nb, ok := uint64(d.dt.size), true
	for _, c := range l.chunk {
		if nb, ok = mulCheck(nb, c, limit); !ok {
			return nil, fmt.Errorf("chunk of %v elements exceeds the size limit of %d bytes", l.chunk, limit)
		}
	}
	g.nbytes = nb
	g.total, g.maxTot = 1, 1
	maxChunks := uint64(f.opts.MaxChunks)
	for i, dim := range g.dims {
		n := ceilDiv(dim, l.chunk[i])
		maxDim := dim
		if d.space.maxDims != nil && d.space.maxDims[i] != undef {
			maxDim = max(dim, d.space.maxDims[i])
		}
		mn := ceilDiv(maxDim, l.chunk[i])
		g.n = append(g.n, n)
		g.maxN = append(g.maxN, mn)
		if g.total, ok = mulCheck(g.total, n, maxChunks); !ok {
			return nil, fmt.Errorf("more than %d chunks", maxChunks)
		}
		if g.maxTot, ok = mulCheck(g.maxTot, mn, 1<<62); !ok {
			g.maxTot = 1 << 62
		}
	}
	return g, nil
}

// readChunked assembles a chunked dataset of size bytes.
func (d *Dataset) readChunked(size uint64) ([]byte, error) {
	g, err := d.grid()
	if err != nil {
		return nil, err
	}
	out := d.filled(size)
	if size == 0 || d.layout.addr == undef {
		return out, nil
	}
	var decoded uint64
	put := func(c chunkRec) error {
		for i, s := range c.scaled {
			if s >= g.n[i] {
				return nil // beyond the current extent (dataset shrunk)
			}
		}
		k := linear(c.scaled, g.n)
		if g.visited[k] {
			return fmt.Errorf("chunk %v stored twice", c.scaled)
		}
		g.visited[k] = true
		decoded += g.nbytes
		if err := d.f.checkMem(decoded, "decoded chunks"); err != nil {
			return err
		}
		data, err := d.chunkData(g, c)
		if err != nil {
			return fmt.Errorf("chunk %d %v: %w", k, c.scaled, err)
		}
		copyChunk(out, g, c.scaled, data)
		return nil
	}
	switch d.layout.index {
	case idxBTree1:
		err = d.btreeChunks(g, put)
	case idxSingle:
		c := chunkRec{scaled: make([]uint64, len(g.dims)), addr: d.layout.addr, size: g.nbytes}
		if d.layout.flags&layoutSingleFiltered != 0 {
			c.size, c.mask = d.layout.singleSize, d.layout.singleMask
		}
		if g.total != 1 {
			return nil, fmt.Errorf("single chunk index for %d chunks", g.total)
		}
		err = put(c)
	case idxImplicit:
		if len(d.filters) > 0 {
			return nil, fmt.Errorf("implicit chunk index with filters")
		}
		for k := uint64(0); k < g.total && err == nil; k++ {
			s := unlinear(k, g.n)
			off, ok := mulCheck(linear(s, g.maxN), g.nbytes, 1<<62)
			if !ok || off > undef-d.layout.addr-1 {
				return nil, fmt.Errorf("implicit chunk %d address overflows", k)
			}
			err = put(chunkRec{scaled: s, addr: d.layout.addr + off, size: g.nbytes})
		}
	case idxFixedArray:
		err = d.fixedArrayChunks(g, put)
	case idxExtArray:
		err = fmt.Errorf("extensible array chunk index: %w", ErrUnsupported)
	case idxBTree2:
		err = fmt.Errorf("v2 B-tree chunk index: %w", ErrUnsupported)
	default:
		err = fmt.Errorf("chunk index type %d: %w", d.layout.index, ErrUnsupported)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// chunkData reads and unfilters one chunk, returning exactly g.nbytes.
func (d *Dataset) chunkData(g *chunkGrid, c chunkRec) ([]byte, error) {
	raw, err := d.f.slice(c.addr, c.size)
	if err != nil {
		return nil, err
	}
	filters := d.filters
	if d.layout.flags&layoutDontFilterPartial != 0 {
		for i, s := range c.scaled {
			if (s+1)*g.chunk[i] > g.dims[i] {
				filters = nil // edge chunks are stored unfiltered
			}
		}
	}
	if len(filters) == 0 {
		if c.size != g.nbytes {
			return nil, fmt.Errorf("stored size %d, want %d", c.size, g.nbytes)
		}
		return raw, nil
	}
	return unfilter(filters, c.mask, raw, int(g.nbytes), g.elemSz)
}

// copyChunk copies the part of a decoded chunk that lies inside the
// dataset into out (both row-major).
func copyChunk(out []byte, g *chunkGrid, scaled []uint64, data []byte) {
	rank := len(g.dims)
	es := uint64(g.elemSz)
	origin := make([]uint64, rank)
	extent := make([]uint64, rank)
	for i := range origin {
		origin[i] = scaled[i] * g.chunk[i]
		extent[i] = min(g.chunk[i], g.dims[i]-origin[i])
	}
	// Strides in elements.
	outStride := make([]uint64, rank)
	inStride := make([]uint64, rank)
	os, is := uint64(1), uint64(1)
	for i := rank - 1; i >= 0; i-- {
		outStride[i], inStride[i] = os, is
		os *= g.dims[i]
		is *= g.chunk[i]
	}
	row := extent[rank-1] * es
	idx := make([]uint64, rank) // position within the chunk; last stays 0
	for {
		var o, in uint64
		for i := 0; i < rank; i++ {
			o += (origin[i] + idx[i]) * outStride[i]
			in += idx[i] * inStride[i]
		}
		copy(out[o*es:o*es+row], data[in*es:in*es+row])
		// Advance the odometer over all but the last dimension.
		i := rank - 2
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < extent[i] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

// btreeChunks walks a version-1 B-tree chunk index.
func (d *Dataset) btreeChunks(g *chunkGrid, put func(chunkRec) error) error {
	rank := len(g.dims)
	keySize := 8 + 8*(rank+1)
	return d.f.btreeV1Walk(d.layout.addr, 1, keySize, func(key []byte, child uint64) error {
		r := d.f.newReader(key)
		c := chunkRec{addr: child, size: uint64(r.u32()), mask: r.u32()}
		c.scaled = make([]uint64, rank)
		for i := range c.scaled {
			off := r.u64()
			if off%g.chunk[i] != 0 {
				return fmt.Errorf("chunk offset %d not a multiple of chunk size %d", off, g.chunk[i])
			}
			c.scaled[i] = off / g.chunk[i]
		}
		if r.err != nil {
			return r.err
		}
		return put(c)
	})
}

// fixedArrayChunks walks a Fixed Array chunk index ("FAHD" / "FADB").
func (d *Dataset) fixedArrayChunks(g *chunkGrid, put func(chunkRec) error) error {
	fa, err := d.fixedArrayHeader(g)
	if err != nil || fa.dblock == undef {
		return err
	}
	f := d.f
	if err := f.spend(fa.nEntries * uint64(fa.entrySize)); err != nil {
		return err
	}
	db, err := f.tail(fa.dblock)
	if err != nil {
		return fmt.Errorf("fixed array data block: %w", err)
	}
	r := f.newReader(db)
	r.signature("FADB")
	r.skip(1) // version
	r.skip(1) // client
	r.addr()  // header address
	if r.err != nil {
		return fmt.Errorf("fixed array data block: %w", r.err)
	}
	decode := func(er *reader, k uint64) error {
		c := chunkRec{addr: er.addr(), size: g.nbytes}
		if fa.filtered {
			c.size = er.uint(fa.entrySize - f.sizeOff - 4)
			c.mask = er.u32()
		}
		if er.err != nil {
			return er.err
		}
		if c.addr == undef {
			return nil
		}
		c.scaled = unlinear(k, g.maxN)
		return put(c)
	}
	if fa.nEntries <= fa.pageN {
		return fa.unpaged(db, r, decode)
	}
	return fa.paged(db, r, decode)
}

// fixedArray is the header of a Fixed Array chunk index.
type fixedArray struct {
	f         *File
	filtered  bool
	entrySize int
	pageN     uint64 // entries per page
	nEntries  uint64
	dblock    uint64 // the data block's address
}

// fixedArrayHeader reads and checks the index header of d for grid g.
func (d *Dataset) fixedArrayHeader(g *chunkGrid) (*fixedArray, error) {
	f := d.f
	b, err := f.tail(d.layout.addr)
	if err != nil {
		return nil, fmt.Errorf("fixed array header: %w", err)
	}
	r := f.newReader(b)
	r.signature("FAHD")
	r.skip(1) // version
	client := r.u8()
	fa := &fixedArray{f: f, entrySize: int(r.u8())}
	pageBits := int(r.u8())
	fa.nEntries = r.length()
	fa.dblock = r.addr()
	if r.err != nil {
		return nil, fmt.Errorf("fixed array header: %w", r.err)
	}
	if err := verifyPrefix(b, r.off, "fixed array header"); err != nil {
		return nil, err
	}
	fa.filtered = client == 1
	minEntry := f.sizeOff
	if fa.filtered {
		minEntry += 4 + 1
	}
	switch {
	case client > 1:
		return nil, fmt.Errorf("fixed array client %d unknown", client)
	case fa.filtered != (len(d.filters) > 0):
		return nil, fmt.Errorf("fixed array client %d does not match the filter pipeline", client)
	case fa.entrySize < minEntry || fa.entrySize > f.sizeOff+8+4:
		return nil, fmt.Errorf("fixed array entry size %d invalid", fa.entrySize)
	case pageBits < 1 || pageBits > 32:
		return nil, fmt.Errorf("fixed array page bits %d invalid", pageBits)
	case fa.nEntries != g.maxTot:
		return nil, fmt.Errorf("fixed array of %d entries for %d chunks", fa.nEntries, g.maxTot)
	case fa.nEntries > uint64(f.opts.MaxChunks):
		return nil, fmt.Errorf("fixed array of %d entries exceeds the chunk limit", fa.nEntries)
	}
	fa.pageN = uint64(1) << pageBits
	return fa, nil
}

// unpaged decodes the entries stored in the data block db itself, which r
// has read up to them.
func (fa *fixedArray) unpaged(db []byte, r *reader, decode func(*reader, uint64) error) error {
	start := r.off
	for k := uint64(0); k < fa.nEntries; k++ {
		r.skip(fa.entrySize)
	}
	if r.err != nil {
		return fmt.Errorf("fixed array data block: %w", r.err)
	}
	if err := verifyPrefix(db, r.off, "fixed array data block"); err != nil {
		return err
	}
	er := fa.f.newReader(db[start:r.off])
	for k := uint64(0); k < fa.nEntries; k++ {
		if err := decode(er, k); err != nil {
			return err
		}
	}
	return nil
}

// paged decodes the entries stored in pages after the data block db: a
// bitmap of initialized pages, which r reads next, then the pages.
func (fa *fixedArray) paged(db []byte, r *reader, decode func(*reader, uint64) error) error {
	npages := ceilDiv(fa.nEntries, fa.pageN)
	bitmap := r.bytes(int((npages + 7) / 8))
	if r.err != nil {
		return fmt.Errorf("fixed array data block: %w", r.err)
	}
	if err := verifyPrefix(db, r.off, "fixed array data block"); err != nil {
		return err
	}
	pos := fa.dblock + uint64(r.off) + 4
	for p := uint64(0); p < npages; p++ {
		n := min(fa.pageN, fa.nEntries-p*fa.pageN)
		psize := n*uint64(fa.entrySize) + 4
		if bitmap[p/8]&(0x80>>(p%8)) == 0 {
			pos += psize
			continue
		}
		pb, err := fa.f.slice(pos, psize)
		if err != nil {
			return fmt.Errorf("fixed array page %d: %w", p, err)
		}
		if err := verifyChecksum(pb, "fixed array page"); err != nil {
			return err
		}
		er := fa.f.newReader(pb[:len(pb)-4])
		for k := uint64(0); k < n; k++ {
			if err := decode(er, p*fa.pageN+k); err != nil {
				return err
			}
		}
		pos += psize
	}
	return nil
}
