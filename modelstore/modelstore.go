// Package modelstore holds the model huskyai serves: loaded from a
// verified source, and swappable while the server runs.
//
// Loading a model (at Open, and at each Reload) follows one path:
//
//  1. read the model file once into memory (at most Options.MaxModelSize
//     bytes) and its detached signature PATH.sig (at most
//     modelsign.MaxSignatureFileSize bytes);
//  2. verify the signature over that buffer with the trusted keys;
//  3. parse that same buffer (the file is never read a second time, so a
//     file swapped after the check cannot be served unverified);
//  4. run the signature's self-test images, if it has any, and refuse a
//     model whose outputs differ from the signed ones;
//  5. warm it up with one inference;
//
// and only then publishes it. A refused reload keeps the old model
// serving. Every load and refusal is an audit record.
//
// The policy:
//
//   - With a keyring, a model must have a signature by one of its keys over
//     its exact bytes: a missing, malformed, unknown-key, altered or
//     mismatched signature is refused.
//   - With RequireSignature and no keyring, every model file is refused:
//     an unsigned one because it is unsigned, a signed one because there
//     are no trusted keys to check it against.
//   - With neither, a model file is loaded unverified, with a warning.
//   - The embedded default model is always verified against the release
//     key embedded with it (defaultmodel.ReleaseKey) and self-tested; a
//     failure there is a build bug.
package modelstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/audit"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/modelsign"
)

// DefaultMaxModelSize bounds a model file read by a Store (1 GiB).
const DefaultMaxModelSize = 1 << 30

// Embedded is the Source.Name of the embedded default model.
const Embedded = "embedded"

// Source is where a Store loads its model from.
type Source struct {
	// Path is the model file; its signature is Path + ".sig". Empty means
	// the embedded default model.
	Path string
}

// Name is the source's path, or Embedded.
func (s Source) Name() string {
	if s.Path == "" {
		return Embedded
	}
	return s.Path
}

// Options configure a Store. The zero value loads unsigned models with a
// warning and audits nothing.
type Options struct {
	// Keyring holds the trusted public keys. When set, a model file must
	// be signed by one of them.
	Keyring *modelsign.Keyring
	// Keys, when set, gives the trusted keys at each load instead of
	// Keyring, so that they can be reloaded while serving (serve's
	// --trusted-keys on SIGHUP, admin reload and --watch).
	Keys interface{ Current() *modelsign.Keyring }
	// RequireSignature refuses unverified model files even without a
	// Keyring (then every model file is refused; the embedded model, which
	// is checked against its own key, is not).
	RequireSignature bool
	// Classifier are the options of the loaded classifiers.
	Classifier classifier.Options
	// MaxModelSize bounds the model file in bytes; default
	// DefaultMaxModelSize.
	MaxModelSize int64
	// Audit, if not nil, gets an audit.ModelLoad or audit.ModelRefused
	// record for every load attempt.
	Audit audit.Logger
	// Logger gets a line per load attempt; nil discards them.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Kind classifies why a model was refused (huskyai.RefusalKind).
type Kind = huskyai.RefusalKind

// The kinds of RefusedError.
const (
	// KindRead: the model or signature file could not be read, or is
	// larger than allowed.
	KindRead Kind = "read"
	// KindNoSignature: there is no PATH.sig and a signature is required.
	KindNoSignature Kind = "no_signature"
	// KindNoTrustedKeys: a signature is required but no trusted keys were
	// given to check it against.
	KindNoTrustedKeys Kind = "no_trusted_keys"
	// KindMalformedSignature: PATH.sig is not a well-formed signature.
	KindMalformedSignature Kind = "malformed_signature"
	// KindUnknownKey: the signature names a key that is not trusted.
	KindUnknownKey Kind = "unknown_key"
	// KindBadSignature: the signature does not verify (it was altered or
	// forged).
	KindBadSignature Kind = "bad_signature"
	// KindDigestMismatch: the signature is genuine but the model's bytes
	// are not the ones signed.
	KindDigestMismatch Kind = "digest_mismatch"
	// KindInvalidModel: the engine cannot load the model.
	KindInvalidModel Kind = "invalid_model"
	// KindSelfTest: the model's outputs on the signed self-test images
	// differ from the signed ones.
	KindSelfTest Kind = "self_test"
	// KindWarmup: the warm-up inference failed or gave a non-finite
	// output.
	KindWarmup Kind = "warmup"
	// KindAudit: the load could not be written to the audit log (a full
	// disk): a model whose loading leaves no record is not served.
	KindAudit Kind = "audit"
)

// RefusedError is a model that was not loaded, and why.
type RefusedError struct {
	// Source is the model's path, or Embedded.
	Source string
	Kind   Kind
	// SHA256 is the hex SHA-256 of the model's bytes, when they were read.
	SHA256 string
	Err    error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("model %s refused (%s): %v", e.Source, e.Kind, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Attempt is the outcome of one reload (huskyai.ReloadAttempt).
type Attempt = huskyai.ReloadAttempt

// Status is a snapshot of a Store (huskyai.ModelStatus).
type Status = huskyai.ModelStatus

// Store holds the model being served. Current is lock-free; Reload calls
// are serialized. It is safe for concurrent use.
type Store struct {
	src    Source
	opt    Options
	logger *slog.Logger
	now    func() time.Time

	cur    atomic.Pointer[classifier.Classifier]
	reload chan struct{} // a one-slot semaphore serializing loads

	mu       sync.Mutex // guards the fields below
	last     *Attempt
	reloads  uint64
	failures uint64
	loadedFP fingerprint // of the files at the last load attempt
}

// Open loads the model of src according to opt (see the package
// documentation). An error, a *RefusedError for a refused model, means the
// server must not start.
func Open(ctx context.Context, src Source, opt Options) (*Store, error) {
	if opt.MaxModelSize <= 0 {
		opt.MaxModelSize = DefaultMaxModelSize
	}
	s := &Store{src: src, opt: opt, logger: opt.Logger, now: opt.Now, reload: make(chan struct{}, 1)}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	c, err := s.load(ctx, false)
	if err != nil {
		return nil, err
	}
	s.cur.Store(c)
	return s, nil
}

// Current returns the model to serve. A request should call it once and
// use that model to its end, so that a swap does not change a model under
// it.
func (s *Store) Current() huskyai.Classifier {
	if c := s.cur.Load(); c != nil {
		return c
	}
	return nil // not a non-nil interface holding a nil pointer
}

// Lookup returns the store's model when name is its own name or Alias and
// version is empty or SingleVersion (see Fixed).
func (s *Store) Lookup(name, version string) (c huskyai.Classifier, served, resolved string, ok bool) {
	return Fixed(s.Current()).Lookup(name, version)
}

// List returns the store's model as Fixed lists it; nothing while none is
// loaded.
func (s *Store) List() []ModelVersions { return Fixed(s.Current()).List() }

// DefaultModel returns the name of the store's model ("" while none).
func (s *Store) DefaultModel() string { return Fixed(s.Current()).DefaultModel() }

// Source returns where the store loads its model from.
func (s *Store) Source() Source { return s.src }

// Reload loads the model again from the source, with every check of Open,
// and swaps it in atomically. On an error the old model keeps serving and
// the error is recorded in Status. Concurrent calls run one after the
// other; a call waiting for its turn returns ctx's error if ctx ends.
func (s *Store) Reload(ctx context.Context) error {
	select {
	case s.reload <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("modelstore: reload of %s: %w", s.src.Name(), ctx.Err())
	}
	defer func() { <-s.reload }()
	start := time.Now()
	c, err := s.load(ctx, true)
	a := &Attempt{At: s.now(), OK: err == nil, Duration: time.Since(start)}
	if err != nil {
		a.Error = err.Error()
		if re, ok := errors.AsType[*RefusedError](err); ok {
			a.Kind, a.SHA256 = re.Kind, re.SHA256
		}
	} else {
		a.SHA256 = c.Info().SHA256
		s.cur.Store(c)
	}
	s.mu.Lock()
	s.last = a
	if err != nil {
		s.failures++
	} else {
		s.reloads++
	}
	s.mu.Unlock()
	return err
}

// Status returns the current model and the reload history.
func (s *Store) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{
		Model:          s.Current().Info(),
		Source:         s.src.Name(),
		Reloads:        s.reloads,
		ReloadFailures: s.failures,
	}
	if s.last != nil {
		a := *s.last
		st.LastReload = &a
	}
	return st
}

// load reads, checks, parses, self-tests and warms up the model of the
// source, and audits the outcome. It does not publish the model.
func (s *Store) load(ctx context.Context, reload bool) (*classifier.Classifier, error) {
	src := s.src.Name()
	var sum, kid string
	c, err := func() (*classifier.Classifier, *RefusedError) {
		f, err := s.read()
		if err != nil {
			return nil, err
		}
		sum = sha256Hex(f.data)
		sig, err := s.check(ctx, f, sum)
		if sig != nil {
			kid = sig.KeyID
		}
		if err != nil {
			return nil, err
		}
		c, err := s.parse(f)
		if err != nil {
			return nil, err
		}
		checks, err := s.selfTest(c, sig)
		if err != nil {
			return nil, err
		}
		if err := warmUp(c); err != nil {
			return nil, s.refuse(KindWarmup, err)
		}
		return c.WithProvenance(classifier.Provenance{
			Signed: sig != nil, SignerKeyID: kid, Checks: checks, LoadedAt: s.now().UTC(),
		}), nil
	}()
	if err != nil {
		err.SHA256 = sum
		if s.src.Path == "" {
			err.Err = fmt.Errorf("%w (the embedded model failed its own checks: a build bug)", err.Err)
		}
		s.logger.ErrorContext(ctx, "model refused", "source", src, "kind", err.Kind, "sha256", sum, "reload", reload, "err", err.Err)
		s.record(ctx, audit.ModelRefused{Source: src, SHA256: sum, Reason: err.Err.Error(), Kind: string(err.Kind), SignerKeyID: kid, Reload: reload})
		return nil, err
	}
	info := c.Info()
	if err := s.record(ctx, audit.ModelLoad{
		Name: info.Name, SHA256: info.SHA256, Format: info.Format, Source: src, Placeholder: info.Placeholder,
		Signed: info.Signed, SignerKeyID: info.SignerKeyID, Checks: info.Checks, Reload: reload,
	}); err != nil {
		s.logger.ErrorContext(ctx, "model refused: its load cannot be audited", "source", src, "sha256", sum, "reload", reload, "err", err)
		return nil, &RefusedError{Source: src, Kind: KindAudit, SHA256: sum, Err: fmt.Errorf("the audit log cannot record the load: %w", err)}
	}
	s.logger.InfoContext(ctx, "model loaded", "source", src, "name", info.Name, "format", info.Format, "sha256", info.SHA256,
		"params", info.Params, "signed", info.Signed, "signer_key_id", info.SignerKeyID, "checks", info.Checks, "reload", reload)
	return c, nil
}

// modelFile is a model as read from its source: its bytes, its signature
// file (nil when there is none) and the policy it is checked under.
type modelFile struct {
	data, sig []byte
	policy    modelsign.Policy
	embedded  bool
}

// refuse is a refusal of the store's model.
func (s *Store) refuse(kind Kind, err error) *RefusedError {
	return &RefusedError{Source: s.src.Name(), Kind: kind, Err: err}
}

// read reads the source: the model file and its signature file, checked
// against the trusted keys; or the embedded model, which is checked
// against the release key built in with it, whatever the options.
func (s *Store) read() (modelFile, *RefusedError) {
	if s.src.Path == "" {
		pub, err := modelsign.ParsePublicKey(defaultmodel.ReleaseKey())
		var kr *modelsign.Keyring
		if err == nil {
			kr, err = modelsign.NewKeyring(pub)
		}
		if err != nil {
			return modelFile{}, s.refuse(KindRead, fmt.Errorf("embedded release key: %w", err))
		}
		return modelFile{data: defaultmodel.Bytes(), sig: defaultmodel.Signature(),
			policy: modelsign.Policy{Keyring: kr}, embedded: true}, nil
	}
	fp := s.stat()
	s.mu.Lock()
	s.loadedFP = fp
	s.mu.Unlock()
	kr := s.opt.Keyring
	if s.opt.Keys != nil {
		kr = s.opt.Keys.Current()
	}
	f := modelFile{policy: modelsign.Policy{Keyring: kr, Require: s.opt.RequireSignature}}
	var err error
	if f.data, err = readFile(s.src.Path, s.opt.MaxModelSize); err != nil {
		return f, s.refuse(KindRead, err)
	}
	f.sig, err = readFile(s.src.Path+".sig", modelsign.MaxSignatureFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		f.sig, err = nil, nil
	}
	if err != nil {
		return f, s.refuse(KindRead, fmt.Errorf("signature: %w", err))
	}
	return f, nil
}

// check applies the signature policy to f; a model that passes unverified
// is served with a warning.
func (s *Store) check(ctx context.Context, f modelFile, sum string) (*modelsign.Signature, *RefusedError) {
	sig, err := f.policy.Check(f.data, f.sig)
	switch {
	case errors.Is(err, modelsign.ErrNoSignature) && f.policy.Keyring != nil:
		return nil, s.refuse(KindNoSignature, fmt.Errorf("no signature file %s.sig, and trusted keys were given", s.src.Path))
	case errors.Is(err, modelsign.ErrNoSignature):
		return nil, s.refuse(KindNoSignature, fmt.Errorf("the model is unsigned (no %s.sig) and a signature is required", s.src.Path))
	case errors.Is(err, modelsign.ErrNoTrustedKeys):
		return nil, s.refuse(KindNoTrustedKeys, fmt.Errorf("%w (--trusted-keys)", err))
	case err != nil:
		return sig, s.refuse(verifyKind(err), err)
	case sig == nil && f.sig != nil:
		s.logger.WarnContext(ctx, "UNVERIFIED MODEL: it has a signature file but no trusted keys were given to check it (--trusted-keys); serving it unverified",
			"source", s.src.Name(), "sha256", sum)
	case sig == nil:
		s.logger.WarnContext(ctx, "UNVERIFIED MODEL: unsigned and no trusted keys given (--trusted-keys, --require-signature); serving it unverified",
			"source", s.src.Name(), "sha256", sum)
	}
	return sig, nil
}

// parse builds the classifier of f's bytes, the ones checked.
func (s *Store) parse(f modelFile) (*classifier.Classifier, *RefusedError) {
	var c *classifier.Classifier
	var err error
	if f.embedded {
		c, err = classifier.LoadDefault(s.opt.Classifier) // parses defaultmodel.Bytes(), the buffer checked
	} else {
		c, err = classifier.Load(f.data, s.opt.Classifier)
	}
	if err != nil {
		return nil, s.refuse(KindInvalidModel, err)
	}
	return c, nil
}

// selfTest runs the signed check images of sig, if any, through c, and
// returns how many passed.
func (s *Store) selfTest(c *classifier.Classifier, sig *modelsign.Signature) (int, *RefusedError) {
	if sig == nil || sig.Checks == nil {
		return 0, nil
	}
	// The check images are signed and bounded in bytes: the --max-pixels
	// limit for uploads does not apply to them.
	if err := selfTest(c.WithMaxPixels(0), sig.Checks); err != nil {
		return 0, s.refuse(KindSelfTest, err)
	}
	return len(sig.Checks.Checks), nil
}

// record writes an audit record; a failure to record is logged and
// returned.
func (s *Store) record(ctx context.Context, ev audit.Event) error {
	if s.opt.Audit == nil {
		return nil
	}
	err := s.opt.Audit.Record(ctx, ev)
	if err != nil {
		s.logger.ErrorContext(ctx, "audit record failed", "type", ev.EventType(), "err", err)
	}
	return err
}

// verifyKind maps an error of modelsign.Keyring.Verify to a Kind.
func verifyKind(err error) Kind {
	switch {
	case errors.Is(err, modelsign.ErrMalformed):
		return KindMalformedSignature
	case errors.Is(err, modelsign.ErrUnknownKey):
		return KindUnknownKey
	case errors.Is(err, modelsign.ErrDigestMismatch):
		return KindDigestMismatch
	default:
		return KindBadSignature
	}
}

// readFile reads at most max bytes of the file at path, in one pass.
func readFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", path)
		}
		if fi.Size() > max {
			return nil, fmt.Errorf("%s is %d bytes, more than the limit of %d", path, fi.Size(), max)
		}
		size = fi.Size()
	}
	// One buffer of the file's size (and bytes.MinRead to see its end),
	// not io.ReadAll's doublings: a large model is held once while loading.
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, max+1)); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	data := buf.Bytes()
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is more than the limit of %d bytes", path, max)
	}
	return data, nil
}

// warmUp runs one inference on a blank input, so that the first request
// does not pay for first-use allocations, and so that a model whose
// output is not a finite number is refused before it serves.
func warmUp(c *classifier.Classifier) error {
	in := c.Info().Input
	res, err := c.ClassifyTensor(make([]float32, in[0]*in[1]*in[2]), huskyai.ImageInfo{})
	if err != nil {
		return err
	}
	if p := float64(res.Probability); math.IsNaN(p) || math.IsInf(p, 0) {
		return fmt.Errorf("the warm-up inference gave %v", res.Probability)
	}
	return nil
}

// selfTest runs the signed self-test images through c.
func selfTest(c *classifier.Classifier, cs *modelsign.CheckSet) error {
	return c.SelfTest(cs)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Both kinds of model source are huskyai.Models.
var (
	_ huskyai.Models = (*Store)(nil)
	_ huskyai.Models = (*Repository)(nil)
)
