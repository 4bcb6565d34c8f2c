package main

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/huskyai/huskyai/engine/keras/kerastest"

	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/modelsign"
)

// signKeygen runs "huskyai keygen" into dir and returns the key files.
func signKeygen(t *testing.T, dir, name string) (key, pub string) {
	t.Helper()
	out := filepath.Join(dir, name)
	if _, stderr, err := runCmd(t, "keygen", "--out", out); err != nil {
		t.Fatalf("keygen: %v\n%s", err, stderr)
	}
	return out + ".key", out + ".pub"
}

// signWriteModel writes model bytes to dir/name.
func signWriteModel(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// signCheckDir writes a directory of check images: two PNGs, a JPEG and
// files that are not images, which sign must skip.
func signCheckDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	img := func(w, h, seed int) *image.NRGBA {
		m := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				m.Set(x, y, color.NRGBA{uint8(x * seed), uint8(y * 3), uint8(x + y*seed), 255})
			}
		}
		return m
	}
	write := func(name string, enc func(*bytes.Buffer) error) {
		var b bytes.Buffer
		if err := enc(&b); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b-dog.png", func(b *bytes.Buffer) error { return png.Encode(b, img(200, 150, 3)) })
	write("a-husky.PNG", func(b *bytes.Buffer) error { return png.Encode(b, img(128, 128, 7)) })
	write("c-snow.jpg", func(b *bytes.Buffer) error { return jpeg.Encode(b, img(90, 120, 5), nil) })
	write("README.txt", func(b *bytes.Buffer) error { _, err := b.WriteString("not an image"); return err })
	if err := os.Mkdir(filepath.Join(dir, "sub.png"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestKeygen: keygen writes a private key of mode 0600 and its public
// key, and never overwrites them.
func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	key, pub := signKeygen(t, dir, "release")
	fi, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", key, fi.Mode().Perm())
	}
	keyPEM, _ := os.ReadFile(key)
	pubPEM, _ := os.ReadFile(pub)
	priv, err := modelsign.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := modelsign.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !pk.Equal(priv.Public()) {
		t.Error("the .pub file is not the public half of the .key file")
	}
	for _, tc := range []struct {
		name   string
		args   []string
		reason string
	}{
		{"existing pair", []string{"keygen", "--out", filepath.Join(dir, "release")}, "already exists"},
		{"existing .pub only", []string{"keygen", "--out", strings.TrimSuffix(signWriteModel(t, dir, "other.pub", []byte("x")), ".pub")}, "already exists"},
		{"no --out", []string{"keygen"}, "--out NAME is required"},
		{"extra argument", []string{"keygen", "--out", filepath.Join(dir, "x"), "y"}, "--out NAME is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("keygen: %v, want an error saying %q", err, tc.reason)
			}
		})
	}
	if again, _ := os.ReadFile(key); !bytes.Equal(again, keyPEM) {
		t.Error("the refused keygen changed the existing key")
	}
	if _, err := os.Stat(filepath.Join(dir, "other.key")); err == nil {
		t.Error("keygen wrote other.key although other.pub existed")
	}
}

// TestSignVerify signs a model and verifies it, then shows verify failing,
// with the reason, for each way the pair can go wrong.
func TestSignVerify(t *testing.T) {
	dir := t.TempDir()
	key, pub := signKeygen(t, dir, "release")
	_, otherPub := signKeygen(t, dir, "other")
	model := defaultmodel.Bytes()
	tests := []struct {
		name   string
		setup  func(t *testing.T, modelPath string) // after signing
		pub    string
		reason string // "" for success
	}{
		{name: "genuine", pub: pub},
		{name: "genuine, trusted key in a directory", pub: dir},
		{name: "flipped byte", pub: pub, reason: "model does not match its signature", setup: func(t *testing.T, p string) {
			m := bytes.Clone(model)
			m[len(m)/2] ^= 1
			signWriteModel(t, filepath.Dir(p), filepath.Base(p), m)
		}},
		{name: "truncated model", pub: pub, reason: "model does not match its signature", setup: func(t *testing.T, p string) {
			signWriteModel(t, filepath.Dir(p), filepath.Base(p), model[:len(model)-1])
		}},
		{name: "missing signature", pub: pub, reason: "no such file", setup: func(t *testing.T, p string) {
			if err := os.Remove(p + ".sig"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "untrusted key", pub: otherPub, reason: "not trusted"},
		{name: "edited signature", pub: pub, reason: "signature does not verify", setup: func(t *testing.T, p string) {
			b, _ := os.ReadFile(p + ".sig")
			b = bytes.Replace(b, []byte(`"created_at":"2`), []byte(`"created_at":"1`), 1)
			signWriteModel(t, filepath.Dir(p), filepath.Base(p)+".sig", b)
		}},
		{name: "malformed signature", pub: pub, reason: "malformed signature", setup: func(t *testing.T, p string) {
			signWriteModel(t, filepath.Dir(p), filepath.Base(p)+".sig", []byte("{}"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mdir := t.TempDir()
			p := signWriteModel(t, mdir, "husky.h5", model)
			stdout, stderr, err := runCmd(t, "sign", "--key", key, p)
			if err != nil {
				t.Fatalf("sign: %v\n%s", err, stderr)
			}
			if !strings.Contains(stdout, "wrote "+p+".sig") || !strings.Contains(stdout, "checks=none") {
				t.Errorf("sign printed %q", stdout)
			}
			if tc.setup != nil {
				tc.setup(t, p)
			}
			stdout, _, err = runCmd(t, "verify", "--pub", tc.pub, p)
			if tc.reason == "" {
				if err != nil || !strings.HasPrefix(stdout, "OK key_id=") || !strings.Contains(stdout, "checks=none") {
					t.Fatalf("verify: %v, printed %q", err, stdout)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "FAILED") || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("verify: %v (printed %q), want an error saying %q", err, stdout, tc.reason)
			}
			if stdout != "" {
				t.Errorf("failed verify printed %q on stdout", stdout)
			}
		})
	}
}

// TestSignOverwrite: sign keeps an existing signature unless --force.
func TestSignOverwrite(t *testing.T) {
	dir := t.TempDir()
	key, _ := signKeygen(t, dir, "k")
	p := signWriteModel(t, dir, "m.h5", defaultmodel.Bytes())
	if _, _, err := runCmd(t, "sign", "--key", key, p); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, "sign", "--key", key, p); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second sign: %v, want a refusal naming --force", err)
	}
	if _, _, err := runCmd(t, "sign", "--key", key, "--force", p); err != nil {
		t.Errorf("sign --force: %v", err)
	}
	if _, _, err := runCmd(t, "sign", "--key", p+".sig", p); err == nil {
		t.Error("sign with a signature file as the key: no error")
	}
}

// TestSignCheckImages embeds a self-test, which verify runs; a backdoored
// model re-signed with the same checks is refused by the self-test.
func TestSignCheckImages(t *testing.T) {
	dir := t.TempDir()
	key, pub := signKeygen(t, dir, "release")
	model := defaultmodel.Bytes()
	p := signWriteModel(t, dir, "husky.h5", model)
	checks := signCheckDir(t)
	stdout, stderr, err := runCmd(t, "sign", "--key", key, "--check-images", checks, "--check-tolerance", "0.0005", p)
	if err != nil {
		t.Fatalf("sign --check-images: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "checks=3") {
		t.Errorf("sign printed %q, want checks=3", stdout)
	}
	sigData, err := os.ReadFile(p + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	sig, err := modelsign.ParseSignature(sigData)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range sig.Checks.Checks {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "a-husky.PNG,b-dog.png,c-snow.jpg" || sig.Checks.Tolerance != 0.0005 {
		t.Errorf("checks %s tolerance %v, want a-husky.PNG,b-dog.png,c-snow.jpg and 0.0005", got, sig.Checks.Tolerance)
	}
	stdout, _, err = runCmd(t, "verify", "--pub", pub, p)
	if err != nil || !strings.HasPrefix(stdout, "OK key_id=") || !strings.Contains(stdout, "checks=3 self-test passed") {
		t.Fatalf("verify: %v, printed %q", err, stdout)
	}

	// The attacker holds the key, backdoors the model and re-signs it,
	// keeping the old checks (or the self-test would not be there).
	keyPEM, _ := os.ReadFile(key)
	priv, err := modelsign.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	bd := kerastest.Backdoor(t, model, 100)
	forged, err := modelsign.Sign(bd, priv, time.Now(), sig.Checks)
	if err != nil {
		t.Fatal(err)
	}
	signWriteModel(t, dir, "husky.h5", bd)
	signWriteModel(t, dir, "husky.h5.sig", forged.Marshal())
	stdout, _, err = runCmd(t, "verify", "--pub", pub, p)
	if err == nil || !strings.Contains(err.Error(), "self-test") || !strings.Contains(err.Error(), "FAILED") {
		t.Fatalf("verify of the backdoored model: %v (printed %q), want a self-test failure", err, stdout)
	}
	if !strings.Contains(err.Error(), `check "`) || !strings.Contains(err.Error(), "tolerance") {
		t.Errorf("the self-test failure %q does not name the check and the tolerance", err)
	}
}

// TestSignCheckImagesErrors: sign refuses bad --check-images and
// --check-tolerance values and then writes no signature.
func TestSignCheckImagesErrors(t *testing.T) {
	dir := t.TempDir()
	key, _ := signKeygen(t, dir, "k")
	p := signWriteModel(t, dir, "m.h5", defaultmodel.Bytes())
	empty := t.TempDir()
	signWriteModel(t, empty, "notes.txt", []byte("x"))
	many := t.TempDir()
	src, _ := os.ReadFile(filepath.Join(signCheckDir(t), "b-dog.png"))
	for i := range modelsign.MaxChecks + 1 {
		signWriteModel(t, many, string(rune('a'+i))+".png", src)
	}
	bad := t.TempDir()
	signWriteModel(t, bad, "broken.png", []byte("\x89PNG\r\n\x1a\nnot really"))
	for _, tc := range []struct {
		name   string
		args   []string
		reason string
	}{
		{"no images", []string{"--check-images", empty}, "holds no *.png"},
		{"missing directory", []string{"--check-images", filepath.Join(dir, "nope")}, "no such file"},
		{"too many images", []string{"--check-images", many}, "more than 16 images"},
		{"undecodable image", []string{"--check-images", bad}, `"broken.png"`},
		{"tolerance above 1", []string{"--check-images", signCheckDir(t), "--check-tolerance", "2"}, "not in [0, 1]"},
		{"negative tolerance", []string{"--check-images", signCheckDir(t), "--check-tolerance", "-1e-3"}, "not in [0, 1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"sign", "--key", key}, tc.args...), p)
			_, _, err := runCmd(t, args...)
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("sign: %v, want an error saying %q", err, tc.reason)
			}
			if _, err := os.Stat(p + ".sig"); err == nil {
				t.Fatal("a failed sign wrote a signature")
			}
		})
	}
}
