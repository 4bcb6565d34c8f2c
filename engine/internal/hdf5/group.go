package hdf5

import (
	"fmt"
	"sort"
	"strings"
)

// Group is an HDF5 group.
type Group struct {
	f    *File
	path string
	addr uint64
}

// Path returns the group's absolute path, such as "/model_weights/conv2d".
func (g *Group) Path() string { return g.path }

// link kinds.
const (
	linkHard     = 0
	linkSoft     = 1
	linkExternal = 64
)

// link is one named member of a group.
type link struct {
	name     string
	kind     int
	addr     uint64 // hard links
	target   string // soft links
	corder   int64
	hasOrder bool
}

// Members returns the names of the group's links: in creation order when the
// file tracks it, otherwise sorted by name (byte-wise).
func (g *Group) Members() ([]string, error) {
	links, err := g.f.links(g.addr)
	if err != nil {
		return nil, fmt.Errorf("hdf5: group %q: %w", g.path, err)
	}
	names := make([]string, len(links))
	for i, l := range links {
		names[i] = l.name
	}
	return names, nil
}

// Group returns the group at path, relative to g ("a/b"; a leading "/"
// starts from the root).
func (g *Group) Group(path string) (*Group, error) {
	addr, full, err := g.resolve(path)
	if err != nil {
		return nil, err
	}
	h, err := g.f.header(addr)
	if err != nil {
		return nil, fmt.Errorf("hdf5: group %q: %w", full, err)
	}
	if !isGroup(h) {
		return nil, fmt.Errorf("hdf5: %q is not a group", full)
	}
	return &Group{f: g.f, path: full, addr: addr}, nil
}

// Dataset returns the dataset at path, relative to g.
func (g *Group) Dataset(path string) (*Dataset, error) {
	addr, full, err := g.resolve(path)
	if err != nil {
		return nil, err
	}
	d, err := g.f.openDataset(addr, full)
	if err != nil {
		return nil, fmt.Errorf("hdf5: dataset %q: %w", full, err)
	}
	return d, nil
}

// Attrs returns the names of the group's attributes: in creation order when
// the file tracks it, otherwise sorted by name.
func (g *Group) Attrs() ([]string, error) {
	as, err := g.f.attributes(g.addr, g.path)
	if err != nil {
		return nil, fmt.Errorf("hdf5: group %q: %w", g.path, err)
	}
	return attrNames(as), nil
}

// Attr returns the named attribute of the group; the error wraps ErrNotFound
// when there is none.
func (g *Group) Attr(name string) (*Attribute, error) {
	return g.f.attr(g.addr, g.path, "group", name)
}

// isGroup reports whether an object header describes a group.
func isGroup(h *objectHeader) bool {
	return h.has(msgSymbolTable) || h.has(msgLinkInfo) || h.has(msgLink) || h.has(msgGroupInfo)
}

// joinPath appends name to the absolute path dir.
func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// resolve follows path from g to an object address, following soft links.
func (g *Group) resolve(path string) (uint64, string, error) {
	hops := 0
	return g.f.resolve(g.addr, g.path, path, &hops)
}

func (f *File) resolve(addr uint64, dir, path string, hops *int) (uint64, string, error) {
	if strings.HasPrefix(path, "/") {
		addr, dir = f.rootAddr, "/"
	}
	for _, name := range strings.Split(path, "/") {
		if name == "" || name == "." {
			continue
		}
		h, err := f.header(addr)
		if err != nil {
			return 0, "", fmt.Errorf("hdf5: group %q: %w", dir, err)
		}
		if !isGroup(h) {
			return 0, "", fmt.Errorf("hdf5: %q is not a group", dir)
		}
		links, err := f.links(addr)
		if err != nil {
			return 0, "", fmt.Errorf("hdf5: group %q: %w", dir, err)
		}
		var l *link
		for j := range links { // links may be in creation order, not by name
			if links[j].name == name {
				l = &links[j]
				break
			}
		}
		if l == nil {
			return 0, "", fmt.Errorf("hdf5: group %q: member %q: %w", dir, name, ErrNotFound)
		}
		full := joinPath(dir, name)
		switch l.kind {
		case linkHard:
			addr = l.addr
		case linkSoft:
			*hops++
			if *hops > f.opts.MaxDepth {
				return 0, "", fmt.Errorf("hdf5: %q: too many soft links", full)
			}
			addr, _, err = f.resolve(addr, dir, l.target, hops)
			if err != nil {
				return 0, "", err
			}
		default:
			return 0, "", fmt.Errorf("hdf5: %q: link type %d: %w", full, l.kind, ErrUnsupported)
		}
		dir = full
	}
	return addr, dir, nil
}

// links returns the links of the group whose header is at addr, sorted for
// Members.
func (f *File) links(addr uint64) ([]link, error) {
	f.mu.Lock()
	links, ok := f.linkCache[addr]
	f.mu.Unlock()
	if ok {
		return links, nil
	}
	links, err := f.readLinks(addr)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.linkCache[addr] = links
	f.mu.Unlock()
	return links, nil
}

func (f *File) readLinks(addr uint64) ([]link, error) {
	h, err := f.header(addr)
	if err != nil {
		return nil, err
	}
	var links []link
	tracked := false
	if m := h.find(msgSymbolTable); m != nil {
		if links, err = f.symbolTableLinks(m.data); err != nil {
			return nil, err
		}
	}
	for i := range h.msgs {
		m := &h.msgs[i]
		if m.typ != msgLink {
			continue
		}
		l, err := f.parseLink(m.data)
		if err != nil {
			return nil, err
		}
		links = append(links, l)
	}
	if m := h.find(msgLinkInfo); m != nil {
		r := f.newReader(m.data)
		if v := r.u8(); v != 0 && r.err == nil {
			return nil, fmt.Errorf("link info version %d: %w", v, ErrUnsupported)
		}
		flags := r.u8()
		if flags&1 != 0 {
			r.u64() // maximum creation index
		}
		heapAddr := r.addr()
		nameIndex := r.addr()
		if r.err != nil {
			return nil, fmt.Errorf("link info: %w", r.err)
		}
		tracked = flags&1 != 0
		if heapAddr != undef {
			dense, err := f.denseLinks(heapAddr, nameIndex)
			if err != nil {
				return nil, fmt.Errorf("dense links: %w", err)
			}
			links = append(links, dense...)
		}
	}
	for _, l := range links {
		if !l.hasOrder {
			tracked = false
		}
	}
	sort.SliceStable(links, func(i, j int) bool {
		if tracked && links[i].corder != links[j].corder {
			return links[i].corder < links[j].corder
		}
		return links[i].name < links[j].name
	})
	return links, nil
}

// symbolTableLinks reads the members of a symbol-table group.
func (f *File) symbolTableLinks(msg []byte) ([]link, error) {
	r := f.newReader(msg)
	btree, heapAddr := r.addr(), r.addr()
	if r.err != nil {
		return nil, fmt.Errorf("symbol table message: %w", r.err)
	}
	heap, err := f.readLocalHeap(heapAddr)
	if err != nil {
		return nil, err
	}
	var links []link
	entrySize := 2*f.sizeOff + 24
	err = f.btreeV1Walk(btree, 0, f.sizeLen, func(_ []byte, snod uint64) error {
		b, err := f.tail(snod)
		if err != nil {
			return fmt.Errorf("symbol table node: %w", err)
		}
		r := f.newReader(b)
		r.signature("SNOD")
		if v := r.u8(); v != 1 && r.err == nil {
			return fmt.Errorf("symbol table node version %d: %w", v, ErrUnsupported)
		}
		r.skip(1)
		n := int(r.u16())
		if r.err != nil {
			return fmt.Errorf("symbol table node %#x: %w", snod, r.err)
		}
		if n*entrySize > r.remaining() {
			return fmt.Errorf("symbol table node %#x: %d entries: %w", snod, n, errShort)
		}
		if len(links)+n > f.opts.MaxChunks {
			return fmt.Errorf("symbol table has too many entries")
		}
		for i := 0; i < n; i++ {
			nameOff := r.uint(f.sizeOff)
			obj := r.addr()
			cache := r.u32()
			r.skip(4)
			scratch := r.bytes(16)
			if r.err != nil {
				return fmt.Errorf("symbol table node %#x: %w", snod, r.err)
			}
			name, err := heap.str(nameOff)
			if err != nil {
				return fmt.Errorf("symbol table node %#x entry %d: %w", snod, i, err)
			}
			l := link{name: name, kind: linkHard, addr: obj}
			if cache == 2 { // symbolic link: scratch holds the value's heap offset
				target, err := heap.str(leUint(scratch[:4]))
				if err != nil {
					return fmt.Errorf("symbolic link %q: %w", name, err)
				}
				l = link{name: name, kind: linkSoft, target: target}
			}
			links = append(links, l)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("symbol table: %w", err)
	}
	return links, nil
}

// parseLink decodes a link message.
func (f *File) parseLink(b []byte) (link, error) {
	r := f.newReader(b)
	var l link
	if v := r.u8(); v != 1 {
		if r.err == nil {
			return l, fmt.Errorf("link message version %d: %w", v, ErrUnsupported)
		}
	}
	flags := r.u8()
	if flags&0x08 != 0 {
		l.kind = int(r.u8())
	}
	if flags&0x04 != 0 {
		l.corder = int64(r.u64())
		l.hasOrder = true
	}
	if flags&0x10 != 0 {
		r.u8() // name character set
	}
	n := r.uint(1 << (flags & 3))
	if r.err == nil && (n == 0 || n > uint64(r.remaining())) {
		return l, fmt.Errorf("link name length %d invalid", n)
	}
	l.name = string(r.bytes(int(n)))
	switch l.kind {
	case linkHard:
		l.addr = r.addr()
	case linkSoft:
		n := int(r.u16())
		l.target = string(r.bytes(n))
	default:
		n := int(r.u16())
		r.skip(n)
	}
	if r.err != nil {
		return l, fmt.Errorf("link message: %w", r.err)
	}
	if strings.Contains(l.name, "/") || strings.IndexByte(l.name, 0) >= 0 {
		return l, fmt.Errorf("link name %q invalid", l.name)
	}
	return l, nil
}

// denseLinks reads links stored in a fractal heap, indexed by name.
func (f *File) denseLinks(heapAddr, nameIndex uint64) ([]link, error) {
	heap, err := f.readFractalHeap(heapAddr, f.opts.MaxDepth)
	if err != nil {
		return nil, err
	}
	recs, err := f.btreeV2Records(nameIndex, 5)
	if err != nil {
		return nil, err
	}
	links := make([]link, 0, len(recs))
	for _, rec := range recs {
		if len(rec) < 4+heap.idLen {
			return nil, fmt.Errorf("link name record of %d bytes too short", len(rec))
		}
		obj, err := heap.object(rec[4 : 4+heap.idLen])
		if err != nil {
			return nil, err
		}
		l, err := f.parseLink(obj)
		if err != nil {
			return nil, err
		}
		links = append(links, l)
	}
	return links, nil
}
