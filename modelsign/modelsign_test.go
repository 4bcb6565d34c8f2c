package modelsign_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/huskyai/huskyai/modelsign"
)

var signedAt = time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)

// testKey derives a key pair from a one-byte seed, so tests are repeatable.
func testKey(seed byte) (ed25519.PrivateKey, ed25519.PublicKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return priv, priv.Public().(ed25519.PublicKey)
}

func testModel() []byte {
	m := make([]byte, 1000)
	for i := range m {
		m[i] = byte(i * 31)
	}
	return m
}

func testChecks() *modelsign.CheckSet {
	return &modelsign.CheckSet{Tolerance: 0.001, Checks: []modelsign.Check{
		{Name: "husky.png", Image: []byte("\x89PNG fake husky"), Probability: 0.87312},
		{Name: "cat 2.jpg", Image: []byte("\xff\xd8\xff fake cat"), Probability: 0.0125},
	}}
}

func mustSign(t *testing.T, model []byte, priv ed25519.PrivateKey, cs *modelsign.CheckSet) *modelsign.Signature {
	t.Helper()
	sig, err := modelsign.Sign(model, priv, signedAt, cs)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return sig
}

// TestSignVerifyRoundTrip signs, writes, parses and verifies, with and
// without checks: the parsed signature equals the signed one and writes
// the same file again.
func TestSignVerifyRoundTrip(t *testing.T) {
	priv, pub := testKey(1)
	for _, tc := range []struct {
		name   string
		checks *modelsign.CheckSet
	}{
		{"no checks", nil},
		{"checks", testChecks()},
		{"check of probability 0 and 1", &modelsign.CheckSet{Tolerance: 0, Checks: []modelsign.Check{
			{Name: "a", Image: []byte{0}, Probability: 0}, {Name: "b", Image: []byte{1}, Probability: 1}}}},
		{"tiny tolerance", &modelsign.CheckSet{Tolerance: 1e-30, Checks: []modelsign.Check{
			{Name: "ü ☃", Image: []byte{0}, Probability: math.SmallestNonzeroFloat32}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := testModel()
			sig := mustSign(t, model, priv, tc.checks)
			file := sig.Marshal()
			if !bytes.HasSuffix(file, []byte("}\n")) || bytes.Count(file, []byte("\n")) != 1 {
				t.Errorf("signature file is not one line of JSON: %q", file)
			}
			parsed, err := modelsign.ParseSignature(file)
			if err != nil {
				t.Fatalf("ParseSignature(Marshal()): %v\n%s", err, file)
			}
			if !reflect.DeepEqual(parsed, sig) {
				t.Errorf("parsed %+v\nsigned %+v", parsed, sig)
			}
			if again := parsed.Marshal(); !bytes.Equal(again, file) {
				t.Errorf("re-marshalled\n%s\nfirst\n%s", again, file)
			}
			if err := modelsign.Verify(model, parsed, pub); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if sig.KeyID != modelsign.KeyID(pub) || sig.ModelSize != int64(len(model)) || !sig.CreatedAt.Equal(signedAt) {
				t.Errorf("signature fields %+v", sig)
			}
		})
	}
}

// TestSignCopiesChecks: editing the caller's check set after Sign does
// not change the signature.
func TestSignCopiesChecks(t *testing.T) {
	priv, pub := testKey(1)
	cs := testChecks()
	sig := mustSign(t, testModel(), priv, cs)
	cs.Checks[0].Probability = 0.5
	cs.Checks[1].Image[0] = 'X'
	if err := modelsign.Verify(testModel(), sig, pub); err != nil {
		t.Errorf("Verify after editing the caller's check set: %v", err)
	}
}

// TestSignRefusesInvalidChecks: Sign validates the check set.
func TestSignRefusesInvalidChecks(t *testing.T) {
	priv, _ := testKey(1)
	cs := testChecks()
	cs.Tolerance = float32(math.NaN())
	if _, err := modelsign.Sign(testModel(), priv, signedAt, cs); err == nil || !strings.Contains(err.Error(), "tolerance") {
		t.Errorf("Sign with a NaN tolerance: %v, want an error about the tolerance", err)
	}
	if _, err := modelsign.Sign(testModel(), priv, signedAt, &modelsign.CheckSet{}); err == nil {
		t.Error("Sign with an empty check set: no error")
	}
	if _, err := modelsign.Sign(testModel(), priv[:10], signedAt, nil); err == nil {
		t.Error("Sign with a short private key: no error")
	}
}

// TestVerifyTampering alters the model or a field of the signature and
// wants the sentinel that names the reason.
func TestVerifyTampering(t *testing.T) {
	priv, pub := testKey(1)
	priv2, pub2 := testKey(2)
	_, pub3 := testKey(3)
	kr, err := modelsign.NewKeyring(pub, pub2)
	if err != nil {
		t.Fatal(err)
	}
	otherModel := bytes.Clone(testModel())
	otherModel[0] ^= 1
	otherSum := sha256.Sum256(otherModel)
	tests := []struct {
		name   string
		checks *modelsign.CheckSet // signed
		model  func(m []byte) []byte
		sig    func(s *modelsign.Signature)
		signer ed25519.PrivateKey
		want   error
	}{
		{name: "genuine", want: nil},
		{name: "genuine with checks", checks: testChecks(), want: nil},
		{name: "genuine, second key", signer: priv2, want: nil},
		{name: "flipped model byte", model: func(m []byte) []byte { m[500] ^= 0x40; return m }, want: modelsign.ErrDigestMismatch},
		{name: "truncated model", model: func(m []byte) []byte { return m[:len(m)-1] }, want: modelsign.ErrDigestMismatch},
		{name: "appended byte", model: func(m []byte) []byte { return append(m, 0) }, want: modelsign.ErrDigestMismatch},
		{name: "empty model", model: func(m []byte) []byte { return nil }, want: modelsign.ErrDigestMismatch},
		{name: "edited sha256", sig: func(s *modelsign.Signature) { s.ModelSHA256 = hex.EncodeToString(otherSum[:]) },
			model: func([]byte) []byte { return otherModel }, want: modelsign.ErrBadSignature},
		{name: "edited size", sig: func(s *modelsign.Signature) { s.ModelSize-- }, want: modelsign.ErrBadSignature},
		{name: "edited created_at", sig: func(s *modelsign.Signature) { s.CreatedAt = s.CreatedAt.Add(time.Second) }, want: modelsign.ErrBadSignature},
		{name: "key_id of another trusted key", sig: func(s *modelsign.Signature) { s.KeyID = modelsign.KeyID(pub2) }, want: modelsign.ErrBadSignature},
		{name: "key_id of an untrusted key", sig: func(s *modelsign.Signature) { s.KeyID = modelsign.KeyID(pub3) }, want: modelsign.ErrUnknownKey},
		{name: "signed by an untrusted key", signer: func() ed25519.PrivateKey { p, _ := testKey(3); return p }(), want: modelsign.ErrUnknownKey},
		{name: "flipped signature bit", sig: func(s *modelsign.Signature) { s.Sig[7] ^= 1 }, want: modelsign.ErrBadSignature},
		{name: "checks removed", checks: testChecks(), sig: func(s *modelsign.Signature) { s.Checks = nil }, want: modelsign.ErrBadSignature},
		{name: "checks added", sig: func(s *modelsign.Signature) { s.Checks = testChecks() }, want: modelsign.ErrBadSignature},
		{name: "check removed", checks: testChecks(), sig: func(s *modelsign.Signature) { s.Checks.Checks = s.Checks.Checks[:1] }, want: modelsign.ErrBadSignature},
		{name: "check added", checks: testChecks(), sig: func(s *modelsign.Signature) {
			s.Checks.Checks = append(s.Checks.Checks, modelsign.Check{Name: "new", Image: []byte{1}, Probability: 0.5})
		}, want: modelsign.ErrBadSignature},
		{name: "checks reordered", checks: testChecks(), sig: func(s *modelsign.Signature) {
			c := s.Checks.Checks
			c[0], c[1] = c[1], c[0]
		}, want: modelsign.ErrBadSignature},
		{name: "check probability edited", checks: testChecks(), sig: func(s *modelsign.Signature) { s.Checks.Checks[0].Probability = 0.99 }, want: modelsign.ErrBadSignature},
		{name: "check probability by one ulp", checks: testChecks(), sig: func(s *modelsign.Signature) {
			p := &s.Checks.Checks[0].Probability
			*p = math.Nextafter32(*p, 1)
		}, want: modelsign.ErrBadSignature},
		{name: "check tolerance edited", checks: testChecks(), sig: func(s *modelsign.Signature) { s.Checks.Tolerance = 1 }, want: modelsign.ErrBadSignature},
		{name: "check image edited", checks: testChecks(), sig: func(s *modelsign.Signature) { s.Checks.Checks[1].Image[3] ^= 1 }, want: modelsign.ErrBadSignature},
		{name: "check renamed", checks: testChecks(), sig: func(s *modelsign.Signature) { s.Checks.Checks[1].Name = "dog.jpg" }, want: modelsign.ErrBadSignature},
		{name: "invalid check set", checks: testChecks(), sig: func(s *modelsign.Signature) { s.Checks.Tolerance = float32(math.Inf(1)) }, want: modelsign.ErrMalformed},
		{name: "bad algorithm", sig: func(s *modelsign.Signature) { s.Algorithm = "rsa" }, want: modelsign.ErrMalformed},
		{name: "short signature", sig: func(s *modelsign.Signature) { s.Sig = s.Sig[:63] }, want: modelsign.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			signer := priv
			if tc.signer != nil {
				signer = tc.signer
			}
			model := testModel()
			// Through the file, as a verifier gets it.
			sig, err := modelsign.ParseSignature(mustSign(t, model, signer, tc.checks).Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if tc.model != nil {
				model = tc.model(model)
			}
			if tc.sig != nil {
				tc.sig(sig)
			}
			id, err := kr.Verify(model, sig)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			if err == nil && id != sig.KeyID {
				t.Errorf("Verify returned key id %q, signature has %q", id, sig.KeyID)
			}
			if err != nil && id != "" {
				t.Errorf("Verify failed but returned key id %q", id)
			}
			// A file written from the altered signature fails alike.
			if tc.want != nil && tc.want != modelsign.ErrMalformed {
				again, err := modelsign.ParseSignature(sig.Marshal())
				if err != nil {
					t.Fatalf("ParseSignature of the altered file: %v", err)
				}
				if _, err := kr.Verify(model, again); !errors.Is(err, tc.want) {
					t.Errorf("Verify of the altered file: %v, want %v", err, tc.want)
				}
			}
		})
	}
	if _, err := kr.Verify(testModel(), nil); !errors.Is(err, modelsign.ErrMalformed) {
		t.Errorf("Verify(nil signature): %v, want ErrMalformed", err)
	}
}

// goodFile is a signature file without checks and the same file with its
// closing brace and newline cut off, ready for more members.
func goodFile(t *testing.T) (file, open string) {
	t.Helper()
	priv, _ := testKey(1)
	f := string(mustSign(t, testModel(), priv, nil).Marshal())
	return f, strings.TrimSuffix(f, "}\n")
}

// checkJSON is one element of a "checks" list.
func checkJSON(name string, image []byte, prob string) string {
	return fmt.Sprintf(`{"name":%q,"image":%q,"probability":%s}`, name, base64.StdEncoding.EncodeToString(image), prob)
}

// TestParseSignatureMalformed feeds ill-formed signature files, which
// must all be ErrMalformed.
func TestParseSignatureMalformed(t *testing.T) {
	good, open := goodFile(t)
	withChecks := func(v string) string { return open + `,"checks":` + v + "}" }
	one := checkJSON("a.png", []byte("img"), "0.5")
	replace := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("%q is not in %s", old, good)
		}
		return strings.Replace(good, old, new, 1)
	}
	many := make([]string, modelsign.MaxChecks+1)
	for i := range many {
		many[i] = checkJSON(fmt.Sprintf("c%d", i), []byte{byte(i)}, "0.5")
	}
	big := make([]byte, modelsign.MaxCheckImageSize+1)
	tests := []struct {
		name, file, reason string // reason: a substring of the error
	}{
		{"empty", "", "not a JSON object"},
		{"garbage", "garbage", "not a JSON object"},
		{"array", "[]", "not a JSON object"},
		{"truncated", good[:len(good)/2], ""},
		{"trailing data", good + "{}", "data after"},
		{"trailing garbage", good + "x", "data after"},
		{"duplicate member", open + `,"version":1}`, `"version" given twice`},
		{"extra member", open + `,"comment":"hi"}`, `unknown member "comment"`},
		{"member of another case", replace(`"key_id"`, `"Key_ID"`), `unknown member "Key_ID"`},
		{"missing member", replace(`"version":1,`, ""), `"version" is missing`},
		{"version as a string", replace(`"version":1`, `"version":"1"`), "version is not a number"},
		{"version 2", replace(`"version":1`, `"version":2`), "unsupported version"},
		{"version 1.0", replace(`"version":1`, `"version":1.0`), "unsupported version"},
		{"algorithm", replace(`"ed25519"`, `"Ed25519"`), "unsupported algorithm"},
		{"upper-case sha256", replace(`"model_sha256":"`, `"model_sha256":"A`), "model_sha256"},
		{"negative size", replace(`"model_size":1000`, `"model_size":-1000`), "model_size"},
		{"fractional size", replace(`"model_size":1000`, `"model_size":1e3`), "model_size"},
		{"size as a string", replace(`"model_size":1000`, `"model_size":"1000"`), "model_size is not a number"},
		{"short key_id", replace(`"key_id":"`, `"key_id":"0`), "key_id"},
		{"created_at with an offset", replace(`"2026-11-25T06:00:00Z"`, `"2026-11-25T07:00:00+01:00"`), "created_at"},
		{"created_at with fractions", replace(`"2026-11-25T06:00:00Z"`, `"2026-11-25T06:00:00.5Z"`), "created_at"},
		{"signature not base64", replace(`"signature":"`, `"signature":"!`), "signature"},
		{"too large", good + strings.Repeat(" ", modelsign.MaxSignatureFileSize), "larger than"},
		{"checks null", withChecks(`null`), "checks is not a JSON object"},
		{"checks not an object", withChecks(`[]`), "checks is not a JSON object"},
		{"checks unknown member", withChecks(`{"tolerance":0.1,"checks":[` + one + `],"x":1}`), `unknown member "x"`},
		{"checks duplicate member", withChecks(`{"tolerance":0.1,"tolerance":0.1,"checks":[` + one + `]}`), `"tolerance" given twice`},
		{"checks without list", withChecks(`{"tolerance":0.1}`), `"checks" is missing`},
		{"checks without tolerance", withChecks(`{"checks":[` + one + `]}`), `"tolerance" is missing`},
		{"checks given twice", open + `,"checks":{"tolerance":0.1,"checks":[` + one + `]},"checks":{"tolerance":0.1,"checks":[` + one + `]}}`, `"checks" given twice`},
		{"empty check list", withChecks(`{"tolerance":0.1,"checks":[]}`), "empty"},
		{"check list not an array", withChecks(`{"tolerance":0.1,"checks":{}}`), "not an array"},
		{"tolerance as a string", withChecks(`{"tolerance":"0.1","checks":[` + one + `]}`), "tolerance is not a number"},
		{"negative tolerance", withChecks(`{"tolerance":-0.1,"checks":[` + one + `]}`), "tolerance"},
		{"tolerance -0", withChecks(`{"tolerance":-0,"checks":[` + one + `]}`), "tolerance"},
		{"tolerance over 1", withChecks(`{"tolerance":1.5,"checks":[` + one + `]}`), "tolerance"},
		{"tolerance overflows float32", withChecks(`{"tolerance":1e39,"checks":[` + one + `]}`), "tolerance"},
		{"probability over 1", withChecks(`{"tolerance":0.1,"checks":[` + checkJSON("a", []byte{1}, "1.0001") + `]}`), "probability"},
		{"negative probability", withChecks(`{"tolerance":0.1,"checks":[` + checkJSON("a", []byte{1}, "-0.01") + `]}`), "probability"},
		{"probability as a string", withChecks(`{"tolerance":0.1,"checks":[` + checkJSON("a", []byte{1}, `"0.5"`) + `]}`), "probability is not a number"},
		{"check unknown member", withChecks(`{"tolerance":0.1,"checks":[{"name":"a","image":"AA==","probability":0.5,"label":"husky"}]}`), `unknown member "label"`},
		{"check duplicate member", withChecks(`{"tolerance":0.1,"checks":[{"name":"a","name":"b","image":"AA==","probability":0.5}]}`), `"name" given twice`},
		{"check missing image", withChecks(`{"tolerance":0.1,"checks":[{"name":"a","probability":0.5}]}`), `"image" is missing`},
		{"check not an object", withChecks(`{"tolerance":0.1,"checks":["a"]}`), "not a JSON object"},
		{"bad base64", withChecks(`{"tolerance":0.1,"checks":[{"name":"a","image":"AA=!","probability":0.5}]}`), "base64"},
		{"unpadded base64", withChecks(`{"tolerance":0.1,"checks":[{"name":"a","image":"AA","probability":0.5}]}`), "base64"},
		{"url base64", withChecks(`{"tolerance":0.1,"checks":[{"name":"a","image":"-_-_","probability":0.5}]}`), "base64"},
		{"empty image", withChecks(`{"tolerance":0.1,"checks":[{"name":"a","image":"","probability":0.5}]}`), "empty"},
		{"image too large", withChecks(`{"tolerance":0.1,"checks":[` + checkJSON("a", big, "0.5") + `]}`), "262145 bytes, at most 262144"},
		{"empty name", withChecks(`{"tolerance":0.1,"checks":[` + checkJSON("", []byte{1}, "0.5") + `]}`), "name is empty"},
		{"name with a newline", withChecks(`{"tolerance":0.1,"checks":[` + checkJSON("a\nb", []byte{1}, "0.5") + `]}`), "control character"},
		{"name with a quote", withChecks(`{"tolerance":0.1,"checks":[` + checkJSON(`a"b`, []byte{1}, "0.5") + `]}`), "quotation mark"},
		{"name too long", withChecks(`{"tolerance":0.1,"checks":[` + checkJSON(strings.Repeat("n", modelsign.MaxCheckNameLen+1), []byte{1}, "0.5") + `]}`), "at most"},
		{"duplicate names", withChecks(`{"tolerance":0.1,"checks":[` + one + "," + one + `]}`), "two checks"},
		{"too many checks", withChecks(`{"tolerance":0.1,"checks":[` + strings.Join(many, ",") + `]}`), "more than 16"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := modelsign.ParseSignature([]byte(tc.file))
			if !errors.Is(err, modelsign.ErrMalformed) {
				t.Fatalf("ParseSignature: %v (sig %v), want ErrMalformed", err, sig)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
	// The edits above are what makes them fail: the bases parse.
	for _, f := range []string{good, withChecks(`{"tolerance":0.1,"checks":[` + one + `]}`), " " + good + " \n\n"} {
		if _, err := modelsign.ParseSignature([]byte(f)); err != nil {
			t.Errorf("ParseSignature(%.80q...): %v", f, err)
		}
	}
}

// TestLargestCheckSetFits signs MaxChecks images of MaxCheckImageSize
// bytes and verifies the file, which must fit MaxSignatureFileSize.
func TestLargestCheckSetFits(t *testing.T) {
	priv, pub := testKey(1)
	cs := &modelsign.CheckSet{Tolerance: 1}
	for i := range modelsign.MaxChecks {
		img := bytes.Repeat([]byte{byte(i)}, modelsign.MaxCheckImageSize)
		cs.Checks = append(cs.Checks, modelsign.Check{Name: strings.Repeat(string(rune('a'+i)), modelsign.MaxCheckNameLen), Image: img, Probability: 0.123456789})
	}
	file := mustSign(t, testModel(), priv, cs).Marshal()
	if len(file) > modelsign.MaxSignatureFileSize {
		t.Fatalf("signature file of %d bytes exceeds MaxSignatureFileSize %d", len(file), modelsign.MaxSignatureFileSize)
	}
	sig, err := modelsign.ParseSignature(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := modelsign.Verify(testModel(), sig, pub); err != nil {
		t.Fatal(err)
	}
	cs.Checks[0].Image = append(cs.Checks[0].Image, 0)
	if _, err := modelsign.Sign(testModel(), priv, signedAt, cs); err == nil {
		t.Error("Sign accepted an image one byte over MaxCheckImageSize")
	}
}

// TestCanonical pins the canonical encoding of a check set and the
// payload line that holds its hash.
func TestCanonical(t *testing.T) {
	cs := &modelsign.CheckSet{Tolerance: 0.001, Checks: []modelsign.Check{
		{Name: "a <&> b.png", Image: []byte{0xfb, 0xff, 0x00}, Probability: 0.87312},
		{Name: "ü", Image: []byte("x"), Probability: 1e-8},
		{Name: "z", Image: []byte("y"), Probability: 1},
	}}
	want := `{"tolerance":0.001,"checks":[{"name":"a <&> b.png","image":"+/8A","probability":0.87312},` +
		`{"name":"ü","image":"eA==","probability":0.00000001},{"name":"z","image":"eQ==","probability":1}]}`
	if got := string(cs.Canonical()); got != want {
		t.Errorf("Canonical:\n got %s\nwant %s", got, want)
	}
	priv, _ := testKey(1)
	sum := sha256.Sum256([]byte(want))
	for _, tc := range []struct {
		checks *modelsign.CheckSet
		line   string
	}{
		{cs, "checks_sha256:" + hex.EncodeToString(sum[:]) + "\n"},
		{nil, "checks_sha256:none\n"},
	} {
		sig := mustSign(t, testModel(), priv, tc.checks)
		p := string(sig.Payload())
		if !strings.HasPrefix(p, modelsign.PayloadContext+"\n") || !strings.HasSuffix(p, "\ncreated_at:2026-11-25T06:00:00Z\n"+tc.line) {
			t.Errorf("payload %q does not end with created_at and %q", p, tc.line)
		}
		if file := string(sig.Marshal()); tc.checks != nil && !strings.HasSuffix(file, `,"checks":`+want+"}\n") {
			t.Errorf("signature file does not end with the canonical checks: %s", file)
		}
	}
}

// TestValidate covers the rules of a check set.
func TestValidate(t *testing.T) {
	ok := func() *modelsign.CheckSet { return testChecks() }
	tests := []struct {
		name   string
		edit   func(cs *modelsign.CheckSet)
		reason string // "" for valid
	}{
		{"valid", func(*modelsign.CheckSet) {}, ""},
		{"tolerance 1", func(cs *modelsign.CheckSet) { cs.Tolerance = 1 }, ""},
		{"NaN tolerance", func(cs *modelsign.CheckSet) { cs.Tolerance = float32(math.NaN()) }, "tolerance"},
		{"-0 probability", func(cs *modelsign.CheckSet) { cs.Checks[0].Probability = float32(math.Copysign(0, -1)) }, "probability"},
		{"Inf probability", func(cs *modelsign.CheckSet) { cs.Checks[0].Probability = float32(math.Inf(1)) }, "probability"},
		{"no checks", func(cs *modelsign.CheckSet) { cs.Checks = nil }, "empty"},
		{"invalid UTF-8 name", func(cs *modelsign.CheckSet) { cs.Checks[0].Name = "a\xffb" }, "UTF-8"},
		{"backslash in name", func(cs *modelsign.CheckSet) { cs.Checks[0].Name = `a\b` }, "backslash"},
		{"DEL in name", func(cs *modelsign.CheckSet) { cs.Checks[0].Name = "a\x7f" }, "control"},
		{"same names", func(cs *modelsign.CheckSet) { cs.Checks[1].Name = cs.Checks[0].Name }, "two checks"},
		{"nil image", func(cs *modelsign.CheckSet) { cs.Checks[1].Image = nil }, "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := ok()
			tc.edit(cs)
			err := cs.Validate()
			if (err == nil) != (tc.reason == "") || err != nil && !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("Validate: %v, want an error saying %q", err, tc.reason)
			}
		})
	}
	var none *modelsign.CheckSet
	if none.Validate() == nil {
		t.Error("nil CheckSet validates")
	}
}
