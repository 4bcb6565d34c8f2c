package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/server"
)

// Timeouts and limits of the HTTP server. readHeaderTimeout and
// readTimeout are the defaults of --read-header-timeout (which also bounds
// the TLS handshake) and --read-timeout (the whole request, body
// included): uploads are at most --max-upload bytes, so the 2 minutes
// allow a slow link (10 MiB in 2 minutes is 87 KB/s) while a client that
// trickles its body holds one --max-pending admission, never an inference
// slot, for at most that long. WriteTimeout (counted from the end of the
// request headers) adds the inference queue and a margin.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
	writeMargin       = 30 * time.Second
	maxHeaderBytes    = 64 << 10
	// maxBatch bounds --batch-max.
	maxBatch = 64
)

// serveFlags are the flags of "huskyai serve".
type serveFlags struct {
	addr            string
	tlsCert, tlsKey string
	insecureHTTP    bool
	model           string
	maxUpload       byteSize
	maxPixels       int64
	maxInflight     int
	maxPending      int
	queueTimeout    time.Duration
	shutdownTimeout time.Duration
	batchMax        int
	batchDelay      time.Duration
	resize          string
	scorePrecision  int
	logFormat       string
	modelFlags      // model trust, reload and audit: serve_models.go
	abuseFlags      // client identity, rate limit, probing: serve_abuse.go
	engineFlags     // --engine native|ort: engine.go
	tracingFlags    // --otlp-endpoint: serve_tracing.go

	// Slow clients: the HTTP server's read timeouts.
	readHeaderTimeout, readTimeout time.Duration
}

// serveEnv maps each flag of "huskyai serve" to its environment variable.
// A flag given on the command line wins over the variable.
var serveEnv = map[string]string{
	"addr":             "HUSKYAI_ADDR",
	"tls-cert":         "HUSKYAI_TLS_CERT",
	"tls-key":          "HUSKYAI_TLS_KEY",
	"insecure-http":    "HUSKYAI_INSECURE_HTTP",
	"model":            "HUSKYAI_MODEL",
	"max-upload":       "HUSKYAI_MAX_UPLOAD",
	"max-pixels":       "HUSKYAI_MAX_PIXELS",
	"max-inflight":     "HUSKYAI_MAX_INFLIGHT",
	"max-pending":      "HUSKYAI_MAX_PENDING",
	"queue-timeout":    "HUSKYAI_QUEUE_TIMEOUT",
	"batch-max":        "HUSKYAI_BATCH_MAX",
	"batch-delay":      "HUSKYAI_BATCH_DELAY",
	"shutdown-timeout": "HUSKYAI_SHUTDOWN_TIMEOUT",
	"resize":           "HUSKYAI_RESIZE",
	"score-precision":  "HUSKYAI_SCORE_PRECISION",
	"log-format":       "HUSKYAI_LOG_FORMAT",

	// Slow clients: the HTTP server's read timeouts.
	"read-header-timeout": "HUSKYAI_READ_HEADER_TIMEOUT",
	"read-timeout":        "HUSKYAI_READ_TIMEOUT",

	// Model trust, reload and audit (serve_models.go).
	"trusted-keys":      "HUSKYAI_TRUSTED_KEYS",
	"require-signature": "HUSKYAI_REQUIRE_SIGNATURE",
	"admin-addr":        "HUSKYAI_ADMIN_ADDR",
	"watch":             "HUSKYAI_WATCH",
	"watch-interval":    "HUSKYAI_WATCH_INTERVAL",
	"audit-log":         "HUSKYAI_AUDIT_LOG",
	"model-dir":         "HUSKYAI_MODEL_DIR",
	"default-model":     "HUSKYAI_DEFAULT_MODEL",

	// Abuse defences (serve_abuse.go).
	"trusted-proxy":   "HUSKYAI_TRUSTED_PROXY",
	"rate-limit":      "HUSKYAI_RATE_LIMIT",
	"rate-burst":      "HUSKYAI_RATE_BURST",
	"label-only":      "HUSKYAI_LABEL_ONLY",
	"probe-threshold": "HUSKYAI_PROBE_THRESHOLD",
	"probe-window":    "HUSKYAI_PROBE_WINDOW",
	"probe-distance":  "HUSKYAI_PROBE_DISTANCE",
	"block-probing":   "HUSKYAI_BLOCK_PROBING",

	// Inference engine (engine.go).
	"engine":      "HUSKYAI_ENGINE",
	"ort-lib":     "HUSKYAI_ORT_LIB",
	"ort-threads": "HUSKYAI_ORT_THREADS",

	// Tracing (serve_tracing.go).
	"otlp-endpoint": "HUSKYAI_OTLP_ENDPOINT",
}

func parseServeFlags(args []string, getenv func(string) string, stderr io.Writer) (*serveFlags, error) {
	f := &serveFlags{maxUpload: server.DefaultMaxUpload}
	fs := flag.NewFlagSet("huskyai serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8443", "listen on this host:port (port 0 picks a free one)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate file for HTTPS (with --tls-key; \"huskyai cert --hosts\" writes one); default:\na self-signed certificate generated at start for localhost, 127.0.0.1 and ::1,\nand for the --addr address and the hostname when they are not loopback (with\n0.0.0.0 or [::], every interface address)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.BoolVar(&f.insecureHTTP, "insecure-http", false, "serve plain HTTP instead of HTTPS (only behind a TLS-terminating proxy)")
	fs.StringVar(&f.model, "model", "", "model file: Keras .h5 or .keras, or ONNX (default: the embedded model)")
	fs.Var(&f.maxUpload, "max-upload", "largest accepted upload, in bytes or with a unit: 10MiB, 512KiB")
	fs.Int64Var(&f.maxPixels, "max-pixels", imageprep.DefaultMaxPixels, "refuse images whose header declares more pixels than this (422)")
	fs.IntVar(&f.maxInflight, "max-inflight", runtime.GOMAXPROCS(0), "classifications run at the same time; the default is GOMAXPROCS")
	fs.IntVar(&f.maxPending, "max-pending", 0, "prediction requests admitted at once (reading, queued or running); more get 503 before their upload is read, which bounds memory to about this x --max-upload; 0 means 4 x --max-inflight")
	fs.DurationVar(&f.queueTimeout, "queue-timeout", server.DefaultQueueTimeout, "how long a request waits for a classification slot before 503 + Retry-After")
	fs.IntVar(&f.batchMax, "batch-max", 1, "dynamic batching: run the images of up to this many concurrent prediction requests through the engine in one pass; 1 turns it off")
	fs.DurationVar(&f.batchDelay, "batch-delay", server.DefaultBatchDelay, "with --batch-max > 1: the longest a request waits for others to share its batch")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long to let in-flight requests finish")
	fs.DurationVar(&f.readHeaderTimeout, "read-header-timeout", readHeaderTimeout, "time a client has to send its request headers (and finish the TLS handshake); slower ones are disconnected")
	fs.DurationVar(&f.readTimeout, "read-timeout", readTimeout, "time a client has to send its whole request, upload included; the default lets a --max-upload of 10MiB arrive at 87 KB/s")
	fs.StringVar(&f.resize, "resize", "bicubic", "resampling filter to the model's input size: bicubic, bilinear or box")
	fs.IntVar(&f.scorePrecision, "score-precision", huskyai.DefaultScorePrecision, "decimals of the percent score (0..10)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format on stderr: text or json")
	f.modelFlags.register(fs)
	f.abuseFlags.register(fs)
	f.engineFlags.register(fs, nil)
	f.tracingFlags.register(fs)
	fs.VisitAll(func(fl *flag.Flag) {
		if env := serveEnv[fl.Name]; env != "" {
			fl.Usage += " (env " + env + ")"
		}
	})
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: huskyai serve [flags]

Serves the upload page at / and the JSON API (POST /api/v1/predict,
POST /huskyai/, GET /api/v1/model, /healthz, /readyz, /metrics) over HTTPS.
Stops gracefully on SIGINT or SIGTERM. Uploads are handled in memory and
never written to disk.

The model is verified before it serves (--trusted-keys, --require-signature:
its signature MODEL.sig and the signed self-test images) and can be replaced
while serving: SIGHUP, POST /admin/reload on --admin-addr, or --watch reload
it with the same checks, and a refused model leaves the old one serving.

With --model-dir it serves a repository of models, DIR/<name>/<version>/
model.h5 (or .keras, .onnx), each version checked the same way; a request
names one with ?model=NAME&version=V, and GET /api/v1/models lists them.
A single model (--model, or the embedded one) is served under its own name
as version 1 on every route (the KServe v2 /v2/models/NAME and TF Serving
/v1/models/NAME routes too), and also answers to the alias "huskyai".

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	given := make(map[string]bool)
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	var envErr error
	fs.VisitAll(func(fl *flag.Flag) {
		env := serveEnv[fl.Name]
		if given[fl.Name] || env == "" || envErr != nil {
			return
		}
		if v := getenv(env); v != "" {
			if err := fs.Set(fl.Name, v); err != nil {
				envErr = fmt.Errorf("serve: %s=%q: %v", env, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	switch {
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return nil, errors.New("serve: --tls-cert and --tls-key go together")
	case f.insecureHTTP && f.tlsCert != "":
		return nil, errors.New("serve: --insecure-http and --tls-cert exclude each other")
	case f.maxUpload <= 0:
		return nil, errors.New("serve: --max-upload must be positive")
	case f.maxPixels <= 0:
		return nil, errors.New("serve: --max-pixels must be positive")
	case f.maxInflight <= 0:
		return nil, errors.New("serve: --max-inflight must be positive")
	case f.maxPending < 0:
		return nil, errors.New("serve: --max-pending must not be negative")
	case f.queueTimeout <= 0:
		return nil, errors.New("serve: --queue-timeout must be positive")
	case f.batchMax < 1 || f.batchMax > maxBatch:
		return nil, fmt.Errorf("serve: --batch-max %d is outside 1..%d", f.batchMax, maxBatch)
	case f.batchDelay <= 0 || f.batchDelay > time.Second:
		return nil, errors.New("serve: --batch-delay must be positive and at most 1s")
	case f.readHeaderTimeout <= 0 || f.readTimeout <= 0:
		return nil, errors.New("serve: --read-header-timeout and --read-timeout must be positive")
	case f.scorePrecision < 0 || f.scorePrecision > 10:
		return nil, fmt.Errorf("serve: --score-precision %d is outside 0..10", f.scorePrecision)
	case f.logFormat != "text" && f.logFormat != "json":
		return nil, fmt.Errorf("serve: --log-format %q: want text or json", f.logFormat)
	}
	if err := f.modelFlags.check(f.model); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if err := f.engineFlags.check(); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if err := f.abuseFlags.check(); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if err := f.tracingFlags.check(); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return f, nil
}

// runServe runs the web service until ctx is cancelled, then shuts it down
// gracefully, letting in-flight requests finish.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f, err := parseServeFlags(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var logger *slog.Logger
	if f.logFormat == "json" {
		logger = slog.New(slog.NewJSONHandler(stderr, nil))
	} else {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}

	opt := classifier.DefaultOptions()
	if opt.Filter, err = imageprep.ParseFilter(f.resize); err != nil {
		return fmt.Errorf("serve: --resize: %w", err)
	}
	opt.MaxPixels, opt.ScorePrecision = f.maxPixels, f.scorePrecision
	opt.Model = append(opt.Model, engine.WithMaxBatch(f.batchMax))
	if err := f.engineFlags.apply(&opt); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	// Bind the listeners first: a start that fails because a port is in
	// use must not load the model (an audit record) nor show a
	// certificate as if it had started.
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	var adminLn net.Listener
	started := false
	defer func() {
		if !started {
			ln.Close()
			if adminLn != nil {
				adminLn.Close()
			}
		}
	}()
	if f.adminAddr != "" {
		if adminLn, err = net.Listen("tcp", f.adminAddr); err != nil {
			return fmt.Errorf("serve: --admin-addr: %w", err)
		}
	}
	where := newListenAddrs(ln.Addr())

	// The certificate too is read (or made) before the model is loaded,
	// and shown once the model is ready.
	var cert tls.Certificate
	var certHosts []string // of the self-signed certificate
	if !f.insecureHTTP {
		if f.tlsCert != "" {
			if cert, err = tls.LoadX509KeyPair(f.tlsCert, f.tlsKey); err != nil {
				return fmt.Errorf("serve: TLS certificate: %w", err)
			}
		} else {
			certHosts = where.certHosts()
			certPEM, keyPEM, err := selfSigned(certHosts, time.Now(), selfSignedValidity)
			if err == nil {
				cert, err = tls.X509KeyPair(certPEM, keyPEM)
			}
			if err != nil {
				return fmt.Errorf("serve: self-signed certificate: %w", err)
			}
		}
	}

	auditOut := stdout
	if f.auditLog == "-" {
		stdout = stderr // stdout is the audit trail
	}
	auditLog, closeAudit, err := openAudit(f.auditLog, auditOut)
	if err != nil {
		return fmt.Errorf("serve: --audit-log: %w", err)
	}
	defer closeAudit()
	store, err := openModels(ctx, f, opt, auditLog, logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	info := store.Current().Info()
	if info.Placeholder {
		logger.Warn("PLACEHOLDER MODEL: " + info.Warning)
	}

	var tlsConfig *tls.Config
	scheme := "https"
	if f.insecureHTTP {
		scheme = "http"
		logger.Warn("INSECURE: serving plain HTTP without TLS; uploads and answers cross the network in clear text. Use --insecure-http only behind a TLS-terminating proxy.")
	} else {
		if certHosts != nil {
			logger.Warn("using a self-signed certificate generated at start, new at every start; browsers will ask to trust it",
				"hosts", strings.Join(certHosts, ","),
				"hint", "for a certificate that lasts across restarts, or for other names: huskyai cert --hosts "+
					strings.Join(certHosts, ",")+",NAME --out-cert cert.pem --out-key key.pem, then huskyai serve --tls-cert cert.pem --tls-key key.pem")
		}
		fp := leafFingerprint(cert)
		logger.Info("TLS certificate", "sha256_fingerprint", fp)
		fmt.Fprintf(stdout, "huskyai serve: certificate SHA-256 fingerprint: %s\n", fp)
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	tracerProvider, stopTracing, err := f.tracingFlags.start(ctx, logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer stopTracing() // after the server's shutdown: exports the last spans
	handler := server.NewServer(logger, serverModels(store), server.Config{
		MaxUpload:    int64(f.maxUpload),
		MaxInflight:  f.maxInflight,
		MaxPending:   f.maxPending,
		QueueTimeout: f.queueTimeout,
		Audit:        auditLog,
		BatchMax:     f.batchMax,
		BatchDelay:   f.batchDelay,

		// Abuse defences (serve_abuse.go).
		TrustedProxies: f.trustedProxies,
		RateLimit:      f.rateLimit,
		RateBurst:      f.rateBurst,
		LabelOnly:      f.labelOnly,
		ProbeThreshold: f.probeThreshold,
		ProbeWindow:    f.probeWindow,
		ProbeDistance:  f.probeDistance,
		BlockProbing:   f.blockProbing,

		TracerProvider: tracerProvider, // nil: off
		Version:        version,
	})
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: f.readHeaderTimeout,
		ReadTimeout:       f.readTimeout,
		WriteTimeout:      f.readTimeout + f.queueTimeout + writeMargin,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// The reloaders (SIGHUP included) are ready before "listening" is said.
	reload, err := startReloaders(ctx, f, store, adminLn, logger, stdout)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	started = true
	urls := where.urls(scheme)
	logger.Info("listening", "url", urls[0], "address", ln.Addr().String(), "max_upload", int64(f.maxUpload), "max_pixels", f.maxPixels,
		"max_inflight", f.maxInflight, "queue_timeout", f.queueTimeout.String(), "batch_max", f.batchMax)
	if len(urls) > 1 {
		logger.Info("also reachable", "urls", strings.Join(urls[1:], " "))
	}
	f.abuseFlags.log(logger)
	fmt.Fprintf(stdout, "huskyai serve: listening on %s\n", urls[0])
	for _, u := range urls[1:] {
		fmt.Fprintf(stdout, "huskyai serve: also on %s\n", u)
	}

	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		reload.shutdown(context.WithoutCancel(ctx))
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests", "timeout", f.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.shutdownTimeout)
	defer cancel()
	if err := reload.shutdown(sctx); err != nil {
		logger.Error("stopping the reloaders", "err", err)
	}
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// byteSize is a flag.Value for a size in bytes, with an optional unit:
// B, KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers of 1000).
type byteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range byteUnits[:3] {
		if n >= u.mult && n%u.mult == 0 && (n/u.mult < 1024 || u.suffix == "GiB") {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Set(s string) error {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return errors.New("want a byte count such as 10485760 or 10MiB")
	}
	*b = byteSize(n * mult)
	return nil
}
