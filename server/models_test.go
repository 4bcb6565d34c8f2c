package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/modelstore"
)

// fakeRepo is a Repository of fakes: models[name] are its versions,
// newest first.
type fakeRepo struct {
	models map[string][]fakeVersion
	def    string
}

type fakeVersion struct {
	version string
	c       *fake
}

func (r *fakeRepo) Current() Classifier {
	c, _, _, _ := r.Lookup(r.def, "")
	return c
}

func (r *fakeRepo) Lookup(name, version string) (Classifier, string, string, bool) {
	for _, v := range r.models[name] {
		if version == "" || version == v.version {
			return v.c, name, v.version, true
		}
	}
	return nil, "", "", false
}

func (r *fakeRepo) Status() huskyai.ModelStatus { return huskyai.ModelStatus{} }

func (r *fakeRepo) DefaultModel() string { return r.def }

func (r *fakeRepo) List() []huskyai.ModelVersions {
	var out []huskyai.ModelVersions
	for name, vs := range r.models {
		ref := huskyai.ModelVersions{Name: name}
		for _, v := range vs {
			ref.Versions = append(ref.Versions, v.version)
		}
		out = append(out, ref)
	}
	slices.SortFunc(out, func(a, b huskyai.ModelVersions) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func fakeModel(name, sha string) *fake {
	return &fake{info: classifier.ModelInfo{Name: name, Format: "onnx", SHA256: strings.Repeat(sha, 32)}}
}

// TestRepositoryRoutes: the model and version query parameters pick a
// model of a Repository on every prediction route and on
// /api/v1/model; unknown ones get 404 model_not_found; a server of one
// model answers to its own name and modelstore.Alias, as version modelstore.SingleVersion.
func TestRepositoryRoutes(t *testing.T) {
	repo := &fakeRepo{def: "alpha", models: map[string][]fakeVersion{
		"alpha": {{"3", fakeModel("in-file-a3", "a3")}, {"1", fakeModel("in-file-a1", "a1")}},
		"beta":  {{"7", fakeModel("in-file-b7", "b7")}},
	}}
	single := &fake{info: trainedInfo}
	png := encodeImage(t, "png", 8, 8)

	for _, tt := range []struct {
		name   string
		models Models
		method string
		path   string
		status int
		// want are fields of the response's model object (or, for an
		// error, its error code under "code").
		want map[string]string
	}{
		{"default model", repo, "POST", "/api/v1/predict", 200, map[string]string{"name": "alpha", "version": "3", "sha256": strings.Repeat("a3", 32)}},
		{"by name", repo, "POST", "/api/v1/predict?model=beta", 200, map[string]string{"name": "beta", "version": "7", "sha256": strings.Repeat("b7", 32)}},
		{"by name and version", repo, "POST", "/api/v1/predict?model=alpha&version=1", 200, map[string]string{"name": "alpha", "version": "1", "sha256": strings.Repeat("a1", 32)}},
		{"version of the default", repo, "POST", "/api/v1/predict?version=1", 200, map[string]string{"name": "alpha", "version": "1"}},
		{"original route", repo, "POST", "/huskyai/?model=beta", 200, map[string]string{"name": "beta", "version": "7"}},
		{"unknown model", repo, "POST", "/api/v1/predict?model=gamma", 404, map[string]string{"code": codeModelNotFound}},
		{"unknown version", repo, "POST", "/api/v1/predict?model=alpha&version=2", 404, map[string]string{"code": codeModelNotFound}},
		{"path in the name", repo, "POST", "/huskyai/?model=../alpha", 404, map[string]string{"code": codeModelNotFound}},
		{"describe by name", repo, "GET", "/api/v1/model?model=alpha&version=1", 200, map[string]string{"name": "alpha", "version": "1", "sha256": strings.Repeat("a1", 32), "format": "onnx"}},
		{"describe the default", repo, "GET", "/api/v1/model", 200, map[string]string{"name": "alpha", "version": "3"}},
		{"describe unknown", repo, "GET", "/api/v1/model?model=beta&version=1", 404, map[string]string{"code": codeModelNotFound}},
		{"single model", single, "POST", "/api/v1/predict", 200, map[string]string{"name": "trained", "version": modelstore.SingleVersion}},
		{"single model by name", single, "POST", "/api/v1/predict?model=trained", 200, map[string]string{"name": "trained", "version": modelstore.SingleVersion}},
		{"single model by alias", single, "POST", "/api/v1/predict?model=" + modelstore.Alias + "&version=" + modelstore.SingleVersion, 200, map[string]string{"name": "trained", "version": modelstore.SingleVersion, "sha256": trainedInfo.SHA256}},
		{"single model, other name", single, "POST", "/api/v1/predict?model=alpha", 404, map[string]string{"code": codeModelNotFound}},
		{"single model, its version", single, "GET", "/api/v1/model?version=" + modelstore.SingleVersion, 200, map[string]string{"name": "trained", "version": modelstore.SingleVersion}},
		{"single model, another version", single, "GET", "/api/v1/model?version=2", 404, map[string]string{"code": codeModelNotFound}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := NewServer(nil, tt.models, Config{})
			form, ct := multipartBody(t, "file", png)
			req := httptest.NewRequest(tt.method, tt.path, form)
			req.Header.Set("Content-Type", ct)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			var body struct {
				Model map[string]any `json:"model"`
				Error map[string]any `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			got := body.Model
			if tt.status != 200 {
				got = body.Error
			}
			for k, want := range tt.want {
				if g, _ := got[k].(string); g != want {
					t.Errorf("%s = %q, want %q in %s", k, g, want, rec.Body)
				}
			}
		})
	}
}

// TestModelsList: GET /api/v1/models lists every model and version with
// its digest, and /metrics has one huskyai_model_version_info series per
// version served.
func TestModelsList(t *testing.T) {
	repo := &fakeRepo{def: "beta", models: map[string][]fakeVersion{
		"alpha": {{"3", fakeModel("in-file-a3", "a3")}, {"1", fakeModel("in-file-a1", "a1")}},
		"beta":  {{"7", fakeModel("in-file-b7", "b7")}},
	}}
	h := NewServer(nil, repo, Config{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/models", nil))
	var got modelsResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
		t.Fatalf("%d %v: %s", rec.Code, err, rec.Body)
	}
	var flat []string
	for _, m := range got.Models {
		for _, v := range m.Versions {
			flat = append(flat, m.Name+"/"+v.Version+":"+v.SHA256[:2]+":"+v.Format)
		}
	}
	if want := []string{"alpha/3:a3:onnx", "alpha/1:a1:onnx", "beta/7:b7:onnx"}; !slices.Equal(flat, want) || got.DefaultModel != "beta" {
		t.Errorf("models %v default %q, want %v default beta", flat, got.DefaultModel, want)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	metrics := rec.Body.String()
	for _, want := range []string{
		`huskyai_model_version_info{format="onnx",model="alpha",name="in-file-a1",sha256="` + strings.Repeat("a1", 32) + `",signed="false",signer_key_id="",version="1"} 1`,
		`huskyai_model_version_info{format="onnx",model="alpha",name="in-file-a3",sha256="` + strings.Repeat("a3", 32) + `",signed="false",signer_key_id="",version="3"} 1`,
		`huskyai_model_version_info{format="onnx",model="beta",name="in-file-b7",sha256="` + strings.Repeat("b7", 32) + `",signed="false",signer_key_id="",version="7"} 1`,
		`huskyai_model_info{format="onnx",name="in-file-b7",`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if n := strings.Count(metrics, "huskyai_model_version_info{"); n != 3 {
		t.Errorf("%d huskyai_model_version_info series, want 3", n)
	}

	// One model: itself, with its alias, as version 1, and that one
	// version's series.
	h = NewServer(nil, &fake{info: trainedInfo}, Config{})
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/models", nil))
	if want := `{"models":[{"name":"trained","aliases":["huskyai"],"versions":[{"version":"1","sha256":"` + trainedInfo.SHA256 +
		`","format":"` + trainedInfo.Format + `","signed":false}]}],"default_model":"trained"}`; strings.TrimSpace(rec.Body.String()) != want {
		t.Errorf("one model: %s, want %s", rec.Body, want)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if n := strings.Count(rec.Body.String(), "huskyai_model_version_info{"); n != 1 ||
		!strings.Contains(rec.Body.String(), `huskyai_model_version_info{format="`+trainedInfo.Format+`",model="trained",name="trained",`) {
		t.Errorf("a server of one model reports %d version series, want 1 of model trained", n)
	}
}

// TestOneModelOneName: a server of one model gives it one name and one
// version on every route, whichever name (its own or the alias) a
// request used: GET /api/v1/models, /api/v1/model, POST /api/v1/predict,
// the KServe v2 and TF Serving routes.
func TestOneModelOneName(t *testing.T) {
	h := NewServer(nil, &fake{info: trainedInfo}, Config{})
	get := func(method, path string, body []byte) map[string]any {
		t.Helper()
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		if body != nil {
			req.Header.Set("Content-Type", "image/png")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var m map[string]any
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &m) != nil {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
		return m
	}
	type nv struct{ name, version any }
	want := nv{trainedInfo.Name, modelstore.SingleVersion}

	list := get("GET", "/api/v1/models", nil)
	models := list["models"].([]any)
	entry := models[0].(map[string]any)
	versions := entry["versions"].([]any)
	if len(models) != 1 || len(versions) != 1 || (nv{entry["name"], versions[0].(map[string]any)["version"]}) != want ||
		list["default_model"] != trainedInfo.Name || fmt.Sprint(entry["aliases"]) != "["+modelstore.Alias+"]" {
		t.Errorf("/api/v1/models: %v, want %v with the alias %s", list, want, modelstore.Alias)
	}
	for _, path := range []string{"/api/v1/model", "/api/v1/model?model=" + modelstore.Alias} {
		m := get("GET", path, nil)["model"].(map[string]any)
		if got := (nv{m["name"], m["version"]}); got != want {
			t.Errorf("%s: %v, want %v", path, got, want)
		}
	}
	for _, path := range []string{"/api/v1/predict", "/api/v1/predict?model=" + modelstore.Alias} {
		m := get("POST", path, encodeImage(t, "png", 8, 8))["model"].(map[string]any)
		if got := (nv{m["name"], m["version"]}); got != want {
			t.Errorf("%s: %v, want %v", path, got, want)
		}
	}
	for _, name := range []string{modelstore.Alias, trainedInfo.Name} {
		md := get("GET", "/v2/models/"+name, nil)
		if md["name"] != trainedInfo.Name || fmt.Sprint(md["versions"]) != "["+modelstore.SingleVersion+"]" {
			t.Errorf("/v2/models/%s: %v, want %v", name, md, want)
		}
		st := get("GET", "/v1/models/"+name, nil)["model_version_status"].([]any)
		if len(st) != 1 || st[0].(map[string]any)["version"] != modelstore.SingleVersion {
			t.Errorf("/v1/models/%s: %v, want version %s", name, st, modelstore.SingleVersion)
		}
	}
}

// TestTFServingVersions: GET /v1/models/{m} lists every version of the
// model, as TF Serving does; with /versions/{v}, that one.
func TestTFServingVersions(t *testing.T) {
	repo := &fakeRepo{def: "alpha", models: map[string][]fakeVersion{
		"alpha": {{"3", fakeModel("in-file-a3", "a3")}, {"1", fakeModel("in-file-a1", "a1")}},
	}}
	h := NewServer(nil, repo, Config{})
	for path, want := range map[string][]string{"/v1/models/alpha": {"1", "3"}, "/v1/models/alpha/versions/1": {"1"}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		var st tfModelStatus
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || rec.Code != 200 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		var got []string
		for _, v := range st.ModelVersionStatus {
			got = append(got, v.Version)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: versions %v, want %v", path, got, want)
		}
	}
}
