package modelstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/classifier"
)

// ModelFiles are the names a model file may have in a version directory
// of a Repository, one of them per directory; its signature is the same
// name plus ".sig".
var ModelFiles = []string{"model.h5", "model.keras", "model.onnx"}

// MaxModelNameLen bounds the name of a model directory of a Repository.
const MaxModelNameLen = 128

// modelNameRE is what a model directory of a Repository may be named: a
// name that is safe unescaped in a URL path segment or query, in a
// Prometheus label and in a log line.
var modelNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ValidModelName reports whether name can name a model of a Repository:
// 1 to MaxModelNameLen ASCII letters, digits, '.', '_' or '-', starting
// with a letter or digit (so "..", hidden directories and anything with
// a slash or a space never name a model).
func ValidModelName(name string) bool {
	return len(name) <= MaxModelNameLen && modelNameRE.MatchString(name)
}

// ParseVersion parses the name of a version directory of a Repository: a
// positive decimal integer without sign or leading zeros that fits in an
// int64, as TensorFlow Serving and Triton number versions. ok is false
// for anything else.
func ParseVersion(s string) (v int64, ok bool) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// RepositoryOptions configure a Repository: every version of every model
// is loaded as a Store with Options, and DefaultModel names the model of
// Repository.Current.
type RepositoryOptions struct {
	Options
	// DefaultModel is the name of the model that Current serves (the one
	// answering requests that name no model). Empty: the model first in
	// byte order at OpenRepository (the only one, if there is one), kept
	// as the default while it has a version, so that a model added later
	// never takes over the requests that name none; when it goes, the
	// first model by name.
	DefaultModel string
}

// ModelVersions names a model and the versions of it being served
// (huskyai.ModelVersions).
type ModelVersions = huskyai.ModelVersions

// Repository serves the models of a directory, several at once, each in
// one or more versions, laid out as TensorFlow Serving and Triton lay out
// theirs:
//
//	DIR/<name>/<version>/model.h5     (or model.keras, or model.onnx)
//	DIR/<name>/<version>/model.h5.sig (its signature, as for a single model)
//
// <name> is a model's name (see ValidModelName) and <version> a positive
// integer (see ParseVersion); the highest version of a model is its
// newest, served when a request names no version. Each version is a
// Store: loaded, verified (signature, self-test, warm-up) and audited
// under exactly the rules of a single model (see the package
// documentation).
//
// What a scan of DIR ignores, with a warning in the log: entries whose
// name is not a valid model name or version, files where a directory is
// expected, and version directories without a model file (a version
// being copied in). Entries whose name starts with a dot are ignored
// silently (Kubernetes mounts keep their "..data" links there). Symbolic
// links are followed. A version directory with more than one model file
// is refused as ambiguous.
//
// Lookup, List and Current are lock-free; Reload and Watch calls are
// serialized. A Repository is safe for concurrent use.
type Repository struct {
	dir    string
	opt    RepositoryOptions
	logger *slog.Logger
	now    func() time.Time

	state  atomic.Pointer[repoState]
	reload chan struct{} // a one-slot semaphore serializing scans

	mu       sync.Mutex      // guards the fields below
	unloaded map[string]bool // models an operator unloaded (UnloadModel)
	last     *Attempt
	reloads  uint64
	failures uint64
	loadedFP string // tree fingerprint at the last scan
}

// repoState is an immutable snapshot of the models being served.
type repoState struct {
	models map[string][]*repoVersion // newest first
	names  []string                  // sorted
	def    string                    // the default model's name
}

// repoVersion is one version of one model, and its store.
type repoVersion struct {
	name, version string
	num           int64
	path          string // the model file
	store         *Store
}

// find returns the version of name, "" for the newest, or nil.
func (st *repoState) find(name, version string) *repoVersion {
	vs := st.models[name]
	if len(vs) == 0 {
		return nil
	}
	if version == "" {
		return vs[0]
	}
	for _, v := range vs {
		if v.version == version {
			return v
		}
	}
	return nil
}

// OpenRepository loads every version of every model under dir (see
// Repository) with the options of opt. It refuses to start, as Open does
// for a single model, when any version is refused: the error is then that
// version's *RefusedError. It is also an error when dir cannot be read,
// holds no model, or has no model named opt.DefaultModel.
func OpenRepository(ctx context.Context, dir string, opt RepositoryOptions) (*Repository, error) {
	if dir == "" {
		return nil, errors.New("modelstore: repository: no directory given")
	}
	if opt.DefaultModel != "" && !ValidModelName(opt.DefaultModel) {
		return nil, fmt.Errorf("modelstore: repository %s: default model %q is not a valid model name (letters, digits, '.', '_', '-')", dir, opt.DefaultModel)
	}
	if opt.MaxModelSize <= 0 {
		opt.MaxModelSize = DefaultMaxModelSize
	}
	r := &Repository{dir: dir, opt: opt, logger: opt.Logger, now: opt.Now, reload: make(chan struct{}, 1)}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.opt.Logger, r.opt.Now = r.logger, r.now
	r.state.Store(&repoState{models: map[string][]*repoVersion{}})
	if err := r.scan(ctx, true, true); err != nil {
		return nil, err
	}
	st := r.state.Load()
	for _, name := range st.names {
		r.logger.InfoContext(ctx, "repository model", "dir", dir, "model", name, "versions", versionsOf(st.models[name]), "default", name == st.def)
	}
	return r, nil
}

// Dir returns the repository's directory.
func (r *Repository) Dir() string { return r.dir }

// DefaultModel returns the name of the model Current serves.
func (r *Repository) DefaultModel() string { return r.state.Load().def }

// Current returns the newest version of the default model (see
// RepositoryOptions.DefaultModel): what answers a request that names no
// model. Like Store.Current, a request should call it once.
func (r *Repository) Current() huskyai.Classifier {
	st := r.state.Load()
	if v := st.find(st.def, ""); v != nil {
		return v.store.Current()
	}
	return nil
}

// Lookup returns the model name in version, served as name, and the
// version found; an empty version is the newest. ok is false when the repository serves no
// such model or version. A request should call it once and use that
// model to its end.
func (r *Repository) Lookup(name, version string) (c huskyai.Classifier, served, resolved string, ok bool) {
	v := r.state.Load().find(name, version)
	if v == nil {
		return nil, "", "", false
	}
	if c = v.store.Current(); c == nil {
		return nil, "", "", false
	}
	return c, name, v.version, true
}

// List returns the models served, sorted by name, each with its versions
// newest first.
func (r *Repository) List() []ModelVersions {
	st := r.state.Load()
	out := make([]ModelVersions, 0, len(st.names))
	for _, name := range st.names {
		out = append(out, ModelVersions{Name: name, Versions: versionsOf(st.models[name])})
	}
	return out
}

// VersionStatus returns the Status of the Store serving name in version
// ("" for the newest), and the version found.
func (r *Repository) VersionStatus(name, version string) (Status, string, bool) {
	v := r.state.Load().find(name, version)
	if v == nil {
		return Status{}, "", false
	}
	return v.store.Status(), v.version, true
}

// Status describes the repository as a Store's Status does: Model is the
// newest version of the default model, Source the directory, and the
// reload history is that of the repository's rescans (Reload and Watch).
func (r *Repository) Status() Status {
	st := Status{Source: r.dir}
	if c := r.Current(); c != nil {
		st.Model = c.Info()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st.Reloads, st.ReloadFailures = r.reloads, r.failures
	if r.last != nil {
		a := *r.last
		st.LastReload = &a
	}
	return st
}

// Reload rescans the directory and swaps the result in atomically:
//
//   - a new version is loaded and verified beside the versions being
//     served, and served once it passed every check (a new newest version
//     becomes its model's default);
//   - a version served whose model or signature file changed since it was
//     loaded (size, modification time or inode), or whose last reload was
//     refused, is reloaded with Store.Reload; an unchanged one is kept as
//     it is, since its bytes and the trusted keys are the same;
//   - a version whose directory or model file is gone is dropped; requests
//     that already hold its model finish with it.
//
// A refused version does not serve (a refused reload of a version leaves
// its old model serving), the rest of the scan still applies, and the
// error names every refusal; errors.AsType finds their *RefusedError. A
// scan that finds no model at all, or no version of the model named by
// RepositoryOptions.DefaultModel, keeps what was serving of it. The
// attempt is recorded in Status. Concurrent calls run one after the
// other; a call waiting for its turn returns ctx's error if ctx ends.
func (r *Repository) Reload(ctx context.Context) error {
	return r.rescan(ctx, true)
}

// rescan runs one serialized scan and records it as a reload attempt.
// explicit reloads versions whose last reload was refused even when their
// files did not change.
func (r *Repository) rescan(ctx context.Context, explicit bool) error {
	select {
	case r.reload <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("modelstore: reload of repository %s: %w", r.dir, ctx.Err())
	}
	defer func() { <-r.reload }()
	start := time.Now()
	err := r.scan(ctx, false, explicit)
	a := &Attempt{At: r.now(), OK: err == nil, Duration: time.Since(start)}
	if err != nil {
		a.Error = err.Error()
		if re, ok := errors.AsType[*RefusedError](err); ok {
			a.Kind, a.SHA256 = re.Kind, re.SHA256
		}
	} else if c := r.Current(); c != nil {
		a.SHA256 = c.Info().SHA256
	}
	r.mu.Lock()
	r.last = a
	if err != nil {
		r.failures++
	} else {
		r.reloads++
	}
	r.mu.Unlock()
	return err
}

// scan reads the directory and publishes the models found (see Reload).
// At start (first) any refusal is returned at once and nothing is
// published.
func (r *Repository) scan(ctx context.Context, first, explicit bool) error {
	fp := r.fingerprint()
	r.mu.Lock()
	r.loadedFP = fp
	r.mu.Unlock()
	found, err := r.walk(func(msg string, args ...any) {
		r.logger.WarnContext(ctx, msg, append([]any{"dir", r.dir}, args...)...)
	})
	if err != nil {
		return err
	}
	old := r.state.Load()
	next := &repoState{models: map[string][]*repoVersion{}}
	var refused multiError
	r.mu.Lock()
	unloaded := maps.Clone(r.unloaded)
	r.mu.Unlock()
	for _, f := range found {
		if f.skip != "" || unloaded[f.name] {
			continue
		}
		if err := r.take(ctx, f, old, next, first, explicit); err != nil {
			if first {
				return err
			}
			refused = append(refused, err)
		}
	}
	if err := r.keepDefault(old, next, first, &refused); err != nil {
		return err
	}
	if !first {
		r.logChanges(ctx, old, next)
	}
	r.state.Store(next)
	if len(refused) > 0 {
		return refused
	}
	return nil
}

// take adds the version f of a scan to next: the old store when it is the
// same file (reloaded when it changed, or when an explicit reload follows
// a failure), else a new store opened for it. It returns a refusal; then
// next keeps the old version, if any, which an ambiguous directory or a
// refused replacement does not take away.
func (r *Repository) take(ctx context.Context, f candidate, old, next *repoState, first, explicit bool) error {
	ov := old.find(f.name, f.version)
	if f.err != nil {
		if ov != nil {
			next.add(ov)
		}
		return f.err
	}
	if ov != nil && ov.path == f.path {
		var err error
		if (explicit && ov.store.lastFailed()) || ov.store.stat() != ov.store.loadedFingerprint() {
			r.logger.InfoContext(ctx, "repository: reloading a changed version", "model", f.name, "version", f.version, "source", f.path)
			err = ov.store.Reload(ctx)
		}
		next.add(ov)
		return err
	}
	opt := r.opt.Options
	opt.Classifier = f.opt
	st, err := Open(ctx, Source{Path: f.path}, opt)
	if err != nil {
		if ov != nil {
			next.add(ov)
		}
		return err
	}
	if !first {
		r.logger.InfoContext(ctx, "repository: new version serving", "model", f.name, "version", f.version, "source", f.path)
	}
	next.add(&repoVersion{name: f.name, version: f.version, num: f.num, path: f.path, store: st})
	return nil
}

// keepDefault finishes next: an error when it holds no model, or (at
// start, or when it never had one) none of the default model; else the
// default model's old versions keep serving when the scan found none of
// it (a refusal added to refused), and the default model is chosen.
func (r *Repository) keepDefault(old, next *repoState, first bool, refused *multiError) error {
	if len(next.models) == 0 {
		if len(*refused) > 0 {
			return *refused
		}
		return fmt.Errorf("modelstore: repository %s holds no model: want %s/<name>/<version>/%s (or %s)",
			r.dir, r.dir, ModelFiles[0], strings.Join(ModelFiles[1:], ", "))
	}
	if d := r.opt.DefaultModel; d != "" && len(next.models[d]) == 0 {
		if first || len(old.models[d]) == 0 {
			return fmt.Errorf("modelstore: repository %s has no model %q (the default model); it has %s", r.dir, d, strings.Join(next.sortedNames(), ", "))
		}
		for _, ov := range old.models[d] {
			next.add(ov)
		}
		*refused = append(*refused, fmt.Errorf("modelstore: repository %s: the default model %q has no version left; its old versions keep serving", r.dir, d))
	}
	def := r.opt.DefaultModel
	if def == "" && len(next.models[old.def]) > 0 {
		def = old.def // a model added later does not take the requests that name none
	}
	next.finish(def)
	return nil
}

// logChanges logs the versions a rescan removed and a change of default
// model.
func (r *Repository) logChanges(ctx context.Context, old, next *repoState) {
	for _, name := range old.names {
		for _, ov := range old.models[name] {
			if next.find(name, ov.version) == nil {
				r.logger.InfoContext(ctx, "repository: version removed", "model", name, "version", ov.version, "source", ov.path)
			}
		}
	}
	if old.def != next.def {
		r.logger.InfoContext(ctx, "repository: the default model changed", "from", old.def, "to", next.def)
	}
}

// add adds v to the snapshot being built.
func (st *repoState) add(v *repoVersion) {
	st.models[v.name] = append(st.models[v.name], v)
}

// sortedNames returns the model names in byte order.
func (st *repoState) sortedNames() []string {
	names := make([]string, 0, len(st.models))
	for name := range st.models {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// finish sorts the snapshot being built and sets its default model: def,
// or when def is empty the first model by name.
func (st *repoState) finish(def string) {
	st.names = st.sortedNames()
	for _, vs := range st.models {
		slices.SortFunc(vs, func(a, b *repoVersion) int { return cmp.Compare(b.num, a.num) })
	}
	switch {
	case def != "":
		st.def = def
	case len(st.names) > 0:
		st.def = st.names[0]
	}
}

func versionsOf(vs []*repoVersion) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.version
	}
	return out
}

// candidate is a version directory found by walk.
type candidate struct {
	name, version string
	num           int64
	dir           string
	path          string             // the model file
	err           error              // *RefusedError: more than one model file, or a bad config.json
	opt           classifier.Options // with the model's config.json
	skip          string             // why it is not served (its version policy), or ""
}

// walk lists the version directories of the repository with a model
// file, sorted by name and version. warn, if not nil, is told about what
// is ignored.
func (r *Repository) walk(warn func(msg string, args ...any)) ([]candidate, error) {
	if warn == nil {
		warn = func(string, ...any) {}
	}
	names, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("modelstore: repository: %w", err)
	}
	var out []candidate
	for _, ne := range names {
		name := ne.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		mdir := filepath.Join(r.dir, name)
		if !isDir(mdir) {
			warn("repository: ignoring a file where a model directory is expected", "path", mdir)
			continue
		}
		if !ValidModelName(name) {
			warn("repository: ignoring a directory whose name is not a valid model name (letters, digits, '.', '_', '-', at most 128)", "path", mdir)
			continue
		}
		versions, err := os.ReadDir(mdir)
		if err != nil {
			warn("repository: ignoring an unreadable model directory", "path", mdir, "err", err)
			continue
		}
		cfg, cfgErr := readModelConfig(mdir)
		var opt classifier.Options
		if cfgErr == nil {
			opt, cfgErr = cfg.options(mdir, r.opt.Classifier)
		}
		first := len(out)
		for _, ve := range versions {
			version := ve.Name()
			if strings.HasPrefix(version, ".") {
				continue
			}
			vdir := filepath.Join(mdir, version)
			num, ok := ParseVersion(version)
			if !ok || !isDir(vdir) {
				warn("repository: ignoring an entry that is not a version directory (a positive integer without leading zeros)", "path", vdir)
				continue
			}
			c := candidate{name: name, version: version, num: num, dir: vdir}
			var files []string
			for _, mf := range ModelFiles {
				if p := filepath.Join(vdir, mf); exists(p) {
					files = append(files, p)
				}
			}
			switch len(files) {
			case 0:
				warn("repository: ignoring a version directory without a model file", "path", vdir, "want", strings.Join(ModelFiles, " or "))
				continue
			case 1:
				c.path = files[0]
			default:
				c.path = files[0]
				c.err = &RefusedError{Source: vdir, Kind: KindInvalidModel,
					Err: fmt.Errorf("more than one model file (%s): keep one", strings.Join(baseNames(files), ", "))}
			}
			c.opt = opt
			if cfgErr != nil {
				c.err = &RefusedError{Source: mdir, Kind: KindInvalidModel, Err: cfgErr}
			}
			out = append(out, c)
		}
		applyPolicy(out[first:], cfg)
	}
	slices.SortFunc(out, func(a, b candidate) int {
		return cmp.Or(strings.Compare(a.name, b.name), cmp.Compare(a.num, b.num))
	})
	return out, nil
}

// applyPolicy marks the versions of one model (cs) that its version
// policy does not serve.
func applyPolicy(cs []candidate, cfg *ModelConfig) {
	if len(cs) == 0 || cfg == nil {
		return
	}
	nums := make([]int64, len(cs))
	for i, c := range cs {
		nums[i] = c.num
	}
	for i := range cs {
		if !cfg.VersionPolicy.serves(cs[i].num, nums) {
			cs[i].skip = "not in its version policy (" + ConfigFile + "; the default serves the newest version only)"
		}
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path) // follows symbolic links
	return err == nil && fi.IsDir()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

// fingerprint describes the repository's tree as far as a scan sees it:
// each version directory's model files and signatures, with their size,
// modification time and inode.
func (r *Repository) fingerprint() string {
	found, err := r.walk(nil)
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	for _, c := range found {
		fmt.Fprintf(&b, "%s/%s", c.name, c.version)
		for _, mf := range ModelFiles {
			p := filepath.Join(c.dir, mf)
			fmt.Fprintf(&b, " %v %v", statFile(p), statFile(p+".sig"))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Watch polls the repository's tree every interval and rescans it (as
// Reload does) when a model directory, version directory, model file or
// signature appeared, changed or went away, and then stayed the same for
// one more interval, so that a version copied in file by file is loaded
// once, complete. A refused version is not retried until the tree
// changes again. Watch returns when ctx ends.
//
// It polls for the reasons given at Store.Watch.
func (r *Repository) Watch(ctx context.Context, interval time.Duration) error {
	loaded := func() string {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.loadedFP
	}
	return poll(ctx, interval, r.fingerprint, loaded, func() {
		r.logger.InfoContext(ctx, "repository changed; rescanning", "dir", r.dir)
		if err := r.rescan(ctx, false); err != nil && ctx.Err() == nil {
			r.logger.ErrorContext(ctx, "repository rescan refused some versions; what served keeps serving", "dir", r.dir, "err", err)
		}
	})
}

// lastFailed reports whether the store's last reload was refused.
func (s *Store) lastFailed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last != nil && !s.last.OK
}

// loadedFingerprint is the fingerprint of the files at the last load.
func (s *Store) loadedFingerprint() fingerprint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadedFP
}

// multiError is several refusals of one scan, on one line.
type multiError []error

func (m multiError) Error() string {
	msgs := make([]string, len(m))
	for i, err := range m {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (m multiError) Unwrap() []error { return m }
