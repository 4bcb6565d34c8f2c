// Package modelsign signs model files with Ed25519 and verifies them
// against a keyring of trusted public keys, so that huskyai serves only
// models whose bytes a trusted key vouched for.
//
// # Keys
//
// Keys are PEM files. A private key is a "PRIVATE KEY" block holding the
// PKCS#8 DER of an Ed25519 key (written with mode 0600); a public key is a
// "PUBLIC KEY" block holding its PKIX (SubjectPublicKeyInfo) DER. These are
// the files "openssl genpkey -algorithm ed25519" and "openssl pkey -pubout"
// write. Encrypted PEM blocks are refused.
//
// The key id of a public key is the first 16 lower-case hex characters
// (64 bits) of the SHA-256 of its PKIX DER encoding; see [KeyID]. It names
// the key in signatures and logs; it is not a secret and not a security
// boundary: the verifier still checks the signature with the key it found.
//
// # Signature files
//
// A signature is detached: MODEL.sig next to MODEL, a small JSON object
//
//	{"version":1,"algorithm":"ed25519","model_sha256":"<64 hex>","model_size":N,
//	 "key_id":"<16 hex>","created_at":"<RFC 3339, UTC, seconds>","signature":"<base64>",
//	 "checks":{"tolerance":0.001,"checks":[{"name":"husky1.png","image":"<base64>","probability":0.8731}]}}
//
// [ParseSignature] is strict: it wants exactly the first seven members and
// optionally "checks", each once, with exact (case-sensitive) names;
// version 1; algorithm "ed25519"; lower-case hex of the right length; a
// non-negative integer size; created_at in the canonical form
// time.Time.UTC().Format(time.RFC3339) writes ("2026-11-25T06:00:00Z");
// standard padded base64 of exactly 64 bytes; and nothing after the
// object. Numbers are JSON numbers, never strings. Anything else is
// [ErrMalformed], and so is a file larger than [MaxSignatureFileSize].
//
// # Self-test checks
//
// The optional "checks" member is a [CheckSet]: images with the
// probabilities the signed model gave them, which a loader runs (see
// classifier.Classifier.SelfTest) to refuse a model that behaves
// differently, even one re-signed with a stolen key. It is an object of exactly the members
// "tolerance" and "checks"; "checks" is an array of 1 to [MaxChecks]
// objects of exactly the members "name", "image" and "probability". A
// name is 1 to [MaxCheckNameLen] bytes of UTF-8 with no control character,
// quotation mark or backslash, and names are distinct; an image is
// standard padded base64 of 1 to [MaxCheckImageSize] bytes; tolerance and
// probabilities are JSON numbers, read as the nearest float32, that must
// be in [0, 1] (not -0). Anything else is [ErrMalformed].
//
// The canonical encoding of a check set, which the payload covers, is
// this JSON text with no white space, members in this order:
//
//	{"tolerance":T,"checks":[{"name":"N","image":"B","probability":P},...]}
//
// where N is the name's bytes as they are (the rules above need no
// escaping), B the standard padded base64 of the image, and T and P the
// float32 values written as strconv.FormatFloat(float64(x), 'f', -1, 32)
// does: the shortest decimal, without exponent, that reads back as the
// same float32 ("0.001", "0.87312", "1", "0"). [CheckSet.Canonical]
// returns it, and [Signature.Marshal] writes the member in exactly this
// form, but a verifier recomputes it from the values it parsed.
//
// # What is signed
//
// The Ed25519 signature covers the bytes of [Signature.Payload], a
// line-based encoding of every other field, each line ending in "\n":
//
//	huskyai-model-signature-v1
//	algorithm:ed25519
//	sha256:<model_sha256>
//	size:<model_size in decimal>
//	key_id:<key_id>
//	created_at:<created_at>
//	checks_sha256:<hex SHA-256 of the check set's canonical encoding, or "none">
//
// The first line separates this use of the key from any other (a key that
// signs models cannot be tricked into a signature that is valid for
// something else, nor the reverse) and versions the payload. Every field is
// in it, so altering any of them in the .sig file, or adding, removing or
// editing a check, breaks the signature.
//
// # Verifying
//
// [Keyring.Verify] hashes exactly the bytes it is given. A caller that
// loads a model must read the file once into memory, verify that buffer,
// and then parse that same buffer: reading the file a second time to parse
// it would let a file swapped between the two reads be served unverified.
// It proves that the checks are the signer's, but does not run them: that
// needs the model loaded, see classifier.Classifier.SelfTest.
package modelsign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// The sentinel errors of verification and parsing; test with errors.Is.
var (
	// ErrMalformed: the signature file (or a key file) is not well formed.
	ErrMalformed = errors.New("malformed signature")
	// ErrUnknownKey: the signature names a key that is not in the keyring.
	ErrUnknownKey = errors.New("signed by a key that is not trusted")
	// ErrBadSignature: the key is trusted but the Ed25519 signature does
	// not verify, so the signature file was altered or forged.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrDigestMismatch: the signature is valid but the model's bytes are
	// not the ones signed (their SHA-256 or size differ).
	ErrDigestMismatch = errors.New("model does not match its signature")
)

const (
	// Version is the signature format version this package writes and reads.
	Version = 1
	// Algorithm is the only signature algorithm.
	Algorithm = "ed25519"
	// PayloadContext is the first line of the signed payload.
	PayloadContext = "huskyai-model-signature-v1"
	// MaxSignatureFileSize bounds a signature file; ParseSignature refuses
	// larger input. One without checks is about 300 bytes; the limit lets
	// MaxChecks images of MaxCheckImageSize bytes fit in base64.
	MaxSignatureFileSize = 6 << 20
	// keyIDLen is the length of a key id in hex characters.
	keyIDLen = 16
)

// GenerateKey makes a new Ed25519 key pair from rand (crypto/rand.Reader
// if rand is nil).
func GenerateKey(rand io.Reader) (ed25519.PrivateKey, ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, nil, err
	}
	return priv, pub, nil
}

// KeyID is the id of a public key: the first 16 lower-case hex characters
// of the SHA-256 of its PKIX DER encoding. It is "" for a key of the wrong
// length.
func KeyID(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		return ""
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])[:keyIDLen]
}

// MarshalPrivateKey encodes a private key as a PEM "PRIVATE KEY" block
// (PKCS#8). Write it with mode 0600.
func MarshalPrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("modelsign: private key has the wrong length")
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey encodes a public key as a PEM "PUBLIC KEY" block (PKIX).
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("modelsign: public key has the wrong length")
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey decodes the single PEM "PRIVATE KEY" block of an Ed25519
// PKCS#8 private key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, err := singleBlock(data, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("modelsign: private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("modelsign: private key is %T, not Ed25519", k)
	}
	return priv, nil
}

// ParsePublicKey decodes the single PEM "PUBLIC KEY" block of an Ed25519
// PKIX public key.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	block, err := singleBlock(data, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	return parsePublicDER(block.Bytes)
}

func parsePublicDER(der []byte) (ed25519.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("modelsign: public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("modelsign: public key is %T, not Ed25519", k)
	}
	return pub, nil
}

// singleBlock decodes data as exactly one PEM block of type typ, with no
// headers (so no encrypted keys) and nothing but white space around it.
func singleBlock(data []byte, typ string) (*pem.Block, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("modelsign: no PEM %q block found", typ)
	}
	if block.Type != typ {
		return nil, fmt.Errorf("modelsign: PEM block is %q, want %q", block.Type, typ)
	}
	if len(block.Headers) > 0 {
		return nil, fmt.Errorf("modelsign: PEM %q block has headers (encrypted keys are not supported)", typ)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("modelsign: data after the PEM %q block", typ)
	}
	return block, nil
}

// Signature is a detached signature of one model file.
type Signature struct {
	Version     int       // Version
	Algorithm   string    // Algorithm
	ModelSHA256 string    // SHA-256 of the model's bytes, 64 lower-case hex
	ModelSize   int64     // length of the model in bytes
	KeyID       string    // KeyID of the signing key
	CreatedAt   time.Time // UTC, whole seconds
	Sig         []byte    // Ed25519 signature of Payload(), 64 bytes
	// Checks is the model's behavioural self-test, or nil for none.
	Checks *CheckSet
}

// Sign signs model with priv at time now (kept in UTC, to the second),
// with the self-test checks (nil for none), which it copies and
// validates (see CheckSet.Validate).
func Sign(model []byte, priv ed25519.PrivateKey, now time.Time, checks *CheckSet) (*Signature, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("modelsign: private key has the wrong length")
	}
	if checks != nil {
		if err := checks.Validate(); err != nil {
			return nil, fmt.Errorf("modelsign: %w", err)
		}
	}
	sum := sha256.Sum256(model)
	s := &Signature{
		Version:     Version,
		Algorithm:   Algorithm,
		ModelSHA256: hex.EncodeToString(sum[:]),
		ModelSize:   int64(len(model)),
		KeyID:       KeyID(priv.Public().(ed25519.PublicKey)),
		CreatedAt:   now.UTC().Truncate(time.Second),
		Checks:      checks.clone(),
	}
	s.Sig = ed25519.Sign(priv, s.Payload())
	return s, nil
}

// Payload is the byte string the Ed25519 signature covers (see the
// package documentation).
func (s *Signature) Payload() []byte {
	return fmt.Appendf(nil, "%s\nalgorithm:%s\nsha256:%s\nsize:%d\nkey_id:%s\ncreated_at:%s\nchecks_sha256:%s\n",
		PayloadContext, s.Algorithm, s.ModelSHA256, s.ModelSize, s.KeyID, s.createdAt(), checksDigest(s.Checks))
}

func (s *Signature) createdAt() string { return s.CreatedAt.UTC().Format(time.RFC3339) }

// sigJSON fixes the order of the members of a signature file.
type sigJSON struct {
	Version     int    `json:"version"`
	Algorithm   string `json:"algorithm"`
	ModelSHA256 string `json:"model_sha256"`
	ModelSize   int64  `json:"model_size"`
	KeyID       string `json:"key_id"`
	CreatedAt   string `json:"created_at"`
	Signature   string `json:"signature"`
}

// Marshal encodes the signature file: one line of JSON and a newline. The
// "checks" member, present when Checks is not nil, is last and in its
// canonical encoding (CheckSet.Canonical).
func (s *Signature) Marshal() []byte {
	b, err := json.Marshal(sigJSON{
		Version:     s.Version,
		Algorithm:   s.Algorithm,
		ModelSHA256: s.ModelSHA256,
		ModelSize:   s.ModelSize,
		KeyID:       s.KeyID,
		CreatedAt:   s.createdAt(),
		Signature:   base64.StdEncoding.EncodeToString(s.Sig),
	})
	if err != nil { // strings and integers always marshal
		panic(err)
	}
	if s.Checks != nil {
		b = append(b[:len(b)-1], `,"checks":`...)
		b = append(b, s.Checks.Canonical()...)
		b = append(b, '}')
	}
	return append(b, '\n')
}

// ParseSignature decodes a signature file strictly (see the package
// documentation); every error wraps ErrMalformed.
func ParseSignature(data []byte) (*Signature, error) {
	s, err := parseSignature(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return s, nil
}

func parseSignature(data []byte) (*Signature, error) {
	if len(data) > MaxSignatureFileSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxSignatureFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	f := map[string]string{}
	var checks *CheckSet
	names := []string{"version", "algorithm", "model_sha256", "model_size", "key_id", "created_at", "signature", "checks"}
	err := members(dec, "signature file", names, func(name string) error {
		var err error
		switch name {
		case "version", "model_size":
			f[name], err = decodeNumber(dec, name)
		case "checks":
			var raw json.RawMessage
			if raw, err = decodeRaw(dec, name); err == nil {
				checks, err = parseCheckSet(raw)
			}
		default:
			f[name], err = decodeString(dec, name)
		}
		return err
	}, "checks")
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}

	s := &Signature{Algorithm: f["algorithm"], ModelSHA256: f["model_sha256"], KeyID: f["key_id"], Checks: checks}
	if f["version"] != strconv.Itoa(Version) {
		return nil, fmt.Errorf("unsupported version %s", f["version"])
	}
	s.Version = Version
	if s.Algorithm != Algorithm {
		return nil, fmt.Errorf("unsupported algorithm %q", s.Algorithm)
	}
	if !isLowerHex(s.ModelSHA256, 2*sha256.Size) {
		return nil, errors.New("model_sha256 is not 64 lower-case hex characters")
	}
	size, err := strconv.ParseInt(f["model_size"], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != f["model_size"] {
		return nil, errors.New("model_size is not a non-negative integer")
	}
	s.ModelSize = size
	if !isLowerHex(s.KeyID, keyIDLen) {
		return nil, fmt.Errorf("key_id is not %d lower-case hex characters", keyIDLen)
	}
	t, err := time.Parse(time.RFC3339, f["created_at"])
	if err != nil || t.UTC().Format(time.RFC3339) != f["created_at"] {
		return nil, errors.New("created_at is not a UTC RFC 3339 time in whole seconds (2006-01-02T15:04:05Z)")
	}
	s.CreatedAt = t.UTC()
	sig, err := base64.StdEncoding.Strict().DecodeString(f["signature"])
	if err != nil {
		return nil, errors.New("signature is not standard base64")
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("signature is %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	s.Sig = sig
	return s, nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Verify checks sig against model with key pub alone. It is Keyring.Verify
// for a keyring of one key.
func Verify(model []byte, sig *Signature, pub ed25519.PublicKey) error {
	kr, err := NewKeyring(pub)
	if err != nil {
		return err
	}
	_, err = kr.Verify(model, sig)
	return err
}

// verify checks the signature with pub, then model against it.
func verify(model []byte, s *Signature, pub ed25519.PublicKey) error {
	if !ed25519.Verify(pub, s.Payload(), s.Sig) {
		return fmt.Errorf("%w (key_id %s)", ErrBadSignature, s.KeyID)
	}
	sum := sha256.Sum256(model)
	want, err := hex.DecodeString(s.ModelSHA256)
	if err != nil || int64(len(model)) != s.ModelSize || subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return fmt.Errorf("%w: signed sha256=%s size=%d, got sha256=%x size=%d",
			ErrDigestMismatch, s.ModelSHA256, s.ModelSize, sum, len(model))
	}
	return nil
}

// checkWellFormed refuses a Signature that ParseSignature would not have
// returned (a caller may build or alter one by hand).
func checkWellFormed(s *Signature) error {
	if s == nil {
		return fmt.Errorf("%w: no signature", ErrMalformed)
	}
	_, err := ParseSignature(s.Marshal())
	return err
}
