package hdf5

import (
	"encoding/binary"
	"fmt"
	"math"
)

// HDF5 datatype classes.
const (
	dtFixed    = 0
	dtFloat    = 1
	dtTime     = 2
	dtString   = 3
	dtBitfield = 4
	dtOpaque   = 5
	dtCompound = 6
	dtRef      = 7
	dtEnum     = 8
	dtVlen     = 9
	dtArray    = 10
)

var dtClassNames = [...]string{"fixed-point", "floating-point", "time", "string", "bitfield",
	"opaque", "compound", "reference", "enumerated", "variable-length", "array"}

// String padding types.
const (
	padNullTerm = 0
	padNullPad  = 1
	padSpace    = 2
)

// datatype is a decoded datatype message.
type datatype struct {
	class     int  // HDF5 class (dtFixed, ...)
	size      int  // bytes per element as stored
	bigEndian bool // fixed and float
	signed    bool // fixed
	pad       int  // string padding (fixed strings and vlen strings)
	vlenStr   bool // variable-length string: stored as length + global heap ID
	supported bool // whether values can be converted
	why       string
}

// Class maps the datatype onto the public Class.
func (t *datatype) Class() Class {
	switch {
	case !t.supported:
		return Other
	case t.class == dtFixed:
		return Int
	case t.class == dtFloat:
		return Float
	case t.class == dtString || t.vlenStr:
		return String
	}
	return Other
}

// unsupportedErr explains why values of t cannot be read.
func (t *datatype) unsupportedErr() error {
	return fmt.Errorf("datatype %s: %w", t.why, ErrUnsupported)
}

// parseDatatype decodes a datatype message. Unknown classes decode to an
// unsupported datatype rather than an error so the object can still be
// opened; malformed encodings are errors.
func (f *File) parseDatatype(b []byte, depth int) (*datatype, error) {
	if depth > 8 {
		return nil, fmt.Errorf("datatype nested too deeply")
	}
	r := f.newReader(b)
	cv := r.u8()
	bits := uint32(r.u8()) | uint32(r.u8())<<8 | uint32(r.u8())<<16
	size := r.u32()
	if r.err != nil {
		return nil, fmt.Errorf("datatype: %w", r.err)
	}
	class, version := int(cv&0x0f), int(cv>>4)
	if version < 1 || version > 4 {
		return nil, fmt.Errorf("datatype version %d: %w", version, ErrUnsupported)
	}
	if size == 0 || size > 1<<20 {
		return nil, fmt.Errorf("datatype size %d out of range", size)
	}
	t := &datatype{class: class, size: int(size)}
	name := "class " + fmt.Sprint(class)
	if class < len(dtClassNames) {
		name = dtClassNames[class]
	}
	t.why = fmt.Sprintf("%s of %d bytes", name, size)
	switch class {
	case dtFixed:
		t.bigEndian = bits&1 != 0
		t.signed = bits&8 != 0
		off, prec := r.u16(), r.u16()
		if r.err != nil {
			return nil, fmt.Errorf("fixed-point datatype: %w", r.err)
		}
		t.supported = off == 0 && int(prec) == 8*t.size &&
			(size == 1 || size == 2 || size == 4 || size == 8) && bits&6 == 0
	case dtFloat:
		t.bigEndian = bits&1 != 0
		off, prec := r.u16(), r.u16()
		eloc, esize, mloc, msize := r.u8(), r.u8(), r.u8(), r.u8()
		r.u32() // exponent bias
		if r.err != nil {
			return nil, fmt.Errorf("floating-point datatype: %w", r.err)
		}
		want := map[uint32][4]uint8{2: {10, 5, 0, 10}, 4: {23, 8, 0, 23}, 8: {52, 11, 0, 52}}
		w, ok := want[size]
		t.supported = ok && bits&0x40 == 0 && off == 0 && int(prec) == 8*t.size &&
			[4]uint8{eloc, esize, mloc, msize} == w
	case dtString:
		t.pad = int(bits & 0x0f)
		t.supported = t.pad <= padSpace
	case dtVlen:
		if bits&0x0f != 1 {
			t.why = "variable-length sequence"
			break
		}
		t.pad = int(bits>>4) & 0x0f
		base, err := f.parseDatatype(r.b[r.off:], depth+1)
		if err != nil {
			return nil, fmt.Errorf("variable-length string base type: %w", err)
		}
		t.vlenStr = true
		t.size = 4 + f.sizeOff + 4 // length, global heap collection address, index
		t.supported = (base.class == dtString || base.class == dtFixed) && base.size == 1
		t.why = "variable-length string of " + base.why
	}
	return t, nil
}

// dataspace kinds.
const (
	spaceScalar = 0
	spaceSimple = 1
	spaceNull   = 2
)

// dataspace is a decoded dataspace message.
type dataspace struct {
	kind    int
	dims    []uint64
	maxDims []uint64 // nil when not stored
	n       uint64   // number of elements
}

// shape returns dims as ints (nil for scalar and null spaces).
func (s *dataspace) shape() []int {
	if len(s.dims) == 0 {
		return nil
	}
	out := make([]int, len(s.dims))
	for i, d := range s.dims {
		out[i] = int(d)
	}
	return out
}

// maxDimension bounds any single dimension so that it fits an int.
const maxDimension = 1 << 48

func (f *File) parseDataspace(b []byte) (*dataspace, error) {
	r := f.newReader(b)
	version := r.u8()
	rank := int(r.u8())
	flags := r.u8()
	s := &dataspace{kind: spaceSimple}
	switch version {
	case 1:
		r.skip(5)
		if rank == 0 {
			s.kind = spaceScalar
		}
	case 2:
		s.kind = int(r.u8())
		if s.kind > spaceNull {
			return nil, fmt.Errorf("dataspace type %d unknown", s.kind)
		}
		if s.kind != spaceSimple && rank != 0 {
			return nil, fmt.Errorf("scalar or null dataspace with rank %d", rank)
		}
	default:
		if r.err == nil {
			return nil, fmt.Errorf("dataspace version %d: %w", version, ErrUnsupported)
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("dataspace: %w", r.err)
	}
	if rank > f.opts.MaxRank {
		return nil, fmt.Errorf("dataspace rank %d exceeds limit %d", rank, f.opts.MaxRank)
	}
	if s.kind == spaceSimple && rank == 0 {
		return nil, fmt.Errorf("simple dataspace of rank 0")
	}
	if rank > 0 {
		s.dims = make([]uint64, rank)
	}
	s.n = 1
	if s.kind == spaceNull {
		s.n = 0
	}
	for i := range s.dims {
		s.dims[i] = r.length()
		if s.dims[i] > maxDimension {
			return nil, fmt.Errorf("dataspace dimension %d of %d too large", i, s.dims[i])
		}
		var ok bool
		if s.n, ok = mulCheck(s.n, s.dims[i], maxDimension); !ok {
			return nil, fmt.Errorf("dataspace of %v elements too large", s.dims)
		}
	}
	if flags&1 != 0 && rank > 0 {
		s.maxDims = make([]uint64, rank)
		for i := range s.maxDims {
			s.maxDims[i] = r.length()
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("dataspace: %w", r.err)
	}
	return s, nil
}

// decodeFloat64 converts element i of raw data of type t to float64.
func decodeFloat64(t *datatype, p []byte) float64 {
	switch t.class {
	case dtFixed:
		if t.signed {
			return float64(decodeInt(t, p))
		}
		return float64(decodeUint(t, p))
	case dtFloat:
		var v uint64
		if t.bigEndian {
			v = beUint(p)
		} else {
			v = leUint(p)
		}
		switch t.size {
		case 2:
			return float64(halfToFloat32(uint16(v)))
		case 4:
			return float64(math.Float32frombits(uint32(v)))
		default:
			return math.Float64frombits(v)
		}
	}
	return 0
}

// decodeUint reads an unsigned fixed-point element.
func decodeUint(t *datatype, p []byte) uint64 {
	if t.bigEndian {
		return beUint(p)
	}
	return leUint(p)
}

// decodeInt reads a signed fixed-point element, sign-extending it.
func decodeInt(t *datatype, p []byte) int64 {
	v := decodeUint(t, p)
	shift := 64 - 8*uint(len(p))
	return int64(v<<shift) >> shift
}

// halfToFloat32 converts an IEEE 754 binary16 value exactly.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: value = mant * 2^-24
		v := float32(mant) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// toFloat32s converts n packed elements of numeric type t.
func toFloat32s(t *datatype, raw []byte) []float32 {
	n := len(raw) / t.size
	out := make([]float32, n)
	switch {
	case t.class == dtFloat && t.size == 4 && !t.bigEndian:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case t.class == dtFixed && t.signed:
		// Convert directly: via float64 would round twice.
		for i := range out {
			out[i] = float32(decodeInt(t, raw[i*t.size:(i+1)*t.size]))
		}
	case t.class == dtFixed:
		for i := range out {
			out[i] = float32(decodeUint(t, raw[i*t.size:(i+1)*t.size]))
		}
	default:
		for i := range out {
			out[i] = float32(decodeFloat64(t, raw[i*t.size:(i+1)*t.size]))
		}
	}
	return out
}
