package hdf5

import (
	"bytes"
	"fmt"
	"math"
	"sort"
)

// Attribute is a small named value attached to a group or dataset.
type Attribute struct {
	f        *File
	name     string
	owner    string // path of the object the attribute belongs to
	dt       *datatype
	space    *dataspace
	raw      []byte // n * dt.size bytes
	corder   int64
	hasOrder bool
}

// Name returns the attribute's name.
func (a *Attribute) Name() string { return a.name }

// Shape returns the attribute's dimensions: nil for a scalar (or null)
// attribute.
func (a *Attribute) Shape() []int { return a.space.shape() }

// Class returns the class of the attribute's elements.
func (a *Attribute) Class() Class { return a.dt.Class() }

func (a *Attribute) errorf(format string, args ...any) error {
	return fmt.Errorf("hdf5: attribute %q of %q: %w", a.name, a.owner, fmt.Errorf(format, args...))
}

// Strings returns the attribute's strings, one per element (a scalar gives
// one). Fixed-length strings lose their terminating NUL or padding;
// variable-length strings are returned exactly. An attribute with no
// elements gives an empty result whatever its class, as Keras writes
// np.array([]) for the weight names of a layer without weights.
func (a *Attribute) Strings() ([]string, error) {
	if a.space.n == 0 {
		return []string{}, nil
	}
	if !a.dt.supported {
		return nil, a.errorf("%w", a.dt.unsupportedErr())
	}
	if a.dt.Class() != String {
		return nil, a.errorf("%s attribute is not a string", a.dt.Class())
	}
	n := int(a.space.n)
	out := make([]string, n)
	var total uint64
	for i := range out {
		p := a.raw[i*a.dt.size : (i+1)*a.dt.size]
		var s []byte
		if a.dt.vlenStr {
			var err error
			if s, err = a.f.vlenString(p); err != nil {
				return nil, a.errorf("element %d: %w", i, err)
			}
		} else {
			s = trimFixed(p, a.dt.pad)
		}
		total += uint64(len(s))
		if err := a.f.checkMem(total, "strings"); err != nil {
			return nil, a.errorf("%w", err)
		}
		out[i] = string(s)
	}
	return out, nil
}

// String returns the attribute's single string; it is an error unless the
// attribute holds exactly one.
func (a *Attribute) String() (string, error) {
	ss, err := a.Strings()
	if err != nil {
		return "", err
	}
	if len(ss) != 1 {
		return "", a.errorf("holds %d strings, want 1", len(ss))
	}
	return ss[0], nil
}

// Float64s returns the attribute's numeric elements (integers converted).
func (a *Attribute) Float64s() ([]float64, error) {
	if err := a.numeric(); err != nil {
		return nil, err
	}
	out := make([]float64, a.space.n)
	for i := range out {
		out[i] = decodeFloat64(a.dt, a.raw[i*a.dt.size:(i+1)*a.dt.size])
	}
	return out, nil
}

// Int64s returns the attribute's integer elements; it is an error for other
// classes and for unsigned values above math.MaxInt64.
func (a *Attribute) Int64s() ([]int64, error) {
	if err := a.numeric(); err != nil {
		return nil, err
	}
	if a.dt.class != dtFixed {
		return nil, a.errorf("%s attribute is not an integer", a.dt.Class())
	}
	out := make([]int64, a.space.n)
	for i := range out {
		p := a.raw[i*a.dt.size : (i+1)*a.dt.size]
		if a.dt.signed {
			out[i] = decodeInt(a.dt, p)
			continue
		}
		v := decodeUint(a.dt, p)
		if v > math.MaxInt64 {
			return nil, a.errorf("element %d: value %d overflows int64", i, v)
		}
		out[i] = int64(v)
	}
	return out, nil
}

func (a *Attribute) numeric() error {
	if a.space.n > 0 && !a.dt.supported {
		return a.errorf("%w", a.dt.unsupportedErr())
	}
	if c := a.dt.Class(); c != Int && c != Float && a.space.n > 0 {
		return a.errorf("%s attribute is not numeric", c)
	}
	return nil
}

// trimFixed strips the terminator or padding of a fixed-length string.
func trimFixed(p []byte, pad int) []byte {
	switch pad {
	case padNullTerm:
		if i := bytes.IndexByte(p, 0); i >= 0 {
			return p[:i]
		}
		return p
	case padSpace:
		return bytes.TrimRight(p, " \x00")
	}
	return bytes.TrimRight(p, "\x00")
}

// vlenString reads a variable-length string element: a 4-byte length and a
// global heap ID (collection address, object index).
func (f *File) vlenString(p []byte) ([]byte, error) {
	r := f.newReader(p)
	n := r.u32()
	addr := r.addr()
	idx := r.u32()
	if r.err != nil {
		return nil, r.err
	}
	if n == 0 {
		return nil, nil
	}
	obj, err := f.globalObject(addr, idx)
	if err != nil {
		return nil, err
	}
	if uint64(n) > uint64(len(obj)) {
		return nil, fmt.Errorf("string length %d exceeds its %d-byte heap object", n, len(obj))
	}
	return obj[:n], nil
}

// attrNames lists the names of as in order.
func attrNames(as []*Attribute) []string {
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = a.name
	}
	return names
}

// attr finds one attribute of the object at addr.
func (f *File) attr(addr uint64, path, kind, name string) (*Attribute, error) {
	as, err := f.attributes(addr, path)
	if err != nil {
		return nil, fmt.Errorf("hdf5: %s %q: %w", kind, path, err)
	}
	for _, a := range as {
		if a.name == name {
			return a, nil
		}
	}
	return nil, fmt.Errorf("hdf5: %s %q: attribute %q: %w", kind, path, name, ErrNotFound)
}

// attributes returns all attributes of the object at addr, compact and
// dense, ordered by creation order when tracked, else by name. Decoded
// lists are cached per object; each call returns copies naming path as
// their owner, since hard links may reach one object by several paths.
func (f *File) attributes(addr uint64, path string) ([]*Attribute, error) {
	f.mu.Lock()
	cached, ok := f.attrCache[addr]
	f.mu.Unlock()
	if !ok {
		var err error
		if cached, err = f.readAttributes(addr); err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.attrCache[addr] = cached
		f.mu.Unlock()
	}
	out := make([]*Attribute, len(cached))
	for i, a := range cached {
		c := *a
		c.owner = path
		out[i] = &c
	}
	return out, nil
}

func (f *File) readAttributes(addr uint64) ([]*Attribute, error) {
	const path = ""
	h, err := f.header(addr)
	if err != nil {
		return nil, err
	}
	var as []*Attribute
	tracked := h.attrOrderTrack
	for i := range h.msgs {
		m := &h.msgs[i]
		if m.typ != msgAttribute {
			continue
		}
		if m.flags&msgFlagShared != 0 {
			return nil, fmt.Errorf("shared attribute message: %w", ErrUnsupported)
		}
		a, err := f.parseAttribute(m.data, path)
		if err != nil {
			return nil, err
		}
		a.corder, a.hasOrder = int64(m.corder), h.attrOrderTrack
		as = append(as, a)
	}
	if m := h.find(msgAttrInfo); m != nil {
		r := f.newReader(m.data)
		if v := r.u8(); v != 0 && r.err == nil {
			return nil, fmt.Errorf("attribute info version %d: %w", v, ErrUnsupported)
		}
		flags := r.u8()
		if flags&1 != 0 {
			r.u16() // maximum creation index
			tracked = true
		}
		heapAddr := r.addr()
		nameIndex := r.addr()
		if r.err != nil {
			return nil, fmt.Errorf("attribute info: %w", r.err)
		}
		if heapAddr != undef {
			dense, err := f.denseAttributes(heapAddr, nameIndex, path)
			if err != nil {
				return nil, fmt.Errorf("dense attributes: %w", err)
			}
			as = append(as, dense...)
		}
	}
	for _, a := range as {
		if !a.hasOrder {
			tracked = false
		}
	}
	sort.SliceStable(as, func(i, j int) bool {
		if tracked && as[i].corder != as[j].corder {
			return as[i].corder < as[j].corder
		}
		return as[i].name < as[j].name
	})
	return as, nil
}

// denseAttributes reads attributes stored in a fractal heap.
func (f *File) denseAttributes(heapAddr, nameIndex uint64, path string) ([]*Attribute, error) {
	heap, err := f.readFractalHeap(heapAddr, f.opts.MaxDepth)
	if err != nil {
		return nil, err
	}
	recs, err := f.btreeV2Records(nameIndex, 8)
	if err != nil {
		return nil, err
	}
	as := make([]*Attribute, 0, len(recs))
	for _, rec := range recs {
		// heap ID (8), message flags (1), creation order (4), name hash (4)
		if len(rec) < 17 {
			return nil, fmt.Errorf("attribute name record of %d bytes too short", len(rec))
		}
		if rec[8]&msgFlagShared != 0 {
			return nil, fmt.Errorf("shared attribute message: %w", ErrUnsupported)
		}
		obj, err := heap.object(rec[:8])
		if err != nil {
			return nil, err
		}
		a, err := f.parseAttribute(obj, path)
		if err != nil {
			return nil, err
		}
		a.corder, a.hasOrder = int64(leUint(rec[9:13])), true
		as = append(as, a)
	}
	return as, nil
}

// parseAttribute decodes an attribute message (versions 1 to 3).
func (f *File) parseAttribute(b []byte, owner string) (*Attribute, error) {
	r := f.newReader(b)
	version := r.u8()
	flags := r.u8()
	nameSize := int(r.u16())
	dtSize := int(r.u16())
	dsSize := int(r.u16())
	if r.err != nil {
		return nil, fmt.Errorf("attribute message: %w", r.err)
	}
	pad := func(n int) int { return n }
	switch version {
	case 1:
		pad = func(n int) int { return (n + 7) &^ 7 }
	case 2:
	case 3:
		r.u8() // name character set
	default:
		return nil, fmt.Errorf("attribute message version %d: %w", version, ErrUnsupported)
	}
	if version > 1 && flags&3 != 0 {
		return nil, fmt.Errorf("attribute with shared datatype or dataspace: %w", ErrUnsupported)
	}
	nameB := r.bytes(pad(nameSize))
	dtB := r.bytes(pad(dtSize))
	dsB := r.bytes(pad(dsSize))
	if r.err != nil {
		return nil, fmt.Errorf("attribute message: %w", r.err)
	}
	nameB = nameB[:nameSize]
	if i := bytes.IndexByte(nameB, 0); i >= 0 {
		nameB = nameB[:i]
	}
	a := &Attribute{f: f, name: string(nameB), owner: owner}
	var err error
	if a.dt, err = f.parseDatatype(dtB[:dtSize], 0); err != nil {
		return nil, fmt.Errorf("attribute %q: %w", a.name, err)
	}
	if a.space, err = f.parseDataspace(dsB[:dsSize]); err != nil {
		return nil, fmt.Errorf("attribute %q: %w", a.name, err)
	}
	need, ok := mulCheck(a.space.n, uint64(a.dt.size), uint64(r.remaining()))
	if !ok {
		return nil, fmt.Errorf("attribute %q: %d elements of %d bytes: %w", a.name, a.space.n, a.dt.size, errShort)
	}
	a.raw = r.bytes(int(need))
	return a, nil
}
