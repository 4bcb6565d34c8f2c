package hdf5

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
)

// Filter identifiers.
const (
	filterDeflate = 1
	filterShuffle = 2
)

var filterNames = map[uint16]string{
	1: "deflate", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset",
	32000: "lzf", 32001: "blosc", 32004: "lz4", 32008: "bitshuffle", 32015: "zstd",
}

// filter is one stage of a dataset's filter pipeline.
type filter struct {
	id       uint16
	name     string
	optional bool
	params   []uint32
}

// parseFilters decodes a filter pipeline message (versions 1 and 2) and
// refuses any filter other than deflate and shuffle.
func (f *File) parseFilters(b []byte) ([]filter, error) {
	r := f.newReader(b)
	version := r.u8()
	n := int(r.u8())
	if r.err != nil {
		return nil, fmt.Errorf("filter pipeline: %w", r.err)
	}
	switch version {
	case 1:
		r.skip(6)
	case 2:
	default:
		return nil, fmt.Errorf("filter pipeline version %d: %w", version, ErrUnsupported)
	}
	if n > 32 {
		return nil, fmt.Errorf("filter pipeline of %d filters invalid", n)
	}
	var fs []filter
	for i := 0; i < n; i++ {
		var fl filter
		fl.id = r.u16()
		nameLen := 0
		if version == 1 || fl.id >= 256 {
			nameLen = int(r.u16())
		}
		flags := r.u16()
		fl.optional = flags&1 != 0
		nvals := int(r.u16())
		if version == 1 {
			nameLen = (nameLen + 7) &^ 7
		}
		name := r.bytes(nameLen)
		if j := bytes.IndexByte(name, 0); j >= 0 {
			name = name[:j]
		}
		fl.name = string(name)
		for j := 0; j < nvals && r.err == nil; j++ {
			fl.params = append(fl.params, r.u32())
		}
		if version == 1 && nvals%2 == 1 {
			r.skip(4)
		}
		if r.err != nil {
			return nil, fmt.Errorf("filter pipeline: filter %d: %w", i, r.err)
		}
		if fl.id != filterDeflate && fl.id != filterShuffle {
			label := filterNames[fl.id]
			if label == "" {
				label = fl.name
			}
			return nil, fmt.Errorf("filter %d (%q): %w", fl.id, label, ErrUnsupported)
		}
		fs = append(fs, fl)
	}
	return fs, nil
}

// unfilter reverses the pipeline on one chunk. mask has bit i set when
// filter i was skipped for this chunk. The result must be exactly size
// bytes.
func unfilter(fs []filter, mask uint32, data []byte, size int, elemSize int) ([]byte, error) {
	for i := len(fs) - 1; i >= 0; i-- {
		if i < 32 && mask&(1<<i) != 0 {
			continue
		}
		var err error
		switch fs[i].id {
		case filterDeflate:
			data, err = inflate(data, size)
		case filterShuffle:
			es := elemSize
			if len(fs[i].params) > 0 && fs[i].params[0] > 0 && fs[i].params[0] < 1<<16 {
				es = int(fs[i].params[0])
			}
			data, err = unshuffle(data, es)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filterNames[fs[i].id], err)
		}
	}
	if len(data) != size {
		return nil, fmt.Errorf("chunk decodes to %d bytes, want %d", len(data), size)
	}
	return data, nil
}

// inflate decompresses zlib data that must expand to exactly size bytes.
func inflate(data []byte, size int) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	out := make([]byte, size)
	if _, err := io.ReadFull(zr, out); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	// Reading on verifies the Adler-32 checksum and rejects excess output.
	var one [1]byte
	if n, err := zr.Read(one[:]); n != 0 || err != io.EOF {
		if err == nil || n != 0 {
			return nil, fmt.Errorf("data inflates to more than %d bytes", size)
		}
		return nil, err
	}
	return out, nil
}

// unshuffle reverses the byte shuffle filter: the input holds byte 0 of
// every element, then byte 1 of every element, and so on; trailing bytes
// that do not fill an element are stored as is.
func unshuffle(data []byte, es int) ([]byte, error) {
	if es <= 1 {
		return data, nil
	}
	n := len(data) / es
	out := make([]byte, len(data))
	for b := 0; b < es; b++ {
		src := data[b*n : (b+1)*n]
		for i, c := range src {
			out[i*es+b] = c
		}
	}
	copy(out[n*es:], data[n*es:])
	return out, nil
}
