package hdf5

// ContiguousOffset reports where the raw bytes of a contiguous dataset lie
// in the data given to Open: offset is their position from the start of
// that slice (the superblock's base address included) and size their
// length, exactly the number of elements times the element size. The
// bytes are the elements in row-major order, in the datatype's byte
// order, unfiltered, so a tool can locate (or, in a copy, overwrite) a
// dataset's values in place. ok is false for compact and chunked
// datasets, for a contiguous one whose storage was never allocated (it
// reads as fill values) and for one whose storage does not match its
// shape or lies outside the file.
func (d *Dataset) ContiguousOffset() (offset, size int64, ok bool) {
	l := d.layout
	if l.class != layoutContiguous || l.addr == undef {
		return 0, 0, false
	}
	n, fits := mulCheck(d.space.n, uint64(d.dt.size), 1<<62)
	if !fits || n != l.size {
		return 0, 0, false
	}
	if _, err := d.f.slice(l.addr, n); err != nil {
		return 0, 0, false
	}
	return int64(d.f.base + l.addr), int64(n), true
}
