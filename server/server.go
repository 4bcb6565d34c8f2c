// Package server is the huskyai web service: an upload page and a JSON API
// that answer "is this a husky?" for an uploaded photo.
//
// Uploads are read into memory (never to disk), bounded in size, and
// classified under a concurrency bound; see Config.
package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/abuse"
	"github.com/huskyai/huskyai/audit"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Classifier is a model the server answers with (huskyai.Classifier).
type Classifier = huskyai.Classifier

// Models gives the server its models (huskyai.Models): modelstore's Store
// of one model or its Repository. A request resolves its model once, at
// its start, and uses it to its end, so a model swapped meanwhile never
// changes an answer half-way. Current returns nil while no model is
// loaded; the server then answers 503.
type Models = huskyai.Models

// Defaults of Config.
const (
	// DefaultMaxUpload is the largest accepted image, in bytes (10 MiB).
	DefaultMaxUpload = 10 << 20
	// DefaultQueueTimeout is how long a request waits for an inference
	// slot before it is refused with 503.
	DefaultQueueTimeout = 2 * time.Second
	// DefaultUploadGrace is how long an upload may take before
	// Config.MinUploadRate applies.
	DefaultUploadGrace = 5 * time.Second
	// DefaultMaxDecodeMemory is the memory the images being decoded at
	// once may take (Config.MaxDecodeMemory), 512 MiB.
	DefaultMaxDecodeMemory = 512 << 20
)

// multipartOverhead is the room allowed in a multipart body beyond the
// image itself: boundaries, part headers and small extra fields.
const multipartOverhead = 64 << 10

// Config tunes the server. The zero value of each field means its default.
type Config struct {
	// Drain, if not nil, is how the command tells the server it is
	// shutting down (see Drain).
	Drain *Drain
	// MaxUpload is the largest accepted image in bytes; larger uploads
	// get 413. Default DefaultMaxUpload.
	MaxUpload int64
	// MaxInflight bounds the number of concurrent classifications.
	// Default runtime.GOMAXPROCS(0).
	MaxInflight int
	// QueueTimeout is how long a request waits for one of the MaxInflight
	// slots; after that it gets 503 with Retry-After. Default
	// DefaultQueueTimeout.
	QueueTimeout time.Duration
	// MaxPending bounds the prediction requests admitted at once: being
	// read into memory, waiting for a slot or classified. Beyond it a
	// request gets 503 with Retry-After before its body is read, so that
	// memory stays below about MaxPending x MaxUpload however many
	// clients upload at once. Default 4 x MaxInflight.
	MaxPending int
	// MaxPendingPerClient bounds the places of MaxPending one client
	// (as the rate limiter tells clients) holds at once; beyond it the
	// client's requests get 429 too_many_pending before their body is
	// read, so that no client can hold the whole queue with uploads it
	// trickles in. Default MaxPending/2 (at least 1).
	MaxPendingPerClient int
	// MinUploadRate, in bytes per second, is the slowest average an
	// upload may keep after UploadGrace; a slower one is cut with 408
	// upload_timeout. 0 turns the check off (the read timeout of the
	// http.Server still applies).
	MinUploadRate int64
	// UploadGrace is how long an upload may take before MinUploadRate
	// applies. Default DefaultUploadGrace.
	UploadGrace time.Duration
	// MaxDecodeMemory is the memory, in bytes, that the images being
	// decoded at once may take, as their headers tell it before they are
	// decoded (a model's PrepareMemory, admission.go): an image waits for
	// its share like for an inference slot (503 after QueueTimeout), and
	// one that alone needs more is refused with 422 image_too_costly.
	// Default DefaultMaxDecodeMemory; negative: no limit.
	MaxDecodeMemory int64
	// Audit, if not nil, gets one audit.Prediction record per prediction
	// request whose upload was read or refused (any status); nil turns
	// auditing off. A record that cannot be written is counted and logged
	// (sampled), and the prediction is answered all the same, unless
	// AuditRequired.
	Audit audit.Logger
	// AuditRequired answers 503 audit_unavailable instead of a verdict
	// whose audit record cannot be written.
	AuditRequired bool

	// Abuse defences (see clientip.go, ratelimit.go, probing.go). Unlike
	// the fields above, their zero values turn them off; huskyai serve
	// turns rate limiting and probing detection on by default.

	// TrustedProxies are the networks of the reverse proxies whose
	// X-Forwarded-For is believed: only when a request's peer is inside
	// one is its client taken from that header (the right-most entry
	// that is not itself a trusted proxy). Empty: the client is always
	// the peer, and X-Forwarded-For is ignored.
	TrustedProxies []netip.Prefix
	// RateLimit is the prediction requests per second allowed to one
	// client (an IPv4 address or an IPv6 /64), on average; more get 429
	// rate_limited with Retry-After before their upload is read. Zero
	// turns rate limiting off.
	RateLimit float64
	// RateBurst is the prediction requests one client may send at once
	// above RateLimit. Default 2 x RateLimit, at least 1.
	RateBurst int
	// LabelOnly leaves the probability and the score out of prediction
	// responses: they carry the label and text only, so that a client
	// learns as little as possible about the model per query.
	LabelOnly bool
	// NoExplain turns explanations off (POST /api/v1/explain and
	// :explain answer 403): each runs the model dozens of times on
	// variations of one picture, which tells a client probing the model
	// much. LabelOnly implies it.
	NoExplain bool
	// ProbeThreshold is the number of near-identical but not identical
	// images from one client within ProbeWindow from which its
	// predictions are flagged as probing (metric, warning, audit). Zero
	// turns the detector off. At most abuse.MaxProbeThreshold.
	ProbeThreshold int
	// ProbeWindow is the probing detector's sliding window. Default
	// abuse.DefaultProbeWindow.
	ProbeWindow time.Duration
	// ProbeDistance is the largest Hamming distance between the 64-bit
	// perceptual hashes of two near-identical images. Default
	// abuse.DefaultProbeDistance.
	ProbeDistance int
	// BlockProbing refuses flagged predictions with 429
	// probing_suspected instead of answering them, until the client's
	// near-identical images leave the window.
	BlockProbing bool

	// TracerProvider, if not nil, traces each request: a server span per
	// request and a child span per stage of a prediction (tracing.go).
	// Nil turns tracing off at no cost.
	TracerProvider trace.TracerProvider
	// Collectors are more Prometheus collectors for GET /metrics: what
	// the command measures itself (reloads of the TLS certificate and the
	// trusted keys).
	Collectors []prometheus.Collector
	// Version is the server's version, as GET /v2 reports it. Default
	// "dev".
	Version string

	// BatchMax, above 1, turns on dynamic batching (batch.go): the
	// prepared images of up to BatchMax concurrent prediction requests
	// for the same model run through the engine in one forward pass. The
	// model should be loaded with model.WithMaxBatch(BatchMax). 0 or 1:
	// off, each request runs on its own.
	BatchMax int
	// BatchDelay is the longest a batch short of BatchMax waits for more
	// requests after its first one. Default DefaultBatchDelay.
	BatchDelay time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxUpload <= 0 {
		c.MaxUpload = DefaultMaxUpload
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = runtime.GOMAXPROCS(0)
	}
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = DefaultQueueTimeout
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 4 * c.MaxInflight
	}
	c.MaxPending = max(c.MaxPending, c.MaxInflight)
	if c.MaxPendingPerClient <= 0 {
		c.MaxPendingPerClient = max(1, c.MaxPending/2)
	}
	if c.UploadGrace <= 0 {
		c.UploadGrace = DefaultUploadGrace
	}
	if c.MaxDecodeMemory == 0 {
		c.MaxDecodeMemory = DefaultMaxDecodeMemory
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.BatchDelay <= 0 {
		c.BatchDelay = DefaultBatchDelay
	}
	return c
}

// server holds the dependencies shared by the handlers.
type server struct {
	logger      *slog.Logger
	models      Models // nil, or Current nil, until a model is loaded: /readyz and predictions then answer 503
	cfg         Config
	sem         chan struct{} // inference slots
	pending     chan struct{} // admitted prediction requests
	metrics     *metrics
	limiter     *abuse.RateLimiter   // nil: no rate limit
	probes      *abuse.ProbeDetector // nil: no probing detection
	tracer      trace.Tracer         // nil: no tracing (tracing.go)
	batch       *batcher             // nil: no dynamic batching (batch.go)
	shed        shedSampler          // the log lines of 429s and 503s (middleware.go)
	perClient   clientPending        // each client's admitted requests (admission.go)
	decodeMem   *decodeBudget        // Config.MaxDecodeMemory; nil: no limit (decodebudget.go)
	auditLogged every                // when a failing audit record was last logged
	refusals    refusalCounter       // refusals before the upload, per client and minute (refusals.go)
	grpcOther   chan struct{}        // places of the RPCs other than ModelInfer (grpc_admission.go)
	grpcTimeout time.Duration        // GRPCConfig.RequestTimeout
}

// Service is the huskyai service: an http.Handler with every route (see
// routes.go) and, through GRPCServer, the Open Inference Protocol's gRPC
// service (grpc.go), both over the one prediction pipeline, with the same
// limits, rate limits, metrics and audit.
type Service struct {
	s *server
	h http.Handler
}

// ServeHTTP implements http.Handler.
func (v *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { v.h.ServeHTTP(w, r) }

// NewServer returns the service, answering with the model models gives
// at the start of each request. A nil models (or one whose Current is
// nil) makes a server that is live but not ready: it answers 503 to
// predictions and /readyz. Each server has its own metrics registry,
// served at /metrics, so several can run in one process.
func NewServer(logger *slog.Logger, models Models, cfg Config) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	s := &server{
		logger:  logger,
		models:  models,
		cfg:     cfg,
		sem:     make(chan struct{}, cfg.MaxInflight),
		pending: make(chan struct{}, cfg.MaxPending),
	}
	s.metrics = newMetrics(prometheus.NewRegistry(), s.current, s.modelStatus)
	if cfg.MaxDecodeMemory > 0 {
		s.decodeMem = newDecodeBudget(cfg.MaxDecodeMemory, s.metrics.decodeMemory)
	}
	s.metrics.reg.MustRegister(newVersionCollector(s.servedVersions))
	s.metrics.reg.MustRegister(cfg.Collectors...)
	if d, ok := cfg.Audit.(interface{ Dropped() uint64 }); ok {
		s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "huskyai_audit_records_dropped_total",
			Help: "Audit records that could not be written (a full disk): predictions are answered all the same unless --audit-required; the next record written says how many are missing.",
		}, func() float64 { return float64(d.Dropped()) }))
	}
	s.limiter = abuse.NewRateLimiter(cfg.RateLimit, cfg.RateBurst)
	s.probes = abuse.NewProbeDetector(cfg.ProbeThreshold, cfg.ProbeWindow, cfg.ProbeDistance)
	s.tracer = newTracer(cfg.TracerProvider)
	if cfg.BatchMax > 1 {
		s.batch = newBatcher(cfg.BatchMax, cfg.BatchDelay, s.runBatch, func(v any, stack []byte) {
			s.logger.Error("panic in an inference batch", "panic", fmt.Sprint(v), "stack", string(stack))
		})
	}
	cfg.Drain.onFinish(s.flushRefusals)
	mux := http.NewServeMux()
	s.routes(mux)
	return &Service{s: s, h: s.middleware(mux)}
}

// current returns the model to answer with, or nil.
func (s *server) current() Classifier {
	if s.models == nil {
		return nil
	}
	return s.models.Current()
}

// modelStatus returns the reload history of the models; the zero Status
// without models.
func (s *server) modelStatus() huskyai.ModelStatus {
	if s.models == nil {
		return huskyai.ModelStatus{}
	}
	return s.models.Status()
}
