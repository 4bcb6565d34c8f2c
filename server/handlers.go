package server

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/huskyai/huskyai/modelstore"
)

//go:embed static
var staticFS embed.FS

// handleEmbedded serves the embedded file static/name with contentType:
// the upload page, and the OpenAPI document of the native API
// (openapi_test.go validates real answers against it).
func handleEmbedded(name, contentType string) http.Handler {
	body, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Write(body)
	})
}

// handleStatic serves the page's script and style sheet.
func handleStatic() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			// No directory listings.
			errorJSON(w, http.StatusNotFound, codeNotFound, "no such page: "+r.URL.Path, "")
			return
		}
		files.ServeHTTP(w, r)
	})
}

// modelResponse is the answer of GET /api/v1/model.
type modelResponse struct {
	Model   any    `json:"model"`
	Warning string `json:"warning,omitempty"`
	// MaxUpload is the upload limit in bytes, so the page can check a
	// file before sending it.
	MaxUpload int64 `json:"max_upload"`
	// Explanations reports whether POST /api/v1/explain answers (the
	// page's "Why?" toggle).
	Explanations bool `json:"explanations"`
}

// handleModel describes the loaded model, or the one named by the query
// parameters model and version (see server.pick).
func handleModel(s *server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, ok := s.pick(w, r)
		if !ok {
			return
		}
		encode(w, http.StatusOK, modelResponse{Model: m.info(), Warning: m.c.Info().Warning, MaxUpload: s.cfg.MaxUpload,
			Explanations: s.explains()})
	})
}

// status is the body of /healthz and /readyz.
type status struct {
	Status string `json:"status"`
}

// handleHealthz answers while the process serves requests.
func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, status{"ok"})
	})
}

// readyStatus is the body of /readyz when ready.
type readyStatus struct {
	Status string `json:"status"`
	// Model is the SHA-256 and load time of the model being served.
	Model struct {
		SHA256   string    `json:"sha256"`
		LoadedAt time.Time `json:"loaded_at,omitzero"`
	} `json:"model"`
	// LastReload is the last reload attempt, absent before the first.
	LastReload *modelstore.Attempt `json:"last_reload,omitempty"`
}

// handleReadyz answers 200 once the model is loaded, with the model's
// digest and the outcome of the last reload: a failed reload leaves the
// server ready (the old model serves) and says what kind of refusal it
// was. The reason in words (which names the model's path and quotes the
// parser) is for the admin listener's /admin/status only: this listener
// faces the network.
func handleReadyz(s *server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last := s.modelStatus().LastReload
		if last != nil {
			redacted := *last
			redacted.Error = ""
			last = &redacted
		}
		if s.cfg.Drain.Draining() {
			errorJSON(w, http.StatusServiceUnavailable, codeShuttingDown, "the server is shutting down", "")
			return
		}
		c := s.current()
		if c == nil {
			msg := "the model is not loaded"
			if last != nil && last.Kind != "" {
				msg += " (the last attempt was refused: " + string(last.Kind) + ")"
			}
			errorJSON(w, http.StatusServiceUnavailable, codeNotReady, msg, "")
			return
		}
		info := c.Info()
		body := readyStatus{Status: "ready", LastReload: last}
		body.Model.SHA256, body.Model.LoadedAt = info.SHA256, info.LoadedAt
		encode(w, http.StatusOK, body)
	})
}
