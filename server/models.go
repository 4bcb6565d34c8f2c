package server

import (
	"cmp"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/huskyai/huskyai/classifier"
	"github.com/prometheus/client_golang/prometheus"
)

// codeModelNotFound is the error code of a request for a model or a
// version that the server does not serve (404).
const codeModelNotFound = "model_not_found"

// servedModel is the model picked for a request, and the name and
// version it is served as: in a repository, the repository's; for a
// single model, its own name and version 1, whichever name (its own or
// its alias) the request used. Both are empty only when a repository's
// default model changed under a request.
type servedModel struct {
	c             Classifier
	name, version string
}

// ref describes the model in a prediction response: its name as served
// (in a repository, the repository's name for it) and its version.
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
// theirs (server.lookup: the newest version when there is no version
// parameter; a single model answers to its own name and its alias, as
// version 1); without a model parameter, the
// default model, Current. When there is none it writes the error
// response, 404 model_not_found or 503 not_ready, and returns false.
func (s *server) pick(w http.ResponseWriter, r *http.Request) (servedModel, bool) {
	q := r.URL.Query()
	named, version := q.Get("model"), q.Get("version")
	name := named
	if name == "" {
		if s.models != nil {
			name = s.models.DefaultModel()
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
	// server of one model also answers to modelstore.Alias ("huskyai").
	Aliases []string `json:"aliases,omitempty"`
	// Versions are the versions served, newest first; a server of one
	// model serves it as version modelstore.SingleVersion ("1").
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

// handleModels lists the models served and their versions: a server of
// one model lists it under the name and version that every route uses,
// its own name (with its alias) and version 1.
func handleModels(s *server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.current() == nil {
			errorJSON(w, http.StatusServiceUnavailable, codeNotReady, "the model is not loaded yet", "")
			return
		}
		body := modelsResponse{DefaultModel: s.models.DefaultModel(), Models: []modelEntry{}}
		for _, m := range s.models.List() {
			e := modelEntry{Name: m.Name, Aliases: m.Aliases, Versions: []versionEntry{}}
			for _, v := range m.Versions {
				if c, _, got, ok := s.models.Lookup(m.Name, v); ok {
					e.Versions = append(e.Versions, newVersionEntry(got, c))
				}
			}
			body.Models = append(body.Models, e)
		}
		encode(w, http.StatusOK, body)
	})
}

// servedVersions returns each model version the server serves, for the
// huskyai_model_version_info series.
func (s *server) servedVersions() []servedModel {
	if s.models == nil {
		return nil
	}
	var out []servedModel
	for _, m := range s.models.List() {
		for _, v := range m.Versions {
			if c, name, got, ok := s.models.Lookup(m.Name, v); ok {
				out = append(out, servedModel{c, name, got})
			}
		}
	}
	return out
}

// versionCollector reports one series per
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
// name in version ("" for the newest), and the name and version it is
// served as: a single model answers to its own name and its alias, as
// version 1, and is served under its own name, on every route and in
// GET /api/v1/models. It is the one place where the server resolves a
// model by name.
func (s *server) lookup(name, version string) (servedModel, bool) {
	if s.models == nil {
		return servedModel{}, false
	}
	c, served, v, ok := s.models.Lookup(name, version)
	return servedModel{c, served, v}, ok
}

// modelLabel is the model label of m in the metrics: its name as served
// (a single model's own name, whatever name the request used).
func (s *server) modelLabel(m servedModel) string {
	return cmp.Or(m.name, m.c.Info().Name)
}

// versions returns the versions served of the model m was found as,
// newest first.
func (s *server) versions(m servedModel) []string {
	for _, ref := range s.models.List() {
		if ref.Name == m.name {
			return ref.Versions
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
	m, ue := s.find(name, version)
	if ue != nil {
		errorJSON(w, ue.status, ue.code, ue.message, "")
		return servedModel{}, false
	}
	return m, true
}

// find returns the model name in version ("" for the newest), or the
// error to answer: 503 (no model loaded yet) or 404.
func (s *server) find(name, version string) (servedModel, *uploadError) {
	if m, ok := s.lookup(name, version); ok {
		return m, nil
	}
	if s.current() == nil {
		return servedModel{}, &uploadError{http.StatusServiceUnavailable, codeNotReady, "no model is loaded yet; try again shortly"}
	}
	msg := fmt.Sprintf("model %q is not served here", name)
	if version != "" {
		msg = fmt.Sprintf("version %q of model %q is not served here", version, name)
	}
	return servedModel{}, &uploadError{http.StatusNotFound, codeModelNotFound, msg}
}
