package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/imageprep"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP trace collector for tests: it keeps the
// spans posted to /v1/traces and the service.name of their resource.
type collector struct {
	url      string
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || err != nil || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					c.services = append(c.services, kv.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.ScopeSpans {
				c.spans = append(c.spans, ss.Spans...)
			}
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

// gradientPNG is a 128x128 PNG, the model's input size, which
// /api/v1/predict classifies without resizing.
func gradientPNG(t *testing.T, seed int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 128, 128))
	for y := range 128 {
		for x := range 128 {
			img.Set(x, y, color.NRGBA{uint8(x*2 + seed), uint8(y * seed), uint8(x ^ y), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestServeProtocols runs "huskyai serve" with tracing on (the variable
// HUSKYAI_OTLP_ENDPOINT) and talks to it as KServe v2, Triton and TF
// Serving clients do: every way of sending an image or a tensor gives
// exactly the probability of POST /api/v1/predict, the metrics count the
// requests, and at shutdown the collector has the spans of each stage
// under the request's span.
func TestServeProtocols(t *testing.T) {
	col := startCollector(t)
	s := startServe(t, map[string]string{"HUSKYAI_OTLP_ENDPOINT": col.url}, "--rate-limit", "0")
	img := gradientPNG(t, 3)

	status, _, body := s.call(t, "POST", "/api/v1/predict", map[string]string{"Content-Type": "image/png"}, img)
	var ref struct {
		Probability float32 `json:"probability"`
	}
	if err := json.Unmarshal(body, &ref); status != 200 || err != nil {
		t.Fatalf("/api/v1/predict: %d %s", status, body)
	}

	// The tensor, prepared as the classifier prepares a 128x128 image.
	rgb, _, err := imageprep.Decode(img, 0)
	if err != nil {
		t.Fatal(err)
	}
	tensor := rgb.Tensor(nil)
	b64 := base64.StdEncoding.EncodeToString(img)
	jsonHdr := map[string]string{"Content-Type": "application/json"}
	marshal := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// The binary tensor data extension: the JSON header, then the image
	// as a BYTES element (4-byte little-endian length, bytes).
	binHeader := marshal(map[string]any{"inputs": []map[string]any{{"name": "image", "shape": []int{1}, "datatype": "BYTES",
		"parameters": map[string]any{"binary_data_size": 4 + len(img)}}}})
	binBody := append(binary.LittleEndian.AppendUint32(slices.Clone(binHeader), uint32(len(img))), img...)

	v2Prob := func(body []byte) float32 {
		var out struct {
			Outputs []struct {
				Name string    `json:"name"`
				Data []float32 `json:"data"`
			} `json:"outputs"`
		}
		if err := json.Unmarshal(body, &out); err != nil || len(out.Outputs) != 1 || len(out.Outputs[0].Data) != 1 {
			t.Fatalf("v2 response %s", body)
		}
		return out.Outputs[0].Data[0]
	}
	tfProb := func(body []byte) float32 {
		var out struct {
			Predictions [][]float32 `json:"predictions"`
		}
		if err := json.Unmarshal(body, &out); err != nil || len(out.Predictions) != 1 || len(out.Predictions[0]) != 1 {
			t.Fatalf("TF response %s", body)
		}
		return out.Predictions[0][0]
	}
	for _, tt := range []struct {
		name string
		path string
		hdr  map[string]string
		body []byte
		prob func([]byte) float32
	}{
		{"v2 FP32", "/v2/models/huskyai/infer", jsonHdr, marshal(map[string]any{"inputs": []map[string]any{
			{"name": "input", "shape": []int{1, 128, 128, 3}, "datatype": "FP32", "data": tensor}}}), v2Prob},
		{"v2 BYTES base64", "/v2/models/huskyai/versions/1/infer", jsonHdr, marshal(map[string]any{"inputs": []map[string]any{
			{"name": "image", "shape": []int{1}, "datatype": "BYTES", "data": []string{b64}}}}), v2Prob},
		{"v2 BYTES binary", "/v2/models/huskyai/infer", map[string]string{"Content-Type": "application/octet-stream",
			"Inference-Header-Content-Length": strconv.Itoa(len(binHeader))}, binBody, v2Prob},
		{"TF b64", "/v1/models/huskyai:predict", jsonHdr, marshal(map[string]any{"instances": []map[string]string{{"b64": b64}}}), tfProb},
	} {
		status, _, body := s.call(t, "POST", tt.path, tt.hdr, tt.body)
		if status != 200 {
			t.Errorf("%s: %d %s", tt.name, status, body)
			continue
		}
		if got := tt.prob(body); got != ref.Probability {
			t.Errorf("%s: probability %v, want /api/v1/predict's %v", tt.name, got, ref.Probability)
		}
	}
	for _, path := range []string{"/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/huskyai", "/v2/models/huskyai/ready", "/v1/models/huskyai"} {
		if status, _, body := s.call(t, "GET", path, nil, nil); status != 200 {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}
	if status, _, body := s.call(t, "GET", "/v2/models/resnet/ready", nil, nil); status != 404 || !strings.Contains(string(body), `{"error":`) {
		t.Errorf("unknown model: %d %s", status, body)
	}
	_, _, metrics := s.call(t, "GET", "/metrics", nil, nil)
	for _, want := range []string{
		`huskyai_inference_request_success_total{model="` + defaultmodel.Name + `"} 5`,
		`huskyai_inference_request_duration_seconds_count{stage="compute"} 5`,
		`huskyai_inference_batch_size_count 5`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Shutting down exports the spans still buffered.
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if !slices.Contains(col.services, "huskyai") {
		t.Errorf("resources of service %q, want huskyai", col.services)
	}
	byID := make(map[string]*tracepb.Span)
	for _, sp := range col.spans {
		byID[hex.EncodeToString(sp.SpanId)] = sp
	}
	stages := make(map[string]int) // stage spans under an infer span
	roots := 0
	for _, sp := range col.spans {
		if sp.Name == "POST /v2/models/{model}/infer" && sp.Kind == tracepb.Span_SPAN_KIND_SERVER {
			roots++
		}
		if parent := byID[hex.EncodeToString(sp.ParentSpanId)]; parent != nil && strings.HasPrefix(parent.Name, "POST /v2/models/{model}") {
			stages[sp.Name]++
		}
	}
	if roots != 2 {
		t.Errorf("%d spans of POST /v2/models/{model}/infer, want 2 (of %d spans)", roots, len(col.spans))
	}
	// Three v2 requests: two images, one tensor (no decode, no preprocess).
	for stage, n := range map[string]int{"read_upload": 3, "queue_wait": 3, "decode": 2, "preprocess": 2, "inference": 3} {
		if stages[stage] != n {
			t.Errorf("%d %s spans under v2 requests, want %d (all: %v)", stages[stage], stage, n, stages)
		}
	}
}

// TestTracingFlags: --otlp-endpoint (or HUSKYAI_OTLP_ENDPOINT) turns
// tracing on with a collector URL, to which /v1/traces is added when it
// has no path; OTEL_EXPORTER_OTLP_ENDPOINT alone leaves it off.
func TestTracingFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string // the traces URL; "" for off
		err  string
	}{
		{args: nil, want: ""},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: ""},
		{args: []string{"--otlp-endpoint", "http://collector:4318"}, want: "http://collector:4318/v1/traces"},
		{args: []string{"--otlp-endpoint", "https://collector/"}, want: "https://collector/v1/traces"},
		{args: []string{"--otlp-endpoint", "https://gw.example/otlp/v1/traces"}, want: "https://gw.example/otlp/v1/traces"},
		{env: map[string]string{"HUSKYAI_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, want: "http://127.0.0.1:4318/v1/traces"},
		{args: []string{"--otlp-endpoint", "collector:4318"}, err: "want an http:// or https:// URL"},
		{args: []string{"--otlp-endpoint", "grpc://collector:4317"}, err: "want an http:// or https:// URL"},
	} {
		f, err := parseServeFlags(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v %v: error %v, want %q", tt.args, tt.env, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v %v: %v", tt.args, tt.env, err)
		}
		got := ""
		if f.otlpEndpoint != "" {
			got, _ = f.tracesURL()
		}
		if got != tt.want {
			t.Errorf("%v %v: traces URL %q, want %q", tt.args, tt.env, got, tt.want)
		}
	}
}
