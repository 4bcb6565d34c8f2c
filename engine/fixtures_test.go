package engine_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/huskyai/huskyai/internal/testtool"
)

// TestFixturesUpToDate regenerates the reference fixtures with
// scripts/gen_parity.py and requires them to equal the committed ones byte
// for byte, so that neither the script nor the fixtures can drift from each
// other.
func TestFixturesUpToDate(t *testing.T) {
	py := testtool.Python(t)
	root := testtool.RepoRoot()
	dir := t.TempDir()
	cmd := exec.Command(py, filepath.Join(root, "scripts", "gen_parity.py"), "--out", dir)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen_parity.py: %v\n%s", err, out)
	}
	committed := filepath.Join(root, "testdata", "parity")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Name()] = true
		same(t, filepath.Join(dir, e.Name()), filepath.Join(committed, e.Name()))
	}
	old, _ := os.ReadDir(committed)
	for _, e := range old {
		if !seen[e.Name()] && e.Name() != "README.md" {
			t.Errorf("testdata/parity/%s is committed but no longer generated", e.Name())
		}
	}
}

func same(t *testing.T, generated, committed string) {
	t.Helper()
	a, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(committed)
	if err != nil {
		t.Errorf("%s is generated but not committed: %v", filepath.Base(committed), err)
		return
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s differs from what scripts/gen_parity.py writes now; regenerate: /usr/bin/python3 scripts/gen_parity.py --out testdata/parity", committed)
	}
}
