package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/modelstore"
	"github.com/prometheus/client_golang/prometheus"
)

// Reloader swaps the served model for a freshly loaded and verified one:
// *modelstore.Store implements it.
type Reloader interface {
	// Reload loads the model again; on an error the old one keeps
	// serving.
	Reload(ctx context.Context) error
	// Status describes the current model and the last reload.
	Status() modelstore.Status
}

// NewAdminHandler returns the handler of the admin listener (see
// adminRoutes): operations that must not be reachable from the network
// the service answers, so it is served on its own, loopback-only address.
// Cross-origin requests from browsers are refused (403), so that a web
// page cannot make a local browser trigger a reload, and so is any request
// whose Host is not a loopback name or address (403 host_not_allowed):
// a page whose domain an attacker re-points at 127.0.0.1 (DNS rebinding)
// sends its own domain as Host.
func NewAdminHandler(logger *slog.Logger, r Reloader) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &server{logger: logger.With("listener", "admin")}
	// The admin routes are instrumented and logged like the others, in a
	// registry of their own that is not served.
	s.metrics = newMetrics(prometheus.NewRegistry(), func() Classifier { return nil }, r.Status)
	mux := http.NewServeMux()
	s.adminRoutes(mux, r)
	return s.middleware(loopbackOnly(http.NewCrossOriginProtection().Handler(mux)))
}

// loopbackOnly refuses requests whose Host is not localhost, 127.0.0.0/8
// or ::1 (with any port).
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			errorJSON(w, http.StatusForbidden, codeHostNotAllowed,
				"the admin listener answers requests to localhost, 127.0.0.1 or [::1] only", "")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether host (a Host header: name or address,
// with or without a port) names the loopback interface.
func loopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// reloadResponse is the answer of a successful POST /admin/reload.
type reloadResponse struct {
	// Model is the model now served.
	Model classifier.ModelInfo `json:"model"`
	// ReloadMS is how long the reload took.
	ReloadMS float64 `json:"reload_ms"`
}

// handleReload reloads the model. 200 with the new model's description;
// 409 when the new model was refused (bad signature, failed self-test,
// unloadable model) and 500 when it could not be read, both with the
// reason, while the old model keeps serving.
func handleReload(s *server, rl Reloader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		err := rl.Reload(r.Context())
		if err != nil {
			status, code := http.StatusInternalServerError, codeReloadFailed
			if re, ok := errors.AsType[*modelstore.RefusedError](err); ok && re.Kind != modelstore.KindRead {
				status, code = http.StatusConflict, codeModelRefused
			}
			addLogAttrs(r.Context(), "reload_error", err.Error())
			errorJSON(w, status, code, err.Error()+"; the previous model keeps serving", "")
			return
		}
		encode(w, http.StatusOK, reloadResponse{
			Model:    rl.Status().Model,
			ReloadMS: float64(time.Since(start).Microseconds()) / 1000,
		})
	})
}

// adminStatus is the answer of GET /admin/status.
type adminStatus struct {
	Model          classifier.ModelInfo `json:"model"`
	Source         string               `json:"source"`
	LastReload     *modelstore.Attempt  `json:"last_reload,omitempty"`
	Reloads        uint64               `json:"reloads"`
	ReloadFailures uint64               `json:"reload_failures"`
}

// handleAdminStatus describes the served model, where it is loaded from
// and the reload history.
func handleAdminStatus(rl Reloader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := rl.Status()
		encode(w, http.StatusOK, adminStatus{
			Model: st.Model, Source: st.Source, LastReload: st.LastReload,
			Reloads: st.Reloads, ReloadFailures: st.ReloadFailures,
		})
	})
}
