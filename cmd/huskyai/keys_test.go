package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTrustedKeysReload rotates the model-signing key while serving: a
// model signed by a key not yet trusted is refused; once the key is added
// to --trusted-keys, the admin reload reads the keys again and the model
// loads; a key file that cannot be read leaves the keys in force. Each
// reload shows in huskyai_file_reloads_total and the audit log.
func TestTrustedKeysReload(t *testing.T) {
	keys, k2, b, p := rotationFixture(t)
	log := filepath.Join(t.TempDir(), "audit.log")
	s := startServe(t, nil, "--insecure-http", "--rate-limit", "0", "--model", p, "--trusted-keys", keys,
		"--require-signature", "--admin-addr", "127.0.0.1:0", "--audit-log", log)
	img := testPNG(t, 40, 30)

	install(t, p, b, k2.sign(t, b, nil))
	if st, m := s.adminReload(t); st != http.StatusConflict || !strings.Contains(errMessage(m), "not trusted") {
		t.Errorf("a model signed by an untrusted key: %d %v", st, m)
	}
	copyFile(t, k2.pubFile, filepath.Join(keys, "k2.pub"))
	if st, m := s.adminReload(t); st != 200 {
		t.Fatalf("after k2.pub was added: %d %v", st, m)
	}
	if st, sha, err := s.predictSHA(img); err != nil || st != 200 || sha != sha256Of(b) {
		t.Errorf("after the key rotation: %d %s %v, want model B", st, sha, err)
	}
	if err := os.WriteFile(filepath.Join(keys, "bad.pub"), []byte("not a key"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.adminReload(t)
	if st, sha, err := s.predictSHA(img); err != nil || st != 200 || sha != sha256Of(b) {
		t.Errorf("after a bad key file: %d %s %v, want model B still", st, sha, err)
	}
	metrics := s.metrics(t)
	for _, want := range []string{
		`huskyai_file_reloads_total{result="success",what="trusted_keys"} 2`,
		`huskyai_file_reloads_total{result="failure",what="trusted_keys"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	b2, _ := os.ReadFile(log)
	if n := strings.Count(string(b2), `"type":"file_reload","prev"`); n != 3 || !strings.Contains(string(b2), `"ok":false,"reason":"modelsign: keyring:`) {
		t.Errorf("%d file_reload records in the audit log:\n%s", n, b2)
	}
}

// TestTrustedKeysWatch: with --watch, a key added to --trusted-keys is
// read and the model that waited for it reloaded, without a signal.
func TestTrustedKeysWatch(t *testing.T) {
	keys, k2, b, p := rotationFixture(t)
	s := startServe(t, nil, "--insecure-http", "--rate-limit", "0", "--model", p, "--trusted-keys", keys,
		"--require-signature", "--watch", "--watch-interval", "50ms")
	img := testPNG(t, 40, 30)
	install(t, p, b, k2.sign(t, b, nil)) // refused by the model watch: k2 is not trusted yet
	time.Sleep(300 * time.Millisecond)
	copyFile(t, k2.pubFile, filepath.Join(keys, "k2.pub"))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, sha, err := s.predictSHA(img); err == nil && st == 200 && sha == sha256Of(b) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("model B not served 20s after its key was added; stderr:\n%s", s.stderr)
		}
	}
}

// rotationFixture is a key rotation about to happen: the --trusted-keys
// directory with key k1, a model A at path signed by k1, and a second key
// k2 (not trusted yet, its .pub elsewhere) and model B for it.
func rotationFixture(t *testing.T) (keys string, k2 signer, b []byte, path string) {
	t.Helper()
	keys = t.TempDir()
	k1 := newSigner(t, keys, "k1")
	k2 = newSigner(t, t.TempDir(), "k2")
	a := readFileT(t, reloadModelA)
	b = readFileT(t, reloadModelB)
	path = filepath.Join(t.TempDir(), "m.h5")
	install(t, path, a, k1.sign(t, a, nil))
	return keys, k2, b, path
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// errMessage is the error message of an admin answer.
func errMessage(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}
