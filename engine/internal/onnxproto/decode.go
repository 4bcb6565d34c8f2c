package onnxproto

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Supported IR versions. IR version 3 made opset_import mandatory; IR
// version 11 is the one ONNX 1.18 writes by default. Newer IR versions only
// add types and features outside the subset this package decodes.
const (
	MinIRVersion = 3
	MaxIRVersion = 11
)

// MaxRank is the largest number of dimensions accepted in a tensor or a
// value's shape.
const MaxRank = 32

// Default limits used by Decode.
const (
	DefaultMaxTensorBytes = 1 << 30 // 1 GiB
	DefaultMaxNodes       = 1 << 20
)

// Errors that callers may want to test for with errors.Is. Every error
// returned by this package starts with "onnx: " and says where in the file
// the problem is.
var (
	// ErrExternalData reports a tensor whose data lives outside the file.
	ErrExternalData = errors.New("external data is not supported")
	// ErrSparseInitializer reports a graph with sparse initializers.
	ErrSparseInitializer = errors.New("sparse initializers are not supported")
	// ErrLimit reports a file that exceeds one of the Limits.
	ErrLimit = errors.New("limit exceeded")
)

// Limits bounds the resources that decoding a file may use. The zero value
// of a field selects its default.
type Limits struct {
	// MaxTensorBytes caps the total size of tensor data (initializers and
	// tensor-valued attributes), counted as held in memory: 4 bytes per
	// float_data or int32_data element, 8 per int64_data, double_data or
	// uint64_data element, and the byte length of raw_data and string_data.
	// The default is DefaultMaxTensorBytes.
	MaxTensorBytes int64
	// MaxNodes caps the number of nodes in the graph. The default is
	// DefaultMaxNodes.
	MaxNodes int
}

// Decode decodes an ONNX model file using the default Limits.
//
// The returned Model aliases data for tensors' raw_data (the bulk of a
// model's weights), so that a decoded file does not hold its weights
// twice: data must not change while the Model is in use. Nothing else
// aliases it. Every length and count in the
// file is checked against the bytes that remain before anything is
// allocated for it, so the memory Decode uses is at most a small multiple
// of len(data), of which tensor data is at most Limits.MaxTensorBytes.
// Callers reading untrusted files should bound len(data) as well.
func Decode(data []byte) (*Model, error) {
	return DecodeWithLimits(data, Limits{})
}

// DecodeWithLimits is like Decode but with the given limits.
func DecodeWithLimits(data []byte, lim Limits) (*Model, error) {
	if lim.MaxTensorBytes <= 0 {
		lim.MaxTensorBytes = DefaultMaxTensorBytes
	}
	if lim.MaxNodes <= 0 {
		lim.MaxNodes = DefaultMaxNodes
	}
	d := &decoder{lim: lim}
	m, err := d.model(data)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return m, nil
}

// decoder carries the limits and running totals of one Decode call.
type decoder struct {
	lim         Limits
	tensorBytes int64 // tensor data bytes held so far
	nodes       int   // nodes decoded so far
}

// charge accounts for n more bytes of tensor data.
func (d *decoder) charge(n int64) error {
	if n < 0 || n > d.lim.MaxTensorBytes-d.tensorBytes {
		return fmt.Errorf("tensor data exceeds %d bytes: %w", d.lim.MaxTensorBytes, ErrLimit)
	}
	d.tensorBytes += n
	return nil
}

// chargeElems returns a grow callback for repeated that charges size bytes
// per element.
func (d *decoder) chargeElems(size int64) func(n int) error {
	return func(n int) error { return d.charge(int64(n) * size) }
}

// locError is an error with a location in the model, such as
// `graph.node[3] "conv1"`. Nested locations are joined with spaces.
type locError struct {
	loc string
	err error
}

func (e *locError) Error() string { return e.loc + ": " + e.err.Error() }
func (e *locError) Unwrap() error { return e.err }

// at prefixes err with the location loc.
func at(loc string, err error) error {
	if err == nil {
		return nil
	}
	if le, ok := err.(*locError); ok {
		return &locError{loc + " " + le.loc, le.err}
	}
	return &locError{loc, err}
}

// named formats an indexed location with an optional name, such as
// `node[3] "conv1"`.
func named(loc string, i int, name string) string {
	if name == "" {
		return fmt.Sprintf("%s[%d]", loc, i)
	}
	return fmt.Sprintf("%s[%d] %q", loc, i, name)
}

// normDomain maps the explicit default-domain name to "".
func normDomain(s string) string {
	if s == "ai.onnx" {
		return ""
	}
	return s
}

var modelFields = fieldNames{
	1: "ir_version", 2: "producer_name", 3: "producer_version", 4: "domain",
	5: "model_version", 6: "doc_string", 7: "graph", 8: "opset_import",
	14: "metadata_props",
}

// model decodes a ModelProto.
func (d *decoder) model(b []byte) (*Model, error) {
	m := &Model{Opsets: map[string]int64{}, Metadata: map[string]string{}}
	nopset, nmeta := 0, 0
	err := walk(b, modelFields, func(f *field) error {
		var err error
		switch f.num {
		case 1:
			m.IRVersion, err = f.int64()
		case 2:
			m.ProducerName, err = f.str()
		case 3:
			m.ProducerVersion, err = f.str()
		case 4:
			m.Domain, err = f.str()
		case 5:
			m.ModelVersion, err = f.int64()
		case 6:
			err = f.skip(protowire.BytesType)
		case 7:
			if m.Graph != nil {
				return errors.New("graph: field repeated")
			}
			var p []byte
			if p, err = f.bytes(); err == nil {
				m.Graph, err = d.graph(p)
			}
		case 8:
			var p []byte
			if p, err = f.bytes(); err == nil {
				err = at(named("opset_import", nopset, ""), decodeOpset(p, m.Opsets))
			}
			nopset++
		case 14:
			var p []byte
			if p, err = f.bytes(); err == nil {
				err = at(named("metadata_props", nmeta, ""), decodeEntry(p, m.Metadata))
			}
			nmeta++
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if m.IRVersion < MinIRVersion || m.IRVersion > MaxIRVersion {
		return nil, fmt.Errorf("unsupported ir_version %d (want %d to %d)",
			m.IRVersion, MinIRVersion, MaxIRVersion)
	}
	if len(m.Opsets) == 0 {
		return nil, errors.New("no opset_import")
	}
	if m.Graph == nil {
		return nil, errors.New("no graph")
	}
	return m, nil
}

var opsetFields = fieldNames{1: "domain", 2: "version"}

// decodeOpset decodes an OperatorSetIdProto into opsets.
func decodeOpset(b []byte, opsets map[string]int64) error {
	var domain string
	var version int64
	err := walk(b, opsetFields, func(f *field) error {
		var err error
		switch f.num {
		case 1:
			domain, err = f.str()
		case 2:
			version, err = f.int64()
		}
		return err
	})
	if err != nil {
		return err
	}
	domain = normDomain(domain)
	if version < 1 {
		return fmt.Errorf("domain %q: invalid version %d", domain, version)
	}
	if _, dup := opsets[domain]; dup {
		return fmt.Errorf("domain %q imported twice", domain)
	}
	opsets[domain] = version
	return nil
}

var entryFields = fieldNames{1: "key", 2: "value"}

// decodeEntry decodes a StringStringEntryProto into m.
func decodeEntry(b []byte, m map[string]string) error {
	var key, value string
	err := walk(b, entryFields, func(f *field) error {
		var err error
		switch f.num {
		case 1:
			key, err = f.str()
		case 2:
			value, err = f.str()
		}
		return err
	})
	if err != nil {
		return err
	}
	if _, dup := m[key]; dup {
		return fmt.Errorf("key %q repeated", key)
	}
	m[key] = value
	return nil
}

var graphFields = fieldNames{
	1: "node", 2: "name", 5: "initializer", 10: "doc_string", 11: "input",
	12: "output", 13: "value_info", 15: "sparse_initializer",
}

// graph decodes the main GraphProto. Errors in the graph's own fields are
// located at "graph"; errors in its elements carry their own location, such
// as `graph.node[3] "conv1"`.
func (d *decoder) graph(b []byte) (*Graph, error) {
	g := new(Graph)
	inits := map[string]bool{}
	err := walk(b, graphFields, func(f *field) error {
		if _, known := graphFields[f.num]; !known {
			return nil
		}
		p, err := f.bytes()
		if err != nil {
			return err
		}
		switch f.num {
		case 1:
			i := len(g.Nodes)
			if d.nodes >= d.lim.MaxNodes {
				return fmt.Errorf("more than %d nodes: %w", d.lim.MaxNodes, ErrLimit)
			}
			d.nodes++
			n, err := d.node(p)
			if err != nil {
				return at(named("graph.node", i, peekString(p, 3)), err)
			}
			g.Nodes = append(g.Nodes, n)
		case 2:
			g.Name = string(p)
		case 5:
			loc := named("graph.initializer", len(g.Initializers), peekString(p, 8))
			t, err := d.tensor(p)
			if err != nil {
				return at(loc, err)
			}
			if t.Name == "" {
				return at(loc, errors.New("initializer has no name"))
			}
			if inits[t.Name] {
				return at(loc, errors.New("duplicate initializer name"))
			}
			inits[t.Name] = true
			g.Initializers = append(g.Initializers, t)
		case 11, 12, 13:
			list := &g.Inputs
			switch f.num {
			case 12:
				list = &g.Outputs
			case 13:
				list = &g.ValueInfo
			}
			v, err := decodeValueInfo(p)
			if err != nil {
				return at(named("graph."+f.name(), len(*list), peekString(p, 1)), err)
			}
			*list = append(*list, v)
		case 15:
			return ErrSparseInitializer
		}
		return nil
	})
	if err != nil {
		if _, ok := err.(*locError); !ok {
			err = at("graph", err)
		}
		return nil, err
	}
	return g, nil
}

var nodeFields = fieldNames{
	1: "input", 2: "output", 3: "name", 4: "op_type", 5: "attribute",
	6: "doc_string", 7: "domain",
}

// node decodes a NodeProto.
func (d *decoder) node(b []byte) (*Node, error) {
	n := new(Node)
	var attrNames map[string]bool
	err := walk(b, nodeFields, func(f *field) error {
		var err error
		switch f.num {
		case 1, 2:
			var s string
			if s, err = f.str(); err == nil {
				if f.num == 1 {
					n.Inputs = append(n.Inputs, s)
				} else {
					n.Outputs = append(n.Outputs, s)
				}
			}
		case 3:
			n.Name, err = f.str()
		case 4:
			n.OpType, err = f.str()
		case 5:
			var p []byte
			if p, err = f.bytes(); err != nil {
				return err
			}
			var a *Attribute
			if a, err = d.attribute(p); err != nil {
				name := peekString(p, 1)
				if name == "" {
					return at(fmt.Sprintf("attribute[%d]", len(n.Attrs)), err)
				}
				return at(fmt.Sprintf("attribute %q", name), err)
			}
			if attrNames == nil {
				attrNames = map[string]bool{}
			}
			if attrNames[a.Name] {
				return fmt.Errorf("attribute %q repeated", a.Name)
			}
			attrNames[a.Name] = true
			n.Attrs = append(n.Attrs, a)
		case 6:
			err = f.skip(protowire.BytesType)
		case 7:
			n.Domain, err = f.str()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	n.Domain = normDomain(n.Domain)
	if n.OpType == "" {
		return nil, errors.New("no op_type")
	}
	return n, nil
}

var attributeFields = fieldNames{
	1: "name", 2: "f", 3: "i", 4: "s", 5: "t", 6: "g", 7: "floats", 8: "ints",
	9: "strings", 10: "tensors", 11: "graphs", 13: "doc_string", 14: "tp",
	15: "type_protos", 20: "type", 21: "ref_attr_name", 22: "sparse_tensor",
	23: "sparse_tensors",
}

// attrFieldType maps each value field of AttributeProto to the attribute
// type it belongs to.
var attrFieldType = map[protowire.Number]AttrType{
	2: AttrFloat, 3: AttrInt, 4: AttrString, 5: AttrTensor, 6: AttrGraph,
	7: AttrFloats, 8: AttrInts, 9: AttrStrings, 10: AttrTensors, 11: AttrGraphs,
	14: AttrTypeProto, 15: AttrTypeProtos, 22: AttrSparseTensor, 23: AttrSparseTensors,
}

// attribute decodes an AttributeProto.
func (d *decoder) attribute(b []byte) (*Attribute, error) {
	a := new(Attribute)
	var seen [AttrTypeProtos + 1]string // field name seen for each value type
	err := walk(b, attributeFields, func(f *field) error {
		if t, ok := attrFieldType[f.num]; ok {
			seen[t] = f.name()
		}
		return d.attributeField(a, f)
	})
	if err != nil {
		return nil, err
	}
	if a.Name == "" {
		return nil, errors.New("no name")
	}
	if a.Type <= AttrUndefined || a.Type > AttrTypeProtos {
		return nil, fmt.Errorf("invalid type %v", a.Type)
	}
	for t, name := range seen {
		if name != "" && AttrType(t) != a.Type {
			return nil, fmt.Errorf("%s value in attribute of type %v", name, a.Type)
		}
	}
	return a, nil
}

// attributeField decodes one field of an AttributeProto into a.
func (d *decoder) attributeField(a *Attribute, f *field) error {
	var err error
	switch f.num {
	case 1:
		a.Name, err = f.str()
	case 2:
		a.F, err = f.float32()
	case 3:
		a.I, err = f.int64()
	case 4:
		var p []byte
		p, err = f.bytes()
		a.S = bytes.Clone(p)
	case 5:
		if a.T != nil {
			return errors.New("t: field repeated")
		}
		var p []byte
		if p, err = f.bytes(); err == nil {
			if a.T, err = d.tensor(p); err != nil {
				err = fmt.Errorf("t: %w", err)
			}
		}
	case 6, 11, 14, 15, 22, 23:
		// Subgraphs, type protos and sparse tensors are not decoded.
		err = f.skip(protowire.BytesType)
		if f.num == 6 || f.num == 11 {
			a.HasGraph = true
		}
	case 7:
		a.Floats, err = repeated(f, a.Floats, protowire.Fixed32Type, noLimit, convFloat32)
	case 8:
		a.Ints, err = repeated(f, a.Ints, protowire.VarintType, noLimit, convInt64)
	case 9:
		var p []byte
		if p, err = f.bytes(); err == nil {
			a.Strings = append(a.Strings, bytes.Clone(p))
		}
	case 10:
		var p []byte
		if p, err = f.bytes(); err == nil {
			var t *Tensor
			if t, err = d.tensor(p); err != nil {
				return at(named("tensors", len(a.Tensors), peekString(p, 8)), err)
			}
			a.Tensors = append(a.Tensors, t)
		}
	case 13:
		err = f.skip(protowire.BytesType)
	case 20:
		var t int32
		t, err = f.int32()
		a.Type = AttrType(t)
	case 21:
		a.RefAttrName, err = f.str()
	}
	return err
}

// noLimit is a grow callback that accepts any number of elements: for
// attribute lists, whose size is bounded by the input alone.
func noLimit(int) error { return nil }

var tensorFields = fieldNames{
	1: "dims", 2: "data_type", 3: "segment", 4: "float_data", 5: "int32_data",
	6: "string_data", 7: "int64_data", 8: "name", 9: "raw_data", 10: "double_data",
	11: "uint64_data", 12: "doc_string", 13: "external_data", 14: "data_location",
}

// Data location values (TensorProto.DataLocation).
const (
	locationDefault  = 0
	locationExternal = 1
)

// tensor decodes a TensorProto and checks that its data matches its dims
// and data type.
func (d *decoder) tensor(b []byte) (*Tensor, error) {
	t := new(Tensor)
	rawSeen := false
	err := walk(b, tensorFields, func(f *field) error {
		var err error
		switch f.num {
		case 1:
			t.Dims, err = repeated(f, t.Dims, protowire.VarintType, func(n int) error {
				if n > MaxRank-len(t.Dims) {
					return fmt.Errorf("rank exceeds %d", MaxRank)
				}
				return nil
			}, convInt64)
		case 2:
			var v int32
			v, err = f.int32()
			t.DataType = DataType(v)
		case 3:
			err = f.errorf("segmented tensors are not supported")
		case 4:
			t.floats, err = repeated(f, t.floats, protowire.Fixed32Type, d.chargeElems(4), convFloat32)
		case 5:
			t.int32s, err = repeated(f, t.int32s, protowire.VarintType, d.chargeElems(4), convInt32)
		case 6:
			var p []byte
			if p, err = f.bytes(); err == nil {
				if err = d.charge(int64(len(p))); err == nil {
					t.strs = append(t.strs, bytes.Clone(p))
				}
			}
		case 7:
			t.int64s, err = repeated(f, t.int64s, protowire.VarintType, d.chargeElems(8), convInt64)
		case 8:
			t.Name, err = f.str()
		case 9:
			if rawSeen {
				return errors.New("raw_data: field repeated")
			}
			rawSeen = true
			var p []byte
			if p, err = f.bytes(); err == nil {
				if err = d.charge(int64(len(p))); err == nil {
					t.raw = p // aliases data (see Decode)
				}
			}
		case 10:
			t.doubles, err = repeated(f, t.doubles, protowire.Fixed64Type, d.chargeElems(8), convFloat64)
		case 11:
			t.uint64s, err = repeated(f, t.uint64s, protowire.VarintType, d.chargeElems(8), convUint64)
		case 12:
			err = f.skip(protowire.BytesType)
		case 13:
			if err = f.skip(protowire.BytesType); err == nil {
				err = ErrExternalData
			}
		case 14:
			var loc int32
			if loc, err = f.int32(); err == nil {
				switch loc {
				case locationDefault:
				case locationExternal:
					err = ErrExternalData
				default:
					err = f.errorf("unknown data_location %d", loc)
				}
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, _, err := t.check(); err != nil {
		return nil, err
	}
	return t, nil
}
