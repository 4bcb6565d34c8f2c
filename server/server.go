// Package server is the huskyai web service: an upload page and a JSON API
// that answer "is this a husky?" for an uploaded photo.
//
// Uploads are read into memory (never to disk), bounded in size, and
// classified under a concurrency bound; see Config.
package server

import (
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/huskyai/huskyai/audit"
	"github.com/huskyai/huskyai/classifier"
	"github.com/prometheus/client_golang/prometheus"
)

// Classifier is what the server needs from a model: *classifier.Classifier
// implements it, and tests pass fakes. Classify must be safe for
// concurrent use.
type Classifier interface {
	Classify(img []byte) (classifier.Result, error)
	Info() classifier.ModelInfo
}

// Defaults of Config.
const (
	// DefaultMaxUpload is the largest accepted image, in bytes (10 MiB).
	DefaultMaxUpload = 10 << 20
	// DefaultQueueTimeout is how long a request waits for an inference
	// slot before it is refused with 503.
	DefaultQueueTimeout = 2 * time.Second
)

// multipartOverhead is the room allowed in a multipart body beyond the
// image itself: boundaries, part headers and small extra fields.
const multipartOverhead = 64 << 10

// Config tunes the server. The zero value of each field means its default.
type Config struct {
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
	// Audit, if not nil, gets one audit.Prediction record per prediction
	// request whose upload was read or refused (any status); nil turns
	// auditing off.
	Audit audit.Logger
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
	return c
}

// server holds the dependencies shared by the handlers.
type server struct {
	logger  *slog.Logger
	c       Classifier // nil until a model is loaded: /readyz and predictions then answer 503
	cfg     Config
	sem     chan struct{} // inference slots
	pending chan struct{} // admitted prediction requests
	metrics *metrics
}

// NewServer returns the service's handler, with every route (see
// routes.go). A nil c makes a server that is live but not ready: it
// answers 503 to predictions and /readyz. Each server has its own metrics
// registry, served at /metrics, so several can run in one process.
func NewServer(logger *slog.Logger, c Classifier, cfg Config) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	s := &server{
		logger:  logger,
		c:       c,
		cfg:     cfg,
		sem:     make(chan struct{}, cfg.MaxInflight),
		pending: make(chan struct{}, cfg.MaxPending),
		metrics: newMetrics(prometheus.NewRegistry()),
	}
	if c != nil {
		s.metrics.setModel(c.Info())
	}
	mux := http.NewServeMux()
	s.routes(mux)
	return s.middleware(mux)
}
