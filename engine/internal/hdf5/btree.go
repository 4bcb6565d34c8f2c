package hdf5

import (
	"fmt"
)

// btreeV1Walk visits the leaf entries of a version-1 B-tree ("TREE") of the
// given node type (0: group symbol nodes, 1: raw data chunks). keySize is the
// size of one key; leaf is called with the key to the left of each child and
// the child address. Cycles and excessive depth are errors.
func (f *File) btreeV1Walk(addr uint64, nodeType uint8, keySize int, leaf func(key []byte, child uint64) error) error {
	seen := map[uint64]bool{}
	entries := 0
	var walk func(addr uint64, wantLevel int) error
	walk = func(addr uint64, wantLevel int) error {
		if seen[addr] {
			return fmt.Errorf("v1 B-tree node %#x: cycle", addr)
		}
		seen[addr] = true
		b, err := f.tail(addr)
		if err != nil {
			return fmt.Errorf("v1 B-tree node: %w", err)
		}
		r := f.newReader(b)
		r.signature("TREE")
		typ := r.u8()
		level := int(r.u8())
		n := int(r.u16())
		r.addr() // left sibling
		r.addr() // right sibling
		if r.err != nil {
			return fmt.Errorf("v1 B-tree node %#x: %w", addr, r.err)
		}
		if typ != nodeType {
			return fmt.Errorf("v1 B-tree node %#x: type %d, want %d", addr, typ, nodeType)
		}
		if wantLevel >= 0 && level != wantLevel {
			return fmt.Errorf("v1 B-tree node %#x: level %d, want %d", addr, level, wantLevel)
		}
		if level > f.opts.MaxDepth {
			return fmt.Errorf("v1 B-tree node %#x: level %d exceeds depth limit", addr, level)
		}
		entries += n
		if err := f.spend(uint64(n * (keySize + f.sizeOff))); err != nil {
			return err
		}
		if entries > f.opts.MaxChunks+f.opts.MaxHeaderMessages {
			return fmt.Errorf("v1 B-tree has too many entries")
		}
		type kid struct {
			key  []byte
			addr uint64
		}
		kids := make([]kid, 0, min(n, r.remaining()/(keySize+f.sizeOff)+1))
		for i := 0; i < n; i++ {
			key := r.bytes(keySize)
			child := r.addr()
			if r.err != nil {
				return fmt.Errorf("v1 B-tree node %#x: entry %d: %w", addr, i, r.err)
			}
			kids = append(kids, kid{key, child})
		}
		for _, k := range kids {
			if level == 0 {
				if err := leaf(k.key, k.addr); err != nil {
					return err
				}
			} else if err := walk(k.addr, level-1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(addr, -1)
}

// btreeV2Records returns the records of a version-2 B-tree ("BTHD") of the
// given record type, in tree order.
func (f *File) btreeV2Records(addr uint64, wantType uint8) ([][]byte, error) {
	t, err := f.btreeV2Header(addr, wantType)
	if err != nil || t == nil {
		return nil, err
	}
	if err := t.walk(t.root, t.rootN, t.depth); err != nil {
		return nil, err
	}
	return t.recs, nil
}

// btreeV2 is a version-2 B-tree being read.
type btreeV2 struct {
	f          *File
	typ        uint8
	nodeSize   uint64
	recSize    int
	depth      int
	root       uint64
	rootN      int
	levels     []btreeV2Level // per depth, leaves first
	maxRecSize int            // bytes of a child's record count
	recs       [][]byte       // the records read, in tree order
	seen       map[uint64]bool
}

// btreeV2Level is the capacity of the nodes at one depth: it sets the
// widths of the child-pointer record counts in internal nodes.
type btreeV2Level struct {
	maxRec     uint64
	cumMax     uint64
	cumMaxSize int
}

// btreeV2Prefix is the bytes of a node that are not records: signature,
// version, type, checksum.
const btreeV2Prefix = 10

// btreeV2Header reads and checks the header at addr; a nil tree means an
// empty one.
func (f *File) btreeV2Header(addr uint64, wantType uint8) (*btreeV2, error) {
	b, err := f.tail(addr)
	if err != nil {
		return nil, fmt.Errorf("v2 B-tree: %w", err)
	}
	r := f.newReader(b)
	r.signature("BTHD")
	if v := r.u8(); v != 0 && r.err == nil {
		return nil, fmt.Errorf("v2 B-tree version %d: %w", v, ErrUnsupported)
	}
	t := &btreeV2{f: f, seen: map[uint64]bool{}}
	t.typ = r.u8()
	t.nodeSize = uint64(r.u32())
	t.recSize = int(r.u16())
	t.depth = int(r.u16())
	r.skip(2) // split and merge percents
	t.root = r.addr()
	t.rootN = int(r.u16())
	total := r.length()
	if r.err != nil {
		return nil, fmt.Errorf("v2 B-tree at %#x: %w", addr, r.err)
	}
	if err := verifyPrefix(b, r.off, "v2 B-tree header"); err != nil {
		return nil, err
	}
	if t.typ != wantType {
		return nil, fmt.Errorf("v2 B-tree at %#x: type %d, want %d", addr, t.typ, wantType)
	}
	if t.recSize == 0 || t.nodeSize < btreeV2Prefix+uint64(t.recSize) || t.nodeSize > 1<<24 {
		return nil, fmt.Errorf("v2 B-tree at %#x: node size %d / record size %d invalid", addr, t.nodeSize, t.recSize)
	}
	if t.depth > f.opts.MaxDepth {
		return nil, fmt.Errorf("v2 B-tree at %#x: depth %d exceeds limit", addr, t.depth)
	}
	if t.root == undef || total == 0 {
		return nil, nil
	}
	if err := t.capacities(); err != nil {
		return nil, fmt.Errorf("v2 B-tree at %#x: %w", addr, err)
	}
	return t, nil
}

// capacities computes the node capacity of each depth.
func (t *btreeV2) capacities() error {
	t.levels = make([]btreeV2Level, t.depth+1)
	t.levels[0].maxRec = (t.nodeSize - btreeV2Prefix) / uint64(t.recSize)
	t.levels[0].cumMax = t.levels[0].maxRec
	t.maxRecSize = limitEncSize(t.levels[0].maxRec)
	for d := 1; d <= t.depth; d++ {
		ptr := uint64(t.f.sizeOff + t.maxRecSize + t.levels[d-1].cumMaxSize)
		if t.nodeSize < btreeV2Prefix+ptr {
			return fmt.Errorf("node size too small for depth %d", t.depth)
		}
		t.levels[d].maxRec = (t.nodeSize - btreeV2Prefix - ptr) / (uint64(t.recSize) + ptr)
		cm, ok := mulCheck(t.levels[d].maxRec+1, t.levels[d-1].cumMax, 1<<62)
		if !ok {
			cm = 1 << 62
		}
		t.levels[d].cumMax = min(cm+t.levels[d].maxRec, 1<<62)
		t.levels[d].cumMaxSize = limitEncSize(t.levels[d].cumMax)
	}
	return nil
}

// btreeV2Child is a child pointer of an internal node.
type btreeV2Child struct {
	addr uint64
	n    int // its records
}

// walk appends the records of the node at addr (nrec records, at level)
// and of its subtree to t.recs, in tree order.
func (t *btreeV2) walk(addr uint64, nrec, level int) error {
	if t.seen[addr] {
		return fmt.Errorf("v2 B-tree node %#x: cycle", addr)
	}
	t.seen[addr] = true
	if uint64(nrec) > t.levels[level].maxRec {
		return fmt.Errorf("v2 B-tree node %#x: %d records exceed capacity %d", addr, nrec, t.levels[level].maxRec)
	}
	own, kids, err := t.node(addr, nrec, level)
	if err != nil || level == 0 {
		t.recs = append(t.recs, own...)
		return err
	}
	// Interleave: child 0, record 0, child 1, record 1, ...
	for i, k := range kids {
		if err := t.walk(k.addr, k.n, level-1); err != nil {
			return err
		}
		if i < len(own) {
			t.recs = append(t.recs, own[i])
		}
	}
	return nil
}

// node reads the node at addr: its records and, above the leaves, its
// children.
func (t *btreeV2) node(addr uint64, nrec, level int) (own [][]byte, kids []btreeV2Child, err error) {
	nb, err := t.f.slice(addr, t.nodeSize)
	if err != nil {
		return nil, nil, fmt.Errorf("v2 B-tree node: %w", err)
	}
	if err := t.f.spend(t.nodeSize); err != nil {
		return nil, nil, err
	}
	nr := t.f.newReader(nb)
	if level == 0 {
		nr.signature("BTLF")
	} else {
		nr.signature("BTIN")
	}
	nr.skip(1) // version
	if typ := nr.u8(); typ != t.typ && nr.err == nil {
		return nil, nil, fmt.Errorf("v2 B-tree node %#x: type %d, want %d", addr, typ, t.typ)
	}
	for i := 0; i < nrec; i++ {
		own = append(own, nr.bytes(t.recSize))
	}
	if level > 0 {
		for i := 0; i <= nrec; i++ {
			a := nr.addr()
			n := nr.uint(t.maxRecSize)
			if level > 1 {
				nr.uint(t.levels[level-1].cumMaxSize)
			}
			kids = append(kids, btreeV2Child{a, int(min(n, 1<<30))})
		}
	}
	if nr.err != nil {
		return nil, nil, fmt.Errorf("v2 B-tree node %#x: %w", addr, nr.err)
	}
	if err := verifyPrefix(nb, nr.off, "v2 B-tree node"); err != nil {
		return nil, nil, fmt.Errorf("at %#x: %w", addr, err)
	}
	return own, kids, nil
}
