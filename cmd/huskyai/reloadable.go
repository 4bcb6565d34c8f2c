package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/huskyai/huskyai/audit"
	"github.com/huskyai/huskyai/modelsign"
	"github.com/huskyai/huskyai/modelstore"
)

// The files serve reads besides the model, reloaded like it on SIGHUP,
// POST /admin/reload and --watch: the TLS certificate and the trusted
// model-signing keys. A bad new one leaves the old in force, with the
// reason in the log, huskyai_file_reloads_total and the audit log.

// fileReports says what came of each reload of a file.
type fileReports struct {
	logger *slog.Logger
	audit  audit.Logger // nil: no audit log
	total  *prometheus.CounterVec
}

func newFileReports(logger *slog.Logger, a audit.Logger) *fileReports {
	return &fileReports{logger: logger, audit: a, total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "huskyai_file_reloads_total",
		Help: "Reloads of the TLS certificate and of the trusted model-signing keys (SIGHUP, admin reload, --watch), by file and result; a failed one keeps the previous in force.",
	}, []string{"what", "result"})}
}

// report logs, counts and audits a reload of what (at path): err nil
// for one that took effect, with detail saying what was loaded.
func (r *fileReports) report(what, path, detail string, err error) {
	ev := audit.FileReload{What: what, Path: path, OK: err == nil, Detail: detail}
	result := "success"
	name := fileNames[what]
	if err != nil {
		ev.Reason, result = err.Error(), "failure"
		r.logger.Error(name+" reload failed; the previous one stays in force", "path", path, "err", err)
	} else {
		r.logger.Info(name+" reloaded", "path", path, "detail", detail)
	}
	r.total.WithLabelValues(what, result).Inc()
	if r.audit != nil {
		if aerr := r.audit.Record(context.Background(), ev); aerr != nil {
			r.logger.Error("audit record failed", "type", ev.EventType(), "err", aerr)
		}
	}
}

// fileNames name the files of fileReports.report in the log.
var fileNames = map[string]string{"tls_certificate": "TLS certificate", "trusted_keys": "trusted keys"}

// liveKeyring is --trusted-keys, read again at each reload.
type liveKeyring struct {
	path string
	cur  atomic.Pointer[modelsign.Keyring]
}

func loadLiveKeyring(path string) (*liveKeyring, error) {
	kr, err := modelsign.LoadKeyring(path)
	if err != nil {
		return nil, err
	}
	k := &liveKeyring{path: path}
	k.cur.Store(kr)
	return k, nil
}

// Current is the keyring in force (modelstore.Options.Keys).
func (k *liveKeyring) Current() *modelsign.Keyring {
	if k == nil {
		return nil
	}
	return k.cur.Load()
}

// reload reads the keys again; a keyring that cannot be read leaves the
// old one in force.
func (k *liveKeyring) reload(r *fileReports) {
	if k == nil {
		return
	}
	kr, err := modelsign.LoadKeyring(k.path)
	if err != nil {
		r.report("trusted_keys", k.path, "", err)
		return
	}
	k.cur.Store(kr)
	r.report("trusted_keys", k.path, "key ids "+strings.Join(kr.KeyIDs(), ","), nil)
}

// files are the paths of the key files of --trusted-keys (a file, or the
// *.pub and *.pem of a directory), for --watch.
func (k *liveKeyring) files() []string {
	if k == nil {
		return nil
	}
	fi, err := os.Stat(k.path)
	if err != nil || !fi.IsDir() {
		return []string{k.path}
	}
	pubs, _ := filepath.Glob(filepath.Join(k.path, "*.pub"))
	pems, _ := filepath.Glob(filepath.Join(k.path, "*.pem"))
	return append(pubs, pems...)
}

// loadKeys reads --trusted-keys, if set.
func (f *serveFlags) loadKeys(logger *slog.Logger) (*liveKeyring, error) {
	if f.trustedKeys == "" {
		return nil, nil
	}
	k, err := loadLiveKeyring(f.trustedKeys)
	if err != nil {
		return nil, fmt.Errorf("--trusted-keys: %w", err)
	}
	logger.Info("trusted model-signing keys", "path", f.trustedKeys, "key_ids", k.Current().KeyIDs())
	return k, nil
}

// fileReloaders are what reloads the files besides the model: reloadFiles
// on SIGHUP and admin reload (the audit log reopened, the certificate and
// the keys read again, before the model), and watchMore for --watch (the
// certificate and the keys polled; changed keys reload the model too, as
// they may make a refused one verify).
func (f *serveFlags) fileReloaders(cert *liveCert, keys *liveKeyring, store servedModels, reopenAudit func() error,
	reports *fileReports, logger *slog.Logger) (reloadFiles func(), watchMore func(ctx context.Context)) {
	reloadFiles = func() {
		if err := reopenAudit(); err != nil {
			logger.Error("audit log: reopening failed; records still go to the file open before", "err", err)
		}
		cert.reload(reports)
		keys.reload(reports)
	}
	watchMore = func(ctx context.Context) {
		if cert != nil && cert.certFile != "" {
			go modelstore.WatchFiles(ctx, f.watchInterval, cert.files, func() { cert.reload(reports) })
		}
		if keys != nil {
			modelstore.WatchFiles(ctx, f.watchInterval, keys.files, func() {
				keys.reload(reports)
				if err := store.Reload(ctx); err != nil && ctx.Err() == nil {
					logger.Error("reload after the trusted keys changed failed; the previous model keeps serving", "err", err)
				}
			})
		}
	}
	return reloadFiles, watchMore
}
