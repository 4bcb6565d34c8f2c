package server

// The model repository extension (Triton, KServe's Open Inference
// Protocol) on the admin listener: POST /v2/repository/index, and
// POST /v2/repository/models/{model}/load and /unload, over a repository
// of models (serve --model-dir). Errors are {"error":"message"}.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/huskyai/huskyai/modelstore"
)

// RepositoryAdmin loads and unloads the models of a repository while it
// serves: *modelstore.Repository implements it.
type RepositoryAdmin interface {
	Index() ([]modelstore.IndexEntry, error)
	LoadModel(ctx context.Context, name string) error
	UnloadModel(ctx context.Context, name string) error
}

// repositoryOf returns the repository behind rl, if there is one: rl
// itself, or what its Repository method gives.
func repositoryOf(rl any) RepositoryAdmin {
	if h, ok := rl.(interface{ Repository() RepositoryAdmin }); ok {
		return h.Repository()
	}
	if rp, ok := rl.(RepositoryAdmin); ok {
		return rp
	}
	return nil
}

// repositoryIndexRequest is the body of POST /v2/repository/index.
type repositoryIndexRequest struct {
	// Ready, when true, lists the versions served only.
	Ready bool `json:"ready"`
}

// handleRepositoryIndex lists every version of every model of the
// repository's directory, with its state.
func handleRepositoryIndex(rp RepositoryAdmin) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req repositoryIndexRequest
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
		if err == nil && len(bytes.TrimSpace(body)) > 0 {
			err = decode(body, &req)
		}
		if err != nil {
			errorJSON(w, http.StatusBadRequest, codeBadRequest, "malformed index request: "+err.Error(), "")
			return
		}
		idx, err := rp.Index()
		if err != nil {
			errorJSON(w, http.StatusInternalServerError, codeInternal, err.Error(), "")
			return
		}
		out := make([]modelstore.IndexEntry, 0, len(idx))
		for _, e := range idx {
			if !req.Ready || e.State == "READY" {
				out = append(out, e)
			}
		}
		encode(w, http.StatusOK, out)
	})
}

// handleRepositoryModel loads (load true) or unloads a model of the
// repository: 200 {} when done, 404 for a model the directory does not
// hold, 409 when it cannot be (a refused load, the default model).
func handleRepositoryModel(rp RepositoryAdmin, load bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("model")
		var err error
		if load {
			err = rp.LoadModel(r.Context(), name)
		} else {
			err = rp.UnloadModel(r.Context(), name)
		}
		switch {
		case errors.Is(err, modelstore.ErrNoSuchModel):
			errorJSON(w, http.StatusNotFound, codeModelNotFound, err.Error(), "")
		case err != nil:
			addLogAttrs(r.Context(), "repository_error", err.Error())
			errorJSON(w, http.StatusConflict, codeModelRefused, err.Error(), "")
		default:
			encode(w, http.StatusOK, struct{}{})
		}
	})
}
