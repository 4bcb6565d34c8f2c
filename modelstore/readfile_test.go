package modelstore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/huskyai/huskyai/internal/testtool"
)

// TestReadFileOnce: reading a model file allocates one buffer of its size
// (and a little more), not io.ReadAll's doublings, so that a refused
// file under 64 MB plus what its loader allocates stays under 256 MiB
// (engine/onnx TestRefusedLargeFileMemory counts the file once); a file
// over the limit is refused before it is read.
func TestReadFileOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.onnx")
	const size = 24 << 20
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	var data []byte
	var err error
	used := testtool.Allocated(func() { data, err = readFile(path, size) })
	if err != nil || len(data) != size {
		t.Fatalf("read %d bytes: %v", len(data), err)
	}
	if used > size+64<<10 {
		t.Errorf("reading a %d-byte file allocated %d bytes; want one buffer of its size", size, used)
	}
	used = testtool.Allocated(func() { _, err = readFile(path, size-1) })
	if err == nil || used > 64<<10 {
		t.Errorf("a file over the limit: %v after allocating %d bytes; want it refused before it is read", err, used)
	}
}
