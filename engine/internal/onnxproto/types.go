package onnxproto

import "strconv"

// Model is a decoded ModelProto.
type Model struct {
	// IRVersion is the ONNX IR version of the file (MinIRVersion to
	// MaxIRVersion).
	IRVersion int64
	// ProducerName and ProducerVersion name the tool that wrote the file.
	ProducerName, ProducerVersion string
	// Domain is the model's namespace, in reverse-DNS form.
	Domain string
	// ModelVersion is the version of the model itself.
	ModelVersion int64
	// Opsets maps each imported operator-set domain to its version. The
	// default domain is the empty string; "ai.onnx" is stored as "".
	Opsets map[string]int64
	// Metadata holds the model's metadata_props. It is never nil.
	Metadata map[string]string
	// Graph is the main graph. It is never nil.
	Graph *Graph
}

// Graph is a decoded GraphProto.
type Graph struct {
	// Name is the graph's name.
	Name string
	// Nodes are the graph's nodes, which ONNX requires to be in topological
	// order.
	Nodes []*Node
	// Initializers are the constant tensors of the graph, with unique,
	// non-empty names.
	Initializers []*Tensor
	// Inputs, Outputs and ValueInfo describe the graph's inputs (which may
	// include initializers, in older IR versions), its outputs, and optional
	// type information for intermediate values.
	Inputs, Outputs, ValueInfo []*ValueInfo
}

// Initializer returns the initializer with the given name, or nil if there
// is none. It scans g.Initializers, so callers looking up many names should
// build their own map.
func (g *Graph) Initializer(name string) *Tensor {
	for _, t := range g.Initializers {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Node is a decoded NodeProto: one operator invocation.
type Node struct {
	// Name is the node's name, which may be empty.
	Name string
	// OpType is the operator, such as "Conv". It is never empty.
	OpType string
	// Domain is the operator-set domain; "" (and "ai.onnx", which is
	// stored as "") is the default ONNX domain.
	Domain string
	// Inputs and Outputs name the values the node reads and writes. An
	// empty name stands for an omitted optional input or output.
	Inputs, Outputs []string
	// Attrs are the node's attributes, with unique, non-empty names.
	Attrs []*Attribute
}

// Attr returns the attribute with the given name, or nil if there is none.
func (n *Node) Attr(name string) *Attribute {
	for _, a := range n.Attrs {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// AttrType is the type of an attribute's value
// (AttributeProto.AttributeType).
type AttrType int32

// Attribute types.
const (
	AttrUndefined     AttrType = 0
	AttrFloat         AttrType = 1
	AttrInt           AttrType = 2
	AttrString        AttrType = 3
	AttrTensor        AttrType = 4
	AttrGraph         AttrType = 5
	AttrFloats        AttrType = 6
	AttrInts          AttrType = 7
	AttrStrings       AttrType = 8
	AttrTensors       AttrType = 9
	AttrGraphs        AttrType = 10
	AttrSparseTensor  AttrType = 11
	AttrSparseTensors AttrType = 12
	AttrTypeProto     AttrType = 13
	AttrTypeProtos    AttrType = 14
)

var attrTypeNames = [...]string{
	AttrUndefined:     "UNDEFINED",
	AttrFloat:         "FLOAT",
	AttrInt:           "INT",
	AttrString:        "STRING",
	AttrTensor:        "TENSOR",
	AttrGraph:         "GRAPH",
	AttrFloats:        "FLOATS",
	AttrInts:          "INTS",
	AttrStrings:       "STRINGS",
	AttrTensors:       "TENSORS",
	AttrGraphs:        "GRAPHS",
	AttrSparseTensor:  "SPARSE_TENSOR",
	AttrSparseTensors: "SPARSE_TENSORS",
	AttrTypeProto:     "TYPE_PROTO",
	AttrTypeProtos:    "TYPE_PROTOS",
}

// String returns the ONNX name of the type, such as "INTS", or
// "AttrType(N)" for an unknown value.
func (t AttrType) String() string {
	if t >= 0 && int(t) < len(attrTypeNames) {
		return attrTypeNames[t]
	}
	return "AttrType(" + strconv.Itoa(int(t)) + ")"
}

// Attribute is a decoded AttributeProto. Only the field selected by Type is
// meaningful; Decode rejects attributes that carry values of another type.
type Attribute struct {
	// Name is the attribute's name. It is never empty.
	Name string
	// Type says which value field is in use.
	Type AttrType
	// F, I, S and T hold FLOAT, INT, STRING and TENSOR values.
	F float32
	I int64
	S []byte
	T *Tensor
	// Floats, Ints, Strings and Tensors hold FLOATS, INTS, STRINGS and
	// TENSORS values.
	Floats  []float32
	Ints    []int64
	Strings [][]byte
	Tensors []*Tensor
	// RefAttrName, if not empty, names an attribute of an enclosing
	// function that this attribute refers to. ONNX allows it only inside
	// functions.
	RefAttrName string
	// HasGraph reports that the attribute carried a graph (GRAPH or GRAPHS,
	// as used by control-flow operators such as If and Loop). Subgraphs are
	// not decoded.
	HasGraph bool
}

// DataType is the element type of a tensor (TensorProto.DataType).
type DataType int32

// Tensor element types. Types up to Int4 are defined by IR version 10.
const (
	Undefined      DataType = 0
	Float          DataType = 1
	Uint8          DataType = 2
	Int8           DataType = 3
	Uint16         DataType = 4
	Int16          DataType = 5
	Int32          DataType = 6
	Int64          DataType = 7
	String         DataType = 8
	Bool           DataType = 9
	Float16        DataType = 10
	Double         DataType = 11
	Uint32         DataType = 12
	Uint64         DataType = 13
	Complex64      DataType = 14
	Complex128     DataType = 15
	BFloat16       DataType = 16
	Float8E4M3FN   DataType = 17
	Float8E4M3FNUZ DataType = 18
	Float8E5M2     DataType = 19
	Float8E5M2FNUZ DataType = 20
	Uint4          DataType = 21
	Int4           DataType = 22
)

var dataTypeNames = [...]string{
	Undefined:      "UNDEFINED",
	Float:          "FLOAT",
	Uint8:          "UINT8",
	Int8:           "INT8",
	Uint16:         "UINT16",
	Int16:          "INT16",
	Int32:          "INT32",
	Int64:          "INT64",
	String:         "STRING",
	Bool:           "BOOL",
	Float16:        "FLOAT16",
	Double:         "DOUBLE",
	Uint32:         "UINT32",
	Uint64:         "UINT64",
	Complex64:      "COMPLEX64",
	Complex128:     "COMPLEX128",
	BFloat16:       "BFLOAT16",
	Float8E4M3FN:   "FLOAT8E4M3FN",
	Float8E4M3FNUZ: "FLOAT8E4M3FNUZ",
	Float8E5M2:     "FLOAT8E5M2",
	Float8E5M2FNUZ: "FLOAT8E5M2FNUZ",
	Uint4:          "UINT4",
	Int4:           "INT4",
}

// String returns the ONNX name of the type, such as "FLOAT", or
// "DataType(N)" for an unknown value.
func (t DataType) String() string {
	if t >= 0 && int(t) < len(dataTypeNames) {
		return dataTypeNames[t]
	}
	return "DataType(" + strconv.Itoa(int(t)) + ")"
}

// known reports whether t is a defined element type other than Undefined.
func (t DataType) known() bool { return t > Undefined && int(t) < len(dataTypeNames) }

// Tensor is a decoded TensorProto. Its elements are read with Float32s or
// Int64s, which check that the stored data matches Dims and DataType.
type Tensor struct {
	// Name is the tensor's name; initializers always have one.
	Name string
	// Dims is the shape; an empty Dims is a scalar.
	Dims []int64
	// DataType is the element type.
	DataType DataType

	// Element storage: at most one of these is non-empty (checked by
	// Decode and again by the accessors).
	raw     []byte    // raw_data: fixed-width little-endian elements
	floats  []float32 // float_data: FLOAT, COMPLEX64
	int32s  []int32   // int32_data: INT32 and narrower types, FLOAT16 bits
	int64s  []int64   // int64_data: INT64
	doubles []float64 // double_data: DOUBLE, COMPLEX128
	uint64s []uint64  // uint64_data: UINT32, UINT64
	strs    [][]byte  // string_data: STRING
}

// ValueInfo is a decoded ValueInfoProto: the name and type of a graph input,
// output or intermediate value.
type ValueInfo struct {
	// Name is the value's name. It is never empty.
	Name string
	// ElemType is the tensor element type, or Undefined when the value is
	// not a tensor (a sequence, map or optional, which are not decoded) or
	// its type is not given.
	ElemType DataType
	// Shape is the tensor's shape, or nil if unknown. A known scalar shape
	// is an empty, non-nil slice.
	Shape []Dim
}

// Dim is one dimension of a ValueInfo shape.
type Dim struct {
	// Value is the dimension's size, or -1 if it is symbolic or unknown.
	Value int64
	// Param is the name of a symbolic dimension, such as "batch"; it is
	// empty for a fixed or unknown dimension.
	Param string
}
