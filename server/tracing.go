package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/huskyai/huskyai/classifier"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the server's spans.
const tracerName = "github.com/huskyai/huskyai/server"

// Tracing (Config.TracerProvider): each request routed by instrument gets
// a server span named "METHOD route", joined to the caller's trace when
// the request carries a W3C traceparent header, and each stage of a
// prediction a child span named after it (stageRead, stageQueue,
// stageDecode, stagePreprocess, stageInference). Without a provider
// nothing is started: no span, no context, no allocation.

// newTracer returns the tracer of tp, or nil when tp is nil: no tracing.
func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(tracerName)
}

// startSpan starts the server span of a request to route and returns the
// request carrying it, and the function that ends it with the response's
// status. Without tracing it returns r and a no-op.
func (s *server) startSpan(r *http.Request, route string) (*http.Request, func(status int)) {
	if s.tracer == nil {
		return r, func(int) {}
	}
	ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := s.tracer.Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("http.route", route),
			attribute.String("url.path", r.URL.Path),
			attribute.String("huskyai.request_id", requestIDOf(r.Context())),
		))
	return r.WithContext(ctx), func(status int) {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
	}
}

// startRPCSpan is startSpan for an RPC to method (its full name,
// "/package.Service/Method"), joined to the caller's trace when its
// metadata md carries a W3C traceparent; the function returned ends it
// with the RPC's code.
func (s *server) startRPCSpan(ctx context.Context, method string, md metadata.MD) (context.Context, func(grpccodes.Code)) {
	if s.tracer == nil {
		return ctx, func(grpccodes.Code) {}
	}
	ctx = propagation.TraceContext{}.Extract(ctx, metadataCarrier(md))
	service, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	ctx, span := s.tracer.Start(ctx, service+"/"+name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("rpc.system", "grpc"),
			attribute.String("rpc.service", service),
			attribute.String("rpc.method", name),
			attribute.String("huskyai.request_id", requestIDOf(ctx)),
		))
	return ctx, func(code grpccodes.Code) {
		span.SetAttributes(attribute.Int("rpc.grpc.status_code", int(code)))
		if st := httpStatus(code); st >= 500 {
			span.SetStatus(codes.Error, code.String())
		}
		span.End()
	}
}

// metadataCarrier reads a W3C trace context from gRPC metadata.
type metadataCarrier metadata.MD

// Get returns the first value of key.
func (c metadataCarrier) Get(key string) string { return first(metadata.MD(c).Get(key)) }

// Set sets key to value.
func (c metadataCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

// Keys returns the keys of the metadata.
func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// stageSpan records a child span of the request's span for a stage that
// ran from start to end, when the request is traced.
func (s *server) stageSpan(ctx context.Context, stage string, start, end time.Time) {
	if s.tracer == nil || !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	_, span := s.tracer.Start(ctx, stage, trace.WithTimestamp(start))
	span.End(trace.WithTimestamp(end))
}

// observeStage records a stage of a prediction request that is not part
// of the classification (stageRead, stageQueue), from start to end:
// huskyai_stage_duration_seconds, huskyai_inference_request_duration_seconds
// for the queue, and a span.
func (s *server) observeStage(ctx context.Context, stage string, start, end time.Time) {
	d := end.Sub(start).Seconds()
	s.metrics.stages.WithLabelValues(stage).Observe(d)
	if stage == stageQueue {
		s.metrics.inferDuration.WithLabelValues(durationQueue).Observe(d)
	}
	s.stageSpan(ctx, stage, start, end)
}

// observeClassify records one run of a classification that returned at
// end with timings t (stages that did not run are zero):
// huskyai_stage_duration_seconds for decode, preprocess and inference,
// huskyai_inference_request_duration_seconds for decode (decode and
// preprocess) and compute, huskyai_inference_batch_size when the engine
// ran, and a span for each stage, laid end to end back from end.
func (s *server) observeClassify(ctx context.Context, end time.Time, t classifier.Timings) {
	stages := [...]struct {
		name string
		d    time.Duration
	}{{stageDecode, t.Decode}, {stagePreprocess, t.Preprocess}, {stageInference, t.Inference}}
	for _, st := range stages {
		if st.d > 0 {
			s.metrics.stages.WithLabelValues(st.name).Observe(st.d.Seconds())
		}
	}
	if in := t.Decode + t.Preprocess; in > 0 {
		s.metrics.inferDuration.WithLabelValues(durationDecode).Observe(in.Seconds())
	}
	if t.Inference > 0 {
		s.metrics.inferDuration.WithLabelValues(durationCompute).Observe(t.Inference.Seconds())
		if t.Batch == 0 { // a batch's size is observed once, when it runs (batch.go)
			s.metrics.batchSize.Observe(1)
		}
	}
	if s.tracer == nil || !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	start := end.Add(-(t.Decode + t.Preprocess + t.Inference))
	for _, st := range stages {
		if st.d > 0 {
			s.stageSpan(ctx, st.name, start, start.Add(st.d))
			start = start.Add(st.d)
		}
	}
}
