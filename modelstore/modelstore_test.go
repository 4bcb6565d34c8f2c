package modelstore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huskyai/huskyai/engine/keras/kerastest"

	"github.com/huskyai/huskyai/audit"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/modelsign"
	"github.com/huskyai/huskyai/modelstore"
)

// Two small models with one sigmoid output and different bytes (the same
// weights, as Keras HDF5 and as ONNX), so tests load them fast.
var (
	modelA = mustRead("../testdata/parity/husky_small.h5")
	modelB = mustRead("../testdata/parity/husky_small_torch.onnx")
)

func mustRead(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return b
}

// key is a signing key pair for tests.
type key struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	kr   *modelsign.Keyring
}

func newKey(t *testing.T) key {
	t.Helper()
	priv, pub, err := modelsign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := modelsign.NewKeyring(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key{priv, pub, kr}
}

// sign returns the signature file of model, with checks (nil for none).
func (k key) sign(t *testing.T, model []byte, checks *modelsign.CheckSet) []byte {
	t.Helper()
	sig, err := modelsign.Sign(model, k.priv, time.Now(), checks)
	if err != nil {
		t.Fatal(err)
	}
	return sig.Marshal()
}

// checksOf makes a self-test of two images with model's outputs.
func checksOf(t *testing.T, model []byte) *modelsign.CheckSet {
	t.Helper()
	c, err := classifier.Load(model, classifier.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	cs, err := c.BuildCheckSet([]classifier.CheckImage{
		{Name: "a.png", Data: testPNG(t, 40, 30, 0)},
		{Name: "b.png", Data: testPNG(t, 32, 32, 90)},
	}, 1e-4)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func testPNG(t *testing.T, w, h, seed int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x*7 + seed), uint8(y*5 + 2*seed), uint8(x * y), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// put writes model (and sig, unless nil) to dir/name and returns the
// model's path. A nil sig removes an existing signature.
func put(t *testing.T, dir, name string, model, sig []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, model, 0o644); err != nil {
		t.Fatal(err)
	}
	if sig == nil {
		os.Remove(p + ".sig")
	} else if err := os.WriteFile(p+".sig", sig, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// records decodes the audit log in buf and checks its chain.
func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	if n, err := audit.Verify(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("audit log does not verify after %d records: %v", n, err)
	}
	var recs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, m)
	}
	return recs
}

// TestEmbedded: the embedded model is verified against the embedded
// release key and self-tested, whatever the options.
func TestEmbedded(t *testing.T) {
	pub, err := modelsign.ParsePublicKey(defaultmodel.ReleaseKey())
	if err != nil {
		t.Fatal(err)
	}
	other := newKey(t)
	small := classifier.DefaultOptions()
	small.MaxPixels = 100 // the upload limit does not apply to the signed check images
	for _, opt := range []modelstore.Options{
		{Classifier: classifier.DefaultOptions()},
		{Classifier: small, RequireSignature: true},
		{Keyring: other.kr, RequireSignature: true}, // --trusted-keys is for --model files
	} {
		var log bytes.Buffer
		opt.Audit = audit.NewWriter(&log)
		st, err := modelstore.Open(context.Background(), modelstore.Source{}, opt)
		if err != nil {
			t.Fatalf("%+v: %v", opt, err)
		}
		info := st.Current().Info()
		if !info.Signed || info.SignerKeyID != modelsign.KeyID(pub) || info.Checks == 0 || info.Placeholder ||
			info.Name != defaultmodel.Name || info.LoadedAt.IsZero() {
			t.Errorf("embedded model info %+v", info)
		}
		recs := records(t, &log)
		if len(recs) != 1 || recs[0]["type"] != "model_load" || recs[0]["source"] != "embedded" || recs[0]["signed"] != true {
			t.Errorf("audit records %v", recs)
		}
		if opt.Classifier.MaxPixels == 100 {
			if _, err := st.Current().Classify(testPNG(t, 20, 20, 0)); err == nil {
				t.Error("the served model ignores MaxPixels")
			}
		}
	}
}

// TestOpenPolicy goes through the trust policy of Open: what is loaded
// and what is refused, with which Kind.
func TestOpenPolicy(t *testing.T) {
	trusted, stranger := newKey(t), newKey(t)
	flipped := bytes.Clone(modelA)
	flipped[len(flipped)/2] ^= 1
	badChecks := checksOf(t, modelA)
	badChecks.Checks[1].Probability = 1 - badChecks.Checks[1].Probability // as if the model had been edited
	tamperedSig := bytes.Replace(trusted.sign(t, modelA, nil), []byte(`"created_at":"20`), []byte(`"created_at":"19`), 1)
	garbage := bytes.Repeat([]byte("not a model "), 100)

	for _, tt := range []struct {
		name      string
		model     []byte
		sig       []byte // nil: no .sig file
		kr        *modelsign.Keyring
		require   bool
		maxSize   int64
		kind      modelstore.Kind // "" = loaded
		signed    bool
		wantInErr string
	}{
		{name: "unsigned, no policy", model: modelA},
		{name: "signed, no keys", model: modelA, sig: trusted.sign(t, modelA, nil)},
		{name: "signed by a trusted key", model: modelA, sig: trusted.sign(t, modelA, nil), kr: trusted.kr, signed: true},
		{name: "signed with checks", model: modelA, sig: trusted.sign(t, modelA, checksOf(t, modelA)), kr: trusted.kr, require: true, signed: true},
		{name: "unsigned with keys", model: modelA, kr: trusted.kr, kind: modelstore.KindNoSignature, wantInErr: ".sig"},
		{name: "unsigned, signature required", model: modelA, require: true, kind: modelstore.KindNoSignature, wantInErr: "unsigned"},
		{name: "signed, required, no keys", model: modelA, sig: trusted.sign(t, modelA, nil), require: true, kind: modelstore.KindNoTrustedKeys, wantInErr: "no trusted keys"},
		{name: "unknown key", model: modelA, sig: stranger.sign(t, modelA, nil), kr: trusted.kr, kind: modelstore.KindUnknownKey, wantInErr: "not trusted"},
		{name: "byte flipped", model: flipped, sig: trusted.sign(t, modelA, nil), kr: trusted.kr, kind: modelstore.KindDigestMismatch, wantInErr: "does not match"},
		{name: "signature edited", model: modelA, sig: tamperedSig, kr: trusted.kr, kind: modelstore.KindBadSignature, wantInErr: "does not verify"},
		{name: "malformed signature", model: modelA, sig: []byte(`{"version":1}`), kr: trusted.kr, kind: modelstore.KindMalformedSignature},
		{name: "other model's signature", model: modelB, sig: trusted.sign(t, modelA, nil), kr: trusted.kr, kind: modelstore.KindDigestMismatch},
		{name: "signed garbage", model: garbage, sig: trusted.sign(t, garbage, nil), kr: trusted.kr, kind: modelstore.KindInvalidModel},
		{name: "self-test fails", model: modelA, sig: trusted.sign(t, modelA, badChecks), kr: trusted.kr, kind: modelstore.KindSelfTest, wantInErr: `"b.png"`},
		{name: "too large", model: modelA, maxSize: 1000, kind: modelstore.KindRead, wantInErr: "limit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := put(t, t.TempDir(), "model", tt.model, tt.sig)
			var log bytes.Buffer
			st, err := modelstore.Open(context.Background(), modelstore.Source{Path: p}, modelstore.Options{
				Keyring: tt.kr, RequireSignature: tt.require, MaxModelSize: tt.maxSize,
				Classifier: classifier.DefaultOptions(), Audit: audit.NewWriter(&log),
			})
			recs := records(t, &log)
			if len(recs) != 1 {
				t.Fatalf("%d audit records, want 1: %v", len(recs), recs)
			}
			if tt.kind != "" {
				re, ok := errors.AsType[*modelstore.RefusedError](err)
				if !ok || re.Kind != tt.kind || re.Source != p || !strings.Contains(err.Error(), tt.wantInErr) || !strings.Contains(err.Error(), p) {
					t.Fatalf("got %v (%T), want a %s refusal mentioning %q and the path", err, err, tt.kind, tt.wantInErr)
				}
				if recs[0]["type"] != "model_refused" || recs[0]["kind"] != string(tt.kind) || recs[0]["source"] != p {
					t.Errorf("audit record %v", recs[0])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info := st.Current().Info()
			if info.Signed != tt.signed || (info.SignerKeyID == modelsign.KeyID(trusted.pub)) != tt.signed {
				t.Errorf("info %+v, want signed=%v", info, tt.signed)
			}
			if recs[0]["type"] != "model_load" || recs[0]["signed"] != tt.signed {
				t.Errorf("audit record %v", recs[0])
			}
		})
	}
}

// TestBackdoorRefused: a model whose last bias was set to a large value
// (every image then gets "husky"), re-signed with the trusted key but
// keeping the original self-test, is refused by the self-test.
func TestBackdoorRefused(t *testing.T) {
	k := newKey(t)
	checks := checksOf(t, modelA)
	bad := kerastest.Backdoor(t, modelA, 100)
	p := put(t, t.TempDir(), "model.h5", bad, k.sign(t, bad, checks))
	_, err := modelstore.Open(context.Background(), modelstore.Source{Path: p}, modelstore.Options{Keyring: k.kr})
	if re, ok := errors.AsType[*modelstore.RefusedError](err); !ok || re.Kind != modelstore.KindSelfTest {
		t.Fatalf("got %v, want a self_test refusal", err)
	}
	// Signed without a self-test, the same file loads: the signature alone
	// cannot tell.
	put(t, filepath.Dir(p), "model.h5", bad, k.sign(t, bad, nil))
	st, err := modelstore.Open(context.Background(), modelstore.Source{Path: p}, modelstore.Options{Keyring: k.kr})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := st.Current().Classify(testPNG(t, 32, 32, 3)); err != nil || r.Probability != 1 {
		t.Errorf("backdoored model: %v %v, want probability 1", r.Probability, err)
	}
}

// TestReload: a good reload swaps the model; a refused one keeps the old
// model serving and is recorded.
func TestReload(t *testing.T) {
	k := newKey(t)
	dir := t.TempDir()
	p := put(t, dir, "model", modelA, k.sign(t, modelA, nil))
	var log bytes.Buffer
	now := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	st, err := modelstore.Open(context.Background(), modelstore.Source{Path: p}, modelstore.Options{
		Keyring: k.kr, Audit: audit.NewWriter(&log), Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	a := st.Current()
	if s := st.Status(); s.LastReload != nil || s.Reloads != 0 || s.Source != p || s.Model.SHA256 != a.Info().SHA256 {
		t.Errorf("status after Open: %+v", s)
	}

	put(t, dir, "model", modelB, k.sign(t, modelB, nil))
	now = now.Add(time.Minute)
	if err := st.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := st.Current()
	if b == a || b.Info().SHA256 == a.Info().SHA256 || b.Info().Format != "onnx" || !b.Info().LoadedAt.Equal(now) {
		t.Errorf("after reload: %+v", b.Info())
	}
	s := st.Status()
	if s.LastReload == nil || !s.LastReload.OK || s.LastReload.SHA256 != b.Info().SHA256 || s.Reloads != 1 || s.ReloadFailures != 0 {
		t.Errorf("status after a good reload: %+v %+v", s, s.LastReload)
	}

	// A byte flipped: refused, b keeps serving.
	flipped := bytes.Clone(modelA)
	flipped[100] ^= 0x40
	put(t, dir, "model", flipped, k.sign(t, modelA, nil))
	err = st.Reload(context.Background())
	if re, ok := errors.AsType[*modelstore.RefusedError](err); !ok || re.Kind != modelstore.KindDigestMismatch {
		t.Fatalf("reload of a flipped model: %v", err)
	}
	if st.Current() != b {
		t.Error("a refused reload replaced the model")
	}
	s = st.Status()
	if s.LastReload.OK || s.LastReload.Kind != modelstore.KindDigestMismatch || !strings.Contains(s.LastReload.Error, "does not match") ||
		s.Reloads != 1 || s.ReloadFailures != 1 || s.Model.SHA256 != b.Info().SHA256 {
		t.Errorf("status after a refused reload: %+v %+v", s, s.LastReload)
	}

	recs := records(t, &log)
	var kinds []string
	for _, r := range recs {
		k := r["type"].(string)
		if r["reload"] == true {
			k += "+reload"
		}
		kinds = append(kinds, k)
	}
	if got := strings.Join(kinds, " "); got != "model_load model_load+reload model_refused+reload" {
		t.Errorf("audit records: %s\n%s", got, log.String())
	}
}

// TestReloadConcurrent: reloads are serialized and readers never see a
// nil or half-made model (run with -race).
func TestReloadConcurrent(t *testing.T) {
	dir := t.TempDir()
	p := put(t, dir, "model", modelA, nil)
	st, err := modelstore.Open(context.Background(), modelstore.Source{Path: p}, modelstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := testPNG(t, 32, 32, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for ctx.Err() == nil {
				c := st.Current()
				if _, err := c.Classify(img); err != nil {
					t.Error(err)
					return
				}
				_ = st.Status()
			}
		})
	}
	var rg sync.WaitGroup
	for range 4 {
		rg.Go(func() {
			for range 3 {
				if err := st.Reload(context.Background()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	rg.Wait()
	cancel()
	wg.Wait()
	if s := st.Status(); s.Reloads != 12 || s.ReloadFailures != 0 {
		t.Errorf("status %+v", s)
	}
}

// watched opens a store of modelA, signed by a new key, in a directory
// of its own, and watches it every interval until the test ends.
func watched(t *testing.T, interval time.Duration) (k key, dir, path string, st *modelstore.Store) {
	t.Helper()
	k = newKey(t)
	dir = t.TempDir()
	path = put(t, dir, "model", modelA, k.sign(t, modelA, nil))
	st, err := modelstore.Open(context.Background(), modelstore.Source{Path: path}, modelstore.Options{Keyring: k.kr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Watch(ctx, interval) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return k, dir, path, st
}

// TestWatch: --watch reloads once the files changed and then stayed the
// same, and does not retry a refused model until it changes again.
func TestWatch(t *testing.T) {
	k, dir, p, st := watched(t, 20*time.Millisecond)
	a := st.Current().Info().SHA256
	waitFor := func(what string, cond func(modelstore.Status) bool) modelstore.Status {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s := st.Status()
			if cond(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s; status %+v %+v", what, s, s.LastReload)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	time.Sleep(100 * time.Millisecond)
	if s := st.Status(); s.Reloads+s.ReloadFailures != 0 {
		t.Fatalf("reloaded without a change: %+v", s)
	}

	// A new model by rename, as deployments do it: the signature first
	// (refused until the model follows), then the model.
	tmp := put(t, t.TempDir(), "new", modelB, k.sign(t, modelB, nil))
	if err := os.Rename(tmp+".sig", p+".sig"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	s := waitFor("the new model", func(s modelstore.Status) bool { return s.Model.SHA256 != a })
	if s.Model.Format != "onnx" {
		t.Errorf("model %+v", s.Model)
	}

	// A bad model is refused once, not retried while it stays.
	flipped := bytes.Clone(modelA)
	flipped[200] ^= 1
	put(t, dir, "model", flipped, k.sign(t, modelA, nil))
	s = waitFor("the refusal", func(s modelstore.Status) bool { return s.ReloadFailures > 0 })
	time.Sleep(150 * time.Millisecond)
	if s2 := st.Status(); s2.ReloadFailures != s.ReloadFailures || s2.Model.Format != "onnx" {
		t.Errorf("refused model retried or served: %+v then %+v", s, s2)
	}
}

// TestWatchEmbedded: there is nothing to watch in the binary.
func TestWatchEmbedded(t *testing.T) {
	st, err := modelstore.Open(context.Background(), modelstore.Source{}, modelstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Watch(context.Background(), time.Second); err == nil {
		t.Error("watching the embedded model: no error")
	}
}

// failingAudit is an audit log on a disk that is full from the n+1th
// record on.
type failingAudit struct{ n int }

func (f *failingAudit) Record(context.Context, audit.Event) error {
	if f.n <= 0 {
		return fmt.Errorf("%w: no space left on device", audit.ErrDropped)
	}
	f.n--
	return nil
}

// TestLoadNotAudited: a model whose load cannot be recorded in the audit
// log is not served: at start the store does not open (KindAudit); on a
// reload the old model keeps serving.
func TestLoadNotAudited(t *testing.T) {
	p := put(t, t.TempDir(), "model", modelA, nil)
	_, err := modelstore.Open(context.Background(), modelstore.Source{Path: p}, modelstore.Options{Audit: &failingAudit{}})
	if re, ok := errors.AsType[*modelstore.RefusedError](err); !ok || re.Kind != modelstore.KindAudit || !strings.Contains(err.Error(), "no space") {
		t.Fatalf("Open with a full audit log: %v, want a %s refusal", err, modelstore.KindAudit)
	}
	log := &failingAudit{n: 1}
	st, err := modelstore.Open(context.Background(), modelstore.Source{Path: p}, modelstore.Options{Audit: log})
	if err != nil {
		t.Fatal(err)
	}
	old := st.Current()
	put(t, filepath.Dir(p), "model", modelB, nil)
	if err := st.Reload(context.Background()); err == nil {
		t.Fatal("a reload that cannot be audited succeeded")
	}
	if st.Current() != old {
		t.Error("the reload that could not be audited replaced the model")
	}
}

// TestWatchWaitsForSignature: a new model written before its signature is
// not reloaded (and refused) while the old signature names another
// digest; the reload comes once the new signature is there.
func TestWatchWaitsForSignature(t *testing.T) {
	// 100ms polls: the 5 waits for the signature last at least 1s, far
	// more than the test takes to write it, however loaded the machine.
	k, _, p, st := watched(t, 100*time.Millisecond)
	a := st.Current().Info().SHA256
	tmp := put(t, t.TempDir(), "new", modelB, k.sign(t, modelB, nil))
	if err := os.Rename(tmp, p); err != nil { // the model first
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond) // polls with the old signature
	if err := os.Rename(tmp+".sig", p+".sig"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); st.Current().Info().SHA256 == a; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the new model not loaded within 10s: %+v", st.Status())
		}
	}
	if s := st.Status(); s.ReloadFailures != 0 || s.Reloads != 1 {
		t.Errorf("reloads %d, failures %d; want 1 and 0 (no refusal while the signature was on its way)", s.Reloads, s.ReloadFailures)
	}
}
