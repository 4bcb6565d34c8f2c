package server

import "net/http"

// routes registers every route of the service on mux. Method checks are
// done by allow, so that a wrong method gets a JSON 405 with Allow.
func (s *server) routes(mux *http.ServeMux) {
	s.handle(mux, "/{$}", "/", allow(handleEmbedded("index.html", "text/html; charset=utf-8"), http.MethodGet))
	s.handle(mux, "/static/", "/static/", allow(handleStatic(), http.MethodGet))

	predict := handlePredict(s, false)
	s.handle(mux, "/huskyai", "/huskyai/", allow(predict, http.MethodPost))
	s.handle(mux, "/huskyai/{$}", "/huskyai/", allow(predict, http.MethodPost))
	s.handle(mux, "/api/v1/predict", "/api/v1/predict", allow(handlePredict(s, true), http.MethodPost))
	s.handle(mux, "/api/v1/explain", "/api/v1/explain", allow(handleExplain(s), http.MethodPost))
	s.handle(mux, "/api/v1/model", "/api/v1/model", allow(handleModel(s), http.MethodGet))
	s.handle(mux, "/api/v1/models", "/api/v1/models", allow(handleModels(s), http.MethodGet))

	s.handle(mux, "/openapi.json", "/openapi.json", allow(handleEmbedded("openapi.json", "application/json"), http.MethodGet))
	s.handle(mux, "/healthz", "/healthz", allow(handleHealthz(), http.MethodGet))
	s.handle(mux, "/readyz", "/readyz", allow(handleReadyz(s), http.MethodGet))
	s.handle(mux, "/metrics", "/metrics", allow(s.metrics.handler(), http.MethodGet))

	// The ecosystem protocols (kserve.go, tfserving.go), whose errors are {"error":"..."}:
	// KServe v2 (Open Inference Protocol) and TF Serving REST.
	v2 := func(pattern string, h http.Handler, method string) {
		s.handle(mux, pattern, pattern, protocolErrors(allow(h, method)))
	}
	v2("/v2", handleV2Server(s), http.MethodGet)
	v2("/v2/health/live", handleV2Live(), http.MethodGet)
	v2("/v2/health/ready", handleV2Ready(s), http.MethodGet)
	for _, m := range []string{"/v2/models/{model}", "/v2/models/{model}/versions/{version}"} {
		v2(m, handleV2Model(s), http.MethodGet)
		v2(m+"/ready", handleV2ModelReady(s), http.MethodGet)
		v2(m+"/infer", handleV2Infer(s), http.MethodPost)
	}
	s.handle(mux, "/v2/", "/v2/", protocolErrors(handleNotFound()))
	s.handle(mux, "/v1/models/{rest...}", "/v1/models/", protocolErrors(handleTFServing(s)))
	// TF Serving has no list of models; rather than ServeMux's redirect to
	// /v1/models/ and a 404 there, the list /api/v1/models gives.
	s.handle(mux, "/v1/models", "/v1/models", allow(handleModels(s), http.MethodGet))

	s.handle(mux, "/", "other", handleNotFound())
}

// adminRoutes registers the routes of the admin listener (NewAdminHandler),
// which serves on its own loopback address, never on the public one:
//
//	POST /admin/reload   reload the model from its source, verified
//	GET  /admin/status   the served model, its source and reload history
//
// and with a repository of models, the repository extension:
//
//	POST /v2/repository/index                 every version, with its state
//	POST /v2/repository/models/{model}/load   load (again) and serve a model
//	POST /v2/repository/models/{model}/unload stop serving a model
func (s *server) adminRoutes(mux *http.ServeMux, rl Reloader) {
	s.handle(mux, "/admin/reload", "/admin/reload", allow(handleReload(s, rl), http.MethodPost))
	s.handle(mux, "/admin/status", "/admin/status", allow(handleAdminStatus(rl), http.MethodGet))
	// The model repository extension (repository.go), with --model-dir.
	if rp := repositoryOf(rl); rp != nil {
		repo := func(pattern string, h http.Handler) {
			s.handle(mux, pattern, pattern, protocolErrors(allow(h, http.MethodPost)))
		}
		repo("/v2/repository/index", handleRepositoryIndex(rp))
		repo("/v2/repository/models/{model}/load", handleRepositoryModel(rp, true))
		repo("/v2/repository/models/{model}/unload", handleRepositoryModel(rp, false))
	}
	s.handle(mux, "/", "other", handleNotFound())
}

// handle registers h for pattern, instrumented under the metrics and log
// label route.
func (s *server) handle(mux *http.ServeMux, pattern, route string, h http.Handler) {
	mux.Handle(pattern, s.instrument(route, h))
}
