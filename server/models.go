package server

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/modelstore"
	"github.com/prometheus/client_golang/prometheus"
)

// codeModelNotFound is the error code of a request for a model or a
// version that the server does not serve (404).
const codeModelNotFound = "model_not_found"

// ModelRef names a model of a Repository and the versions of it being
// served, newest first: Versions[0] answers a request that names the
// model but no version.
type ModelRef struct {
	Name     string   `json:"name"`
	Versions []string `json:"versions"`
}

// Repository gives the server several named models, each in one or more
// versions. Current (of Models) is the default model, which answers the
// requests that name no model. Lookup returns the model name in version,
// the newest one for an empty version, and the version it found; ok is
// false when no such model or version is served. A request calls Lookup
// once and uses that model to its end. List returns the models served,
// sorted by name. It must be safe for concurrent use.
type Repository interface {
	Models
	Lookup(name, version string) (c Classifier, resolved string, ok bool)
	List() []ModelRef
}

// ModelRepository serves the models of r: a request names one with the
// query parameters model and version (see handlePredict), and one that
// names none gets r's default model. The reload history of r's rescans
// shows in /readyz and /metrics.
func ModelRepository(r *modelstore.Repository) Repository { return repoModels{r} }

// repoModels adapts a *modelstore.Repository to Repository.
type repoModels struct{ r *modelstore.Repository }

func (m repoModels) Current() Classifier {
	if c := m.r.Current(); c != nil {
		return c
	}
	return nil // not a non-nil interface holding a nil pointer
}

func (m repoModels) Lookup(name, version string) (Classifier, string, bool) {
	c, v, ok := m.r.Lookup(name, version)
	if !ok || c == nil {
		return nil, "", false
	}
	return c, v, true
}

func (m repoModels) List() []ModelRef {
	l := m.r.List()
	out := make([]ModelRef, len(l))
	for i, mv := range l {
		out[i] = ModelRef{Name: mv.Name, Versions: mv.Versions}
	}
	return out
}

func (m repoModels) DefaultModel() string { return m.r.DefaultModel() }

func (m repoModels) Status() modelstore.Status { return m.r.Status() }

// defaultNamer is implemented by Repositories that name their default
// model, so that answers of the default model say its name and version.
type defaultNamer interface {
	DefaultModel() string
}

// servedModel is the model picked for a request, and the name and
// version it is served as: in a Repository, the repository's; for the
// single model of Models, its own name and singleVersion, whichever name
// (its own or modelAlias) the request used. Both are empty only when a
// Repository's default model changed under a request.
type servedModel struct {
	c             Classifier
	name, version string
}

// ref describes the model in a prediction response: its name as served
// (in a Repository, the repository's name for it) and its version.
func (m servedModel) ref() modelRef {
	ref := newModelRef(m.c.Info())
	if m.name != "" {
		ref.Name, ref.Version = m.name, m.version
	}
	return ref
}

// info describes the model in a GET /api/v1/model response.
func (m servedModel) info() any {
	info := m.c.Info()
	if m.name == "" {
		return info
	}
	return struct {
		classifier.ModelInfo
		Name    string `json:"name"` // hides ModelInfo.Name, the name inside the file
		Version string `json:"version"`
	}{info, m.name, m.version}
}

// pick returns the model that answers r: the one named by the query
// parameters model and version, resolved as the protocol routes resolve
// theirs (server.lookup: in a Repository the newest version when there is
// no version parameter; a single model answers to its own name and
// modelAlias, as version singleVersion); without a model parameter, the
// default model, Current. When there is none it writes the error
// response, 404 model_not_found or 503 not_ready, and returns false.
func (s *server) pick(w http.ResponseWriter, r *http.Request) (servedModel, bool) {
	q := r.URL.Query()
	named, version := q.Get("model"), q.Get("version")
	name := named
	if name == "" {
		if dn, ok := s.models.(defaultNamer); ok {
			name = dn.DefaultModel()
		} else if c := s.current(); c != nil {
			name = c.Info().Name
		}
	}
	if name != "" {
		if m, ok := s.lookup(name, version); ok {
			return m, true
		}
		if s.current() != nil && (named != "" || version != "") {
			notFound(w, name, version)
			return servedModel{}, false
		}
		// The default model changed under us: take Current.
	}
	c := s.current()
	if c == nil {
		errorJSON(w, http.StatusServiceUnavailable, codeNotReady, "the model is not loaded yet; try again shortly", "")
		return servedModel{}, false
	}
	return servedModel{c: c}, true
}

// notFound answers 404 model_not_found for name in version.
func notFound(w http.ResponseWriter, name, version string) {
	msg := fmt.Sprintf("no model %q is served; GET /api/v1/models lists the models", name)
	if version != "" {
		msg = fmt.Sprintf("no version %q of model %q is served; GET /api/v1/models lists the versions", version, name)
	}
	errorJSON(w, http.StatusNotFound, codeModelNotFound, msg, "")
}

// modelsResponse is the answer of GET /api/v1/models.
type modelsResponse struct {
	// Models are the models served, sorted by name.
	Models []modelEntry `json:"models"`
	// DefaultModel answers the requests that name no model.
	DefaultModel string `json:"default_model,omitempty"`
}

// modelEntry is one model of GET /api/v1/models.
type modelEntry struct {
	Name string `json:"name"`
	// Aliases are other names the model answers to on every route: a
	// server of one model also answers to modelAlias ("huskyai").
	Aliases []string `json:"aliases,omitempty"`
	// Versions are the versions served, newest first; a server of one
	// model serves it as version singleVersion ("1").
	Versions []versionEntry `json:"versions"`
}

// newVersionEntry describes the model c served as version.
func newVersionEntry(version string, c Classifier) versionEntry {
	info := c.Info()
	return versionEntry{Version: version, SHA256: info.SHA256, Format: info.Format, Signed: info.Signed, LoadedAt: info.LoadedAt}
}

// versionEntry is one version of a model of GET /api/v1/models.
type versionEntry struct {
	Version  string    `json:"version"`
	SHA256   string    `json:"sha256"`
	Format   string    `json:"format"`
	Signed   bool      `json:"signed"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
}

// handleModels lists the models served and their versions. A server of
// one model lists it under the name and version that every route uses:
// its own name (with the alias modelAlias) and singleVersion.
func handleModels(s *server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo, ok := s.models.(Repository)
		if !ok {
			c := s.current()
			if c == nil {
				errorJSON(w, http.StatusServiceUnavailable, codeNotReady, "the model is not loaded yet", "")
				return
			}
			e := modelEntry{Name: c.Info().Name, Versions: []versionEntry{newVersionEntry(singleVersion, c)}}
			if e.Name != modelAlias {
				e.Aliases = []string{modelAlias}
			}
			encode(w, http.StatusOK, modelsResponse{Models: []modelEntry{e}, DefaultModel: e.Name})
			return
		}
		var body modelsResponse
		if dn, ok := s.models.(defaultNamer); ok {
			body.DefaultModel = dn.DefaultModel()
		}
		body.Models = []modelEntry{}
		for _, m := range repo.List() {
			e := modelEntry{Name: m.Name, Versions: []versionEntry{}}
			for _, v := range m.Versions {
				if c, got, ok := repo.Lookup(m.Name, v); ok {
					e.Versions = append(e.Versions, newVersionEntry(got, c))
				}
			}
			body.Models = append(body.Models, e)
		}
		encode(w, http.StatusOK, body)
	})
}

// servedVersions returns each model version the server serves, for the
// huskyai_model_info series; nil for a server of one model.
func (s *server) servedVersions() []servedModel {
	repo, ok := s.models.(Repository)
	if !ok {
		return nil
	}
	var out []servedModel
	for _, m := range repo.List() {
		for _, v := range m.Versions {
			if c, got, ok := repo.Lookup(m.Name, v); ok {
				out = append(out, servedModel{c, m.Name, got})
			}
		}
	}
	return out
}

// versionCollector reports, in a server of a Repository, one series per
// model version served, read at each scrape (huskyai_model_info, beside
// it, describes the default model only):
//
//	huskyai_model_version_info{model,version,name,sha256,format,signed,signer_key_id} 1
type versionCollector struct {
	served func() []servedModel
	info   *prometheus.Desc
}

func newVersionCollector(served func() []servedModel) *versionCollector {
	return &versionCollector{
		served: served,
		info: prometheus.NewDesc("huskyai_model_version_info",
			"Each model version of the repository being served (value 1): model and version as requests name them, name as the file names it.",
			[]string{"model", "version", "name", "sha256", "format", "signed", "signer_key_id"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *versionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.info }

// Collect implements prometheus.Collector.
func (c *versionCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.served() {
		info := m.c.Info()
		ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, m.name, m.version, info.Name, info.SHA256,
			info.Format, strconv.FormatBool(info.Signed), info.SignerKeyID)
	}
}

// lookup returns the model that the path of a protocol request names,
// name in version ("" for the newest). With a Repository it is the
// repository's; otherwise the single model answers to its own name and
// to modelAlias, as version singleVersion, and is served under its own
// name: one name and one version on every route and in
// GET /api/v1/models. It is the one place where the protocols resolve a
// model.
func (s *server) lookup(name, version string) (servedModel, bool) {
	if repo, ok := s.models.(Repository); ok {
		c, v, ok := repo.Lookup(name, version)
		return servedModel{c, name, v}, ok && c != nil
	}
	c := s.current()
	if c == nil || name != c.Info().Name && name != modelAlias || version != "" && version != singleVersion {
		return servedModel{}, false
	}
	return servedModel{c, c.Info().Name, singleVersion}, true
}

// modelLabel is the model label of m in the metrics: the repository's
// name for it, or the single model's own name (whatever name the request
// used), as handlePredict counts it.
func (s *server) modelLabel(m servedModel) string {
	if _, ok := s.models.(Repository); ok && m.name != "" {
		return m.name
	}
	return m.c.Info().Name
}

// versions returns the versions served of the model m was found as,
// newest first.
func (s *server) versions(m servedModel) []string {
	if repo, ok := s.models.(Repository); ok {
		for _, ref := range repo.List() {
			if ref.Name == m.name {
				return ref.Versions
			}
		}
	}
	return []string{m.version}
}

// protocolModel resolves the model named by the path values model and
// version of r. When there is none it answers 503 (no model loaded yet)
// or 404 and returns false.
func (s *server) protocolModel(w http.ResponseWriter, r *http.Request) (servedModel, bool) {
	name, version := r.PathValue("model"), r.PathValue("version")
	return s.resolve(w, name, version)
}

// resolve returns the model name in version ("" for the newest), or
// answers 503 (no model loaded yet) or 404 and returns false.
func (s *server) resolve(w http.ResponseWriter, name, version string) (servedModel, bool) {
	if m, ok := s.lookup(name, version); ok {
		return m, true
	}
	if s.current() == nil {
		errorJSON(w, http.StatusServiceUnavailable, codeNotReady, "no model is loaded yet; try again shortly", "")
		return servedModel{}, false
	}
	msg := fmt.Sprintf("model %q is not served here", name)
	if version != "" {
		msg = fmt.Sprintf("version %q of model %q is not served here", version, name)
	}
	errorJSON(w, http.StatusNotFound, codeModelNotFound, msg, "")
	return servedModel{}, false
}
