package modelstore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/huskyai/huskyai/engine/keras/kerastest"

	"github.com/huskyai/huskyai/audit"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/modelstore"
)

// Two more small models with one sigmoid output and bytes of their own,
// so that a repository has four distinct files to serve.
var (
	modelC = mustRead("../testdata/parity/husky_small_v3.keras")
	modelD = mustRead("../testdata/parity/husky_small_tf2onnx.onnx")
)

// file is a model file of a repository and its signature (nil: none).
type file struct {
	model, sig []byte
}

// putVersion writes dir/name/version/base (and its .sig, or removes it)
// and returns the model's path.
func putVersion(t *testing.T, dir, name, version, base string, f file) string {
	t.Helper()
	vdir := filepath.Join(dir, name, version)
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	return put(t, vdir, base, f.model, f.sig)
}

// sha is the hex SHA-256 that a model file's ModelInfo carries.
func sha(t *testing.T, model []byte) string {
	t.Helper()
	c, err := classifier.Load(model, classifier.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c.Info().SHA256
}

// served describes what r serves: "name=v1:sha,v2:sha ..." with the
// first 8 digits of each SHA-256, models sorted, versions newest first.
func served(t *testing.T, r *modelstore.Repository) string {
	t.Helper()
	var parts []string
	for _, m := range r.List() {
		var vs []string
		for _, v := range m.Versions {
			c, _, got, ok := r.Lookup(m.Name, v)
			if !ok || got != v || c == nil {
				t.Fatalf("Lookup(%q, %q) = %v, %q, %v for a listed version", m.Name, v, c, got, ok)
			}
			vs = append(vs, v+":"+c.Info().SHA256[:8])
		}
		parts = append(parts, m.Name+"="+strings.Join(vs, ","))
	}
	return strings.Join(parts, " ")
}

// TestRepositoryLayout: which entries of a directory become model
// versions, which version is the newest, and which model is the default.
func TestRepositoryLayout(t *testing.T) {
	a, b, c, d := sha(t, modelA)[:8], sha(t, modelB)[:8], sha(t, modelC)[:8], sha(t, modelD)[:8]
	dir := t.TempDir()
	putVersion(t, dir, "alpha", "1", "model.h5", file{model: modelA})
	putVersion(t, dir, "alpha", "2", "model.onnx", file{model: modelB})
	putVersion(t, dir, "alpha", "10", "model.onnx", file{model: modelD}) // 10 > 2: numeric order
	putConfig(t, dir, "alpha", `{"version_policy": {"all": true}}`)
	putVersion(t, dir, "beta.v2_x-y", "7", "model.keras", file{model: modelC})
	// Ignored: not a positive integer, leading zero, no model file,
	// hidden, a name with a space, a file where a directory belongs, a
	// file of another name.
	putVersion(t, dir, "alpha", "latest", "model.h5", file{model: modelC})
	putVersion(t, dir, "alpha", "011", "model.h5", file{model: modelC})
	putVersion(t, dir, "alpha", "0", "model.h5", file{model: modelC})
	putVersion(t, dir, "alpha", "-3", "model.h5", file{model: modelC})
	putVersion(t, dir, "alpha", "12", "weights.h5", file{model: modelC})
	putVersion(t, dir, ".hidden", "1", "model.h5", file{model: modelC})
	putVersion(t, dir, "bad name", "1", "model.h5", file{model: modelC})
	putVersion(t, dir, "..data", "1", "model.h5", file{model: modelC})
	os.WriteFile(filepath.Join(dir, "README"), []byte("models"), 0o644)
	os.WriteFile(filepath.Join(dir, "alpha", "99"), []byte("not a directory"), 0o644)
	// A symbolic link to a model directory is followed (Kubernetes mounts).
	if err := os.Symlink(filepath.Join(dir, "beta.v2_x-y"), filepath.Join(dir, "gamma")); err != nil {
		t.Fatal(err)
	}

	var log bytes.Buffer
	r, err := modelstore.OpenRepository(context.Background(), dir, modelstore.RepositoryOptions{
		Options: modelstore.Options{Audit: audit.NewWriter(&log)},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "alpha=10:" + d + ",2:" + b + ",1:" + a + " beta.v2_x-y=7:" + c + " gamma=7:" + c
	if got := served(t, r); got != want {
		t.Errorf("served\n got %s\nwant %s", got, want)
	}
	if got := len(records(t, &log)); got != 5 {
		t.Errorf("%d audit records, want one load per version (5)", got)
	}

	for _, tt := range []struct {
		name, version string
		want          string // version found, "" = not found
		sha           string
	}{
		{"alpha", "", "10", d},
		{"alpha", "2", "2", b},
		{"alpha", "1", "1", a},
		{"beta.v2_x-y", "", "7", c},
		{"alpha", "02", "", ""},
		{"alpha", "3", "", ""},
		{"alpha", "latest", "", ""},
		{"delta", "", "", ""},
		{"", "", "", ""},
		{"../alpha", "", "", ""},
		{"alpha/1", "", "", ""},
		{".hidden", "", "", ""},
		{"bad name", "", "", ""},
	} {
		m, _, got, ok := r.Lookup(tt.name, tt.version)
		if ok != (tt.want != "") || got != tt.want || (ok && m.Info().SHA256[:8] != tt.sha) {
			t.Errorf("Lookup(%q, %q) = %q, %v, want %q", tt.name, tt.version, got, ok, tt.want)
		}
	}

	// The default model: the first by name, or the one named.
	if r.DefaultModel() != "alpha" || r.Current().Info().SHA256[:8] != d {
		t.Errorf("default %q %s, want alpha's newest", r.DefaultModel(), r.Current().Info().SHA256[:8])
	}
	if s := r.Status(); s.Source != dir || s.Model.SHA256[:8] != d || s.LastReload != nil {
		t.Errorf("status %+v", s)
	}
	r2, err := modelstore.OpenRepository(context.Background(), dir, modelstore.RepositoryOptions{DefaultModel: "gamma"})
	if err != nil {
		t.Fatal(err)
	}
	if r2.DefaultModel() != "gamma" || r2.Current().Info().SHA256[:8] != c {
		t.Errorf("--default-model gamma: default %q", r2.DefaultModel())
	}
}

// TestOpenRepositoryRefused: the repository does not start when any
// version is refused, or when there is nothing to serve.
func TestOpenRepositoryRefused(t *testing.T) {
	k, stranger := newKey(t), newKey(t)
	good := file{modelA, k.sign(t, modelA, nil)}
	flipped := bytes.Clone(modelB)
	flipped[len(flipped)/2] ^= 1
	backdoor := kerastest.Backdoor(t, modelA, 100)

	for _, tt := range []struct {
		name    string
		setup   func(t *testing.T, dir string)
		opt     modelstore.RepositoryOptions
		kind    modelstore.Kind // of the *RefusedError; "" for another error
		wantErr string
	}{
		{"unsigned version", func(t *testing.T, dir string) {
			putVersion(t, dir, "a", "1", "model.h5", good)
			putVersion(t, dir, "b", "3", "model.onnx", file{model: modelB})
		}, modelstore.RepositoryOptions{Options: modelstore.Options{Keyring: k.kr}}, modelstore.KindNoSignature, "b/3/model.onnx"},
		{"an old version tampered", func(t *testing.T, dir string) {
			putVersion(t, dir, "a", "1", "model.onnx", file{flipped, k.sign(t, modelB, nil)})
			putVersion(t, dir, "a", "2", "model.h5", good)
			putConfig(t, dir, "a", `{"version_policy": {"latest": 2}}`)
		}, modelstore.RepositoryOptions{Options: modelstore.Options{Keyring: k.kr}}, modelstore.KindDigestMismatch, "a/1/model.onnx"},
		{"unknown key", func(t *testing.T, dir string) {
			putVersion(t, dir, "a", "1", "model.h5", file{modelA, stranger.sign(t, modelA, nil)})
		}, modelstore.RepositoryOptions{Options: modelstore.Options{Keyring: k.kr}}, modelstore.KindUnknownKey, "a/1/model.h5"},
		{"backdoor re-signed, self-test", func(t *testing.T, dir string) {
			putVersion(t, dir, "a", "1", "model.h5", file{backdoor, k.sign(t, backdoor, checksOf(t, modelA))})
		}, modelstore.RepositoryOptions{Options: modelstore.Options{Keyring: k.kr}}, modelstore.KindSelfTest, "a/1/model.h5"},
		{"require signature without keys", func(t *testing.T, dir string) {
			putVersion(t, dir, "a", "1", "model.h5", good)
		}, modelstore.RepositoryOptions{Options: modelstore.Options{RequireSignature: true}}, modelstore.KindNoTrustedKeys, "a/1/model.h5"},
		{"two model files", func(t *testing.T, dir string) {
			putVersion(t, dir, "a", "1", "model.h5", file{model: modelA})
			putVersion(t, dir, "a", "1", "model.onnx", file{model: modelB})
		}, modelstore.RepositoryOptions{}, modelstore.KindInvalidModel, "more than one model file (model.h5, model.onnx)"},
		{"not a model", func(t *testing.T, dir string) {
			putVersion(t, dir, "a", "1", "model.h5", file{model: []byte("no")})
		}, modelstore.RepositoryOptions{}, modelstore.KindInvalidModel, "a/1/model.h5"},
		{"empty", func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, "a", "1"), 0o755)
			os.MkdirAll(filepath.Join(dir, "b", "latest"), 0o755)
		}, modelstore.RepositoryOptions{}, "", "holds no model"},
		{"no such default model", func(t *testing.T, dir string) {
			putVersion(t, dir, "a", "1", "model.h5", file{model: modelA})
		}, modelstore.RepositoryOptions{DefaultModel: "b"}, "", `has no model "b" (the default model); it has a`},
		{"invalid default model", func(t *testing.T, dir string) {
			putVersion(t, dir, "a", "1", "model.h5", file{model: modelA})
		}, modelstore.RepositoryOptions{DefaultModel: "../a"}, "", "not a valid model name"},
		{"no directory", func(t *testing.T, dir string) { os.Remove(dir) }, modelstore.RepositoryOptions{}, "", "no such file or directory"},
		{"config.json with an unknown field", func(t *testing.T, dir string) {
			putVersion(t, dir, "a", "1", "model.h5", file{model: modelA})
			putConfig(t, dir, "a", `{"versions": "all"}`)
		}, modelstore.RepositoryOptions{}, modelstore.KindInvalidModel, "unknown field"},
		{"config.json naming a missing labels file", func(t *testing.T, dir string) {
			putVersion(t, dir, "a", "1", "model.h5", file{model: modelA})
			putConfig(t, dir, "a", `{"labels": "labels.txt", "positive_classes": "husky"}`)
		}, modelstore.RepositoryOptions{}, modelstore.KindInvalidModel, "labels"},
		{"config.json with two policies", func(t *testing.T, dir string) {
			putVersion(t, dir, "a", "1", "model.h5", file{model: modelA})
			putConfig(t, dir, "a", `{"version_policy": {"latest": 1, "all": true}}`)
		}, modelstore.RepositoryOptions{}, modelstore.KindInvalidModel, "exactly one of"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "models")
			os.Mkdir(dir, 0o755)
			tt.setup(t, dir)
			r, err := modelstore.OpenRepository(context.Background(), dir, tt.opt)
			if err == nil {
				t.Fatalf("opened, serving %s", served(t, r))
			}
			re, isRefused := errors.AsType[*modelstore.RefusedError](err)
			if tt.kind != "" && (!isRefused || re.Kind != tt.kind) {
				t.Errorf("got %v, want a %s refusal", err, tt.kind)
			}
			if tt.kind == "" && isRefused {
				t.Errorf("got refusal %v, want another error", err)
			}
			if !strings.Contains(filepath.ToSlash(err.Error()), tt.wantErr) {
				t.Errorf("error %q does not say %q", err, tt.wantErr)
			}
		})
	}
}

// TestRepositoryReload: new versions are verified beside the served ones
// and swapped in; tampered versions are refused while the old keep
// serving; removed versions go, and their models stay usable by those
// who hold them; unchanged versions are not reloaded.
func TestRepositoryReload(t *testing.T) {
	ctx := context.Background()
	k := newKey(t)
	signed := func(m []byte) file { return file{m, k.sign(t, m, checksOf(t, m))} }
	a, b, c := sha(t, modelA)[:8], sha(t, modelB)[:8], sha(t, modelC)[:8]
	dir := t.TempDir()
	putVersion(t, dir, "alpha", "1", "model.h5", signed(modelA))
	putConfig(t, dir, "alpha", `{"version_policy": {"all": true}}`)
	var log bytes.Buffer
	r, err := modelstore.OpenRepository(ctx, dir, modelstore.RepositoryOptions{
		Options: modelstore.Options{Keyring: k.kr, Audit: audit.NewWriter(&log)},
	})
	if err != nil {
		t.Fatal(err)
	}
	v1, _, _, _ := r.Lookup("alpha", "1")
	flipped := bytes.Clone(modelB)
	flipped[len(flipped)/2] ^= 1
	backdoor := kerastest.Backdoor(t, modelA, 100)

	for _, step := range []struct {
		name   string
		change func(t *testing.T)
		kind   modelstore.Kind // "" = the reload succeeds
		want   string          // served(r) afterwards
	}{
		{"nothing changed", func(t *testing.T) {}, "", "alpha=1:" + a},
		{"a tampered new version is refused", func(t *testing.T) {
			putVersion(t, dir, "alpha", "2", "model.onnx", file{flipped, k.sign(t, modelB, nil)})
		}, modelstore.KindDigestMismatch, "alpha=1:" + a},
		{"a re-signed backdoor fails its self-test", func(t *testing.T) {
			os.RemoveAll(filepath.Join(dir, "alpha", "2"))
			putVersion(t, dir, "alpha", "2", "model.h5", file{backdoor, k.sign(t, backdoor, checksOf(t, modelA))})
		}, modelstore.KindSelfTest, "alpha=1:" + a},
		{"the fixed version serves as the newest", func(t *testing.T) {
			os.RemoveAll(filepath.Join(dir, "alpha", "2"))
			putVersion(t, dir, "alpha", "2", "model.onnx", signed(modelB))
		}, "", "alpha=2:" + b + ",1:" + a},
		{"a new model", func(t *testing.T) {
			putVersion(t, dir, "beta", "5", "model.keras", signed(modelC))
		}, "", "alpha=2:" + b + ",1:" + a + " beta=5:" + c},
		{"a served version altered in place keeps its old model", func(t *testing.T) {
			putVersion(t, dir, "beta", "5", "model.keras", file{modelC[:len(modelC)-1], nil})
		}, modelstore.KindNoSignature, "alpha=2:" + b + ",1:" + a + " beta=5:" + c},
		{"still refused on an explicit reload", func(t *testing.T) {}, modelstore.KindNoSignature, "alpha=2:" + b + ",1:" + a + " beta=5:" + c},
		{"a version removed", func(t *testing.T) {
			os.RemoveAll(filepath.Join(dir, "alpha", "1"))
			putVersion(t, dir, "beta", "5", "model.keras", signed(modelC))
		}, "", "alpha=2:" + b + " beta=5:" + c},
		{"a model first by name added", func(t *testing.T) {
			putVersion(t, dir, "aardvark", "1", "model.h5", signed(modelA))
		}, "", "aardvark=1:" + a + " alpha=2:" + b + " beta=5:" + c},
		{"a model removed", func(t *testing.T) {
			os.RemoveAll(filepath.Join(dir, "alpha"))
			os.RemoveAll(filepath.Join(dir, "aardvark"))
		}, "", "beta=5:" + c},
	} {
		before := len(records(t, &log))
		step.change(t)
		err := r.Reload(ctx)
		if re, ok := errors.AsType[*modelstore.RefusedError](err); step.kind == "" && err != nil || step.kind != "" && (!ok || re.Kind != step.kind) {
			t.Fatalf("%s: reload: %v, want kind %q", step.name, err, step.kind)
		}
		if got := served(t, r); got != step.want {
			t.Fatalf("%s: serving\n got %s\nwant %s", step.name, got, step.want)
		}
		s := r.Status()
		if s.LastReload == nil || s.LastReload.OK != (step.kind == "") || s.LastReload.Kind != step.kind {
			t.Errorf("%s: last reload %+v", step.name, s.LastReload)
		}
		if step.name == "nothing changed" && len(records(t, &log)) != before {
			t.Errorf("%s: an unchanged version was reloaded", step.name)
		}
		if step.name == "a model first by name added" && r.DefaultModel() != "alpha" {
			t.Errorf("%s: the default model became %q; want alpha, the default since start", step.name, r.DefaultModel())
		}
	}
	if s := r.Status(); s.Reloads != 6 || s.ReloadFailures != 4 {
		t.Errorf("reloads %d, failures %d, want 6 and 4", s.Reloads, s.ReloadFailures)
	}
	// With its default model gone, the first model by name is the default.
	if r.DefaultModel() != "beta" || r.Current().Info().SHA256[:8] != c {
		t.Errorf("default model %q", r.DefaultModel())
	}
	// A request that held version 1 finishes with it.
	if _, err := v1.Classify(testPNG(t, 32, 32, 4)); err != nil {
		t.Errorf("a removed version's model: %v", err)
	}
}

// TestRepositoryKeepsDefault: a rescan never leaves the server without
// its named default model, nor without any model.
func TestRepositoryKeepsDefault(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	putVersion(t, dir, "alpha", "1", "model.h5", file{model: modelA})
	putVersion(t, dir, "beta", "1", "model.onnx", file{model: modelB})
	r, err := modelstore.OpenRepository(ctx, dir, modelstore.RepositoryOptions{DefaultModel: "beta"})
	if err != nil {
		t.Fatal(err)
	}
	b := sha(t, modelB)[:8]
	os.RemoveAll(filepath.Join(dir, "beta"))
	if err := r.Reload(ctx); err == nil || !strings.Contains(err.Error(), `default model "beta" has no version left`) {
		t.Errorf("reload without the default model: %v", err)
	}
	if got := served(t, r); got != "alpha=1:"+sha(t, modelA)[:8]+" beta=1:"+b {
		t.Errorf("serving %s", got)
	}
	os.RemoveAll(filepath.Join(dir, "alpha"))
	if err := r.Reload(ctx); err == nil || !strings.Contains(err.Error(), "holds no model") {
		t.Errorf("reload of an empty directory: %v", err)
	}
	if r.Current() == nil || r.Current().Info().SHA256[:8] != b {
		t.Error("an empty directory took the default model away")
	}
}

// TestRepositoryWatch: a version copied in is served once complete; a
// refused one is not retried until the tree changes again.
func TestRepositoryWatch(t *testing.T) {
	k := newKey(t)
	dir := t.TempDir()
	putVersion(t, dir, "alpha", "1", "model.h5", file{modelA, k.sign(t, modelA, nil)})
	putConfig(t, dir, "alpha", `{"version_policy": {"all": true}}`)
	r, err := modelstore.OpenRepository(context.Background(), dir, modelstore.RepositoryOptions{Options: modelstore.Options{Keyring: k.kr}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Watch(ctx, 20*time.Millisecond) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s; serving %s, status %+v", what, served(t, r), r.Status().LastReload)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if s := r.Status(); s.Reloads+s.ReloadFailures != 0 {
		t.Fatalf("rescanned without a change: %+v", s)
	}

	// The signature first, then the model, by rename.
	tmp := put(t, t.TempDir(), "new", modelB, k.sign(t, modelB, nil))
	vdir := filepath.Join(dir, "alpha", "2")
	os.Mkdir(vdir, 0o755)
	if err := os.Rename(tmp+".sig", filepath.Join(vdir, "model.onnx.sig")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(vdir, "model.onnx")); err != nil {
		t.Fatal(err)
	}
	waitFor("version 2", func() bool { _, _, v, _ := r.Lookup("alpha", ""); return v == "2" })
	if s := r.Status(); s.ReloadFailures != 0 {
		t.Errorf("a refused rescan on the way: %+v", s.LastReload)
	}

	putVersion(t, dir, "alpha", "3", "model.h5", file{model: modelA})
	waitFor("the refusal", func() bool { return r.Status().ReloadFailures > 0 })
	s := r.Status()
	time.Sleep(150 * time.Millisecond)
	if s2 := r.Status(); s2.ReloadFailures != s.ReloadFailures || s2.Reloads != s.Reloads {
		t.Errorf("an unchanged tree rescanned: %+v then %+v", s, s2)
	}
	if l := r.List(); !slices.Equal(l[0].Versions, []string{"2", "1"}) {
		t.Errorf("versions %v", l[0].Versions)
	}
}

// putConfig writes the config.json of model name.
func putConfig(t *testing.T, dir, name, config string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name, modelstore.ConfigFile), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVersionPolicy: without a config.json the newest version only is
// served; latest N, specific versions and all as config.json says.
func TestVersionPolicy(t *testing.T) {
	for _, tc := range []struct {
		config string
		want   []string
	}{
		{"", []string{"3"}},
		{`{"version_policy": {"latest": 2}}`, []string{"3", "2"}},
		{`{"version_policy": {"specific": [1, 3]}}`, []string{"3", "1"}},
		{`{"version_policy": {"all": true}}`, []string{"3", "2", "1"}},
	} {
		dir := t.TempDir()
		for _, v := range []string{"1", "2", "3"} {
			putVersion(t, dir, "m", v, "model.h5", file{model: modelA})
		}
		if tc.config != "" {
			putConfig(t, dir, "m", tc.config)
		}
		r, err := modelstore.OpenRepository(context.Background(), dir, modelstore.RepositoryOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.config, err)
		}
		if got := r.List()[0].Versions; !slices.Equal(got, tc.want) {
			t.Errorf("config %s: versions served %v, want %v", tc.config, got, tc.want)
		}
	}
}

// TestUnloadModel: an unloaded model is not served, nor reloaded by a
// rescan, until it is loaded again; the unload is audited; the default
// model cannot be unloaded.
func TestUnloadModel(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	putVersion(t, dir, "a", "1", "model.h5", file{model: modelA})
	putVersion(t, dir, "b", "1", "model.onnx", file{model: modelB})
	var log bytes.Buffer
	r, err := modelstore.OpenRepository(ctx, dir, modelstore.RepositoryOptions{Options: modelstore.Options{Audit: audit.NewWriter(&log)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.UnloadModel(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := r.Lookup("b", ""); ok {
		t.Error("b served after its unload and a rescan")
	}
	if !strings.Contains(log.String(), `"type":"model_unload","prev"`) || !strings.Contains(log.String(), `"model_name":"b","versions":["1"]`) {
		t.Errorf("audit log:\n%s", log.String())
	}
	if err := r.UnloadModel(ctx, "a"); err == nil {
		t.Error("the default model was unloaded")
	}
	if err := r.LoadModel(ctx, "nope"); !errors.Is(err, modelstore.ErrNoSuchModel) {
		t.Errorf("LoadModel of a missing model: %v", err)
	}
	if err := r.LoadModel(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := r.Lookup("b", ""); !ok {
		t.Error("b not served after LoadModel")
	}
}
