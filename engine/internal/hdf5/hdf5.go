// Package hdf5 is a minimal, strict, pure-Go (no cgo) reader for the subset
// of HDF5 that h5py and Keras write.
//
// There is no usable HDF5 module for Go in this project, so this package is
// hand-written from the HDF5 File Format Specification (version 3.0). It reads
// a file held entirely in memory and exposes groups, datasets and attributes:
//
//	f, err := hdf5.Open(data)
//	cfg, err := f.Root().Attr("model_config")
//	kernel, err := f.Root().Dataset("model_weights/dense/dense/kernel:0")
//	w, err := kernel.Float32s()
//
// Supported: superblock versions 0 to 3; object header versions 1 and 2
// (continuation blocks, lookup3 checksums verified); groups stored as symbol
// tables (v1 B-tree, local heap, symbol table nodes), as compact link
// messages, or densely (fractal heap indexed by a v2 B-tree); hard and soft
// links; compact and dense attributes; compact, contiguous and chunked
// datasets, the latter indexed by a v1 B-tree or by a Single Chunk, Implicit
// or Fixed Array index; the deflate and shuffle filters; fixed-point integers
// of 1, 2, 4 and 8 bytes, IEEE floats of 2, 4 and 8 bytes (either byte
// order), fixed-length strings and variable-length strings (global heap).
//
// Refused with an error wrapping ErrUnsupported: Extensible Array and v2
// B-tree chunk indexes (datasets with unlimited dimensions under
// libver="latest"), virtual datasets, external storage, other filters,
// compound/enum/array/reference/opaque datatypes (reading them; the objects
// still open), shared (committed) messages, huge fractal heap objects and
// external links.
//
// The input is treated as hostile: every size, offset, count and dimension is
// checked against the data and against the limits in OpenOptions, so a
// corrupt, truncated or lying file yields an error, never a panic, an
// unbounded allocation or an endless loop.
package hdf5

import (
	"errors"
	"fmt"
	"sync"
)

// ErrNotFound is wrapped by errors for a group member or attribute that does
// not exist.
var ErrNotFound = errors.New("not found")

// ErrUnsupported is wrapped by errors for valid HDF5 features that this
// package does not implement.
var ErrUnsupported = errors.New("unsupported")

// Default limits; see OpenOptions.
const (
	DefaultMaxDatasetBytes   = 1 << 30
	DefaultMaxRank           = 32
	DefaultMaxHeaderMessages = 1 << 16
	DefaultMaxChunks         = 1 << 20
	DefaultMaxDepth          = 64
)

// OpenOptions bounds the work and memory one file may cause. Zero fields take
// the defaults above.
type OpenOptions struct {
	// MaxDatasetBytes bounds the decoded size of one dataset or attribute
	// value, including every decompressed chunk.
	MaxDatasetBytes int64
	// MaxRank bounds the number of dimensions of a dataspace.
	MaxRank int
	// MaxHeaderMessages bounds the messages (and continuation blocks) of one
	// object header.
	MaxHeaderMessages int
	// MaxChunks bounds the number of chunks of one dataset.
	MaxChunks int
	// MaxDepth bounds the nesting of B-trees, heaps, datatypes and soft-link
	// resolution.
	MaxDepth int
	// MaxTotalBytes, if positive, bounds the decoded bytes of all the
	// datasets read from the file together, counted before each is
	// allocated: a small file whose datasets declare gigabytes of fill
	// value or of highly compressed data is refused after reading at most
	// this much, not after allocating it all.
	MaxTotalBytes int64
}

func (o OpenOptions) withDefaults() OpenOptions {
	if o.MaxDatasetBytes <= 0 {
		o.MaxDatasetBytes = DefaultMaxDatasetBytes
	}
	if o.MaxRank <= 0 {
		o.MaxRank = DefaultMaxRank
	}
	if o.MaxHeaderMessages <= 0 {
		o.MaxHeaderMessages = DefaultMaxHeaderMessages
	}
	if o.MaxChunks <= 0 {
		o.MaxChunks = DefaultMaxChunks
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	return o
}

// Class is the kind of an element type.
type Class int

// Element classes.
const (
	Other  Class = iota // a type this package cannot convert (compound, enum, ...)
	Int                 // fixed-point integer
	Float               // IEEE floating point
	String              // fixed-length or variable-length string
)

// String returns the class name.
func (c Class) String() string {
	switch c {
	case Int:
		return "int"
	case Float:
		return "float"
	case String:
		return "string"
	}
	return "other"
}

// File is an open HDF5 file. Its methods, and those of the groups, datasets
// and attributes reached from it, are safe for concurrent use.
type File struct {
	data     []byte // whole file; addresses are relative to base
	base     uint64 // absolute offset of the superblock
	eof      uint64 // end-of-file address, relative to base
	sizeOff  int    // size of addresses in bytes
	sizeLen  int    // size of lengths in bytes
	sbVer    int
	rootAddr uint64
	opts     OpenOptions

	mu      sync.Mutex
	headers map[uint64]*objectHeader
	gheaps  map[uint64]map[uint16][]byte
	// linkCache holds each group's sorted links, by header address.
	linkCache map[uint64][]link
	// work counts metadata bytes decoded so far; see spend.
	work uint64
	// decoded counts dataset bytes decoded so far; see reserve.
	decoded uint64
	// attrCache holds each object's sorted attributes, by header address.
	attrCache map[uint64][]*Attribute
}

// Open parses an HDF5 file held entirely in memory. data is not copied and
// must not change while the File is in use.
func Open(data []byte) (*File, error) {
	return OpenWithOptions(data, OpenOptions{})
}

// OpenWithOptions is Open with explicit limits.
func OpenWithOptions(data []byte, opts OpenOptions) (*File, error) {
	f := &File{
		data:      data,
		opts:      opts.withDefaults(),
		headers:   make(map[uint64]*objectHeader),
		gheaps:    make(map[uint64]map[uint16][]byte),
		linkCache: make(map[uint64][]link),
		attrCache: make(map[uint64][]*Attribute),
	}
	if err := f.readSuperblock(); err != nil {
		return nil, fmt.Errorf("hdf5: superblock: %w", err)
	}
	if _, err := f.header(f.rootAddr); err != nil {
		return nil, fmt.Errorf("hdf5: root group: %w", err)
	}
	return f, nil
}

// SuperblockVersion reports the version of the file's superblock (0 to 3).
func (f *File) SuperblockVersion() int { return f.sbVer }

// Root returns the root group "/".
func (f *File) Root() *Group {
	return &Group{f: f, path: "/", addr: f.rootAddr}
}

// undef is the "undefined address" value (all bits set) after widening.
const undef = ^uint64(0)

// slice returns n bytes at file address addr, or an error when the range is
// undefined or outside the file.
func (f *File) slice(addr, n uint64) ([]byte, error) {
	if addr == undef {
		return nil, errors.New("undefined address")
	}
	end := f.eof
	if addr > end || n > end-addr {
		return nil, fmt.Errorf("range [%#x, +%d) outside file of %d bytes", addr, n, end)
	}
	start := f.base + addr
	return f.data[start : start+n : start+n], nil
}

// tail returns the bytes from address addr to the end of the file.
func (f *File) tail(addr uint64) ([]byte, error) {
	if addr == undef {
		return nil, errors.New("undefined address")
	}
	if addr >= f.eof {
		return nil, fmt.Errorf("address %#x outside file of %d bytes", addr, f.eof)
	}
	return f.slice(addr, f.eof-addr)
}

// spend charges n bytes of metadata decoding against a file-wide budget
// proportional to the file's size. Well-formed files decode each structure
// once, so they stay far below it; hostile files whose structures overlap or
// are referenced many times would otherwise cost quadratic time.
func (f *File) spend(n uint64) error {
	budget := 16*uint64(len(f.data)) + 64<<20
	f.mu.Lock()
	defer f.mu.Unlock()
	f.work += min(n, budget)
	if f.work > budget {
		return fmt.Errorf("metadata work budget of %d bytes exhausted", budget)
	}
	return nil
}

// reserve counts n more decoded dataset bytes against MaxTotalBytes, before
// they are allocated.
func (f *File) reserve(n uint64) error {
	if f.opts.MaxTotalBytes <= 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.decoded+n > uint64(f.opts.MaxTotalBytes) {
		return fmt.Errorf("the datasets read so far (%d bytes) and this one (%d) exceed the file's budget of %d decoded bytes",
			f.decoded, n, f.opts.MaxTotalBytes)
	}
	f.decoded += n
	return nil
}

// checkMem reports an error when n bytes exceed the per-dataset limit.
func (f *File) checkMem(n uint64, what string) error {
	if n > uint64(f.opts.MaxDatasetBytes) {
		return fmt.Errorf("%s of %d bytes exceeds limit of %d", what, n, f.opts.MaxDatasetBytes)
	}
	return nil
}

// mulCheck multiplies a and b, reporting overflow past limit.
func mulCheck(a, b, limit uint64) (uint64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	if a > limit/b {
		return 0, false
	}
	return a * b, true
}
