package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Error codes of JSON error responses.
const (
	codeBadRequest       = "bad_request"
	codeMissingFile      = "missing_file"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeTooLarge         = "request_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeImageTooLarge    = "image_too_large"
	codeUndecodable      = "undecodable_image"
	codeBusy             = "server_busy"
	codeUploadTimeout    = "upload_timeout"
	codeNotReady         = "not_ready"
	codeInternal         = "internal_error"
	codeRateLimited      = "rate_limited"
	codeProbing          = "probing_suspected"
	codeModelRefused     = "model_refused"     // admin reload: the new model failed its checks
	codeReloadFailed     = "reload_failed"     // admin reload: the new model could not be read
	codeHostNotAllowed   = "host_not_allowed"  // admin listener: a Host that is not loopback (DNS rebinding)
	codeShuttingDown     = "shutting_down"     // /readyz after SIGTERM (Drain)
	codeTooManyPending   = "too_many_pending"  // one client's uploads in progress at MaxPendingPerClient
	codeAuditUnavailable = "audit_unavailable" // Config.AuditRequired: the audit record could not be written
)

// errorBody is the JSON body of every error response:
// {"error":{"code":"...","message":"..."}}.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	// Warning repeats the placeholder model's warning on prediction
	// routes.
	Warning string `json:"warning,omitempty"`
}

// encode writes v as the JSON response body with the given status. It is
// the only place responses are encoded.
func encode(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every response type is marshalable; this is a bug.
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal_error","message":"encoding the response failed"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// errorJSON writes a JSON error response. warning is the model warning to
// add, if any.
func errorJSON(w http.ResponseWriter, status int, code, message, warning string) {
	var body errorBody
	body.Error.Code, body.Error.Message, body.Warning = code, message, warning
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	if _, ok := w.(protocolWriter); ok {
		encode(w, status, protocolError{Error: message})
		return
	}
	encode(w, status, body)
}

// protocolError is the error body of the ecosystem protocols (KServe v2
// and TF Serving REST, kserve.go and tfserving.go): {"error":"message"}.
type protocolError struct {
	Error string `json:"error"`
}

// protocolWriter is the ResponseWriter of a protocol route: errorJSON
// writes the protocols' error body to it instead of ours.
type protocolWriter struct{ http.ResponseWriter }

// Unwrap lets http.ResponseController reach the underlying writer.
func (w protocolWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// protocolErrors wraps the handler of a protocol route so that every
// error it answers, those of allow and of the admission checks included,
// has the protocols' form.
func protocolErrors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(protocolWriter{w}, r)
	})
}

// encodeBinary writes v as the JSON header of a response of the binary
// tensor data extension, followed by data, with the header's length in
// Inference-Header-Content-Length.
func encodeBinary(w http.ResponseWriter, status int, v any, data []byte) {
	b, err := json.Marshal(v)
	if err != nil {
		errorJSON(w, http.StatusInternalServerError, codeInternal, "encoding the response failed", "")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Inference-Header-Content-Length", strconv.Itoa(len(b)))
	h.Set("Content-Length", strconv.Itoa(len(b)+len(data)))
	w.WriteHeader(status)
	w.Write(b)
	w.Write(data)
}

// decode parses the JSON document b into v. It is the only place request
// bodies are decoded.
func decode(b []byte, v any) error {
	return json.Unmarshal(b, v)
}

// allow wraps h to answer 405 with an Allow header and a JSON error for
// any method but those given. GET implies HEAD.
func allow(h http.Handler, methods ...string) http.Handler {
	ok := make(map[string]bool)
	for _, m := range methods {
		ok[m] = true
		if m == http.MethodGet {
			ok[http.MethodHead] = true
			methods = append(methods, http.MethodHead)
		}
	}
	allowed := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ok[r.Method] {
			w.Header().Set("Allow", allowed)
			errorJSON(w, http.StatusMethodNotAllowed, codeMethodNotAllowed,
				"method "+r.Method+" is not allowed here; use "+allowed, "")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// handleNotFound answers every unknown path.
func handleNotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errorJSON(w, http.StatusNotFound, codeNotFound, "no such page: "+r.URL.Path, "")
	})
}
