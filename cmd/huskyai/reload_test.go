package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/huskyai/huskyai/engine/keras/kerastest"

	"github.com/huskyai/huskyai/audit"
	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/modelsign"
)

// Two small models with one sigmoid output and different bytes (the same
// weights as Keras HDF5 and as ONNX): the reload tests swap one for the
// other.
var (
	reloadModelA = filepath.Join("..", "..", "testdata", "parity", "husky_small.h5")
	reloadModelB = filepath.Join("..", "..", "testdata", "parity", "husky_small_torch.onnx")
)

// signer is a model-signing key of a test, with its public key file.
type signer struct {
	priv    ed25519.PrivateKey
	pub     ed25519.PublicKey
	pubFile string
}

func newSigner(t *testing.T, dir, name string) signer {
	t.Helper()
	priv, pub, err := modelsign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := modelsign.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, name+".pub")
	if err := os.WriteFile(f, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return signer{priv, pub, f}
}

// sign returns the signature file of model with checks (nil for none).
func (s signer) sign(t *testing.T, model []byte, checks *modelsign.CheckSet) []byte {
	t.Helper()
	sig, err := modelsign.Sign(model, s.priv, time.Now(), checks)
	if err != nil {
		t.Fatal(err)
	}
	return sig.Marshal()
}

func readFileT(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// install puts model and its signature at path the way a deployment
// does: written beside it, then renamed over it, signature first. A nil
// sig leaves the signature file as it is (or absent).
func install(t *testing.T, path string, model, sig []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".incoming")
	if sig != nil {
		if err := os.WriteFile(tmp+".sig", sig, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp+".sig", path+".sig"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(tmp, model, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// runRefused runs "huskyai serve" with args, which must fail before it
// listens, and returns its error.
func runRefused(t *testing.T, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"huskyai", "serve", "--addr", "127.0.0.1:0", "--insecure-http", "--shutdown-delay", "0s"}, args...),
			func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("serve %q: no error", args)
		}
		return err
	case <-time.After(60 * time.Second):
		cancel()
		<-done
		t.Fatalf("serve %q started (or hung) instead of refusing:\n%s\n%s", args, &stdout, &stderr)
		return nil
	}
}

var adminRE = regexp.MustCompile(`admin endpoint at (\S+)`)

// adminURL is the admin listener's base URL, ".../admin/".
func (s *served) adminURL(t *testing.T) string {
	t.Helper()
	m := adminRE.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no admin listener on stdout:\n%s", s.stdout)
	}
	return m[1]
}

// adminReload posts to /admin/reload and returns the status and the
// decoded body.
func (s *served) adminReload(t *testing.T) (int, map[string]any) {
	t.Helper()
	res, err := http.Post(s.adminURL(t)+"reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, m
}

// predictSHA posts img and returns the status and the answering model's
// SHA-256, without failing the test (for load generators).
func (s *served) predictSHA(img []byte) (int, string, error) {
	res, err := s.client.Post(s.url+"api/v1/predict", "image/png", bytes.NewReader(img))
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	var m struct {
		Model struct {
			SHA256 string `json:"sha256"`
		} `json:"model"`
	}
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		return res.StatusCode, "", fmt.Errorf("%d %q: %v", res.StatusCode, b, err)
	}
	return res.StatusCode, m.Model.SHA256, nil
}

// modelSHA is the SHA-256 /api/v1/model reports.
func (s *served) modelSHA(t *testing.T) string {
	t.Helper()
	status, _, m := s.do(t, "GET", "/api/v1/model", "", nil)
	model, _ := m["model"].(map[string]any)
	sha, _ := model["sha256"].(string)
	if status != 200 || sha == "" {
		t.Fatalf("/api/v1/model: %d %v", status, m)
	}
	return sha
}

// lastReload is the last_reload object of /readyz, nil if none.
func (s *served) lastReload(t *testing.T) map[string]any {
	t.Helper()
	status, _, m := s.do(t, "GET", "/readyz", "", nil)
	if status != 200 {
		t.Fatalf("/readyz: %d %v", status, m)
	}
	lr, _ := m["last_reload"].(map[string]any)
	return lr
}

func sha256Of(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestServeRefusesModel: "huskyai serve" does not start with a model
// that fails the trust policy, and says which model and why in one line.
func TestServeRefusesModel(t *testing.T) {
	dir := t.TempDir()
	good := newSigner(t, dir, "good")
	strangerDir := t.TempDir()
	stranger := newSigner(t, strangerDir, "stranger")
	a := readFileT(t, reloadModelA)
	flipped := bytes.Clone(a)
	flipped[len(flipped)/3] ^= 0x10

	model := func(name string, data, sig []byte) string {
		p := filepath.Join(t.TempDir(), name)
		install(t, p, data, sig)
		return p
	}
	for _, tt := range []struct {
		name string
		args []string
		want []string // in the error
	}{
		{"byte flipped", []string{"--model", model("m.h5", flipped, good.sign(t, a, nil)), "--trusted-keys", good.pubFile},
			[]string{"m.h5", "digest_mismatch", "does not match its signature"}},
		{"unknown key", []string{"--model", model("m.h5", a, stranger.sign(t, a, nil)), "--trusted-keys", dir},
			[]string{"m.h5", "unknown_key", "not in the keyring"}},
		{"missing signature", []string{"--model", model("m.h5", a, nil), "--trusted-keys", good.pubFile},
			[]string{"m.h5", "no_signature", "m.h5.sig"}},
		{"malformed signature", []string{"--model", model("m.h5", a, []byte("{}\n")), "--trusted-keys", good.pubFile},
			[]string{"m.h5", "malformed_signature"}},
		{"require-signature, unsigned", []string{"--model", model("m.h5", a, nil), "--require-signature"},
			[]string{"m.h5", "no_signature", "unsigned"}},
		{"require-signature, no keys", []string{"--model", model("m.h5", a, good.sign(t, a, nil)), "--require-signature"},
			[]string{"m.h5", "no_trusted_keys", "--trusted-keys"}},
		{"bad keyring", []string{"--model", model("m.h5", a, nil), "--trusted-keys", filepath.Join(dir, "none.pub")},
			[]string{"--trusted-keys"}},
		{"admin not loopback", []string{"--admin-addr", "0.0.0.0:0"}, []string{"--admin-addr", "loopback"}},
		{"admin all interfaces", []string{"--admin-addr", ":9999"}, []string{"--admin-addr", "loopback"}},
		{"watch embedded", []string{"--watch"}, []string{"--watch needs --model"}},
		{"watch interval", []string{"--model", reloadModelA, "--watch", "--watch-interval", "0s"}, []string{"--watch-interval"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := runRefused(t, tt.args...)
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is more than one line: %q", msg)
			}
		})
	}
}

// TestServeEnvTrust configures the trust policy through the environment
// and shows the signer in the model's description.
func TestServeEnvTrust(t *testing.T) {
	dir := t.TempDir()
	k := newSigner(t, dir, "k")
	a := readFileT(t, reloadModelA)
	p := filepath.Join(t.TempDir(), "m.h5")
	install(t, p, a, k.sign(t, a, nil))
	s := startServe(t, map[string]string{
		"HUSKYAI_INSECURE_HTTP": "1", "HUSKYAI_MODEL": p, "HUSKYAI_TRUSTED_KEYS": dir, "HUSKYAI_REQUIRE_SIGNATURE": "true",
	})
	status, _, m := s.do(t, "GET", "/api/v1/model", "", nil)
	model, _ := m["model"].(map[string]any)
	if status != 200 || model["signed"] != true || model["signer_key_id"] != modelsign.KeyID(k.pub) || model["loaded_at"] == nil {
		t.Errorf("/api/v1/model: %d %v", status, m)
	}
	status, _, m = s.do(t, "POST", "/api/v1/predict", "image/png", testPNG(t, 40, 30))
	ref, _ := m["model"].(map[string]any)
	shape, _ := ref["input_shape"].([]any)
	if status != 200 || ref["sha256"] != sha256Of(a) || ref["signer_key_id"] != modelsign.KeyID(k.pub) ||
		ref["loaded_at"] == nil || ref["name"] == nil || len(shape) != 3 || shape[0] != 32.0 {
		t.Errorf("prediction's model: %d %v", status, m)
	}
}

// TestReloadRefused: a tampered model is refused at reload, by the admin
// endpoint and by SIGHUP, while the old model keeps answering; the
// refusal shows in the admin answer, /readyz and /metrics.
func TestReloadRefused(t *testing.T) {
	dir := t.TempDir()
	k := newSigner(t, dir, "k")
	a := readFileT(t, reloadModelA)
	p := filepath.Join(t.TempDir(), "m.h5")
	install(t, p, a, k.sign(t, a, nil))
	s := startServe(t, nil, "--insecure-http", "--rate-limit", "0", "--model", p, "--trusted-keys", k.pubFile, "--admin-addr", "127.0.0.1:0")
	img := testPNG(t, 40, 30)
	shaA := sha256Of(a)
	if lr := s.lastReload(t); lr != nil {
		t.Errorf("last_reload before any reload: %v", lr)
	}

	flipped := bytes.Clone(a)
	flipped[len(flipped)-1000] ^= 1
	install(t, p, flipped, nil) // the old signature stays
	status, m := s.adminReload(t)
	if status != http.StatusConflict || errCode(m) != "model_refused" ||
		!strings.Contains(fmt.Sprint(m), "does not match its signature") || !strings.Contains(fmt.Sprint(m), "keeps serving") {
		t.Errorf("admin reload of a flipped model: %d %v", status, m)
	}
	if st, sha, err := s.predictSHA(img); err != nil || st != 200 || sha != shaA {
		t.Errorf("after the refused reload: %d %s %v, want 200 from %s", st, sha, err, shaA)
	}
	lr := s.lastReload(t)
	if lr["ok"] != false || lr["kind"] != "digest_mismatch" || lr["at"] == nil || lr["error"] != nil {
		t.Errorf("/readyz last_reload: %v (the reason in words is for the admin listener)", lr)
	}
	res, err := http.Get(s.adminURL(t) + "status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "does not match") {
		t.Errorf("/admin/status: %d %s; want the reason of the refused reload", res.StatusCode, body)
	}

	// SIGHUP, with a signal handler of the test's own installed first, so
	// that the signal cannot kill the test binary whatever happens.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	install(t, p, a, k.sign(t, readFileT(t, reloadModelB), nil)) // another model's signature
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		metrics := s.metrics(t)
		if strings.Contains(metrics, `huskyai_model_reloads_total{result="failure"} 2`) {
			if !strings.Contains(metrics, `huskyai_model_reloads_total{result="success"} 0`) ||
				!strings.Contains(metrics, `sha256="`+shaA+`"`) || strings.Count(metrics, "huskyai_model_info{") != 1 {
				t.Errorf("metrics after two refused reloads:\n%s", modelLines(metrics, "huskyai_model_"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload within 30s; metrics:\n%s\nstderr:\n%s", modelLines(metrics, "huskyai_model_"), s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(s.stderr.String(), "SIGHUP") {
		t.Errorf("no SIGHUP in the log:\n%s", s.stderr)
	}
	if st, sha, err := s.predictSHA(img); err != nil || st != 200 || sha != shaA {
		t.Errorf("after the refused SIGHUP reload: %d %s %v", st, sha, err)
	}

	// Fixed: the reload goes through, over the admin endpoint, which is
	// not on the public listener.
	install(t, p, a, k.sign(t, a, nil))
	status, m = s.adminReload(t)
	if model, _ := m["model"].(map[string]any); status != 200 || model["sha256"] != shaA || model["signed"] != true {
		t.Errorf("admin reload of the good model: %d %v", status, m)
	}
	if status, _, _ := s.do(t, "POST", "/admin/reload", "", nil); status != http.StatusNotFound {
		t.Errorf("POST /admin/reload on the public listener: %d", status)
	}
	if lr := s.lastReload(t); lr["ok"] != true || lr["error"] != nil {
		t.Errorf("/readyz last_reload after a good reload: %v", lr)
	}
}

// modelLines returns the lines of text that contain sub.
func modelLines(text, sub string) string {
	var out []string
	for l := range strings.Lines(text) {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// TestReloadUnderLoad: a good reload swaps the model that answers while
// clients keep posting images: not one request fails, requests answered
// before the swap name the old model, and those sent after it the new.
// The models are full-size (the embedded one, and a copy with another
// final bias, signed without a self-test), so the reload takes long
// enough for requests to run across it.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	k := newSigner(t, dir, "k")
	a := defaultmodel.Bytes()
	b := kerastest.Backdoor(t, a, 0.5)
	shaA, shaB := sha256Of(a), sha256Of(b)
	p := filepath.Join(t.TempDir(), "model")
	install(t, p, a, k.sign(t, a, nil))
	s := startServe(t, nil, "--insecure-http", "--rate-limit", "0", "--model", p, "--trusted-keys", k.pubFile,
		"--admin-addr", "127.0.0.1:0", "--max-inflight", "2", "--max-pending", "64")

	img := testPNG(t, 64, 48)
	var (
		stop      atomic.Bool
		reloading atomic.Int64 // unix nanos when the admin reload was sent
		swapped   atomic.Int64 // unix nanos when the admin reload returned
		during    int          // requests answered while the reload ran
		mu        sync.Mutex
		count     = map[string]int{}
		failures  []string
		staleSHAs int
		wg        sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				sent := time.Now().UnixNano()
				status, sha, err := s.predictSHA(img)
				mu.Lock()
				switch {
				case err != nil || status != 200:
					failures = append(failures, fmt.Sprintf("%d %v", status, err))
				default:
					count[sha]++
					sw := swapped.Load()
					if sw != 0 && sent > sw && sha != shaB {
						staleSHAs++
					}
					if rs := reloading.Load(); rs != 0 && rs < time.Now().UnixNano() && sw == 0 {
						during++
					}
				}
				mu.Unlock()
			}
		})
	}
	waitCount := func(sha string, n int) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			c := count[sha]
			mu.Unlock()
			if c >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("fewer than %d answers from %s within 30s", n, sha)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitCount(shaA, 10)
	install(t, p, b, k.sign(t, b, nil))
	reloading.Store(time.Now().UnixNano())
	status, m := s.adminReload(t)
	swapped.Store(time.Now().UnixNano())
	model, _ := m["model"].(map[string]any)
	if status != 200 || model["sha256"] != shaB {
		t.Errorf("admin reload: %d %v", status, m)
	}
	waitCount(shaB, 10)
	stop.Store(true)
	wg.Wait()

	t.Logf("answers: %d from A, %d from B, %d of them while the reload ran; reload took %v ms",
		count[shaA], count[shaB], during, m["reload_ms"])
	if during == 0 {
		t.Log("no request was answered while the reload ran")
	}
	if len(failures) > 0 {
		t.Errorf("%d failed requests across the swap, first: %s", len(failures), failures[0])
	}
	if staleSHAs > 0 {
		t.Errorf("%d requests sent after the reload returned were answered by the old model", staleSHAs)
	}
	if len(count) != 2 {
		t.Errorf("answers by model: %v", count)
	}
	metrics := s.metrics(t)
	if !strings.Contains(metrics, `huskyai_model_reloads_total{result="success"} 1`) ||
		!strings.Contains(metrics, `sha256="`+shaB+`"`) || strings.Contains(metrics, `sha256="`+shaA+`"`) {
		t.Errorf("metrics after the swap:\n%s", modelLines(metrics, "huskyai_model_"))
	}
}

// TestBackdoorRefused: the embedded model with its last Dense bias set to
// 100 (every image becomes a husky), re-signed with a trusted key but
// keeping the original signature's self-test, is refused by the self-test
// at start and at reload; the original keeps serving.
func TestBackdoorRefused(t *testing.T) {
	dir := t.TempDir()
	k := newSigner(t, dir, "k")
	orig, err := modelsign.ParseSignature(defaultmodel.Signature())
	if err != nil || orig.Checks == nil {
		t.Fatalf("embedded signature: %v, checks %v", err, orig)
	}
	genuine := defaultmodel.Bytes()
	backdoored := kerastest.Backdoor(t, genuine, 100)
	badSig := k.sign(t, backdoored, orig.Checks) // a stolen key, the original checks

	p := filepath.Join(t.TempDir(), "husky.h5")
	install(t, p, backdoored, badSig)
	err = runRefused(t, "--model", p, "--trusted-keys", k.pubFile)
	if msg := err.Error(); !strings.Contains(msg, "self_test") || !strings.Contains(msg, p) || !strings.Contains(msg, "self-test check") {
		t.Errorf("start with the backdoored model: %v", err)
	}

	install(t, p, genuine, k.sign(t, genuine, orig.Checks))
	s := startServe(t, nil, "--insecure-http", "--rate-limit", "0", "--model", p, "--trusted-keys", k.pubFile, "--admin-addr", "127.0.0.1:0")
	shaGenuine := sha256Of(genuine)
	install(t, p, backdoored, badSig)
	status, m := s.adminReload(t)
	if status != http.StatusConflict || !strings.Contains(fmt.Sprint(m), "self-test") {
		t.Errorf("reload of the backdoored model: %d %v", status, m)
	}
	if st, sha, err := s.predictSHA(testPNG(t, 64, 64)); err != nil || st != 200 || sha != shaGenuine {
		t.Errorf("after the refused reload: %d %s %v", st, sha, err)
	}
	if lr := s.lastReload(t); lr["kind"] != "self_test" {
		t.Errorf("/readyz last_reload: %v", lr)
	}
	install(t, p, genuine, k.sign(t, genuine, orig.Checks))
	status, m = s.adminReload(t)
	if status != 200 {
		t.Errorf("reload of the genuine model: %d %v", status, m)
	}
	t.Logf("reload of the %d-byte embedded model (read, verify, parse, %d self-test images, warm-up): %v ms",
		len(genuine), len(orig.Checks.Checks), m["reload_ms"])
}

// TestWatchReload: --watch loads a new signed model once it is in place,
// without a signal or a request.
func TestWatchReload(t *testing.T) {
	dir := t.TempDir()
	k := newSigner(t, dir, "k")
	a, b := readFileT(t, reloadModelA), readFileT(t, reloadModelB)
	p := filepath.Join(t.TempDir(), "model")
	install(t, p, a, k.sign(t, a, nil))
	s := startServe(t, nil, "--insecure-http", "--model", p, "--trusted-keys", k.pubFile, "--watch", "--watch-interval", "50ms")
	if got := s.modelSHA(t); got != sha256Of(a) {
		t.Fatalf("model %s", got)
	}
	install(t, p, b, k.sign(t, b, nil))
	start := time.Now()
	for s.modelSHA(t) != sha256Of(b) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("--watch did not load the new model within 30s:\n%s", s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("--watch swapped the model %v after it was installed", time.Since(start).Round(time.Millisecond))
	if lr := s.lastReload(t); lr["ok"] != true {
		t.Errorf("last_reload %v", lr)
	}
}

// TestServeAuditLog: with --audit-log, the log records the model load,
// each prediction and reloads, and its hash chain verifies; "huskyai
// serve" started again continues the same chain.
func TestServeAuditLog(t *testing.T) {
	dir := t.TempDir()
	k := newSigner(t, dir, "k")
	a, b := readFileT(t, reloadModelA), readFileT(t, reloadModelB)
	p := filepath.Join(t.TempDir(), "model")
	install(t, p, a, k.sign(t, a, nil))
	logPath := filepath.Join(t.TempDir(), "audit.log")
	args := []string{"--insecure-http", "--rate-limit", "0", "--model", p, "--trusted-keys", k.pubFile,
		"--admin-addr", "127.0.0.1:0", "--audit-log", logPath}

	for round := range 2 {
		s := startServe(t, nil, args...)
		for range 3 {
			if st, _, err := s.predictSHA(testPNG(t, 20, 20)); err != nil || st != 200 {
				t.Fatalf("predict: %d %v", st, err)
			}
		}
		if round == 0 {
			install(t, p, b, k.sign(t, b, nil))
			if status, m := s.adminReload(t); status != 200 {
				t.Fatalf("reload: %d %v", status, m)
			}
			install(t, p, b, k.sign(t, a, nil))
			if status, m := s.adminReload(t); status != http.StatusConflict {
				t.Fatalf("reload: %d %v", status, m)
			}
			install(t, p, b, k.sign(t, b, nil)) // for the restart
		}
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}
	}

	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, _ := f.Stat(); fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v", fi.Mode())
	}
	n, err := audit.Verify(f)
	if err != nil {
		t.Fatalf("audit.Verify after %d records: %v", n, err)
	}
	f.Seek(0, io.SeekStart)
	var got []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, audit.MaxLine)
	for sc.Scan() {
		var r struct {
			Type   string `json:"type"`
			SHA    string `json:"model_sha256"`
			Reload bool   `json:"reload"`
			Kind   string `json:"kind"`
			Signer string `json:"signer_key_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		e := r.Type + ":" + map[string]string{sha256Of(a): "A", sha256Of(b): "B"}[r.SHA]
		if r.Reload {
			e += ":reload"
		}
		if r.Kind != "" {
			e += ":" + r.Kind
		}
		if r.Type == "model_load" && r.Signer != modelsign.KeyID(k.pub) {
			t.Errorf("model_load without the signer: %s", sc.Text())
		}
		got = append(got, e)
	}
	// Each admin reload reads the trusted keys again first (file_reload).
	want := "model_load:A prediction:A prediction:A prediction:A file_reload: model_load:B:reload file_reload: model_refused:B:reload:digest_mismatch " +
		"model_load:B prediction:B prediction:B prediction:B"
	if strings.Join(got, " ") != want {
		t.Errorf("audit records\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if n != 12 {
		t.Errorf("%d records verified, want 12", n)
	}
}

// TestServeAuditLogStdout: --audit-log - makes stdout a pure audit trail
// (the service's own lines move to stderr).
func TestServeAuditLogStdout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"huskyai", "serve", "--addr", "127.0.0.1:0", "--insecure-http", "--shutdown-delay", "0s", "--model", reloadModelA, "--audit-log", "-"},
			func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "huskyai serve: listening on") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("not listening:\n%s", &stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	if n, err := audit.Verify(strings.NewReader(out)); err != nil || n != 1 || !strings.Contains(out, `"type":"model_load"`) {
		t.Errorf("stdout is not an audit trail of one model_load (%d, %v):\n%s", n, err, out)
	}
}
