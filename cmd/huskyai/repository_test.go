package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Four small models with one sigmoid output and bytes of their own: the
// versions of the repository tests.
var (
	repoFileA = filepath.Join("..", "..", "testdata", "parity", "husky_small.h5")
	repoFileB = filepath.Join("..", "..", "testdata", "parity", "husky_small_torch.onnx")
	repoFileC = filepath.Join("..", "..", "testdata", "parity", "husky_small_v3.keras")
	repoFileD = filepath.Join("..", "..", "testdata", "parity", "husky_small_tf2onnx.onnx")
)

// putModel installs model (signed by k unless sig is given) as
// dir/name/version/base, and returns the hex SHA-256 of the model.
func putModel(t *testing.T, dir, name, version, base string, model, sig []byte) string {
	t.Helper()
	vdir := filepath.Join(dir, name, version)
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	install(t, filepath.Join(vdir, base), model, sig)
	sum := sha256.Sum256(model)
	return hex.EncodeToString(sum[:])
}

// predictModel posts img to path and returns the status, the answering
// model's name, version and SHA-256, or the error code.
func (s *served) predictModel(t *testing.T, path string, img []byte) (status int, name, version, sha, code string) {
	t.Helper()
	body, ct := multipartFile(t, img)
	status, _, m := s.do(t, "POST", path, ct, body.Bytes())
	model, _ := m["model"].(map[string]any)
	name, _ = model["name"].(string)
	version, _ = model["version"].(string)
	sha, _ = model["sha256"].(string)
	return status, name, version, sha, errCode(m)
}

// TestServeModelDir runs the real server on a repository of two models
// (HUSKYAI_MODEL_DIR), signed, and addresses each model and version on
// the prediction routes; then reloads through the admin endpoint: a
// tampered new version is refused while the old one keeps serving, a
// good one serves, a removed one is gone.
func TestServeModelDir(t *testing.T) {
	a, b, c, d := readFileT(t, repoFileA), readFileT(t, repoFileB), readFileT(t, repoFileC), readFileT(t, repoFileD)
	k := newSigner(t, t.TempDir(), "ops")
	dir := t.TempDir()
	shaA := putModel(t, dir, "alpha", "1", "model.h5", a, k.sign(t, a, nil))
	shaB := putModel(t, dir, "alpha", "2", "model.onnx", b, k.sign(t, b, nil))
	shaC := putModel(t, dir, "beta", "1", "model.keras", c, k.sign(t, c, nil))
	// Every version of alpha (the default policy serves the newest only).
	if err := os.WriteFile(filepath.Join(dir, "alpha", "config.json"), []byte(`{"version_policy": {"all": true}}`), 0o644); err != nil {
		t.Fatal(err)
	}

	s := startServe(t, map[string]string{"HUSKYAI_MODEL_DIR": dir}, "--insecure-http", "--rate-limit", "0",
		"--trusted-keys", k.pubFile, "--require-signature", "--admin-addr", "127.0.0.1:0")
	img := testPNG(t, 40, 30)

	type answer struct {
		status                   int
		name, version, sha, code string
	}
	check := func(step string, cases map[string]answer) {
		t.Helper()
		for path, want := range cases {
			var got answer
			got.status, got.name, got.version, got.sha, got.code = s.predictModel(t, path, img)
			if got != want {
				t.Errorf("%s: POST %s:\n got %+v\nwant %+v", step, path, got, want)
			}
		}
	}
	check("start", map[string]answer{
		"/api/v1/predict":                       {200, "alpha", "2", shaB, ""},
		"/api/v1/predict?model=alpha":           {200, "alpha", "2", shaB, ""},
		"/api/v1/predict?model=alpha&version=1": {200, "alpha", "1", shaA, ""},
		"/api/v1/predict?model=beta":            {200, "beta", "1", shaC, ""},
		"/huskyai/?model=beta&version=1":        {200, "beta", "1", shaC, ""},
		"/huskyai/":                             {200, "alpha", "2", shaB, ""},
		"/api/v1/predict?model=gamma":           {404, "", "", "", "model_not_found"},
		"/api/v1/predict?model=beta&version=2":  {404, "", "", "", "model_not_found"},
	})

	status, _, m := s.do(t, "GET", "/api/v1/models", "", nil)
	if status != 200 || m["default_model"] != "alpha" || len(m["models"].([]any)) != 2 {
		t.Errorf("/api/v1/models: %d %v", status, m)
	}
	status, _, m = s.do(t, "GET", "/api/v1/model?model=alpha&version=1", "", nil)
	if mm, _ := m["model"].(map[string]any); status != 200 || mm["sha256"] != shaA || mm["signed"] != true || mm["version"] != "1" {
		t.Errorf("/api/v1/model?model=alpha&version=1: %d %v", status, m)
	}
	metrics := s.metrics(t)
	for _, want := range []string{`model="alpha",name=`, `sha256="` + shaA + `",signed="true"`, `sha256="` + shaC + `"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if n := strings.Count(metrics, "huskyai_model_version_info{"); n != 3 {
		t.Errorf("%d huskyai_model_version_info series, want 3", n)
	}

	// A tampered version 3: refused with 409, version 2 keeps serving.
	flipped := bytes.Clone(d)
	flipped[len(flipped)/2] ^= 1
	putModel(t, dir, "alpha", "3", "model.onnx", flipped, k.sign(t, d, nil))
	status, m = s.adminReload(t)
	if status != 409 || errCode(m) != "model_refused" || !strings.Contains(m["error"].(map[string]any)["message"].(string), "digest_mismatch") {
		t.Errorf("reload of a tampered version: %d %v", status, m)
	}
	if lr := s.lastReload(t); lr == nil || lr["ok"] != false || lr["kind"] != "digest_mismatch" {
		t.Errorf("/readyz last_reload %v", lr)
	}
	check("tampered", map[string]answer{
		"/api/v1/predict?model=alpha":           {200, "alpha", "2", shaB, ""},
		"/api/v1/predict?model=alpha&version=3": {404, "", "", "", "model_not_found"},
	})

	// The good version 3 serves; version 1 removed is gone.
	shaD := putModel(t, dir, "alpha", "3", "model.onnx", d, k.sign(t, d, nil))
	if err := os.RemoveAll(filepath.Join(dir, "alpha", "1")); err != nil {
		t.Fatal(err)
	}
	if status, m := s.adminReload(t); status != 200 {
		t.Fatalf("reload: %d %v", status, m)
	}
	check("reloaded", map[string]answer{
		"/api/v1/predict":                       {200, "alpha", "3", shaD, ""},
		"/api/v1/predict?model=alpha&version=2": {200, "alpha", "2", shaB, ""},
		"/api/v1/predict?model=alpha&version=1": {404, "", "", "", "model_not_found"},
		"/api/v1/predict?model=beta":            {200, "beta", "1", shaC, ""},
	})
	if m := s.metrics(t); !strings.Contains(m, `huskyai_model_reloads_total{result="failure"} 1`) ||
		!strings.Contains(m, `huskyai_model_reloads_total{result="success"} 1`) || strings.Contains(m, shaA) {
		t.Errorf("metrics after the reloads:\n%s", m)
	}

	// The repository extension, on the admin listener.
	if _, _, v2 := s.do(t, "GET", "/v2", "", nil); !strings.Contains(fmt.Sprint(v2["extensions"]), "model_repository") {
		t.Errorf("/v2 extensions %v: want model_repository", v2["extensions"])
	}
	repo := func(path, body string) (int, string) {
		t.Helper()
		res, err := http.Post(strings.TrimSuffix(s.adminURL(t), "admin/")+"v2/repository/"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, b := repo("index", ""); st != 200 || !strings.Contains(b, `{"name":"alpha","version":"3","state":"READY"}`) ||
		!strings.Contains(b, `{"name":"beta","version":"1","state":"READY"}`) {
		t.Errorf("index: %d %s", st, b)
	}
	if st, b := repo("models/beta/unload", ""); st != 200 {
		t.Fatalf("unload beta: %d %s", st, b)
	}
	check("beta unloaded", map[string]answer{
		"/api/v1/predict?model=beta": {404, "", "", "", "model_not_found"},
		"/api/v1/predict":            {200, "alpha", "3", shaD, ""},
	})
	if st, b := repo("index", `{"ready": false}`); st != 200 || !strings.Contains(b, `{"name":"beta","version":"1","state":"UNAVAILABLE","reason":"unloaded"}`) {
		t.Errorf("index after the unload: %d %s", st, b)
	}
	if st, b := repo("index", `{"ready": true}`); st != 200 || strings.Contains(b, "beta") {
		t.Errorf("index of the ready versions: %d %s", st, b)
	}
	if st, b := repo("models/alpha/unload", ""); st != 409 || !strings.Contains(b, "default model") {
		t.Errorf("unload the default model: %d %s", st, b)
	}
	if st, b := repo("models/nope/load", ""); st != 404 {
		t.Errorf("load a model the directory lacks: %d %s", st, b)
	}
	if st, b := repo("models/beta/load", ""); st != 200 {
		t.Fatalf("load beta: %d %s", st, b)
	}
	check("beta loaded again", map[string]answer{"/api/v1/predict?model=beta": {200, "beta", "1", shaC, ""}})
}

// TestServeModelDirWatch: with --watch, a version copied into the
// repository serves without a reload request.
func TestServeModelDirWatch(t *testing.T) {
	a, c := readFileT(t, repoFileA), readFileT(t, repoFileC)
	dir := t.TempDir()
	putModel(t, dir, "m", "1", "model.h5", a, nil)
	s := startServe(t, nil, "--insecure-http", "--rate-limit", "0", "--model-dir", dir, "--default-model", "m",
		"--watch", "--watch-interval", "50ms")
	shaC := putModel(t, dir, "m", "2", "model.keras", c, nil)
	img := testPNG(t, 20, 20)
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, _, version, sha, _ := s.predictModel(t, "/api/v1/predict", img)
		if status == 200 && version == "2" && sha == shaC {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("version 2 not served within 20s: %d %s %s\n%s", status, version, sha, s.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeModelDirRefused: serve does not start when a version of the
// repository is refused, or with conflicting flags.
func TestServeModelDirRefused(t *testing.T) {
	a := readFileT(t, repoFileA)
	k := newSigner(t, t.TempDir(), "ops")
	dir := t.TempDir()
	putModel(t, dir, "alpha", "1", "model.h5", a, k.sign(t, a, nil))
	putModel(t, dir, "beta", "4", "model.h5", a, nil)
	empty := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--model-dir", dir, "--trusted-keys", k.pubFile}, "beta/4/model.h5 refused (no_signature)"},
		{[]string{"--model-dir", dir, "--model", repoFileA}, "--model and --model-dir exclude each other"},
		{[]string{"--default-model", "alpha"}, "--default-model needs --model-dir"},
		{[]string{"--model-dir", dir, "--default-model", "gamma"}, `no model "gamma" (the default model); it has alpha, beta`},
		{[]string{"--model-dir", empty}, "holds no model"},
	} {
		if err := runRefused(t, tt.args...); !strings.Contains(filepath.ToSlash(err.Error()), tt.want) {
			t.Errorf("serve %q: %v, want %q", tt.args, err, tt.want)
		}
	}
}
