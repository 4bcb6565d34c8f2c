package server

import (
	"net/http"
	"strconv"

	"github.com/huskyai/huskyai/classifier"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Stages of a prediction, the label values of huskyai_stage_duration_seconds.
const (
	stageRead       = "read_upload" // reading the upload into memory
	stageQueue      = "queue_wait"  // waiting for an inference slot
	stageDecode     = "decode"      // sniff, header check, decode to RGB
	stagePreprocess = "preprocess"  // resize and scale to the model input
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
	model     *prometheus.GaugeVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
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
			Help: "Predictions refused with 503, by reason (busy: no inference slot within the queue timeout; pending: more than --max-pending requests admitted).",
		}, []string{"reason"}),
		model: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "huskyai_model_info",
			Help: "The loaded model (value 1).",
		}, []string{"name", "sha256", "format", "placeholder"}),
	}
	reg.MustRegister(m.requests, m.duration, m.inflight, m.stages, m.inference, m.rejected, m.model,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// setModel records the loaded model in huskyai_model_info.
func (m *metrics) setModel(info classifier.ModelInfo) {
	m.model.Reset()
	m.model.WithLabelValues(info.Name, info.SHA256, info.Format, strconv.FormatBool(info.Placeholder)).Set(1)
}

// handler serves the registry in the Prometheus exposition format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
