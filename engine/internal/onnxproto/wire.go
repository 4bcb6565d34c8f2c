package onnxproto

import (
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file holds the wire-level helpers: iterating over the fields of one
// message and reading scalar, string and repeated values out of them with
// the wire-type checks and bounds that the rest of the decoder relies on.

// fieldNames maps the field numbers of one message type to the names used
// in error messages.
type fieldNames map[protowire.Number]string

// field is one field read from a message.
type field struct {
	num   protowire.Number
	typ   protowire.Type
	u     uint64 // value of a varint, fixed32 or fixed64 field
	b     []byte // payload of a length-delimited field (aliases the input)
	names fieldNames
}

// name returns the field's name for error messages.
func (f *field) name() string {
	if s, ok := f.names[f.num]; ok {
		return s
	}
	return fmt.Sprintf("field %d", f.num)
}

// errorf returns an error prefixed with the field's name.
func (f *field) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s", f.name(), fmt.Sprintf(format, args...))
}

// wireTypeName names a wire type for error messages.
func wireTypeName(t protowire.Type) string {
	switch t {
	case protowire.VarintType:
		return "varint"
	case protowire.Fixed32Type:
		return "fixed32"
	case protowire.Fixed64Type:
		return "fixed64"
	case protowire.BytesType:
		return "length-delimited"
	case protowire.StartGroupType:
		return "group"
	case protowire.EndGroupType:
		return "end-group"
	}
	return fmt.Sprintf("reserved wire type %d", t)
}

// wireError describes a protowire error code n met while reading a value of
// the given kind ("varint", "tag", ...). The codes are those documented by
// protowire.ParseError; its own messages carry an unstable "proto:" prefix,
// so they are spelled out here.
func wireError(kind string, n int) error {
	if n >= 0 {
		return nil
	}
	var msg string
	switch n {
	case -1:
		return fmt.Errorf("truncated %s", kind)
	case -2:
		msg = "invalid field number"
	case -3:
		msg = "variable length integer overflow"
	case -4:
		msg = "reserved wire type"
	case -5:
		msg = "mismatched end-group marker"
	case -6:
		msg = "groups nested too deeply"
	default:
		msg = protowire.ParseError(n).Error()
	}
	return fmt.Errorf("%s: %s", kind, msg)
}

// consumeBytes reads a length-delimited payload, reporting a length prefix
// that claims more bytes than remain in b with both numbers.
func consumeBytes(b []byte) ([]byte, int, error) {
	m, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return nil, 0, wireError("length", n)
	}
	if rest := len(b) - n; m > uint64(rest) {
		return nil, 0, fmt.Errorf("length %d exceeds the %d bytes remaining", m, rest)
	}
	return b[n : n+int(m)], n + int(m), nil
}

// walk calls fn for each field of the message encoded in b, in wire order.
// Values are read according to their wire type before fn sees them, so a
// malformed value is reported here whether or not the field is known. Groups
// are skipped; fn still sees them (with no value) so that it can reject a
// known field encoded as a group. Errors returned by fn are returned as is.
func walk(b []byte, names fieldNames, fn func(f *field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return wireError("tag", n)
		}
		b = b[n:]
		f := field{num: num, typ: typ, names: names}
		var err error
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(b)
			err = wireError("varint", n)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.u = uint64(v)
			err = wireError("fixed32", n)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(b)
			err = wireError("fixed64", n)
		case protowire.BytesType:
			f.b, n, err = consumeBytes(b)
		case protowire.StartGroupType:
			n = protowire.ConsumeFieldValue(num, typ, b)
			err = wireError("group", n)
		default:
			err = fmt.Errorf("unexpected %s", wireTypeName(typ))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f.name(), err)
		}
		b = b[n:]
		if err := fn(&f); err != nil {
			return err
		}
	}
	return nil
}

// wantType checks that f was encoded with wire type t.
func (f *field) wantType(t protowire.Type) error {
	if f.typ != t {
		return f.errorf("wrong wire type %s, want %s", wireTypeName(f.typ), wireTypeName(t))
	}
	return nil
}

// int64 reads an int64 field.
func (f *field) int64() (int64, error) {
	if err := f.wantType(protowire.VarintType); err != nil {
		return 0, err
	}
	return int64(f.u), nil
}

// int32 reads an int32 (or enum) field. Protobuf encodes negative int32
// values sign-extended to 64 bits; anything outside the int32 range is
// rejected rather than silently truncated.
func (f *field) int32() (int32, error) {
	if err := f.wantType(protowire.VarintType); err != nil {
		return 0, err
	}
	v := int64(f.u)
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, f.errorf("value %d out of int32 range", v)
	}
	return int32(v), nil
}

// float32 reads a float field.
func (f *field) float32() (float32, error) {
	if err := f.wantType(protowire.Fixed32Type); err != nil {
		return 0, err
	}
	return math.Float32frombits(uint32(f.u)), nil
}

// bytes returns the payload of a length-delimited field. The result aliases
// the input and must be copied before it is retained.
func (f *field) bytes() ([]byte, error) {
	if err := f.wantType(protowire.BytesType); err != nil {
		return nil, err
	}
	return f.b, nil
}

// str reads a string field. ONNX uses proto2, which does not require UTF-8,
// so the bytes are taken as they are.
func (f *field) str() (string, error) {
	b, err := f.bytes()
	return string(b), err
}

// skip checks the wire type of a known field whose value is not kept.
func (f *field) skip(t protowire.Type) error { return f.wantType(t) }

// repeated decodes the elements of a repeated scalar field, which may come
// packed (one length-delimited payload) or unpacked (one element per field).
// elem is the wire type of an unpacked element. grow is called with the
// number of new elements before any memory is allocated for them, and may
// refuse them with an error, which is returned prefixed with the field name.
// conv converts each element's wire value.
func repeated[T any](f *field, dst []T, elem protowire.Type, grow func(n int) error,
	conv func(u uint64) (T, error)) ([]T, error) {
	wrap := func(err error) error { return fmt.Errorf("%s: %w", f.name(), err) }
	switch f.typ {
	case elem:
		if err := grow(1); err != nil {
			return dst, wrap(err)
		}
		v, err := conv(f.u)
		if err != nil {
			return dst, wrap(err)
		}
		return append(dst, v), nil
	case protowire.BytesType:
	default:
		return dst, f.errorf("wrong wire type %s, want %s or packed",
			wireTypeName(f.typ), wireTypeName(elem))
	}

	// Packed: count the elements exactly before allocating.
	p := f.b
	var n int
	switch elem {
	case protowire.Fixed32Type:
		if len(p)%4 != 0 {
			return dst, f.errorf("packed fixed32 payload of %d bytes is not a multiple of 4", len(p))
		}
		n = len(p) / 4
	case protowire.Fixed64Type:
		if len(p)%8 != 0 {
			return dst, f.errorf("packed fixed64 payload of %d bytes is not a multiple of 8", len(p))
		}
		n = len(p) / 8
	default: // varint: every element ends with exactly one byte below 0x80
		for _, c := range p {
			if c < 0x80 {
				n++
			}
		}
		if len(p) > 0 && p[len(p)-1] >= 0x80 {
			return dst, f.errorf("truncated varint")
		}
	}
	if err := grow(n); err != nil {
		return dst, wrap(err)
	}
	dst = slices.Grow(dst, n)
	for len(p) > 0 {
		var u uint64
		var m int
		switch elem {
		case protowire.Fixed32Type:
			var v uint32
			v, m = protowire.ConsumeFixed32(p)
			u = uint64(v)
		case protowire.Fixed64Type:
			u, m = protowire.ConsumeFixed64(p)
		default:
			u, m = protowire.ConsumeVarint(p)
		}
		if m < 0 {
			return dst, wrap(wireError(wireTypeName(elem), m))
		}
		p = p[m:]
		v, err := conv(u)
		if err != nil {
			return dst, wrap(err)
		}
		dst = append(dst, v)
	}
	return dst, nil
}

// Element conversions for repeated.

func convInt64(u uint64) (int64, error)     { return int64(u), nil }
func convUint64(u uint64) (uint64, error)   { return u, nil }
func convFloat32(u uint64) (float32, error) { return math.Float32frombits(uint32(u)), nil }
func convFloat64(u uint64) (float64, error) { return math.Float64frombits(u), nil }

func convInt32(u uint64) (int32, error) {
	v := int64(u)
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, fmt.Errorf("value %d out of int32 range", v)
	}
	return int32(v), nil
}

// peekString returns the last value of string field num in the message b,
// ignoring malformed input. It is used to name a message in error messages
// even when the error comes before the name field on the wire.
func peekString(b []byte, num protowire.Number) string {
	var s []byte
	for len(b) > 0 {
		n0, typ, n := protowire.ConsumeField(b)
		if n < 0 {
			break
		}
		if n0 == num && typ == protowire.BytesType {
			_, _, m := protowire.ConsumeTag(b)
			s, _ = protowire.ConsumeBytes(b[m:])
		}
		b = b[n:]
	}
	const maxLen = 64
	if len(s) > maxLen {
		return string(s[:maxLen]) + "..."
	}
	return string(s)
}
