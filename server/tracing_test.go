package server

import (
	"bytes"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/imageprep"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestTracing: with a TracerProvider each request has a server span, and
// each stage of a prediction a child span of it, on our API and on the
// protocols'; a W3C traceparent makes the request's span a child of the
// caller's.
func TestTracing(t *testing.T) {
	img := v2Image(t, "png", 16, 16, 3)
	v2Body := mustJSON(t, map[string]any{"inputs": []map[string]any{
		{"name": "image", "shape": []int{1}, "datatype": "BYTES", "data": []string{base64.StdEncoding.EncodeToString(img)}}}})
	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	stages := []string{stageRead, stageQueue, stageDecode, stagePreprocess, stageInference}
	tests := []struct {
		name        string
		path, ctype string
		body        []byte
		traceparent string
		root        string   // the server span's name
		children    []string // its children's names, in order of their end
	}{
		{"predict", "/api/v1/predict", "image/png", img, "", "POST /api/v1/predict", stages},
		{"v2 infer", "/v2/models/trained/infer", "application/json", v2Body, "", "POST /v2/models/{model}/infer", stages},
		{"caller's trace", "/api/v1/predict", "image/png", img, caller, "POST /api/v1/predict", stages},
		{"refused upload", "/api/v1/predict", "text/plain", []byte("hello"), "", "POST /api/v1/predict", []string{stageRead}},
		{"health", "/healthz", "", nil, "", "GET /healthz", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			// A model whose timings are real, as the classifier's are, so
			// that the stage spans fit in the request's.
			model := &fake{info: trainedInfo, classify: func(img []byte) (classifier.Result, error) {
				t0 := time.Now()
				_, _, err := imageprep.Decode(img, 0)
				return classifier.Result{Timings: classifier.Timings{Decode: time.Since(t0), Preprocess: 1, Inference: 1}}, err
			}}
			h := NewServer(nil, model, Config{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))})
			method := "POST"
			if tt.body == nil {
				method = "GET"
			}
			req := httptest.NewRequest(method, tt.path, bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.ctype)
			if tt.traceparent != "" {
				req.Header.Set("Traceparent", tt.traceparent)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)

			spans := rec.Ended()
			if len(spans) != len(tt.children)+1 {
				t.Fatalf("%d spans, want %d", len(spans), len(tt.children)+1)
			}
			root := spans[len(spans)-1]
			if root.Name() != tt.root || root.SpanKind() != trace.SpanKindServer {
				t.Errorf("server span %q (%v), want %q", root.Name(), root.SpanKind(), tt.root)
			}
			if tt.traceparent != "" {
				if root.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || root.Parent().SpanID().String() != "00f067aa0ba902b7" {
					t.Errorf("server span in trace %s under %s, want the caller's", root.SpanContext().TraceID(), root.Parent().SpanID())
				}
			} else if root.Parent().IsValid() {
				t.Errorf("server span has a parent %v", root.Parent())
			}
			for i, want := range tt.children {
				sp := spans[i]
				if sp.Name() != want {
					t.Errorf("span %d is %q, want %q", i, sp.Name(), want)
				}
				if sp.Parent().SpanID() != root.SpanContext().SpanID() || sp.SpanContext().TraceID() != root.SpanContext().TraceID() {
					t.Errorf("span %q is not a child of the server span", sp.Name())
				}
				if sp.StartTime().Before(root.StartTime()) || sp.EndTime().After(root.EndTime()) {
					t.Errorf("span %q [%v, %v] is outside the server span [%v, %v]", sp.Name(), sp.StartTime(), sp.EndTime(), root.StartTime(), root.EndTime())
				}
			}
		})
	}
}

// TestNoTracingCostsNothing: without a TracerProvider the spans of a
// request allocate nothing and leave the request as it is.
func TestNoTracingCostsNothing(t *testing.T) {
	s := &server{}
	r := httptest.NewRequest("GET", "/healthz", nil)
	allocs := testing.AllocsPerRun(100, func() {
		r2, end := s.startSpan(r, "/healthz")
		if r2 != r {
			t.Fatal("request replaced")
		}
		var now time.Time
		s.stageSpan(r2.Context(), stageRead, now, now)
		end(200)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request without tracing", allocs)
	}
}

// TestInferenceMetrics: the inference metrics count every prediction
// route, by model and outcome, and time each classification by stage.
func TestInferenceMetrics(t *testing.T) {
	h := NewServer(nil, &fake{info: trainedInfo}, Config{})
	img := v2Image(t, "png", 16, 16, 3)
	b64 := base64.StdEncoding.EncodeToString
	for _, r := range []struct {
		path, ctype string
		body        []byte
	}{
		{"/api/v1/predict", "image/png", img},
		{"/v2/models/trained/infer", "application/json", mustJSON(t, map[string]any{"inputs": []map[string]any{
			{"name": "image", "shape": []int{2}, "datatype": "BYTES", "data": []string{b64(img), b64(img)}}}})},
		{"/v1/models/trained:predict", "application/json", []byte(`{"instances":[{"b64":"` + b64([]byte("no image")) + `"}]}`)},
		{"/v2/models/other/infer", "application/json", []byte(`{}`)}, // unknown model: not counted
	} {
		req := httptest.NewRequest("POST", r.path, bytes.NewReader(r.body))
		req.Header.Set("Content-Type", r.ctype)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	for _, want := range []string{
		`huskyai_inference_request_success_total{model="trained"} 2`,
		`huskyai_inference_request_failure_total{model="trained",reason="invalid"} 1`,
		`huskyai_inference_request_duration_seconds_count{stage="queue"} 3`,
		`huskyai_inference_request_duration_seconds_count{stage="decode"} 3`,
		`huskyai_inference_request_duration_seconds_count{stage="compute"} 3`,
		`huskyai_inference_batch_size_bucket{le="1"} 3`,
		`huskyai_inference_batch_size_count 3`,
		`huskyai_stage_duration_seconds_count{stage="read_upload"} 3`,
		`huskyai_http_requests_total{code="200",route="/v2/models/{model}/infer"} 1`,
		`huskyai_http_requests_total{code="415",route="/v1/models/"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(out, `model="other"`) {
		t.Error("a model name from the request became a label")
	}
}
