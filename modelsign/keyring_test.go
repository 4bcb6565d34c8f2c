package modelsign_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/modelsign"
)

func pubPEM(t *testing.T, seed byte) []byte {
	t.Helper()
	_, pub := testKey(seed)
	b, err := modelsign.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func privPEM(t *testing.T, seed byte) []byte {
	t.Helper()
	priv, _ := testKey(seed)
	b, err := modelsign.MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFiles(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func idsOf(seeds ...byte) []string {
	var ids []string
	for _, s := range seeds {
		_, pub := testKey(s)
		ids = append(ids, modelsign.KeyID(pub))
	}
	slices.Sort(ids)
	return ids
}

// TestLoadKeyring loads trust stores that hold exactly public keys, and
// refuses the others.
func TestLoadKeyring(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER})
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, []byte("\n")) }
	tests := []struct {
		name   string
		files  map[string][]byte
		path   string   // relative to the directory; "" for the directory
		ids    []string // nil: an error is wanted
		reason string
	}{
		{name: "one key", files: map[string][]byte{"k.pub": pubPEM(t, 1)}, path: "k.pub", ids: idsOf(1)},
		{name: "file of three keys", files: map[string][]byte{"keys": cat(pubPEM(t, 1), pubPEM(t, 2), pubPEM(t, 3))}, path: "keys", ids: idsOf(1, 2, 3)},
		{name: "same key twice", files: map[string][]byte{"keys": cat(pubPEM(t, 1), pubPEM(t, 1))}, path: "keys", ids: idsOf(1)},
		{name: "directory", files: map[string][]byte{
			"a.pub": pubPEM(t, 1), "b.pem": cat(pubPEM(t, 2), pubPEM(t, 3)),
			"README": []byte("not a key"), "c.key": privPEM(t, 4), "sub/d.pub": pubPEM(t, 5),
		}, ids: idsOf(1, 2, 3)},
		{name: "private key in a file", files: map[string][]byte{"k.pub": cat(pubPEM(t, 1), privPEM(t, 1))}, path: "k.pub", reason: "private key"},
		{name: "private key in a directory", files: map[string][]byte{"a.pub": pubPEM(t, 1), "b.pem": privPEM(t, 2)}, reason: "private key"},
		{name: "empty directory", files: map[string][]byte{}, reason: "no *.pub or *.pem files"},
		{name: "directory without keys", files: map[string][]byte{"README": []byte("x"), "c.key": privPEM(t, 1)}, reason: "no *.pub or *.pem files"},
		{name: "empty key file", files: map[string][]byte{"k.pub": nil}, path: "k.pub", reason: "no PEM"},
		{name: "garbage after the key", files: map[string][]byte{"k.pub": cat(pubPEM(t, 1), []byte("garbage"))}, path: "k.pub", reason: "not a PEM block"},
		{name: "certificate", files: map[string][]byte{"k.pub": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})}, path: "k.pub", reason: "CERTIFICATE"},
		{name: "ECDSA key", files: map[string][]byte{"k.pub": ecPEM}, path: "k.pub", reason: "not Ed25519"},
		{name: "missing file", files: map[string][]byte{}, path: "nope.pub", reason: "no such file"},
		{name: "too large", files: map[string][]byte{"k.pub": append(pubPEM(t, 1), bytes.Repeat([]byte(" "), 64<<10)...)}, path: "k.pub", reason: "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			kr, err := modelsign.LoadKeyring(filepath.Join(dir, tc.path))
			if tc.ids == nil {
				if err == nil || !strings.Contains(err.Error(), tc.reason) {
					t.Fatalf("LoadKeyring: %v, want an error saying %q", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadKeyring: %v", err)
			}
			if got := kr.KeyIDs(); !slices.Equal(got, tc.ids) || kr.Len() != len(tc.ids) {
				t.Errorf("KeyIDs %v (Len %d), want %v", got, kr.Len(), tc.ids)
			}
		})
	}
}

// TestKeyringVerifiesEachKey: every key of a loaded keyring verifies its
// own signatures.
func TestKeyringVerifiesEachKey(t *testing.T) {
	dir := writeFiles(t, map[string][]byte{"all.pub": bytes.Join([][]byte{pubPEM(t, 1), pubPEM(t, 2), pubPEM(t, 3)}, nil)})
	kr, err := modelsign.LoadKeyring(filepath.Join(dir, "all.pub"))
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range []byte{1, 2, 3, 4} {
		priv, pub := testKey(seed)
		id, err := kr.Verify(testModel(), mustSign(t, testModel(), priv, nil))
		switch {
		case seed == 4 && !errors.Is(err, modelsign.ErrUnknownKey):
			t.Errorf("key 4 is not in the keyring: %v, want ErrUnknownKey", err)
		case seed != 4 && (err != nil || id != modelsign.KeyID(pub)):
			t.Errorf("key %d: id %q, %v", seed, id, err)
		}
	}
}

// TestNewKeyring refuses empty keyrings and malformed keys.
func TestNewKeyring(t *testing.T) {
	_, pub := testKey(1)
	for _, tc := range []struct {
		name string
		keys [][]byte
	}{
		{"none", nil},
		{"short key", [][]byte{pub[:31]}},
	} {
		var pubs []ed25519.PublicKey
		for _, k := range tc.keys {
			pubs = append(pubs, k)
		}
		if _, err := modelsign.NewKeyring(pubs...); err == nil {
			t.Errorf("%s: NewKeyring accepted it", tc.name)
		}
	}
}

// TestKeyPEMRoundTrip writes and reads back both halves of a key pair,
// and refuses the wrong PEM for each.
func TestKeyPEMRoundTrip(t *testing.T) {
	priv, pub, err := modelsign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	privB, err := modelsign.MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubB, err := modelsign.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	priv2, err := modelsign.ParsePrivateKey(privB)
	if err != nil || !priv2.Equal(priv) {
		t.Fatalf("ParsePrivateKey: %v, equal %v", err, priv2.Equal(priv))
	}
	pub2, err := modelsign.ParsePublicKey(pubB)
	if err != nil || !pub2.Equal(pub) {
		t.Fatalf("ParsePublicKey: %v, equal %v", err, pub2.Equal(pub))
	}
	if !bytes.HasPrefix(privB, []byte("-----BEGIN PRIVATE KEY-----\n")) || !bytes.HasPrefix(pubB, []byte("-----BEGIN PUBLIC KEY-----\n")) {
		t.Errorf("PEM types: %q / %q", privB[:28], pubB[:27])
	}
	withHeader := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1}})
	for _, tc := range []struct {
		name  string
		parse func([]byte) error
		data  []byte
	}{
		{"public as private", func(b []byte) error { _, err := modelsign.ParsePrivateKey(b); return err }, pubB},
		{"private as public", func(b []byte) error { _, err := modelsign.ParsePublicKey(b); return err }, privB},
		{"two private keys", func(b []byte) error { _, err := modelsign.ParsePrivateKey(b); return err }, append(bytes.Clone(privB), privB...)},
		{"encrypted private key", func(b []byte) error { _, err := modelsign.ParsePrivateKey(b); return err }, withHeader},
		{"no PEM", func(b []byte) error { _, err := modelsign.ParsePublicKey(b); return err }, []byte("hello")},
	} {
		if err := tc.parse(tc.data); err == nil {
			t.Errorf("%s: parsed", tc.name)
		}
	}
	if _, err := modelsign.MarshalPrivateKey(priv[:5]); err == nil {
		t.Error("MarshalPrivateKey accepted a short key")
	}
	if _, err := modelsign.MarshalPublicKey(pub[:5]); err == nil {
		t.Error("MarshalPublicKey accepted a short key")
	}
}

// TestKeyID pins the key id: the SHA-256 of the PKIX DER, which for
// Ed25519 is a fixed 12-byte prefix and the key, cut to 16 hex.
func TestKeyID(t *testing.T) {
	prefix, _ := hex.DecodeString("302a300506032b6570032100")
	for _, seed := range []byte{0, 1, 2, 255} {
		_, pub := testKey(seed)
		sum := sha256.Sum256(append(bytes.Clone(prefix), pub...))
		want := hex.EncodeToString(sum[:])[:16]
		if got := modelsign.KeyID(pub); got != want {
			t.Errorf("seed %d: KeyID %s, want %s", seed, got, want)
		}
		if again := modelsign.KeyID(bytes.Clone(pub)); again != want {
			t.Errorf("seed %d: KeyID not stable: %s then %s", seed, want, again)
		}
	}
	// Pinned, so that a change of the definition cannot pass unnoticed.
	if _, pub := testKey(0); modelsign.KeyID(pub) != "339e2ff917630507" {
		t.Errorf("KeyID of the all-zero seed's key = %s, want 339e2ff917630507", modelsign.KeyID(pub))
	}
	if got := modelsign.KeyID(nil); got != "" {
		t.Errorf("KeyID(nil) = %q", got)
	}
}
