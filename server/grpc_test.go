package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/internal/oip/inferencepb"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// startGRPC serves svc's gRPC service in plaintext on a loopback port and
// returns a client of it.
func startGRPC(t *testing.T, svc *Service) inferencepb.GRPCInferenceServiceClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := svc.GRPCServer(GRPCConfig{})
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return inferencepb.NewGRPCInferenceServiceClient(conn)
}

// imageRequest asks model to classify the encoded images as the BYTES
// input "image".
func imageRequest(model string, imgs ...[]byte) *inferencepb.ModelInferRequest {
	return &inferencepb.ModelInferRequest{ModelName: model, Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{
		Name: "image", Datatype: "BYTES", Shape: []int64{int64(len(imgs))},
		Contents: &inferencepb.InferTensorContents{BytesContents: imgs}}}}
}

// infer calls ModelInfer and returns its answer, its code, and REST's
// error code and Retry-After seconds from the status details.
func infer(t *testing.T, c inferencepb.GRPCInferenceServiceClient, req *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, codes.Code, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.ModelInfer(ctx, req)
	reason, retry := errorDetails(err)
	return resp, grpcstatus.Code(err), reason, retry
}

// errorDetails returns the reason of err's google.rpc.ErrorInfo and the
// delay of its google.rpc.RetryInfo, if it has them.
func errorDetails(err error) (reason string, retry time.Duration) {
	for _, d := range grpcstatus.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.GetReason()
		case *errdetails.RetryInfo:
			retry = d.GetRetryDelay().AsDuration()
		}
	}
	return reason, retry
}

// TestGRPCErrors: the answers REST gives with an error become gRPC codes,
// with REST's error code in the trailer.
func TestGRPCErrors(t *testing.T) {
	const maxUpload = 4 << 10
	svc := NewServer(nil, &fake{info: trainedInfo}, Config{MaxUpload: maxUpload})
	c := startGRPC(t, svc)
	img := v2Image(t, "png", 8, 8, 1)
	tooLarge := append(bytes.Clone(img), make([]byte, maxUpload)...)
	withInput := func(f func(in *inferencepb.ModelInferRequest_InferInputTensor)) *inferencepb.ModelInferRequest {
		req := imageRequest("trained", img)
		f(req.Inputs[0])
		return req
	}
	for _, tt := range []struct {
		name    string
		req     *inferencepb.ModelInferRequest
		code    codes.Code
		errCode string // "" when grpc itself refuses
	}{
		{"an image", imageRequest("trained", img), codes.OK, ""},
		{"the default model", imageRequest("", img), codes.OK, ""},
		{"unknown model", imageRequest("resnet", img), codes.NotFound, codeModelNotFound},
		{"unknown version", &inferencepb.ModelInferRequest{ModelName: "trained", ModelVersion: "9"}, codes.NotFound, codeModelNotFound},
		{"not an image", imageRequest("trained", []byte("hello")), codes.InvalidArgument, codeUnsupportedMedia},
		{"bad shape", withInput(func(in *inferencepb.ModelInferRequest_InferInputTensor) { in.Shape = []int64{2} }), codes.InvalidArgument, codeBadRequest},
		{"unknown input", withInput(func(in *inferencepb.ModelInferRequest_InferInputTensor) { in.Name = "pixels" }), codes.InvalidArgument, codeBadRequest},
		{"wrong datatype", withInput(func(in *inferencepb.ModelInferRequest_InferInputTensor) { in.Datatype = "FP32" }), codes.InvalidArgument, codeBadRequest},
		{"no input", &inferencepb.ModelInferRequest{ModelName: "trained"}, codes.InvalidArgument, codeBadRequest},
		{"unknown output", func() *inferencepb.ModelInferRequest {
			req := imageRequest("trained", img)
			req.Outputs = []*inferencepb.ModelInferRequest_InferRequestedOutputTensor{{Name: "logits"}}
			return req
		}(), codes.InvalidArgument, codeBadRequest},
		{"contents and raw", func() *inferencepb.ModelInferRequest {
			req := imageRequest("trained", img)
			req.RawInputContents = [][]byte{img}
			return req
		}(), codes.InvalidArgument, codeBadRequest},
		{"FP32 of the wrong shape", &inferencepb.ModelInferRequest{Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{
			Name: "input", Datatype: "FP32", Shape: []int64{1, 1, 1, 3},
			Contents: &inferencepb.InferTensorContents{Fp32Contents: []float32{0, 2, 0}}}}}, codes.InvalidArgument, codeBadRequest},
		{"image over --max-upload", imageRequest("trained", tooLarge), codes.ResourceExhausted, codeTooLarge},
		{"message over the limit", imageRequest("trained", make([]byte, 2*(maxUpload+protocolOverhead))), codes.ResourceExhausted, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, code, reason, _ := infer(t, c, tt.req)
			if code != tt.code {
				t.Fatalf("code %v, want %v", code, tt.code)
			}
			if reason != tt.errCode {
				t.Errorf("ErrorInfo reason %q, want %q", reason, tt.errCode)
			}
			if code == codes.OK {
				out := resp.GetOutputs()
				if len(out) != 1 || out[0].GetName() != "probability" || len(out[0].GetContents().GetFp32Contents()) != 1 {
					t.Fatalf("outputs %v", out)
				}
				if p := out[0].GetContents().GetFp32Contents()[0]; p != 0.8712 {
					t.Errorf("probability %v, want the model's 0.8712", p)
				}
			}
		})
	}
}

// TestGRPCBusy: a ModelInfer that finds no inference slot within the
// queue timeout gets Unavailable with retry-after, as REST gets 503.
func TestGRPCBusy(t *testing.T) {
	entered, unblock := make(chan struct{}, 1), make(chan struct{})
	blocking := &fake{info: trainedInfo, classify: func([]byte) (classifier.Result, error) {
		entered <- struct{}{}
		<-unblock
		return classifier.Result{}, nil
	}}
	c := startGRPC(t, NewServer(nil, blocking, Config{MaxInflight: 1, QueueTimeout: 50 * time.Millisecond}))
	img := v2Image(t, "png", 8, 8, 1)
	done := make(chan codes.Code, 1)
	go func() {
		_, code, _, _ := infer(t, c, imageRequest("", img))
		done <- code
	}()
	select {
	case <-entered:
	case code := <-done:
		t.Fatalf("the request meant to hold the slot ended: %v", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var trailer metadata.MD
	_, err := c.ModelInfer(ctx, imageRequest("", img), grpc.Trailer(&trailer))
	reason, retry := errorDetails(err)
	if grpcstatus.Code(err) != codes.Unavailable || reason != codeBusy || retry != time.Second ||
		first(trailer.Get("huskyai-error-code")) != codeBusy || first(trailer.Get("retry-after")) != "1" {
		t.Errorf("while the slot is taken: %v (%s, %v), trailer %v; want Unavailable, %s, retry 1s in details and trailer", err, reason, retry, trailer, codeBusy)
	}
	close(unblock)
	if code := <-done; code != codes.OK {
		t.Errorf("the request that held the slot: %v", code)
	}
}

// TestGRPCRateLimitAndAudit: gRPC and REST requests from one address
// share its rate-limit bucket, and each gRPC inference writes the audit
// record REST writes, marked protocol "grpc".
func TestGRPCRateLimitAndAudit(t *testing.T) {
	rec := &recorder{}
	svc := NewServer(nil, &fake{info: trainedInfo}, Config{RateLimit: 0.01, RateBurst: 2, Audit: rec})
	c := startGRPC(t, svc)
	img := v2Image(t, "png", 8, 8, 1)
	if _, code, _, _ := infer(t, c, imageRequest("", img)); code != codes.OK {
		t.Fatalf("first gRPC inference: %v", code)
	}
	body := fmt.Sprintf(`{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":[%q]}]}`, base64.StdEncoding.EncodeToString(img))
	r := httptest.NewRequest(http.MethodPost, "/v2/models/trained/infer", strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	svc.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("REST inference, the bucket's second token: %d %s", w.Code, w.Body)
	}
	// Refused before its message is read: an over-large one gets the
	// rate limit's answer, not the size limit's.
	_, code, reason, retry := infer(t, c, imageRequest("", make([]byte, 2*DefaultMaxUpload)))
	if code != codes.ResourceExhausted || reason != codeRateLimited || retry < time.Second {
		t.Errorf("third inference from 127.0.0.1: %v (%q, retry %v); want ResourceExhausted, %s, a retry delay", code, reason, retry, codeRateLimited)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.evs) != 2 {
		t.Fatalf("%d prediction records, want 2 (one gRPC, one REST): %+v", len(rec.evs), rec.evs)
	}
	sum := sha256.Sum256(img)
	g, h := rec.evs[0], rec.evs[1]
	if g.Protocol != "grpc" || h.Protocol != "" {
		t.Errorf("protocols %q and %q, want grpc and empty (HTTP)", g.Protocol, h.Protocol)
	}
	if !strings.HasPrefix(g.ClientAddr, "127.0.0.1:") || g.ImageSHA256 != hex.EncodeToString(sum[:]) ||
		g.Status != http.StatusOK || g.Probability == nil || *g.Probability != 0.8712 || g.RequestID == "" || g.ImageBytes != len(img) {
		t.Errorf("gRPC record %+v", g)
	}
}

// TestGRPCCode: each HTTP status the pipeline answers with has the gRPC
// code of the same meaning, and back for the metrics.
func TestGRPCCode(t *testing.T) {
	for st, want := range map[int]codes.Code{
		http.StatusBadRequest:            codes.InvalidArgument,
		http.StatusForbidden:             codes.PermissionDenied,
		http.StatusNotFound:              codes.NotFound,
		http.StatusRequestTimeout:        codes.DeadlineExceeded,
		http.StatusRequestEntityTooLarge: codes.ResourceExhausted,
		http.StatusUnsupportedMediaType:  codes.InvalidArgument,
		http.StatusUnprocessableEntity:   codes.InvalidArgument,
		http.StatusTooManyRequests:       codes.ResourceExhausted,
		http.StatusInternalServerError:   codes.Internal,
		http.StatusServiceUnavailable:    codes.Unavailable,
		http.StatusTeapot:                codes.Unknown,
	} {
		if got := grpcCode(st); got != want {
			t.Errorf("grpcCode(%d) = %v, want %v", st, got, want)
		}
	}
	for _, code := range []codes.Code{codes.OK, codes.InvalidArgument, codes.NotFound, codes.ResourceExhausted, codes.Unavailable, codes.Internal} {
		if got := grpcCode(httpStatus(code)); got != code && code != codes.OK {
			t.Errorf("grpcCode(httpStatus(%v)) = %v", code, got)
		}
	}
}

// TestGRPCAdmissionBeforeRead: ModelInfer takes its pending place before
// its message is read, as REST does before the body, and gives it back
// whatever the outcome.
func TestGRPCAdmissionBeforeRead(t *testing.T) {
	entered, unblock := make(chan struct{}, 1), make(chan struct{})
	var hold atomic.Bool
	blocking := &fake{info: trainedInfo, classify: func([]byte) (classifier.Result, error) {
		if hold.Load() {
			entered <- struct{}{}
			<-unblock
		}
		return classifier.Result{Verdict: huskyai.NewVerdict(0.25, 2)}, nil
	}}
	c := startGRPC(t, NewServer(nil, blocking, Config{MaxInflight: 1, MaxPending: 1}))
	img := v2Image(t, "png", 8, 8, 1)
	hold.Store(true)
	done := make(chan codes.Code, 1)
	go func() {
		_, code, _, _ := infer(t, c, imageRequest("", img))
		done <- code
	}()
	select {
	case <-entered:
	case code := <-done:
		t.Fatalf("the request meant to hold the place ended: %v", code)
	}
	hold.Store(false)
	// Over the message limit: refused for the place, before it is read
	// (grpc's own refusal of the size has no reason).
	if _, code, reason, _ := infer(t, c, imageRequest("", make([]byte, 2*DefaultMaxUpload))); code != codes.ResourceExhausted || reason != codeTooManyPending {
		t.Errorf("while the only place is taken: %v %q; want ResourceExhausted, %s", code, reason, codeTooManyPending)
	}
	close(unblock)
	if code := <-done; code != codes.OK {
		t.Fatalf("the request that held the place: %v", code)
	}
	// Each ends its place, refused or not: with one place, each next one
	// gets it.
	for _, tt := range []struct {
		req  *inferencepb.ModelInferRequest
		code codes.Code
	}{
		{imageRequest("resnet", img), codes.NotFound},
		{imageRequest("", []byte("hello")), codes.InvalidArgument},
		{imageRequest("", make([]byte, 2*DefaultMaxUpload)), codes.ResourceExhausted},
		{imageRequest("", img), codes.OK},
		{imageRequest("", img), codes.OK},
	} {
		if _, code, reason, _ := infer(t, c, tt.req); code != tt.code {
			t.Errorf("model %q: %v %q, want %v", tt.req.ModelName, code, reason, tt.code)
		}
	}
}

// TestGRPCTrickle: a client that sends part of its message and stalls
// loses the RPC, and its place, at GRPCConfig.RequestTimeout, as a slow
// upload over REST is cut.
func TestGRPCTrickle(t *testing.T) {
	svc := NewServer(nil, &fake{info: trainedInfo}, Config{MaxPending: 1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	gs := svc.GRPCServer(GRPCConfig{RequestTimeout: timeout})
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)

	// A raw HTTP/2 client: the headers of a ModelInfer, then 10 bytes of
	// a message that says it has 1000.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", modelInferMethod},
		{":authority", "huskyai"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	start := time.Now()
	if err := errors.Join(fr.WriteSettings(), fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}),
		fr.WriteData(1, false, append([]byte{0, 0, 0, 3, 0xe8}, make([]byte, 5)...))); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no end of the stalled RPC: %v", err)
		}
		if f.Header().StreamID != 1 {
			continue
		}
		if _, ok := f.(*http2.RSTStreamFrame); ok {
			break
		}
		if h, ok := f.(*http2.HeadersFrame); ok && h.StreamEnded() {
			break
		}
	}
	if d := time.Since(start); d < timeout {
		t.Errorf("the stalled RPC ended after %v, before the request timeout %v", d, timeout)
	}
	// Its place is free again.
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := inferencepb.NewGRPCInferenceServiceClient(cc)
	if _, code, reason, _ := infer(t, c, imageRequest("", v2Image(t, "png", 8, 8, 1))); code != codes.OK {
		t.Errorf("after the stalled RPC: %v %q", code, reason)
	}
}

// TestGRPCTracingAndDrain: with a TracerProvider a ModelInfer is a server
// span joined to the caller's traceparent, with the stages as children;
// once the drain starts, ServerReady answers false, as /readyz 503.
func TestGRPCTracingAndDrain(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	drain := NewDrain()
	c := startGRPC(t, NewServer(nil, &fake{info: trainedInfo}, Config{Drain: drain,
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))}))
	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", caller)
	if _, err := c.ModelInfer(ctx, imageRequest("", v2Image(t, "png", 8, 8, 1))); err != nil {
		t.Fatal(err)
	}
	var root sdktrace.ReadOnlySpan
	children := 0
	for _, sp := range rec.Ended() {
		if sp.Name() == "inference.GRPCInferenceService/ModelInfer" {
			root = sp
		}
	}
	if root == nil || root.SpanKind() != trace.SpanKindServer || root.Parent().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("no server span of ModelInfer in the caller's trace: %v", root)
	}
	for _, sp := range rec.Ended() {
		if sp.Parent().SpanID() == root.SpanContext().SpanID() {
			children++
		}
	}
	if children < 2 { // read_upload, queue_wait and the model's stages
		t.Errorf("%d child spans of ModelInfer", children)
	}

	if r, err := c.ServerReady(context.Background(), &inferencepb.ServerReadyRequest{}); err != nil || !r.GetReady() {
		t.Errorf("ServerReady before the drain: %v %v", r, err)
	}
	drain.Start()
	if r, err := c.ServerReady(context.Background(), &inferencepb.ServerReadyRequest{}); err != nil || r.GetReady() {
		t.Errorf("ServerReady while draining: %v %v", r, err)
	}
}
