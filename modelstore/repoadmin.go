package modelstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"

	"github.com/huskyai/huskyai/audit"
)

// The model repository extension of Triton and KServe's Open Inference
// Protocol: the index of the models in the directory, and loading and
// unloading a model while serving (serve's admin listener answers
// POST /v2/repository/index and /v2/repository/models/{name}/load and
// /unload with these).

// IndexEntry is one version of a model in the repository's directory.
type IndexEntry struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// State is "READY" (served) or "UNAVAILABLE".
	State string `json:"state"`
	// Reason says why a version is unavailable.
	Reason string `json:"reason,omitempty"`
}

// ErrNoSuchModel is wrapped by LoadModel and UnloadModel for a name the
// repository's directory does not hold.
var ErrNoSuchModel = errors.New("modelstore: no such model in the repository")

// Index lists every version of every model of the directory, served or
// not: by name, then version.
func (r *Repository) Index() ([]IndexEntry, error) {
	found, err := r.walk(nil)
	if err != nil {
		return nil, err
	}
	st := r.state.Load()
	r.mu.Lock()
	names := maps.Clone(r.unloaded)
	r.mu.Unlock()
	out := make([]IndexEntry, 0, len(found))
	for _, f := range found {
		e := IndexEntry{Name: f.name, Version: f.version, State: "READY"}
		v := st.find(f.name, f.version)
		switch {
		case v != nil && v.path == f.path:
		case names[f.name]:
			e.State, e.Reason = "UNAVAILABLE", "unloaded"
		case f.skip != "":
			e.State, e.Reason = "UNAVAILABLE", f.skip
		case f.err != nil:
			e.State, e.Reason = "UNAVAILABLE", f.err.Error()
		default:
			e.State, e.Reason = "UNAVAILABLE", "not loaded: refused at the last scan (GET /admin/status says why), or new since"
		}
		out = append(out, e)
	}
	return out, nil
}

// LoadModel (re)loads the model name from the directory, verified as at
// start, and serves it again if it was unloaded: it returns the refusal
// when no version of it could be loaded.
func (r *Repository) LoadModel(ctx context.Context, name string) error {
	if !ValidModelName(name) || !isDir(filepath.Join(r.dir, name)) {
		return fmt.Errorf("%w: %q", ErrNoSuchModel, name)
	}
	r.mu.Lock()
	delete(r.unloaded, name)
	r.mu.Unlock()
	err := r.rescan(ctx, true)
	if len(r.state.Load().models[name]) > 0 {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("modelstore: repository %s: model %q has no version to serve (none, or none in its version policy)", r.dir, name)
	}
	return err
}

// UnloadModel stops serving the model name until LoadModel: requests for
// it get "no such model". The default model cannot be unloaded. It writes
// an audit record.
func (r *Repository) UnloadModel(ctx context.Context, name string) error {
	st := r.state.Load()
	vs := st.models[name]
	if len(vs) == 0 {
		if ValidModelName(name) && isDir(filepath.Join(r.dir, name)) {
			return nil // not served already
		}
		return fmt.Errorf("%w: %q", ErrNoSuchModel, name)
	}
	if name == st.def {
		return fmt.Errorf("modelstore: %q is the default model, which answers the requests that name none: it cannot be unloaded", name)
	}
	r.mu.Lock()
	if r.unloaded == nil {
		r.unloaded = map[string]bool{}
	}
	r.unloaded[name] = true
	r.mu.Unlock()
	if err := r.rescan(ctx, true); err != nil && len(r.state.Load().models[name]) > 0 {
		return err
	}
	if r.opt.Audit != nil {
		if err := r.opt.Audit.Record(ctx, audit.ModelUnload{Name: name, Versions: versionsOf(vs)}); err != nil {
			r.logger.ErrorContext(ctx, "audit record failed", "type", "model_unload", "err", err)
		}
	}
	r.logger.InfoContext(ctx, "repository: model unloaded", "model", name, "versions", versionsOf(vs))
	return nil
}
