package onnxproto

import (
	"encoding/binary"
	"fmt"
	"math"
)

// NumElements returns the number of elements implied by t.Dims: their
// product, or 1 for a scalar. It fails if the rank exceeds MaxRank, a
// dimension is negative, or the product overflows int64.
func (t *Tensor) NumElements() (int64, error) {
	if len(t.Dims) > MaxRank {
		return 0, fmt.Errorf("rank %d exceeds %d", len(t.Dims), MaxRank)
	}
	for i, d := range t.Dims {
		if d < 0 {
			return 0, fmt.Errorf("dims[%d] is negative (%d)", i, d)
		}
	}
	n := int64(1)
	for _, d := range t.Dims {
		if d == 0 {
			return 0, nil
		}
		if n > math.MaxInt64/d {
			return 0, fmt.Errorf("dims %v: element count overflows int64", t.Dims)
		}
		n *= d
	}
	return n, nil
}

// dataField identifies the TensorProto field that holds a tensor's data.
type dataField int

const (
	noData dataField = iota
	rawData
	floatData
	int32Data
	int64Data
	doubleData
	uint64Data
	stringData
)

var dataFieldNames = [...]string{
	noData:     "no data",
	rawData:    "raw_data",
	floatData:  "float_data",
	int32Data:  "int32_data",
	int64Data:  "int64_data",
	doubleData: "double_data",
	uint64Data: "uint64_data",
	stringData: "string_data",
}

func (f dataField) String() string { return dataFieldNames[f] }

// typedField returns the typed field that holds elements of type dt and how
// many entries n elements take in it, or noData if none can.
func typedField(dt DataType, n int64) (dataField, int64) {
	switch dt {
	case Float:
		return floatData, n
	case Complex64:
		return floatData, 2 * n
	case Int32, Int16, Int8, Uint16, Uint8, Bool, Float16, BFloat16,
		Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ:
		return int32Data, n
	case Uint4, Int4:
		return int32Data, (n + 1) / 2 // two 4-bit elements per entry
	case Int64:
		return int64Data, n
	case Double:
		return doubleData, n
	case Complex128:
		return doubleData, 2 * n
	case Uint32, Uint64:
		return uint64Data, n
	case String:
		return stringData, n
	}
	return noData, 0
}

// rawSize returns the size in bytes of n elements of type dt in raw_data,
// or -1 if dt cannot be stored there or the size overflows.
func rawSize(dt DataType, n int64) int64 {
	var bits int64
	switch dt {
	case Uint4, Int4:
		return (n + 1) / 2
	case Uint8, Int8, Bool, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ:
		bits = 8
	case Uint16, Int16, Float16, BFloat16:
		bits = 16
	case Float, Int32, Uint32:
		bits = 32
	case Int64, Uint64, Double, Complex64:
		bits = 64
	case Complex128:
		bits = 128
	default:
		return -1
	}
	size := bits / 8
	if n > math.MaxInt64/size {
		return -1
	}
	return n * size
}

// check validates t's shape, type and data, and returns its element count
// and the field that holds its data. At most one data field may be set; it
// must be one that can hold t.DataType and hold exactly the number of
// elements that t.Dims implies. A tensor with no elements may have no data.
func (t *Tensor) check() (int64, dataField, error) {
	n, err := t.NumElements()
	if err != nil {
		return 0, noData, err
	}
	if !t.DataType.known() {
		return 0, noData, fmt.Errorf("unsupported data_type %v", t.DataType)
	}
	present := noData
	for _, c := range [...]struct {
		f   dataField
		len int
	}{
		{rawData, len(t.raw)},
		{floatData, len(t.floats)},
		{int32Data, len(t.int32s)},
		{int64Data, len(t.int64s)},
		{doubleData, len(t.doubles)},
		{uint64Data, len(t.uint64s)},
		{stringData, len(t.strs)},
	} {
		if c.len == 0 {
			continue
		}
		if present != noData {
			return 0, noData, fmt.Errorf("both %v and %v are set", present, c.f)
		}
		present = c.f
	}

	switch present {
	case noData:
		if n != 0 {
			return 0, noData, fmt.Errorf("no data for %d elements of dims %v", n, t.Dims)
		}
	case rawData:
		want := rawSize(t.DataType, n)
		if want < 0 {
			return 0, noData, fmt.Errorf("raw_data cannot hold %v elements of dims %v", t.DataType, t.Dims)
		}
		if int64(len(t.raw)) != want {
			return 0, noData, fmt.Errorf("raw_data has %d bytes, want %d for %v dims %v",
				len(t.raw), want, t.DataType, t.Dims)
		}
	default:
		f, want := typedField(t.DataType, n)
		if f != present {
			return 0, noData, fmt.Errorf("%v cannot hold %v data", present, t.DataType)
		}
		if got := int64(t.typedLen()); got != want {
			return 0, noData, fmt.Errorf("%v has %d entries, want %d for %v dims %v",
				present, got, want, t.DataType, t.Dims)
		}
	}
	return n, present, nil
}

// typedLen returns the number of entries in t's typed data fields.
func (t *Tensor) typedLen() int {
	return len(t.floats) + len(t.int32s) + len(t.int64s) + len(t.doubles) +
		len(t.uint64s) + len(t.strs)
}

// errorf returns an accessor error naming the tensor.
func (t *Tensor) errorf(format string, args ...any) error {
	return fmt.Errorf("onnx: tensor %q: %s", t.Name, fmt.Sprintf(format, args...))
}

// Float32s returns the tensor's elements as float32s, converting from
// DOUBLE, FLOAT16 and BFLOAT16. It fails for other types, and if the stored
// data does not hold exactly as many elements as t.Dims implies. The result
// is a new slice that the caller may modify.
func (t *Tensor) Float32s() ([]float32, error) {
	n, f, err := t.check()
	if err != nil {
		return nil, t.errorf("%v", err)
	}
	out := make([]float32, n)
	switch t.DataType {
	case Float:
		if f == rawData {
			for i := range out {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.raw[4*i:]))
			}
		} else {
			copy(out, t.floats)
		}
	case Double:
		for i := range out {
			if f == rawData {
				out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(t.raw[8*i:])))
			} else {
				out[i] = float32(t.doubles[i])
			}
		}
	case Float16, BFloat16:
		conv := halfToFloat32
		if t.DataType == BFloat16 {
			conv = bfloat16ToFloat32
		}
		for i := range out {
			var bits uint16
			if f == rawData {
				bits = binary.LittleEndian.Uint16(t.raw[2*i:])
			} else {
				v := t.int32s[i]
				if v < 0 || v > math.MaxUint16 {
					return nil, t.errorf("int32_data[%d] = %d is not a 16-bit pattern", i, v)
				}
				bits = uint16(v)
			}
			out[i] = conv(bits)
		}
	default:
		return nil, t.errorf("cannot read %v as float32", t.DataType)
	}
	return out, nil
}

// Int64s returns the tensor's elements as int64s, converting from the
// narrower integer types and BOOL. It fails for other types, for UINT64
// values above math.MaxInt64, for int32_data or uint64_data values outside
// the range of the data type, and if the stored data does not hold exactly
// as many elements as t.Dims implies. The result is a new slice that the
// caller may modify.
func (t *Tensor) Int64s() ([]int64, error) {
	n, f, err := t.check()
	if err != nil {
		return nil, t.errorf("%v", err)
	}
	out := make([]int64, n)
	raw := f == rawData
	le := binary.LittleEndian
	var lo, hi int64
	switch t.DataType {
	case Int64:
		if raw {
			for i := range out {
				out[i] = int64(le.Uint64(t.raw[8*i:]))
			}
		} else {
			copy(out, t.int64s)
		}
		return out, nil
	case Uint64, Uint32:
		hi = math.MaxInt64
		if t.DataType == Uint32 {
			hi = math.MaxUint32
		}
		for i := range out {
			var u uint64
			switch {
			case !raw:
				u = t.uint64s[i]
			case t.DataType == Uint32:
				u = uint64(le.Uint32(t.raw[4*i:]))
			default:
				u = le.Uint64(t.raw[8*i:])
			}
			if u > uint64(hi) {
				return nil, t.errorf("element %d = %d out of range for %v", i, u, t.DataType)
			}
			out[i] = int64(u)
		}
		return out, nil
	case Int32:
		lo, hi = math.MinInt32, math.MaxInt32
	case Int16:
		lo, hi = math.MinInt16, math.MaxInt16
	case Int8:
		lo, hi = math.MinInt8, math.MaxInt8
	case Uint16:
		lo, hi = 0, math.MaxUint16
	case Uint8:
		lo, hi = 0, math.MaxUint8
	case Bool:
		lo, hi = 0, 1
	default:
		return nil, t.errorf("cannot read %v as int64", t.DataType)
	}
	for i := range out {
		var v int64
		switch {
		case !raw:
			v = int64(t.int32s[i])
		case t.DataType == Int32:
			v = int64(int32(le.Uint32(t.raw[4*i:])))
		case t.DataType == Int16:
			v = int64(int16(le.Uint16(t.raw[2*i:])))
		case t.DataType == Uint16:
			v = int64(le.Uint16(t.raw[2*i:]))
		case t.DataType == Int8:
			v = int64(int8(t.raw[i]))
		default: // Uint8, Bool
			v = int64(t.raw[i])
		}
		if v < lo || v > hi {
			return nil, t.errorf("element %d = %d out of range for %v", i, v, t.DataType)
		}
		out[i] = v
	}
	return out, nil
}

// halfToFloat32 converts IEEE 754 binary16 bits to a float32.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // ±0
		return math.Float32frombits(sign)
	}
	// Subnormal: mant × 2^-24, exactly representable in float32.
	f := float32(mant) * (1.0 / (1 << 24))
	if sign != 0 {
		f = -f
	}
	return f
}

// bfloat16ToFloat32 converts bfloat16 bits (the top half of a float32) to a
// float32.
func bfloat16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }
