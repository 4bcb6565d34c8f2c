package modelsign

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// maxKeyFileSize bounds a key file read by LoadKeyring.
const maxKeyFileSize = 64 << 10

// Keyring is a set of trusted public keys, by key id. It is read-only once
// built and safe for concurrent use.
type Keyring struct {
	keys map[string]ed25519.PublicKey
}

// NewKeyring makes a keyring of the given keys (at least one).
func NewKeyring(pubs ...ed25519.PublicKey) (*Keyring, error) {
	kr := &Keyring{keys: map[string]ed25519.PublicKey{}}
	for _, pub := range pubs {
		if err := kr.add(pub); err != nil {
			return nil, err
		}
	}
	if len(kr.keys) == 0 {
		return nil, errors.New("modelsign: empty keyring")
	}
	return kr, nil
}

func (kr *Keyring) add(pub ed25519.PublicKey) error {
	id := KeyID(pub)
	if id == "" {
		return errors.New("modelsign: public key has the wrong length")
	}
	if old, ok := kr.keys[id]; ok {
		if !old.Equal(pub) {
			return fmt.Errorf("modelsign: two different keys have the key id %s", id)
		}
		return nil
	}
	kr.keys[id] = slices.Clone(pub)
	return nil
}

// LoadKeyring reads trusted public keys from path: either a file of one or
// more PEM "PUBLIC KEY" blocks, or a directory whose files named *.pub or
// *.pem (not in subdirectories) each hold such blocks. A private key, any
// other PEM block, a non-Ed25519 key or a directory without keys is an
// error: a trust store should hold exactly what it trusts.
func LoadKeyring(path string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("modelsign: keyring: %w", err)
	}
	files := []string{path}
	if fi.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("modelsign: keyring: %w", err)
		}
		files = files[:0]
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !(strings.HasSuffix(name, ".pub") || strings.HasSuffix(name, ".pem")) {
				continue
			}
			files = append(files, filepath.Join(path, name))
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("modelsign: keyring: no *.pub or *.pem files in %s", path)
		}
	}
	var pubs []ed25519.PublicKey
	for _, f := range files {
		ks, err := readPublicKeys(f)
		if err != nil {
			return nil, fmt.Errorf("modelsign: keyring: %s: %w", f, err)
		}
		pubs = append(pubs, ks...)
	}
	kr, err := NewKeyring(pubs...)
	if err != nil {
		return nil, fmt.Errorf("%w (from %s)", err, path)
	}
	return kr, nil
}

func readPublicKeys(path string) ([]ed25519.PublicKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxKeyFileSize)
	}
	var pubs []ed25519.PublicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch {
		case strings.Contains(block.Type, "PRIVATE KEY"):
			return nil, errors.New("holds a private key: give only public keys to the keyring")
		case block.Type != "PUBLIC KEY":
			return nil, fmt.Errorf("PEM block %q is not a \"PUBLIC KEY\"", block.Type)
		case len(block.Headers) > 0:
			return nil, errors.New("PEM block has headers")
		}
		pub, err := parsePublicDER(block.Bytes)
		if err != nil {
			return nil, err
		}
		pubs = append(pubs, pub)
	}
	if len(bytes.TrimSpace(data)) > 0 {
		return nil, errors.New("data that is not a PEM block")
	}
	if len(pubs) == 0 {
		return nil, errors.New("no PEM \"PUBLIC KEY\" block")
	}
	return pubs, nil
}

// KeyIDs returns the ids of the keys, sorted.
func (kr *Keyring) KeyIDs() []string {
	ids := make([]string, 0, len(kr.keys))
	for id := range kr.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Len is the number of keys.
func (kr *Keyring) Len() int { return len(kr.keys) }

// Verify checks that sig is a valid signature by a key of the keyring and
// that model is exactly the bytes it signed, and returns the key's id.
//
// Verify hashes exactly the bytes it is given: read the model into memory
// once, verify that buffer, then parse that same buffer (never re-read the
// file). Its errors wrap one of the sentinels, in this order of checks:
// ErrMalformed (nil or ill-formed sig), ErrUnknownKey (no key with the
// signature's key id), ErrBadSignature (the Ed25519 signature does not
// verify: a signed field or the signature was altered), ErrDigestMismatch
// (the signature is genuine but model is not the signed bytes). created_at
// is signed but not checked against any clock. The self-test checks, if
// any, are covered by the signature but not run: that needs the model
// loaded (classifier.Classifier.SelfTest).
func (kr *Keyring) Verify(model []byte, sig *Signature) (keyID string, err error) {
	if err := checkWellFormed(sig); err != nil {
		return "", err
	}
	pub, ok := kr.keys[sig.KeyID]
	if !ok {
		return "", fmt.Errorf("%w: key_id %s is not in the keyring", ErrUnknownKey, sig.KeyID)
	}
	if err := verify(model, sig, pub); err != nil {
		return "", err
	}
	return sig.KeyID, nil
}
