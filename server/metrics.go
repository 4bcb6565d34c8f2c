package server

import (
	"net/http"
	"strconv"

	"github.com/huskyai/huskyai/modelstore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Stages of a prediction, the label values of huskyai_stage_duration_seconds.
const (
	stageRead       = "read_upload" // reading the upload into memory
	stageQueue      = "queue_wait"  // waiting for an inference slot
	stageDecode     = "decode"      // sniff, header check, decode and resize
	stagePreprocess = "preprocess"  // scale to the model input, perceptual hash
	stageInference  = "inference"   // the engine's forward pass
)

// metrics are the server's Prometheus collectors, in a registry of its
// own.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	inflight  *prometheus.GaugeVec
	stages    *prometheus.HistogramVec
	inference prometheus.Gauge
	rejected  *prometheus.CounterVec
	// decodeMemory is the memory reserved by the images being decoded
	// (Config.MaxDecodeMemory).
	decodeMemory prometheus.Gauge
	// rateLimited counts predictions refused by the per-client rate
	// limit; probingFlagged those the probing detector flagged.
	rateLimited    prometheus.Counter
	probingFlagged prometheus.Counter

	// The inference metrics, named as Triton's and KServe's dashboards
	// expect (see countInference and observeClassify).
	inferSuccess  *prometheus.CounterVec
	inferFailure  *prometheus.CounterVec
	inferDuration *prometheus.HistogramVec
	batchSize     prometheus.Histogram
}

// Stages of huskyai_inference_request_duration_seconds: Triton's queue,
// compute_input and compute_infer durations under shorter names.
const (
	durationQueue   = "queue"   // waiting for an inference slot (stage queue_wait)
	durationDecode  = "decode"  // image bytes to the model's input (stages decode and preprocess)
	durationCompute = "compute" // the engine's forward pass (stage inference)
)

// Reasons of huskyai_inference_request_failure_total.
const (
	failureRejected = "rejected" // refused for load or abuse before an answer: 429, 503
	failureInvalid  = "invalid"  // the request or its image was refused: other 4xx
	failureInternal = "internal" // the model or the server failed: 5xx
)

// newMetrics registers the server's collectors in reg. current and status
// are read at each scrape for the model metrics (see modelCollector).
func newMetrics(reg *prometheus.Registry, current func() Classifier, status func() modelstore.Status) *metrics {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "huskyai_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "huskyai_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"route"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "huskyai_http_requests_in_flight",
			Help: "HTTP requests being served, by route.",
		}, []string{"route"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "huskyai_stage_duration_seconds",
			Help:    "Latency of the stages of a prediction: read_upload, queue_wait, decode, preprocess, inference.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}, []string{"stage"}),
		inference: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "huskyai_inference_in_flight",
			Help: "Classifications running now (bounded by --max-inflight).",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "huskyai_inference_rejected_total",
			Help: "Predictions refused with 503, by reason (busy: no inference slot within the queue timeout; memory: no room in --max-decode-memory within the queue timeout; pending: more than --max-pending requests admitted; client_pending: more than --max-pending-per-client from one client, answered 429).",
		}, []string{"reason"}),
	}
	m.decodeMemory = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "huskyai_decode_memory_reserved_bytes",
		Help: "Memory reserved now by the images being decoded, as their headers tell it (bounded by --max-decode-memory).",
	})
	reg.MustRegister(m.requests, m.duration, m.inflight, m.stages, m.inference, m.rejected, m.decodeMemory, newModelCollector(current, status),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.rateLimited = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "huskyai_rate_limited_total",
		Help: "Predictions refused with 429 rate_limited: their client was over --rate-limit.",
	})
	m.probingFlagged = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "huskyai_probing_flagged_total",
		Help: "Predictions flagged as probing: their client sent --probe-threshold near-identical but not identical images within --probe-window (refused with 429 probing_suspected under --block-probing).",
	})
	reg.MustRegister(m.rateLimited, m.probingFlagged)
	m.inferSuccess = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "huskyai_inference_request_success_total",
		Help: "Prediction requests answered (200), on every API, by model name.",
	}, []string{"model"})
	m.inferFailure = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "huskyai_inference_request_failure_total",
		Help: "Prediction requests refused or failed, on every API, by model name and reason: rejected (429, 503), invalid (other 4xx), internal (5xx).",
	}, []string{"model", "reason"})
	m.inferDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "huskyai_inference_request_duration_seconds",
		Help:    "Time of each classification by stage: queue (waiting for an inference slot), decode (image to model input: decode, resize, scale), compute (the engine's forward pass).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
	}, []string{"stage"})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "huskyai_inference_batch_size",
		Help:    "Images per run of the engine: 1 unless --batch-max lets concurrent requests share a run.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
	})
	reg.MustRegister(m.inferSuccess, m.inferFailure, m.inferDuration, m.batchSize)
	return m
}

// countInference counts a prediction request for the model named model
// that ended with status. The label is the served model's own name,
// never one taken from the request, so that its values stay few.
func (m *metrics) countInference(model string, status int) {
	switch {
	case status == http.StatusOK:
		m.inferSuccess.WithLabelValues(model).Inc()
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		m.inferFailure.WithLabelValues(model, failureRejected).Inc()
	case status >= 500:
		m.inferFailure.WithLabelValues(model, failureInternal).Inc()
	default:
		m.inferFailure.WithLabelValues(model, failureInvalid).Inc()
	}
}

// modelCollector reports the model being served when it is scraped, so
// that a swapped model shows at the next scrape and only the current
// model has a huskyai_model_info series:
//
//	huskyai_model_info{name,sha256,format,placeholder,signed,signer_key_id} 1
//	huskyai_model_reloads_total{result="success"|"failure"}
type modelCollector struct {
	current func() Classifier
	status  func() modelstore.Status
	info    *prometheus.Desc
	reloads *prometheus.Desc
}

func newModelCollector(current func() Classifier, status func() modelstore.Status) *modelCollector {
	return &modelCollector{
		current: current,
		status:  status,
		info: prometheus.NewDesc("huskyai_model_info", "The model being served (value 1).",
			[]string{"name", "sha256", "format", "placeholder", "signed", "signer_key_id"}, nil),
		reloads: prometheus.NewDesc("huskyai_model_reloads_total",
			"Model reloads (admin endpoint, SIGHUP, --watch) by result: success (swapped in) or failure (refused; the old model kept serving).",
			[]string{"result"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *modelCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.info
	ch <- c.reloads
}

// Collect implements prometheus.Collector.
func (c *modelCollector) Collect(ch chan<- prometheus.Metric) {
	if m := c.current(); m != nil {
		info := m.Info()
		ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, info.Name, info.SHA256, info.Format,
			strconv.FormatBool(info.Placeholder), strconv.FormatBool(info.Signed), info.SignerKeyID)
	}
	st := c.status()
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(st.Reloads), "success")
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(st.ReloadFailures), "failure")
}

// handler serves the registry in the Prometheus exposition format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
