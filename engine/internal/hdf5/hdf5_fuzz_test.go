package hdf5

import (
	"testing"
)

// FuzzOpen opens arbitrary input and walks everything reachable from the
// root (groups, attributes, datasets with Float32s). Any error is fine; a
// panic, a hang or a huge allocation is a bug. The seeds are the golden
// fixtures and small hand-made files; crashers found are kept under testdata/fuzz/FuzzOpen.
func FuzzOpen(f *testing.F) {
	for _, data := range fixtures(f) {
		f.Add(data)
	}
	// Small hand-made files mutate faster than the h5py fixtures.
	contiguous := msg{msgLayout, cat([]byte{3, 1}, u64(0), u64(8))}
	f.Add(oneDataset(float32Type, space(2), contiguous))
	b := newBuilder()
	d := b.add(header(float32Type, space(2), contiguous))
	b.setRoot(b.add(header(hardLink("d", d), softLink("s", "d"), softLink("t", "/d"))))
	f.Add(b.bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		walk(data, fuzzOpts)
	})
}
