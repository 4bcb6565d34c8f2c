package hdf5

import (
	"encoding/binary"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzOpts are tight limits so hostile inputs cannot make tests slow.
var fuzzOpts = OpenOptions{
	MaxDatasetBytes:   1 << 20,
	MaxChunks:         1 << 12,
	MaxHeaderMessages: 1 << 10,
	MaxDepth:          32,
}

// walk opens data and reads everything reachable: every group, member,
// attribute and dataset. It returns the first error from Open only; other
// errors are expected for hostile inputs and ignored. It must never panic.
func walk(data []byte, opts OpenOptions) error {
	f, err := OpenWithOptions(data, opts)
	if err != nil {
		return err
	}
	seen := map[uint64]bool{}
	var visit func(g *Group, depth int)
	attrs := func(names []string, get func(string) (*Attribute, error)) {
		for _, n := range names {
			a, err := get(n)
			if err != nil {
				continue
			}
			a.Shape()
			a.Class()
			a.Strings()
			a.String()
			a.Float64s()
			a.Int64s()
		}
	}
	visit = func(g *Group, depth int) {
		if depth > 16 || seen[g.addr] {
			return
		}
		seen[g.addr] = true
		names, _ := g.Attrs()
		attrs(names, g.Attr)
		g.Attr("missing")
		members, _ := g.Members()
		for _, m := range members {
			if sub, err := g.Group(m); err == nil {
				visit(sub, depth+1)
				continue
			}
			d, err := g.Dataset(m)
			if err != nil {
				continue
			}
			d.Shape()
			d.Class()
			d.Float32s()
			names, _ := d.Attrs()
			attrs(names, d.Attr)
		}
	}
	visit(f.Root(), 0)
	return nil
}

func fixtures(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.h5"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// setEOF rewrites the superblock's end-of-file address (and checksum) so
// that a truncated file claims to be complete and parsing goes deeper.
func setEOF(b []byte, eof uint64) {
	switch b[8] {
	case 0:
		binary.LittleEndian.PutUint64(b[40:], eof)
	case 1:
		binary.LittleEndian.PutUint64(b[44:], eof)
	case 2, 3:
		binary.LittleEndian.PutUint64(b[28:], eof)
		binary.LittleEndian.PutUint32(b[44:], lookup3(b[:44], 0))
	}
}

func TestTruncation(t *testing.T) {
	for name, data := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			step := max(1, len(data)/400)
			for n := 0; n < len(data); n += step {
				if n > 1024 && step > 1 {
					n += rand.New(rand.NewSource(int64(n))).Intn(step)
				}
				if n >= len(data) {
					break
				}
				prefix := data[:n:n]
				if err := walk(prefix, fuzzOpts); err == nil {
					t.Errorf("prefix of %d bytes opened without error", n)
				}
				if n >= 48 {
					lying := append([]byte(nil), prefix...)
					setEOF(lying, uint64(n))
					walk(lying, fuzzOpts) // errors fine, panics not
				}
			}
		})
	}
}

func TestBitFlips(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for name, data := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			n := 300
			if testing.Short() {
				n = 50
			}
			buf := make([]byte, len(data))
			for i := 0; i < n; i++ {
				copy(buf, data)
				for j := 0; j < 1+rng.Intn(4); j++ {
					buf[rng.Intn(len(buf))] ^= 1 << rng.Intn(8)
				}
				walk(buf, fuzzOpts)
			}
		})
	}
}

// builder assembles small hand-made files: superblock version 0 and
// version-1 object headers, which carry no checksums.
type builder struct{ b []byte }

func newBuilder() *builder {
	b := &builder{b: make([]byte, 96)}
	copy(b.b, signature)
	b.b[13], b.b[14] = 8, 8 // sizes of offsets and lengths
	binary.LittleEndian.PutUint16(b.b[16:], 4)
	binary.LittleEndian.PutUint16(b.b[18:], 16)
	for _, off := range []int{32, 48} { // free space, driver info: undefined
		binary.LittleEndian.PutUint64(b.b[off:], ^uint64(0))
	}
	return b
}

// setRoot points the root symbol table entry at a header.
func (b *builder) setRoot(addr uint64) { binary.LittleEndian.PutUint64(b.b[64:], addr) }

// add appends raw bytes (8-byte aligned) and returns their address.
func (b *builder) add(p []byte) uint64 {
	for len(b.b)%8 != 0 {
		b.b = append(b.b, 0)
	}
	addr := uint64(len(b.b))
	b.b = append(b.b, p...)
	return addr
}

// bytes finalizes the end-of-file address.
func (b *builder) bytes() []byte {
	binary.LittleEndian.PutUint64(b.b[40:], uint64(len(b.b)))
	return b.b
}

type msg struct {
	typ  uint16
	data []byte
}

// header encodes a version-1 object header.
func header(msgs ...msg) []byte {
	var body []byte
	for _, m := range msgs {
		d := append([]byte(nil), m.data...)
		for len(d)%8 != 0 {
			d = append(d, 0)
		}
		h := make([]byte, 8)
		binary.LittleEndian.PutUint16(h, m.typ)
		binary.LittleEndian.PutUint16(h[2:], uint16(len(d)))
		body = append(append(body, h...), d...)
	}
	p := make([]byte, 16)
	p[0] = 1
	binary.LittleEndian.PutUint16(p[2:], uint16(len(msgs)))
	binary.LittleEndian.PutUint32(p[4:], 1)
	binary.LittleEndian.PutUint32(p[8:], uint32(len(body)))
	return append(p, body...)
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var float32Type = msg{msgDatatype, []byte{0x11, 0x20, 0x1f, 0x00, 4, 0, 0, 0,
	0, 0, 32, 0, 23, 8, 0, 23, 127, 0, 0, 0}}

func space(dims ...uint64) msg {
	d := []byte{1, byte(len(dims)), 0, 0, 0, 0, 0, 0}
	for _, v := range dims {
		d = append(d, u64(v)...)
	}
	return msg{msgDataspace, d}
}

func hardLink(name string, addr uint64) msg {
	return msg{msgLink, cat([]byte{1, 0, byte(len(name))}, []byte(name), u64(addr))}
}

func softLink(name, target string) msg {
	return msg{msgLink, cat([]byte{1, 0x08, 1, byte(len(name))}, []byte(name),
		[]byte{byte(len(target)), 0}, []byte(target))}
}

// oneDataset builds a file whose root holds dataset "d" with the messages.
func oneDataset(msgs ...msg) []byte {
	b := newBuilder()
	d := b.add(header(msgs...))
	b.setRoot(b.add(header(hardLink("d", d))))
	return b.bytes()
}

func TestLies(t *testing.T) {
	contiguous := func(addr, size uint64) msg {
		return msg{msgLayout, cat([]byte{3, 1}, u64(addr), u64(size))}
	}
	single := func(chunk, addr uint64) msg {
		return msg{msgLayout, cat([]byte{4, 2, 0, 2, 8}, u64(chunk), u64(4), []byte{1}, u64(addr))}
	}
	selfCont := func() []byte {
		b := newBuilder()
		// The header's continuation message points back at the header's
		// own message area.
		root := uint64(len(b.b))
		b.setRoot(root)
		b.add(header(msg{msgContinuation, cat(u64(root+16), u64(24))}, hardLink("x", 0)))
		return b.bytes()
	}
	loopCont := func() []byte {
		b := newBuilder()
		// Two continuation blocks pointing at each other.
		blockA := header(msg{msgContinuation, cat(u64(0), u64(24))})[16:]
		a := b.add(blockA)
		c := b.add(header(msg{msgContinuation, cat(u64(a), u64(24))})[16:])
		binary.LittleEndian.PutUint64(b.b[a+8:], c)
		b.setRoot(b.add(header(msg{msgContinuation, cat(u64(a), u64(24))})))
		return b.bytes()
	}
	btreeCycle := func() []byte {
		b := newBuilder()
		heapData := b.add(make([]byte, 16))
		heap := b.add(cat([]byte("HEAP\x00\x00\x00\x00"), u64(16), u64(0), u64(heapData)))
		// A level-1 group B-tree node whose child is itself.
		node := uint64(len(b.b))
		b.add(cat([]byte("TREE\x00\x01\x01\x00"), u64(^uint64(0)), u64(^uint64(0)),
			u64(0), u64(node), u64(0)))
		b.setRoot(b.add(header(msg{msgSymbolTable, cat(u64(node), u64(heap))})))
		return b.bytes()
	}
	tests := []struct {
		name string
		data []byte
		path string // dataset to read; "" means walk the root group
		want string // error substring
	}{
		{"huge dims", oneDataset(float32Type, space(1<<40), contiguous(0, 4<<40)), "d", "limit"},
		{"dims overflow", oneDataset(float32Type, space(1<<40, 1<<40), contiguous(0, 0)), "d", "too large"},
		{"rank 200", oneDataset(float32Type, space(make([]uint64, 200)...), contiguous(0, 0)), "d", "rank"},
		{"contiguous beyond file", oneDataset(float32Type, space(4), contiguous(1<<20, 16)), "d", "outside file"},
		{"contiguous size lie", oneDataset(float32Type, space(4), contiguous(0, 12)), "d", "want 16"},
		{"chunk larger than file", oneDataset(float32Type, space(1<<16), single(1<<16, 0)), "d", "outside file"},
		{"chunk over limit", oneDataset(float32Type, space(1<<30), single(1<<30, 0)), "d", "limit"},
		{"self continuation", selfCont(), "", "cycle"},
		{"continuation loop", loopCont(), "", "cycle"},
		{"btree cycle", btreeCycle(), "", "cycle"},
		{"soft link loop", func() []byte {
			b := newBuilder()
			b.setRoot(b.add(header(softLink("a", "b"), softLink("b", "/a"))))
			return b.bytes()
		}(), "a", "soft links"},
		{"missing member", oneDataset(float32Type, space(1), contiguous(0, 4)), "nope", "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := OpenWithOptions(tt.data, OpenOptions{MaxDatasetBytes: 1 << 24})
			if err == nil {
				if tt.path == "" {
					_, err = f.Root().Members()
				} else {
					var d *Dataset
					if d, err = f.Root().Dataset(tt.path); err == nil {
						_, err = d.Float32s()
					}
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "hdf5: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	// A well-formed hand-made file reads back.
	data := oneDataset(float32Type, space(2), contiguous(0, 8))
	f, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.Root().Dataset("d")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := d.Float32s(); err != nil || len(v) != 2 {
		t.Fatalf("Float32s = %v, %v", v, err)
	}
	if _, err := f.Root().Dataset("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing dataset: %v, want ErrNotFound", err)
	}
}
