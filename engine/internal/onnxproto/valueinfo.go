package onnxproto

// The decoding of ValueInfoProto (a graph's inputs and outputs) and the
// type and shape inside it.

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

var valueInfoFields = fieldNames{1: "name", 2: "type", 3: "doc_string"}

// decodeValueInfo decodes a ValueInfoProto.
func decodeValueInfo(b []byte) (*ValueInfo, error) {
	v := new(ValueInfo)
	typeSeen := false
	err := walk(b, valueInfoFields, func(f *field) error {
		var err error
		switch f.num {
		case 1:
			v.Name, err = f.str()
		case 2:
			if typeSeen {
				return errors.New("type: field repeated")
			}
			typeSeen = true
			var p []byte
			if p, err = f.bytes(); err == nil {
				if err = decodeType(p, v); err != nil {
					err = fmt.Errorf("type: %w", err)
				}
			}
		case 3:
			err = f.skip(protowire.BytesType)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if v.Name == "" {
		return nil, errors.New("no name")
	}
	return v, nil
}

var typeFields = fieldNames{
	1: "tensor_type", 4: "sequence_type", 5: "map_type", 6: "denotation",
	8: "sparse_tensor_type", 9: "optional_type",
}

// decodeType decodes a TypeProto into v's ElemType and Shape. Only tensor
// types are decoded; for the other members of the value oneof, v is left
// with an undefined type and unknown shape.
func decodeType(b []byte, v *ValueInfo) error {
	return walk(b, typeFields, func(f *field) error {
		if _, known := typeFields[f.num]; !known {
			return nil
		}
		p, err := f.bytes()
		if err != nil {
			return err
		}
		switch f.num {
		case 1:
			if v.ElemType != Undefined || v.Shape != nil {
				return errors.New("tensor_type: field repeated")
			}
			if err := decodeTensorType(p, v); err != nil {
				return fmt.Errorf("tensor_type: %w", err)
			}
		case 4, 5, 8, 9:
			// A later member of the oneof replaces an earlier one.
			v.ElemType, v.Shape = Undefined, nil
		}
		return nil
	})
}

var tensorTypeFields = fieldNames{1: "elem_type", 2: "shape"}

// decodeTensorType decodes a TypeProto.Tensor.
func decodeTensorType(b []byte, v *ValueInfo) error {
	shapeSeen := false
	return walk(b, tensorTypeFields, func(f *field) error {
		switch f.num {
		case 1:
			t, err := f.int32()
			if err != nil {
				return err
			}
			if t != 0 && !DataType(t).known() {
				return f.errorf("unknown data type %d", t)
			}
			v.ElemType = DataType(t)
		case 2:
			if shapeSeen {
				return errors.New("shape: field repeated")
			}
			shapeSeen = true
			p, err := f.bytes()
			if err != nil {
				return err
			}
			v.Shape = []Dim{}
			if err := decodeShape(p, v); err != nil {
				return fmt.Errorf("shape: %w", err)
			}
		}
		return nil
	})
}

var shapeFields = fieldNames{1: "dim"}

// decodeShape decodes a TensorShapeProto into v.Shape.
func decodeShape(b []byte, v *ValueInfo) error {
	return walk(b, shapeFields, func(f *field) error {
		if f.num != 1 {
			return nil
		}
		p, err := f.bytes()
		if err != nil {
			return err
		}
		if len(v.Shape) >= MaxRank {
			return fmt.Errorf("rank exceeds %d", MaxRank)
		}
		dim, err := decodeDim(p)
		if err != nil {
			return fmt.Errorf("dim[%d]: %w", len(v.Shape), err)
		}
		v.Shape = append(v.Shape, dim)
		return nil
	})
}

var dimFields = fieldNames{1: "dim_value", 2: "dim_param", 3: "denotation"}

// decodeDim decodes a TensorShapeProto.Dimension. dim_value and dim_param
// form a oneof: the last one on the wire wins.
func decodeDim(b []byte) (Dim, error) {
	dim := Dim{Value: -1}
	err := walk(b, dimFields, func(f *field) error {
		switch f.num {
		case 1:
			v, err := f.int64()
			if err != nil {
				return err
			}
			if v < 0 {
				return f.errorf("negative value %d", v)
			}
			dim = Dim{Value: v}
		case 2:
			s, err := f.str()
			if err != nil {
				return err
			}
			dim = Dim{Value: -1, Param: s}
		case 3:
			return f.skip(protowire.BytesType)
		}
		return nil
	})
	return dim, err
}
