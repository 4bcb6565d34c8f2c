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
	b, err := f.tail(addr)
	if err != nil {
		return nil, fmt.Errorf("v2 B-tree: %w", err)
	}
	r := f.newReader(b)
	r.signature("BTHD")
	if v := r.u8(); v != 0 && r.err == nil {
		return nil, fmt.Errorf("v2 B-tree version %d: %w", v, ErrUnsupported)
	}
	typ := r.u8()
	nodeSize := uint64(r.u32())
	recSize := int(r.u16())
	depth := int(r.u16())
	r.skip(2) // split and merge percents
	root := r.addr()
	rootN := int(r.u16())
	total := r.length()
	if r.err != nil {
		return nil, fmt.Errorf("v2 B-tree at %#x: %w", addr, r.err)
	}
	if err := verifyPrefix(b, r.off, "v2 B-tree header"); err != nil {
		return nil, err
	}
	if typ != wantType {
		return nil, fmt.Errorf("v2 B-tree at %#x: type %d, want %d", addr, typ, wantType)
	}
	const prefix = 10 // signature, version, type, checksum
	if recSize == 0 || nodeSize < prefix+uint64(recSize) || nodeSize > 1<<24 {
		return nil, fmt.Errorf("v2 B-tree at %#x: node size %d / record size %d invalid", addr, nodeSize, recSize)
	}
	if depth > f.opts.MaxDepth {
		return nil, fmt.Errorf("v2 B-tree at %#x: depth %d exceeds limit", addr, depth)
	}
	if root == undef || total == 0 {
		return nil, nil
	}
	// Per-level node capacities determine the widths of the child-pointer
	// record counts in internal nodes.
	type levelInfo struct {
		maxRec     uint64
		cumMax     uint64
		cumMaxSize int
	}
	info := make([]levelInfo, depth+1)
	info[0].maxRec = (nodeSize - prefix) / uint64(recSize)
	info[0].cumMax = info[0].maxRec
	maxRecSize := limitEncSize(info[0].maxRec)
	for d := 1; d <= depth; d++ {
		ptr := uint64(f.sizeOff + maxRecSize + info[d-1].cumMaxSize)
		if nodeSize < prefix+ptr {
			return nil, fmt.Errorf("v2 B-tree at %#x: node size too small for depth %d", addr, depth)
		}
		info[d].maxRec = (nodeSize - prefix - ptr) / (uint64(recSize) + ptr)
		cm, ok := mulCheck(info[d].maxRec+1, info[d-1].cumMax, 1<<62)
		if !ok {
			cm = 1 << 62
		}
		info[d].cumMax = min(cm+info[d].maxRec, 1<<62)
		info[d].cumMaxSize = limitEncSize(info[d].cumMax)
	}
	var recs [][]byte
	seen := map[uint64]bool{}
	var walk func(addr uint64, nrec, level int) error
	walk = func(addr uint64, nrec, level int) error {
		if seen[addr] {
			return fmt.Errorf("v2 B-tree node %#x: cycle", addr)
		}
		seen[addr] = true
		if uint64(nrec) > info[level].maxRec {
			return fmt.Errorf("v2 B-tree node %#x: %d records exceed capacity %d", addr, nrec, info[level].maxRec)
		}
		nb, err := f.slice(addr, nodeSize)
		if err != nil {
			return fmt.Errorf("v2 B-tree node: %w", err)
		}
		if err := f.spend(nodeSize); err != nil {
			return err
		}
		nr := f.newReader(nb)
		if level == 0 {
			nr.signature("BTLF")
		} else {
			nr.signature("BTIN")
		}
		nr.skip(1) // version
		if t := nr.u8(); t != typ && nr.err == nil {
			return fmt.Errorf("v2 B-tree node %#x: type %d, want %d", addr, t, typ)
		}
		start := len(recs)
		for i := 0; i < nrec; i++ {
			recs = append(recs, nr.bytes(recSize))
		}
		type kid struct {
			addr uint64
			n    int
		}
		var kids []kid
		if level > 0 {
			for i := 0; i <= nrec; i++ {
				a := nr.addr()
				n := nr.uint(maxRecSize)
				if level > 1 {
					nr.uint(info[level-1].cumMaxSize)
				}
				kids = append(kids, kid{a, int(min(n, 1<<30))})
			}
		}
		if nr.err != nil {
			return fmt.Errorf("v2 B-tree node %#x: %w", addr, nr.err)
		}
		if err := verifyPrefix(nb, nr.off, "v2 B-tree node"); err != nil {
			return fmt.Errorf("at %#x: %w", addr, err)
		}
		if level == 0 {
			return nil
		}
		// Interleave: child 0, record 0, child 1, record 1, ...
		own := append([][]byte(nil), recs[start:]...)
		recs = recs[:start]
		for i, k := range kids {
			if err := walk(k.addr, k.n, level-1); err != nil {
				return err
			}
			if i < len(own) {
				recs = append(recs, own[i])
			}
		}
		return nil
	}
	if err := walk(root, rootN, depth); err != nil {
		return nil, err
	}
	return recs, nil
}
