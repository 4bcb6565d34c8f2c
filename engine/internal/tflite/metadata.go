package tflite

import (
	"encoding/binary"
	"fmt"
	"math"
)

// MetadataName is the name of the metadata entry that holds a model's
// TFLite metadata: a FlatBuffer of its own (file identifier "M001",
// tensorflow/lite/experimental/support/metadata/metadata_schema.fbs) in
// the entry's buffer.
const MetadataName = "TFLITE_METADATA"

// Metadata is one entry of a model's metadata list (schema table
// Metadata): a name and the buffer that holds its data.
type Metadata struct {
	Name   string
	Buffer uint32 // index into Model.Buffers, checked
}

// Normalization is the normalization an input tensor's metadata asks for
// (metadata schema table NormalizationOptions): the tensor takes
// (v - Mean[c]) / Std[c] of the image's values v, one Mean and Std for all
// channels or one per channel. For images, v are the pixel values in
// [0, 255].
type Normalization struct {
	Mean, Std []float32
}

// metadata field numbers (metadata_schema.fbs, in schema order; a union
// takes two).
const (
	mdModelSubgraphs  = 3 // ModelMetadata.subgraph_metadata
	mdSubgraphInputs  = 2 // SubGraphMetadata.input_tensor_metadata
	mdTensorUnits     = 4 // TensorMetadata.process_units
	mdUnitOptionsType = 0 // ProcessUnit.options_type
	mdUnitOptions     = 1 // ProcessUnit.options
	mdNormMean        = 0 // NormalizationOptions.mean
	mdNormStd         = 1 // NormalizationOptions.std
	mdNormalization   = 1 // ProcessUnitOptions.NormalizationOptions
)

// metadataList decodes the model's metadata entries (Model field 6) and
// checks their buffer indices.
func (m *Model) metadataList(root Table) error {
	list, err := root.Tables(6)
	if err != nil {
		return err
	}
	for i, e := range list {
		name, err := e.String(0)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		b := uint32(e.Int(1, 0))
		if int(b) >= len(m.Buffers) {
			return fmt.Errorf("%w: entry %d %q: buffer %d of %d", ErrFormat, i, name, b, len(m.Buffers))
		}
		m.Metadata = append(m.Metadata, Metadata{Name: name, Buffer: b})
	}
	return nil
}

// InputNormalization returns the normalization that the model's TFLite
// metadata gives input k of its first subgraph: the first
// NormalizationOptions among the input's process units. ok is false when
// the model has no TFLite metadata or it gives that input none. Every
// offset of the metadata is checked against its buffer; an error wraps
// ErrFormat.
func (m *Model) InputNormalization(k int) (n Normalization, ok bool, err error) {
	for _, e := range m.Metadata {
		if e.Name == MetadataName {
			n, ok, err = normalization(m.Buffers[e.Buffer], k)
			if err != nil {
				return n, false, fmt.Errorf("%s: %w", MetadataName, err)
			}
			return n, ok, nil
		}
	}
	return n, false, nil
}

// normalization reads input k's NormalizationOptions from buf, a
// ModelMetadata FlatBuffer.
func normalization(buf []byte, k int) (Normalization, bool, error) {
	if len(buf) < 8 {
		return Normalization{}, false, fmt.Errorf("%w: %d bytes, too short for a FlatBuffer", ErrFormat, len(buf))
	}
	root, err := table(buf, int(binary.LittleEndian.Uint32(buf)))
	if err != nil {
		return Normalization{}, false, err
	}
	subs, err := root.Tables(mdModelSubgraphs)
	if err != nil || len(subs) == 0 {
		return Normalization{}, false, err
	}
	ins, err := subs[0].Tables(mdSubgraphInputs)
	if err != nil || k < 0 || k >= len(ins) {
		return Normalization{}, false, err
	}
	units, err := ins[k].Tables(mdTensorUnits)
	if err != nil {
		return Normalization{}, false, err
	}
	for i, u := range units {
		if uint8(u.Int8(mdUnitOptionsType, 0)) != mdNormalization {
			continue
		}
		opts, present, err := u.Table(mdUnitOptions)
		if err != nil || !present {
			return Normalization{}, false, fmt.Errorf("%w: process unit %d: normalization without options (%v)", ErrFormat, i, err)
		}
		var n Normalization
		if n.Mean, err = opts.Float32s(mdNormMean); err != nil {
			return Normalization{}, false, fmt.Errorf("process unit %d: mean: %w", i, err)
		}
		if n.Std, err = opts.Float32s(mdNormStd); err != nil {
			return Normalization{}, false, fmt.Errorf("process unit %d: std: %w", i, err)
		}
		return n, true, nil
	}
	return Normalization{}, false, nil
}

// Affine returns, for images of c channels, the per-channel scale and
// shift that map the engine's pixels x = v/255 to what the tensor takes,
// (255x - Mean)/Std = x*(255/Std) + (-Mean/Std); one value each when
// Mean and Std have one. It refuses a Mean or Std with neither 1 nor c
// values, and a Std that is zero or not finite.
func (n Normalization) Affine(c int) (scale, shift []float32, err error) {
	if len(n.Mean) != 1 && len(n.Mean) != c || len(n.Std) != 1 && len(n.Std) != c {
		return nil, nil, fmt.Errorf("normalization with %d means and %d standard deviations for %d channels", len(n.Mean), len(n.Std), c)
	}
	k := max(len(n.Mean), len(n.Std))
	at := func(v []float32, i int) float64 { return float64(v[min(i, len(v)-1)]) }
	for i := range k {
		mean, std := at(n.Mean, i), at(n.Std, i)
		if std == 0 || math.IsNaN(std) || math.IsInf(std, 0) || math.IsNaN(mean) || math.IsInf(mean, 0) {
			return nil, nil, fmt.Errorf("normalization of channel %d: mean %g, standard deviation %g", i, mean, std)
		}
		scale = append(scale, float32(255/std))
		shift = append(shift, float32(-mean/std))
	}
	return scale, shift, nil
}
