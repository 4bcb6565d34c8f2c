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
	"sync/atomic"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/audit"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/server"
	"go.opentelemetry.io/otel/trace"
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
	maxPendingPer   int
	minUploadRate   byteSize
	maxDecodeMemory byteSize
	queueTimeout    time.Duration
	shutdownTimeout time.Duration
	shutdownDelay   time.Duration
	batchMax        int
	batchDelay      time.Duration
	resize          string
	scorePrecision  int
	logFormat       string
	modelFlags      // model trust, reload and audit: serve_models.go
	abuseFlags      // client identity, rate limit, probing: serve_abuse.go
	engineFlags     // --engine native|ort: engine.go
	tracingFlags    // --otlp-endpoint: serve_tracing.go
	grpcFlags       // --grpc-addr: serve_grpc.go

	// Slow clients: the HTTP server's read timeouts.
	readHeaderTimeout, readTimeout time.Duration
}

// serveEnv maps each flag of "huskyai serve" to its environment variable.
// A flag given on the command line wins over the variable.
var serveEnv = map[string]string{
	"addr":                   "HUSKYAI_ADDR",
	"grpc-addr":              "HUSKYAI_GRPC_ADDR",
	"tls-cert":               "HUSKYAI_TLS_CERT",
	"tls-key":                "HUSKYAI_TLS_KEY",
	"insecure-http":          "HUSKYAI_INSECURE_HTTP",
	"model":                  "HUSKYAI_MODEL",
	"max-upload":             "HUSKYAI_MAX_UPLOAD",
	"max-decode-memory":      "HUSKYAI_MAX_DECODE_MEMORY",
	"max-pixels":             "HUSKYAI_MAX_PIXELS",
	"max-inflight":           "HUSKYAI_MAX_INFLIGHT",
	"max-pending":            "HUSKYAI_MAX_PENDING",
	"max-pending-per-client": "HUSKYAI_MAX_PENDING_PER_CLIENT",
	"min-upload-rate":        "HUSKYAI_MIN_UPLOAD_RATE",
	"queue-timeout":          "HUSKYAI_QUEUE_TIMEOUT",
	"batch-max":              "HUSKYAI_BATCH_MAX",
	"batch-delay":            "HUSKYAI_BATCH_DELAY",
	"shutdown-timeout":       "HUSKYAI_SHUTDOWN_TIMEOUT",
	"shutdown-delay":         "HUSKYAI_SHUTDOWN_DELAY",
	"resize":                 "HUSKYAI_RESIZE",
	"score-precision":        "HUSKYAI_SCORE_PRECISION",
	"log-format":             "HUSKYAI_LOG_FORMAT",

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
	"audit-required":    "HUSKYAI_AUDIT_REQUIRED",
	"model-dir":         "HUSKYAI_MODEL_DIR",
	"default-model":     "HUSKYAI_DEFAULT_MODEL",

	// Abuse defences (serve_abuse.go).
	"trusted-proxy":   "HUSKYAI_TRUSTED_PROXY",
	"rate-limit":      "HUSKYAI_RATE_LIMIT",
	"rate-burst":      "HUSKYAI_RATE_BURST",
	"label-only":      "HUSKYAI_LABEL_ONLY",
	"no-explain":      "HUSKYAI_NO_EXPLAIN",
	"probe-threshold": "HUSKYAI_PROBE_THRESHOLD",
	"probe-window":    "HUSKYAI_PROBE_WINDOW",
	"probe-distance":  "HUSKYAI_PROBE_DISTANCE",
	"block-probing":   "HUSKYAI_BLOCK_PROBING",

	// Inference engine (engine.go).
	"engine":      "HUSKYAI_ENGINE",
	"ort-lib":     "HUSKYAI_ORT_LIB",
	"ort-threads": "HUSKYAI_ORT_THREADS",
	"quantized":   "HUSKYAI_QUANTIZED",

	// Multi-class models (classes.go).
	"positive-classes": "HUSKYAI_POSITIVE_CLASSES",
	"labels":           "HUSKYAI_LABELS",
	"center-crop":      "HUSKYAI_CENTER_CROP",
	"input-mean":       "HUSKYAI_INPUT_MEAN",
	"input-std":        "HUSKYAI_INPUT_STD",

	// Tracing (serve_tracing.go).
	"otlp-endpoint": "HUSKYAI_OTLP_ENDPOINT",
}

func parseServeFlags(args []string, getenv func(string) string, stderr io.Writer) (*serveFlags, error) {
	f := &serveFlags{maxUpload: server.DefaultMaxUpload, minUploadRate: defaultMinUploadRate}
	fs := f.flagSet(stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	if err := applyEnv(fs, serveEnv, getenv); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return f, nil
}

// flagSet defines the flags of serve on f, with their environment
// variables in their usage, and serve's usage text.
func (f *serveFlags) flagSet(stderr io.Writer) *flag.FlagSet {
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
	fs.IntVar(&f.maxPendingPer, "max-pending-per-client", 0, "of those, the most one client (as --rate-limit tells clients) holds at once; more get 429 before their upload is read; 0 means half of --max-pending")
	fs.Var(&f.maxDecodeMemory, "max-decode-memory", "memory the images being decoded at once may take, as their headers tell it before\nany pixel is decoded (16-bit, interlaced, progressive and CMYK images take up to 24 bytes\na pixel; a baseline JPEG is admitted at its reduced decode's cost, and the rest only if\nthe full decode must follow); an image waits for its share like for an inference slot,\nand one that alone needs more gets 422 image_too_costly; 0 (the default): 45% of the container's memory\nlimit (cgroup), else 512MiB. Go's soft memory limit (GOMEMLIMIT, unless set) becomes\n90% of the container's limit, or twice this")
	fs.Var(&f.minUploadRate, "min-upload-rate", "slowest average upload speed, in bytes per second or with a unit (4KiB), after 5s; a slower upload is cut with 408 (0: off, only --read-timeout)")
	fs.DurationVar(&f.queueTimeout, "queue-timeout", server.DefaultQueueTimeout, "how long a request waits for a classification slot before 503 + Retry-After")
	fs.IntVar(&f.batchMax, "batch-max", 1, "dynamic batching: run the images of up to this many concurrent prediction requests through the engine in one pass; 1 turns it off")
	fs.DurationVar(&f.batchDelay, "batch-delay", server.DefaultBatchDelay, "with --batch-max > 1: the longest a request waits for others to share its batch")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long to let in-flight requests finish")
	fs.DurationVar(&f.shutdownDelay, "shutdown-delay", 2*time.Second, "on SIGINT/SIGTERM, how long to keep serving first, with /readyz at 503 and \"Connection: close\" on every answer, so that clients and load balancers move away before connections close")
	fs.DurationVar(&f.readHeaderTimeout, "read-header-timeout", readHeaderTimeout, "time a client has to send its request headers (and finish the TLS handshake); slower ones are disconnected")
	fs.DurationVar(&f.readTimeout, "read-timeout", readTimeout, "time a client has to send its whole request, upload included; the default lets a --max-upload of 10MiB arrive at 87 KB/s")
	fs.StringVar(&f.resize, "resize", "bicubic", "resampling filter to the model's input size: bicubic, bilinear or box")
	fs.IntVar(&f.scorePrecision, "score-precision", huskyai.DefaultScorePrecision, "decimals of the percent score (0..10)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format on stderr: text or json")
	f.modelFlags.register(fs)
	f.abuseFlags.register(fs)
	f.engineFlags.register(fs, nil)
	f.tracingFlags.register(fs)
	f.grpcFlags.register(fs)
	fs.VisitAll(func(fl *flag.Flag) {
		if env := serveEnv[fl.Name]; env != "" {
			fl.Usage += " (env " + env + ")"
		}
	})
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: huskyai serve [flags]

Serves the upload page at / and the JSON API (POST /api/v1/predict,
POST /huskyai/, GET /api/v1/model, /healthz, /readyz, /metrics) over HTTPS,
and with --grpc-addr the KServe v2 gRPC API (inference.GRPCInferenceService).
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
	return fs
}

// applyEnv sets each flag of fs that the command line did not give from
// its environment variable in env, where that is set.
func applyEnv(fs *flag.FlagSet, env map[string]string, getenv func(string) string) error {
	given := make(map[string]bool)
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	var err error
	fs.VisitAll(func(fl *flag.Flag) {
		name := env[fl.Name]
		if given[fl.Name] || name == "" || err != nil {
			return
		}
		if v := getenv(name); v != "" {
			if e := fs.Set(fl.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %v", name, v, e)
			}
		}
	})
	return err
}

// check validates the flags once they are parsed.
func (f *serveFlags) check() error {
	switch {
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return errors.New("--tls-cert and --tls-key go together")
	case f.insecureHTTP && f.tlsCert != "":
		return errors.New("--insecure-http and --tls-cert exclude each other")
	case f.maxUpload <= 0:
		return errors.New("--max-upload must be positive")
	case f.maxPixels <= 0:
		return errors.New("--max-pixels must be positive")
	case f.maxInflight <= 0:
		return errors.New("--max-inflight must be positive")
	case f.maxPending < 0 || f.maxPendingPer < 0:
		return errors.New("--max-pending and --max-pending-per-client must not be negative")
	case f.queueTimeout <= 0:
		return errors.New("--queue-timeout must be positive")
	case f.batchMax < 1 || f.batchMax > maxBatch:
		return fmt.Errorf("--batch-max %d is outside 1..%d", f.batchMax, maxBatch)
	case f.batchDelay <= 0 || f.batchDelay > time.Second:
		return errors.New("--batch-delay must be positive and at most 1s")
	case f.readHeaderTimeout <= 0 || f.readTimeout <= 0:
		return errors.New("--read-header-timeout and --read-timeout must be positive")
	case f.scorePrecision < 0 || f.scorePrecision > 10:
		return fmt.Errorf("--score-precision %d is outside 0..10", f.scorePrecision)
	case f.logFormat != "text" && f.logFormat != "json":
		return fmt.Errorf("--log-format %q: want text or json", f.logFormat)
	}
	if err := f.modelFlags.check(f.model); err != nil {
		return err
	}
	if err := f.engineFlags.check(); err != nil {
		return err
	}
	if err := f.abuseFlags.check(); err != nil {
		return err
	}
	return f.tracingFlags.check()
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
	logger := newLogger(f.logFormat, stderr)
	opt, err := f.classifierOptions()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	// Bind the listeners and read (or make) the certificate first: a start
	// that fails because a port is in use must not load the model (an
	// audit record) nor show a certificate as if it had started.
	ls, err := f.listen()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	started := false
	defer func() {
		if !started {
			ls.close()
		}
	}()
	where := newListenAddrs(ls.main.Addr())
	tc, err := f.certificate(where)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}

	auditOut := stdout
	if f.auditLog == "-" {
		stdout = stderr // stdout is the audit trail
	}
	auditLog, closeAudit, reopenAudit, err := openAudit(f.auditLog, auditOut)
	if err != nil {
		return fmt.Errorf("serve: --audit-log: %w", err)
	}
	defer closeAudit()
	keys, err := f.loadKeys(logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	store, err := openModels(ctx, f, opt, keys, auditLog, logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if info := store.Current().Info(); info.Placeholder {
		logger.Warn("PLACEHOLDER MODEL: " + info.Warning)
	}
	tlsConfig := tc.announce(logger, stdout)

	tracerProvider, stopTracing, err := f.tracingFlags.start(ctx, logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer stopTracing() // after the server's shutdown: exports the last spans
	cfg := f.serverConfig(auditLog, tracerProvider)
	cfg.Drain = server.NewDrain()
	mem := planMemory(int64(f.maxDecodeMemory), getenv, readFile)
	defer mem.apply(logger)()
	cfg.MaxDecodeMemory = mem.decode
	reports := newFileReports(logger, auditLog)
	cfg.Collectors = append(cfg.Collectors, reports.total)
	svc := server.NewServer(logger, store, cfg)
	srv := f.httpServer(svc, tlsConfig, logger)
	// The reloaders (SIGHUP included) are ready before "listening" is said.
	reloadFiles, watchMore := f.fileReloaders(tc.live, keys, store, reopenAudit, reports, logger)
	reload, err := startReloaders(ctx, f, store, ls.admin, reloadFiles, watchMore, logger, stdout)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	started = true
	f.announce(where, ls.main, tlsConfig != nil, logger, stdout)
	g := f.startGRPC(svc, ls.grpc, tlsConfig, logger, stdout)
	return f.serveUntilDone(ctx, srv, ls.main, g, reload, cfg.Drain, logger)
}

// newLogger returns the logger of --log-format on w.
func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// classifierOptions are the options models are loaded with.
func (f *serveFlags) classifierOptions() (classifier.Options, error) {
	opt := classifier.DefaultOptions()
	var err error
	if opt.Filter, err = imageprep.ParseFilter(f.resize); err != nil {
		return opt, fmt.Errorf("--resize: %w", err)
	}
	opt.MaxPixels, opt.ScorePrecision = f.maxPixels, f.scorePrecision
	opt.Model = append(opt.Model, engine.WithMaxBatch(f.batchMax))
	return opt, f.engineFlags.apply(&opt)
}

// listeners are the bound sockets of --addr, --admin-addr and
// --grpc-addr (nil when that is not set).
type listeners struct{ main, admin, grpc net.Listener }

// listen binds --addr, --admin-addr and --grpc-addr.
func (f *serveFlags) listen() (listeners, error) {
	var ls listeners
	var err error
	if ls.main, err = net.Listen("tcp", f.addr); err != nil {
		return ls, err
	}
	if f.adminAddr != "" {
		if ls.admin, err = net.Listen("tcp", f.adminAddr); err != nil {
			ls.close()
			return ls, fmt.Errorf("--admin-addr: %w", err)
		}
	}
	if ls.grpc, err = f.grpcFlags.listen(); err != nil {
		ls.close()
		return ls, err
	}
	return ls, nil
}

func (ls listeners) close() {
	for _, l := range []net.Listener{ls.main, ls.admin, ls.grpc} {
		if l != nil {
			l.Close()
		}
	}
}

// serveTLS is the TLS side of serve: none with --insecure-http, the
// --tls-cert pair, or a self-signed certificate for hosts.
type serveTLS struct {
	insecure bool
	cert     tls.Certificate
	hosts    []string  // of the self-signed certificate
	live     *liveCert // the certificate served, reloaded on SIGHUP
}

// liveCert is the certificate served. One from --tls-cert/--tls-key is
// read again on SIGHUP (as the model is), so that a renewed certificate
// takes effect without a restart; a pair that does not load leaves the
// current one serving.
type liveCert struct {
	certFile, keyFile string // empty for a self-signed certificate
	cur               atomic.Pointer[tls.Certificate]
}

// get is the tls.Config's GetCertificate.
func (c *liveCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

// reload reads the certificate files again, if there are any, and says
// what came of it (log, metric, audit); a pair that cannot be loaded
// leaves the previous certificate serving.
func (c *liveCert) reload(r *fileReports) {
	if c == nil || c.certFile == "" {
		return
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		r.report("tls_certificate", c.certFile, "", err)
		return
	}
	c.cur.Store(&cert)
	r.report("tls_certificate", c.certFile, "sha256 "+leafFingerprint(cert), nil)
}

// files are the certificate and key files, for --watch.
func (c *liveCert) files() []string { return []string{c.certFile, c.keyFile} }

// certificate reads --tls-cert and --tls-key, or makes a self-signed
// certificate for the addresses served at.
func (f *serveFlags) certificate(where listenAddrs) (serveTLS, error) {
	t := serveTLS{insecure: f.insecureHTTP}
	var err error
	switch {
	case f.insecureHTTP:
	case f.tlsCert != "":
		if t.cert, err = tls.LoadX509KeyPair(f.tlsCert, f.tlsKey); err != nil {
			return t, fmt.Errorf("TLS certificate: %w", err)
		}
		t.live = &liveCert{certFile: f.tlsCert, keyFile: f.tlsKey}
	default:
		t.hosts = where.certHosts()
		certPEM, keyPEM, err := selfSigned(t.hosts, time.Now(), selfSignedValidity)
		if err == nil {
			t.cert, err = tls.X509KeyPair(certPEM, keyPEM)
		}
		if err != nil {
			return t, fmt.Errorf("self-signed certificate: %w", err)
		}
	}
	if !f.insecureHTTP {
		if t.live == nil {
			t.live = &liveCert{}
		}
		t.live.cur.Store(&t.cert)
	}
	return t, nil
}

// announce says, once the model is ready, how the connection is secured
// (the certificate's fingerprint on stdout too), and returns the TLS
// configuration to serve with: nil for plain HTTP.
func (t serveTLS) announce(logger *slog.Logger, stdout io.Writer) *tls.Config {
	if t.insecure {
		logger.Warn("INSECURE: serving plain HTTP without TLS; uploads and answers cross the network in clear text. Use --insecure-http only behind a TLS-terminating proxy.")
		return nil
	}
	if t.hosts != nil {
		logger.Warn("using a self-signed certificate generated at start, new at every start; browsers will ask to trust it",
			"hosts", strings.Join(t.hosts, ","),
			"hint", "for a certificate that lasts across restarts, or for other names: huskyai cert --hosts "+
				strings.Join(t.hosts, ",")+",NAME --out-cert cert.pem --out-key key.pem, then huskyai serve --tls-cert cert.pem --tls-key key.pem")
	}
	fp := leafFingerprint(t.cert)
	logger.Info("TLS certificate", "sha256_fingerprint", fp)
	fmt.Fprintf(stdout, "huskyai serve: certificate SHA-256 fingerprint: %s\n", fp)
	return &tls.Config{GetCertificate: t.live.get, MinVersion: tls.VersionTLS12, CipherSuites: tls12Suites}
}

// tls12Suites are the TLS 1.2 cipher suites served: forward-secret AEAD
// only (no CBC, no SHA-1 MACs, no RSA key exchange). TLS 1.3's suites are
// not configurable and all AEAD.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// serverConfig is the server's configuration from the flags.
func (f *serveFlags) serverConfig(auditLog audit.Logger, tp trace.TracerProvider) server.Config {
	return server.Config{
		MaxUpload:   int64(f.maxUpload),
		MaxInflight: f.maxInflight,
		MaxPending:  f.maxPending,

		MaxPendingPerClient: f.maxPendingPer,
		MinUploadRate:       int64(f.minUploadRate),
		QueueTimeout:        f.queueTimeout,
		Audit:               auditLog,
		AuditRequired:       f.auditRequired,
		BatchMax:            f.batchMax,
		BatchDelay:          f.batchDelay,

		// Abuse defences (serve_abuse.go).
		TrustedProxies: f.trustedProxies,
		RateLimit:      f.rateLimit,
		RateBurst:      f.rateBurst,
		LabelOnly:      f.labelOnly,
		NoExplain:      f.noExplain,
		ProbeThreshold: f.probeThreshold,
		ProbeWindow:    f.probeWindow,
		ProbeDistance:  f.probeDistance,
		BlockProbing:   f.blockProbing,

		TracerProvider: tp, // nil: off
		Version:        version,
	}
}

// httpServer is the HTTP server of handler, with serve's timeouts.
func (f *serveFlags) httpServer(handler http.Handler, tlsConfig *tls.Config, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: f.readHeaderTimeout,
		ReadTimeout:       f.readTimeout,
		WriteTimeout:      f.readTimeout + f.queueTimeout + writeMargin,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// announce logs and prints where the service listens.
func (f *serveFlags) announce(where listenAddrs, ln net.Listener, secure bool, logger *slog.Logger, stdout io.Writer) {
	scheme := "http"
	if secure {
		scheme = "https"
	}
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
}

// serveUntilDone serves on ln until ctx is cancelled, then drains (for
// --shutdown-delay: /readyz at 503, "Connection: close" on every answer),
// stops the reloaders and shuts the server, and g's gRPC server, down
// within --shutdown-timeout. Connections still open at that deadline are
// cut; if none of them was being answered (only uploads that never
// finished), that is a clean stop.
func (f *serveFlags) serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, g *grpcServing,
	reload *reloaders, drain *server.Drain, logger *slog.Logger) error {
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		reload.shutdown(context.WithoutCancel(ctx))
		g.close()
		return fmt.Errorf("serve: %w", err)
	case err := <-g.failed():
		reload.shutdown(context.WithoutCancel(ctx))
		srv.Close()
		return fmt.Errorf("serve: --grpc-addr: %w", err)
	case <-ctx.Done():
	}
	drain.Start()
	defer drain.Finish() // after the shutdown: the audit records kept back (the last minute's refusal counts)
	if f.shutdownDelay > 0 {
		logger.Info("shutting down: draining (readyz 503, Connection: close)", "delay", f.shutdownDelay.String())
		time.Sleep(f.shutdownDelay)
	}
	logger.Info("shutting down: finishing in-flight requests", "timeout", f.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.shutdownTimeout)
	defer cancel()
	if err := reload.shutdown(sctx); err != nil {
		logger.Error("stopping the reloaders", "err", err)
	}
	grpcStopped := g.stop(sctx)
	if err := srv.Shutdown(sctx); err != nil {
		working := drain.Working()
		srv.Close()
		if working > 0 || !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("serve: shutdown: %d requests were being answered: %w", working, err)
		}
		logger.Warn("shutdown: cut the connections of uploads that had not finished", "timeout", f.shutdownTimeout.String())
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	if err := <-grpcStopped; err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// defaultMinUploadRate is --min-upload-rate's default: 4 KiB/s, so that a
// 10 MiB upload may take 40 minutes at that average, and a client sending
// a byte a second is cut after 5s.
const defaultMinUploadRate = 4 << 10

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
