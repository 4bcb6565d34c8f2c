package hdf5

import (
	"bytes"
	"fmt"
)

// Dataset is an HDF5 dataset: a typed, shaped array.
type Dataset struct {
	f       *File
	path    string
	addr    uint64
	dt      *datatype
	space   *dataspace
	layout  *layout
	filters []filter
	// filterErr refuses reading when the pipeline holds an unsupported
	// filter; the dataset still opens so its shape and attributes are
	// available.
	filterErr error
	fill      []byte // one element, or nil for zeros
}

// Path returns the dataset's absolute path.
func (d *Dataset) Path() string { return d.path }

// Shape returns the dataset's dimensions (nil for a scalar).
func (d *Dataset) Shape() []int { return d.space.shape() }

// Class returns the class of the dataset's elements.
func (d *Dataset) Class() Class { return d.dt.Class() }

// Attrs returns the names of the dataset's attributes: in creation order
// when the file tracks it, otherwise sorted by name.
func (d *Dataset) Attrs() ([]string, error) {
	as, err := d.f.attributes(d.addr, d.path)
	if err != nil {
		return nil, fmt.Errorf("hdf5: dataset %q: %w", d.path, err)
	}
	return attrNames(as), nil
}

// Attr returns the named attribute of the dataset; the error wraps
// ErrNotFound when there is none.
func (d *Dataset) Attr(name string) (*Attribute, error) {
	return d.f.attr(d.addr, d.path, "dataset", name)
}

func (d *Dataset) errorf(format string, args ...any) error {
	return fmt.Errorf("hdf5: dataset %q: %w", d.path, fmt.Errorf(format, args...))
}

// Float32s reads the whole dataset, converting integer and floating-point
// elements (of either byte order) to float32. Strings and other classes are
// an error.
func (d *Dataset) Float32s() ([]float32, error) {
	if !d.dt.supported {
		return nil, d.errorf("%w", d.dt.unsupportedErr())
	}
	if c := d.dt.Class(); c != Int && c != Float {
		return nil, d.errorf("%s dataset is not numeric", c)
	}
	// The converted result must fit the memory limit too.
	if _, ok := mulCheck(d.space.n, 4, uint64(d.f.opts.MaxDatasetBytes)); !ok {
		return nil, d.errorf("%d elements exceed the size limit of %d bytes", d.space.n, d.f.opts.MaxDatasetBytes)
	}
	raw, err := d.read()
	if err != nil {
		return nil, d.errorf("%w", err)
	}
	return toFloat32s(d.dt, raw), nil
}

// openDataset decodes the header messages describing a dataset.
func (f *File) openDataset(addr uint64, path string) (*Dataset, error) {
	h, err := f.header(addr)
	if err != nil {
		return nil, err
	}
	lm := h.find(msgLayout)
	if lm == nil {
		if isGroup(h) {
			return nil, fmt.Errorf("is a group, not a dataset")
		}
		return nil, fmt.Errorf("not a dataset: no data layout message")
	}
	d := &Dataset{f: f, path: path, addr: addr}
	need := func(typ uint16, what string) ([]byte, error) {
		m := h.find(typ)
		if m == nil {
			return nil, fmt.Errorf("no %s message", what)
		}
		if m.flags&msgFlagShared != 0 {
			return nil, fmt.Errorf("shared %s message: %w", what, ErrUnsupported)
		}
		return m.data, nil
	}
	b, err := need(msgDatatype, "datatype")
	if err != nil {
		return nil, err
	}
	if d.dt, err = f.parseDatatype(b, 0); err != nil {
		return nil, err
	}
	if b, err = need(msgDataspace, "dataspace"); err != nil {
		return nil, err
	}
	if d.space, err = f.parseDataspace(b); err != nil {
		return nil, err
	}
	if h.has(msgExternal) {
		return nil, fmt.Errorf("external data files: %w", ErrUnsupported)
	}
	if d.layout, err = f.parseLayout(lm.data, len(d.space.dims)); err != nil {
		return nil, err
	}
	if d.layout.class == layoutChunked {
		if m := h.find(msgFilters); m != nil {
			if m.flags&msgFlagShared != 0 {
				return nil, fmt.Errorf("shared filter pipeline message: %w", ErrUnsupported)
			}
			d.filters, d.filterErr = f.parseFilters(m.data)
		}
		if d.layout.elemSize != uint64(d.dt.size) {
			return nil, fmt.Errorf("chunk element size %d, datatype size %d", d.layout.elemSize, d.dt.size)
		}
	}
	if d.fill, err = f.parseFill(h, d.dt.size); err != nil {
		return nil, err
	}
	return d, nil
}

// parseFill returns the fill value (one element), or nil for zeros.
func (f *File) parseFill(h *objectHeader, size int) ([]byte, error) {
	var val []byte
	if m := h.find(msgFill); m != nil {
		r := f.newReader(m.data)
		version := r.u8()
		defined := false
		switch version {
		case 1, 2:
			r.u8() // space allocation time
			r.u8() // fill value write time
			defined = r.u8() != 0
			if version == 1 || defined {
				n := r.u32()
				val = r.bytes(int(min(n, 1<<30)))
			}
		case 3:
			flags := r.u8()
			if flags&0x20 != 0 {
				n := r.u32()
				val = r.bytes(int(min(n, 1<<30)))
			}
		default:
			if r.err == nil {
				return nil, fmt.Errorf("fill value message version %d: %w", version, ErrUnsupported)
			}
		}
		if r.err != nil {
			return nil, fmt.Errorf("fill value message: %w", r.err)
		}
	} else if m := h.find(msgFillOld); m != nil {
		r := f.newReader(m.data)
		n := r.u32()
		val = r.bytes(int(min(n, 1<<30)))
		if r.err != nil {
			return nil, fmt.Errorf("fill value message: %w", r.err)
		}
	}
	switch {
	case len(val) == 0:
		return nil, nil
	case len(val) != size:
		return nil, fmt.Errorf("fill value of %d bytes for %d-byte elements", len(val), size)
	case bytes.Count(val, []byte{0}) == len(val):
		return nil, nil
	}
	return val, nil
}

// read returns the dataset's raw bytes, exactly n * element size.
func (d *Dataset) read() ([]byte, error) {
	f := d.f
	size, ok := mulCheck(d.space.n, uint64(d.dt.size), uint64(f.opts.MaxDatasetBytes))
	if !ok {
		return nil, fmt.Errorf("%d elements of %d bytes exceed the size limit of %d bytes",
			d.space.n, d.dt.size, f.opts.MaxDatasetBytes)
	}
	if d.filterErr != nil {
		return nil, d.filterErr
	}
	if err := f.reserve(size); err != nil {
		return nil, err
	}
	l := d.layout
	switch l.class {
	case layoutCompact:
		if uint64(len(l.compact)) != size {
			return nil, fmt.Errorf("compact data of %d bytes, want %d", len(l.compact), size)
		}
		return l.compact, nil
	case layoutContiguous:
		if l.addr == undef {
			return d.filled(size), nil
		}
		if l.size != size {
			return nil, fmt.Errorf("contiguous data of %d bytes, want %d", l.size, size)
		}
		b, err := f.slice(l.addr, size)
		if err != nil {
			return nil, fmt.Errorf("contiguous data: %w", err)
		}
		return b, nil
	}
	return d.readChunked(size)
}

// filled returns size bytes of fill value.
func (d *Dataset) filled(size uint64) []byte {
	out := make([]byte, size)
	if d.fill != nil {
		for i := 0; i+len(d.fill) <= len(out); i += len(d.fill) {
			copy(out[i:], d.fill)
		}
	}
	return out
}
