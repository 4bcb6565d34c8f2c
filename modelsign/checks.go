package modelsign

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Limits of a CheckSet, enforced by Validate, Sign and ParseSignature.
const (
	// MaxChecks is the most checks a CheckSet may hold.
	MaxChecks = 16
	// MaxCheckImageSize is the largest image of a check, in bytes.
	MaxCheckImageSize = 256 << 10
	// MaxCheckNameLen is the longest name of a check, in bytes.
	MaxCheckNameLen = 128
)

// CheckSet is a behavioural self-test that travels inside a signature: a
// few small images with the probabilities the signed model gave them. A
// server runs them at every load and refuses a model whose outputs differ
// by more than Tolerance, which catches an edited model even when it was
// re-signed with a stolen key, and catches engine regressions.
//
// It is encoded as the optional "checks" member of the signature file and
// covered by the signed payload through the SHA-256 of its canonical
// encoding (see Canonical and the package documentation).
type CheckSet struct {
	// Tolerance is the largest accepted absolute difference between a
	// check's Probability and the model's output, in [0, 1].
	Tolerance float32 `json:"tolerance"`
	// Checks are the images, 1 to MaxChecks of them, with distinct names.
	Checks []Check `json:"checks"`
}

// Check is one image of a CheckSet.
type Check struct {
	// Name names the check in errors and logs (the image's file name):
	// 1 to MaxCheckNameLen bytes of UTF-8 without control characters,
	// quotation marks or backslashes.
	Name string `json:"name"`
	// Image is the image file's bytes (PNG, JPEG or GIF), 1 to
	// MaxCheckImageSize bytes; standard base64 in JSON.
	Image []byte `json:"image"`
	// Probability is the signed model's output for Image, in [0, 1].
	Probability float32 `json:"probability"`
}

// Validate reports whether cs respects the rules of the package
// documentation: 1 to MaxChecks checks with valid, distinct names and
// non-empty images of at most MaxCheckImageSize bytes, a tolerance and
// probabilities that are finite, not negative (nor -0) and at most 1.
func (cs *CheckSet) Validate() error {
	if cs == nil {
		return errors.New("checks: no check set")
	}
	if err := checkUnit("tolerance", cs.Tolerance); err != nil {
		return fmt.Errorf("checks: %w", err)
	}
	switch n := len(cs.Checks); {
	case n == 0:
		return errors.New("checks: the check list is empty")
	case n > MaxChecks:
		return fmt.Errorf("checks: %d checks, at most %d allowed", n, MaxChecks)
	}
	seen := make(map[string]bool, len(cs.Checks))
	for i, c := range cs.Checks {
		if err := checkName(c.Name); err != nil {
			return fmt.Errorf("checks: check %d: %w", i+1, err)
		}
		if seen[c.Name] {
			return fmt.Errorf("checks: two checks are named %q", c.Name)
		}
		seen[c.Name] = true
		switch n := len(c.Image); {
		case n == 0:
			return fmt.Errorf("checks: check %q: the image is empty", c.Name)
		case n > MaxCheckImageSize:
			return fmt.Errorf("checks: check %q: the image is %d bytes, at most %d allowed", c.Name, n, MaxCheckImageSize)
		}
		if err := checkUnit("probability", c.Probability); err != nil {
			return fmt.Errorf("checks: check %q: %w", c.Name, err)
		}
	}
	return nil
}

// checkUnit refuses a value outside [0, 1], NaN and -0.
func checkUnit(what string, v float32) error {
	if !(v >= 0 && v <= 1) || math.Signbit(float64(v)) {
		return fmt.Errorf("%s %v is not in [0, 1]", what, v)
	}
	return nil
}

// checkName applies the rules of Check.Name.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("the name is empty")
	case len(name) > MaxCheckNameLen:
		return fmt.Errorf("the name is %d bytes, at most %d allowed", len(name), MaxCheckNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("the name %q is not valid UTF-8", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '"' || r == '\\' {
			return fmt.Errorf("the name %q holds a control character, a quotation mark or a backslash", name)
		}
	}
	return nil
}

// Canonical is the canonical encoding of cs whose SHA-256 the signed
// payload holds (see the package documentation), the same bytes as the
// "checks" member that Signature.Marshal writes. It does not validate cs:
// a non-finite number gives bytes that are not JSON.
func (cs *CheckSet) Canonical() []byte {
	b := []byte(`{"tolerance":`)
	b = appendUnit(b, cs.Tolerance)
	b = append(b, `,"checks":[`...)
	for i, c := range cs.Checks {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":"`...)
		b = append(b, c.Name...)
		b = append(b, `","image":"`...)
		b = base64.StdEncoding.AppendEncode(b, c.Image)
		b = append(b, `","probability":`...)
		b = appendUnit(b, c.Probability)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendUnit writes v as the shortest decimal without exponent that reads
// back as the same float32.
func appendUnit(b []byte, v float32) []byte {
	return strconv.AppendFloat(b, float64(v), 'f', -1, 32)
}

// checksDigest is the value of the payload's checks_sha256 line.
func checksDigest(cs *CheckSet) string {
	if cs == nil {
		return "none"
	}
	sum := sha256.Sum256(cs.Canonical())
	return hex.EncodeToString(sum[:])
}

// clone returns a deep copy of cs (nil for nil).
func (cs *CheckSet) clone() *CheckSet {
	if cs == nil {
		return nil
	}
	c := &CheckSet{Tolerance: cs.Tolerance, Checks: slices.Clone(cs.Checks)}
	for i := range c.Checks {
		c.Checks[i].Image = bytes.Clone(c.Checks[i].Image)
	}
	return c
}

// parseCheckSet decodes the value of the "checks" member strictly.
func parseCheckSet(raw json.RawMessage) (*CheckSet, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	cs := &CheckSet{}
	checksSeen := false
	err := members(dec, "checks", []string{"tolerance", "checks"}, func(name string) error {
		if name == "tolerance" {
			v, err := decodeUnit(dec, "checks.tolerance")
			cs.Tolerance = v
			return err
		}
		checksSeen = true
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			return errors.New("checks.checks is not an array")
		}
		for dec.More() {
			if len(cs.Checks) == MaxChecks {
				return fmt.Errorf("more than %d checks", MaxChecks)
			}
			c, err := parseCheck(dec, len(cs.Checks)+1)
			if err != nil {
				return err
			}
			cs.Checks = append(cs.Checks, c)
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
			return errors.New("checks.checks: unterminated array")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !checksSeen {
		return nil, errors.New("checks: member \"checks\" is missing")
	}
	if err := cs.Validate(); err != nil {
		return nil, err
	}
	return cs, nil
}

// parseCheck decodes one element of the check list, the n-th.
func parseCheck(dec *json.Decoder, n int) (Check, error) {
	var c Check
	what := fmt.Sprintf("check %d", n)
	err := members(dec, what, []string{"name", "image", "probability"}, func(name string) error {
		var err error
		switch name {
		case "name":
			c.Name, err = decodeString(dec, what+".name")
		case "image":
			var s string
			if s, err = decodeString(dec, what+".image"); err != nil {
				return err
			}
			if base64.StdEncoding.DecodedLen(len(s)) > MaxCheckImageSize+2 {
				return fmt.Errorf("%s.image is larger than %d bytes", what, MaxCheckImageSize)
			}
			if c.Image, err = base64.StdEncoding.Strict().DecodeString(s); err != nil {
				return fmt.Errorf("%s.image is not standard base64", what)
			}
		case "probability":
			c.Probability, err = decodeUnit(dec, what+".probability")
		}
		return err
	})
	return c, err
}

// members reads the JSON object that dec is at: it calls fn with each
// member's name, for fn to decode its value, and refuses unknown,
// repeated and missing members (names lists them all, in order).
// optional names may be absent.
func members(dec *json.Decoder, what string, names []string, fn func(name string) error, optional ...string) error {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("%s is not a JSON object", what)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%s: %v", what, err)
		}
		name, _ := tok.(string)
		if !slices.Contains(names, name) {
			return fmt.Errorf("%s: unknown member %q", what, tok)
		}
		if seen[name] {
			return fmt.Errorf("%s: member %q given twice", what, name)
		}
		seen[name] = true
		if err := fn(name); err != nil {
			return err
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return fmt.Errorf("%s: unterminated JSON object", what)
	}
	for _, name := range names {
		if !seen[name] && !slices.Contains(optional, name) {
			return fmt.Errorf("%s: member %q is missing", what, name)
		}
	}
	return nil
}

// decodeRaw reads the next JSON value.
func decodeRaw(dec *json.Decoder, what string) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	return raw, nil
}

// decodeString reads the next JSON value, which must be a string.
func decodeString(dec *json.Decoder, what string) (string, error) {
	raw, err := decodeRaw(dec, what)
	if err != nil {
		return "", err
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("%s is not a string", what)
	}
	return s, nil
}

// decodeNumber reads the next JSON value, which must be a number (not a
// string holding one), and returns its text.
func decodeNumber(dec *json.Decoder, what string) (string, error) {
	raw, err := decodeRaw(dec, what)
	if err != nil {
		return "", err
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return "", fmt.Errorf("%s is not a number", what)
	}
	return string(raw), nil
}

// decodeUnit reads a number in [0, 1] as a float32.
func decodeUnit(dec *json.Decoder, what string) (float32, error) {
	s, err := decodeNumber(dec, what)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(s, 32)
	if err != nil {
		return 0, fmt.Errorf("%s %s is not a float32", what, s)
	}
	if err := checkUnit(what, float32(v)); err != nil {
		return 0, err
	}
	return float32(v), nil
}
