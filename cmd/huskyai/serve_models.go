package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/audit"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/modelstore"
	"github.com/huskyai/huskyai/server"
)

// modelFlags are the flags of "huskyai serve" about which models it
// trusts, how it reloads them and where it writes the audit trail.
type modelFlags struct {
	trustedKeys      string
	requireSignature bool
	adminAddr        string
	watch            bool
	watchInterval    time.Duration
	auditLog         string
	auditRequired    bool
	modelDir         string // a model repository (repository.go of modelstore)
	defaultModel     string // the repository's model for requests naming none
}

// register defines the flags on fs.
func (m *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.trustedKeys, "trusted-keys", "", "trusted public key file, or a directory of *.pub / *.pem keys (\"huskyai keygen\"):\nthe --model file must then have a signature MODEL.sig by one of them, checked at\nstart and at each reload")
	fs.BoolVar(&m.requireSignature, "require-signature", false, "refuse to serve a --model file that is not signed by a --trusted-keys key\n(without --trusted-keys, every --model file is refused; the embedded model is\nalways checked against its own release key)")
	fs.StringVar(&m.adminAddr, "admin-addr", "", "serve the admin endpoint (POST /admin/reload, GET /admin/status) over plain\nHTTP on this loopback host:port, e.g. 127.0.0.1:9443; off by default. It has no\nauthentication, so a non-loopback address is refused")
	fs.BoolVar(&m.watch, "watch", false, "reload the --model file when it or its .sig changes, or with --model-dir rescan\nthe repository when a version appears, changes or goes (polled every --watch-interval)")
	fs.DurationVar(&m.watchInterval, "watch-interval", 2*time.Second, "how often --watch looks at the model files; a change is loaded once it has\nstayed the same for one more interval")
	fs.StringVar(&m.modelDir, "model-dir", "", "serve a model repository instead of one model: DIR/<name>/<version>/model.h5\n(or model.keras, model.onnx) with its .sig, versions being positive integers.\nThe newest version of each model is loaded and verified as --model is (DIR/<name>/\nconfig.json may serve others: version_policy), and requests pick a model with\n?model=NAME&version=V. The admin listener loads and unloads models\n(/v2/repository/...). Excludes --model")
	fs.StringVar(&m.defaultModel, "default-model", "", "with --model-dir, the model that answers requests that name none (default:\nthe first model by name at start, the only one if there is one; it stays the\ndefault while it has a version, so a model added later does not take over)")
	fs.StringVar(&m.auditLog, "audit-log", "", "append a hash-chained audit trail (model loads and refusals, one record per\nprediction) to this file, created with mode 0600; - writes it to stdout (the\nservice's own stdout lines then go to stderr). \"huskyai audit verify\" checks it.\nA model whose load cannot be recorded is not served; a prediction whose record\ncannot be written (a full disk) is answered all the same and the record counted as\ndropped (huskyai_audit_records_dropped_total), unless --audit-required. SIGHUP and\nPOST /admin/reload reopen the file: rotate it by moving it away, then SIGHUP")
	fs.BoolVar(&m.auditRequired, "audit-required", false, "answer 503 audit_unavailable instead of a prediction whose --audit-log record\ncannot be written")
}

// check validates the flags; model is the --model flag.
func (m *modelFlags) check(model string) error {
	switch {
	case m.watchInterval <= 0:
		return errors.New("--watch-interval must be positive")
	case m.modelDir != "" && model != "":
		return errors.New("--model and --model-dir exclude each other")
	case m.defaultModel != "" && m.modelDir == "":
		return errors.New("--default-model needs --model-dir")
	case m.auditRequired && m.auditLog == "":
		return errors.New("--audit-required needs --audit-log")
	case m.watch && model == "" && m.modelDir == "":
		return errors.New("--watch needs --model or --model-dir: the embedded model does not change")
	}
	if m.adminAddr != "" {
		if err := checkLoopback(m.adminAddr); err != nil {
			return fmt.Errorf("--admin-addr: %w", err)
		}
	}
	return nil
}

// checkLoopback accepts a host:port whose host is a loopback address or
// "localhost".
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address: the admin endpoint has no authentication, so it listens only on 127.0.0.1, ::1 or localhost", addr)
}

// openAudit opens the audit log of --audit-log: nil when it is off, the
// given stdout for "-". close closes the file; reopen opens its path
// again (SIGHUP, admin reload), for rotation and to recover from a full
// disk (audit.Writer.Reopen).
func openAudit(path string, stdout io.Writer) (l audit.Logger, close, reopen func() error, err error) {
	none := func() error { return nil }
	switch path {
	case "":
		return nil, none, none, nil
	case "-":
		w := audit.NewWriter(stdout)
		return w, w.Close, none, nil
	}
	w, err := audit.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	return w, w.Close, w.Reopen, nil
}

// servedModels are the models serve answers with and reloads: a
// *modelstore.Store of one model (--model or the embedded one) or a
// *modelstore.Repository (--model-dir).
type servedModels interface {
	huskyai.Models
	server.Reloader
	// Watch reloads on changes of the files until ctx ends.
	Watch(ctx context.Context, interval time.Duration) error
}

// openModels loads the model, or with --model-dir every model version of
// the repository, with the trust policy of the flags. A refusal is a
// *modelstore.RefusedError naming the model file and the reason.
func openModels(ctx context.Context, f *serveFlags, opt classifier.Options, keys *liveKeyring, auditLog audit.Logger, logger *slog.Logger) (servedModels, error) {
	mopt := modelstore.Options{
		RequireSignature: f.requireSignature,
		Classifier:       opt,
		Audit:            auditLog,
		Logger:           logger,
	}
	if keys != nil {
		mopt.Keys = keys
	}
	if f.modelDir != "" {
		r, err := modelstore.OpenRepository(ctx, f.modelDir, modelstore.RepositoryOptions{Options: mopt, DefaultModel: f.defaultModel})
		if err != nil {
			return nil, err
		}
		return r, nil // not a non-nil interface holding a nil pointer
	}
	st, err := modelstore.Open(ctx, modelstore.Source{Path: f.model}, mopt)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// reloaders are what reload the model while the service runs: SIGHUP,
// --watch and the --admin-addr listener.
type reloaders struct {
	wg    sync.WaitGroup
	stop  context.CancelFunc
	admin *http.Server
	errc  chan error // the admin listener's Serve error
}

// startReloaders starts the reloaders the flags ask for, serving the
// admin endpoint on adminLn, the listener of --admin-addr (nil when it is
// not set). SIGHUP always reloads.
func startReloaders(ctx context.Context, f *serveFlags, store servedModels, adminLn net.Listener, reloadCert func(),
	watchMore func(ctx context.Context), logger *slog.Logger, stdout io.Writer) (*reloaders, error) {
	ctx, cancel := context.WithCancel(ctx)
	r := &reloaders{stop: cancel, errc: make(chan error, 1)}
	if ln := adminLn; ln != nil {
		r.admin = &http.Server{
			Handler:           server.NewAdminHandler(logger, withCert{store, reloadCert}),
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      readTimeout + writeMargin,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		url := "http://" + ln.Addr().String() + "/admin/"
		logger.Info("admin listening", "url", url)
		fmt.Fprintf(stdout, "huskyai serve: admin endpoint at %s\n", url)
		go func() { r.errc <- r.admin.Serve(ln) }()
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	r.wg.Go(func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				logger.Info("SIGHUP: reopening the audit log, reloading the TLS certificate and the model", "source", store.Status().Source)
				reloadCert()
				if err := store.Reload(ctx); err != nil {
					logger.Error("reload failed; the previous model keeps serving", "err", err)
				}
			}
		}
	})
	if f.watch {
		logger.Info("watching the model files", "path", store.Status().Source, "interval", f.watchInterval.String())
		r.wg.Go(func() {
			if err := store.Watch(ctx, f.watchInterval); err != nil {
				logger.Error("watch stopped", "err", err)
			}
		})
		r.wg.Go(func() { watchMore(ctx) })
	}
	return r, nil
}

// withCert is the admin listener's Reloader: POST /admin/reload reopens
// the audit log and reloads the TLS certificate too, as SIGHUP does.
type withCert struct {
	servedModels
	reloadCert func()
}

// Repository is the repository of --model-dir, for the admin listener's
// repository extension; nil for one model.
func (w withCert) Repository() server.RepositoryAdmin {
	rp, _ := w.servedModels.(server.RepositoryAdmin)
	return rp
}

// Reload reopens the audit log and reloads the certificate, then the
// model (whose load record goes to the reopened log); the model's error
// is the answer (the others go to the log).
func (w withCert) Reload(ctx context.Context) error {
	w.reloadCert()
	return w.servedModels.Reload(ctx)
}

// shutdown stops the reloaders, letting a reload in progress end, and
// shuts the admin listener down within ctx.
func (r *reloaders) shutdown(ctx context.Context) error {
	r.stop()
	r.wg.Wait()
	if r.admin == nil {
		return nil
	}
	if err := r.admin.Shutdown(ctx); err != nil {
		r.admin.Close()
		return fmt.Errorf("admin: %w", err)
	}
	if err := <-r.errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}
