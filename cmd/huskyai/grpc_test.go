package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/internal/oip/inferencepb"
)

var grpcListeningRE = regexp.MustCompile(`gRPC \((TLS|plaintext)\) listening on (\S+)`)

// grpcClient connects to the gRPC endpoint s announced, over TLS pinned
// to s's certificate when s serves HTTPS, else in plaintext.
func (s *served) grpcClient(t *testing.T) inferencepb.GRPCInferenceServiceClient {
	t.Helper()
	m := grpcListeningRE.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no gRPC listening line on stdout:\n%s", s.stdout)
	}
	creds := insecure.NewCredentials()
	if m[1] == "TLS" {
		creds = credentials.NewTLS(pinnedTLS(s.fingerprint))
	}
	conn, err := grpc.NewClient(m[2], grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return inferencepb.NewGRPCInferenceServiceClient(conn)
}

// restProbability is REST's answer for img: POST /v2/models/huskyai/infer
// with the image as a base64 BYTES element.
func (s *served) restProbability(t *testing.T, img []byte) float32 {
	t.Helper()
	body, err := json.Marshal(map[string]any{"inputs": []map[string]any{
		{"name": "image", "shape": []int{1}, "datatype": "BYTES", "data": []string{base64.StdEncoding.EncodeToString(img)}}}})
	if err != nil {
		t.Fatal(err)
	}
	st, _, resp := s.call(t, "POST", "/v2/models/huskyai/infer", map[string]string{"Content-Type": "application/json"}, body)
	var out struct {
		Outputs []struct {
			Data []float32 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(resp, &out); st != 200 || err != nil || len(out.Outputs) != 1 || len(out.Outputs[0].Data) != 1 {
		t.Fatalf("REST infer: %d %s", st, resp)
	}
	return out.Outputs[0].Data[0]
}

// grpcInput is a ModelInfer request of one input.
func grpcInput(name, datatype string, shape []int64, contents *inferencepb.InferTensorContents, raw ...[]byte) *inferencepb.ModelInferRequest {
	return &inferencepb.ModelInferRequest{ModelName: "huskyai", Id: "req-1", RawInputContents: raw,
		Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{Name: name, Datatype: datatype, Shape: shape, Contents: contents}}}
}

// grpcProbability is the one probability of a ModelInfer answer, from its
// contents or its raw output.
func grpcProbability(t *testing.T, resp *inferencepb.ModelInferResponse) float32 {
	t.Helper()
	out := resp.GetOutputs()
	if len(out) != 1 || out[0].GetName() != "probability" || out[0].GetDatatype() != "FP32" || !slices.Equal(out[0].GetShape(), []int64{1, 1}) {
		t.Fatalf("outputs %v", out)
	}
	if raw := resp.GetRawOutputContents(); len(raw) == 1 && len(raw[0]) == 4 {
		return math.Float32frombits(binary.LittleEndian.Uint32(raw[0]))
	}
	if p := out[0].GetContents().GetFp32Contents(); len(p) == 1 {
		return p[0]
	}
	t.Fatalf("no probability in %v", resp)
	return 0
}

// TestServeGRPC runs serve with --grpc-addr over its default TLS and
// checks every RPC through the Go client: ModelInfer with FP32 tensors,
// BYTES images and raw_input_contents answers REST's probability; errors
// have their gRPC codes; /metrics counts the RPCs under their method;
// the audit log has a record per inference.
func TestServeGRPC(t *testing.T) {
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	s := startServe(t, nil, "--grpc-addr", "127.0.0.1:0", "--rate-limit", "0", "--audit-log", auditPath, "--max-upload", "64KiB")
	c := s.grpcClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	checkGRPCMetadata(ctx, t, c)

	img := gradientPNG(t, 5)
	want := s.restProbability(t, img)
	rgb, _, err := imageprep.Decode(img, 0)
	if err != nil {
		t.Fatal(err)
	}
	tensor := rgb.Tensor(nil)
	var rawTensor []byte
	for _, v := range tensor {
		rawTensor = binary.LittleEndian.AppendUint32(rawTensor, math.Float32bits(v))
	}
	rawImage := append(binary.LittleEndian.AppendUint32(nil, uint32(len(img))), img...)
	shape := []int64{1, 128, 128, 3}
	ok := []struct {
		name string
		req  *inferencepb.ModelInferRequest
	}{
		{"FP32 contents", grpcInput("input", "FP32", shape, &inferencepb.InferTensorContents{Fp32Contents: tensor})},
		{"FP32 raw", grpcInput("input", "FP32", shape, nil, rawTensor)},
		{"BYTES contents", grpcInput("image", "BYTES", []int64{1}, &inferencepb.InferTensorContents{BytesContents: [][]byte{img}})},
		{"BYTES raw", grpcInput("image", "BYTES", []int64{1, 1}, nil, rawImage)},
	}
	for _, tt := range ok {
		resp, err := c.ModelInfer(ctx, tt.req)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := grpcProbability(t, resp); got != want {
			t.Errorf("%s: probability %v, want REST's %v", tt.name, got, want)
		}
		if resp.GetId() != "req-1" || !strings.HasPrefix(resp.GetModelName(), "huskyai") || resp.GetModelVersion() != "1" {
			t.Errorf("%s: id %q, model %q version %q", tt.name, resp.GetId(), resp.GetModelName(), resp.GetModelVersion())
		}
	}
	checkGRPCErrors(ctx, t, c, img)

	// A plaintext client does not get through the TLS listener.
	m := grpcListeningRE.FindStringSubmatch(s.stdout.String())
	conn, err := grpc.NewClient(m[2], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := inferencepb.NewGRPCInferenceServiceClient(conn).ServerLive(ctx, &inferencepb.ServerLiveRequest{}); grpcstatus.Code(err) != codes.Unavailable {
		t.Errorf("plaintext ServerLive on the TLS port: %v, want Unavailable", err)
	}

	metrics := s.metrics(t)
	for _, line := range []string{
		`huskyai_http_requests_total\{code="200",route="/inference.GRPCInferenceService/ModelInfer"\} 4`,
		`huskyai_http_requests_total\{code="404",route="/inference.GRPCInferenceService/ModelInfer"\} 1`,
		`huskyai_http_requests_total\{code="413",route="/inference.GRPCInferenceService/ModelInfer"\} 1`,
		`huskyai_http_requests_total\{code="200",route="/inference.GRPCInferenceService/ServerLive"\} 1`,
		`huskyai_inference_request_success_total\{model="huskyai-[^"]+"\} 5`, // 4 gRPC, 1 REST
	} {
		if !regexp.MustCompile(`(?m)^` + line + `$`).MatchString(metrics) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	checkGRPCAudit(t, auditPath, img, want)
}

// checkGRPCMetadata checks the health and metadata RPCs.
func checkGRPCMetadata(ctx context.Context, t *testing.T, c inferencepb.GRPCInferenceServiceClient) {
	t.Helper()
	var hdr metadata.MD
	if live, err := c.ServerLive(ctx, &inferencepb.ServerLiveRequest{}, grpc.Header(&hdr)); err != nil || !live.GetLive() {
		t.Errorf("ServerLive: %v %v", live, err)
	}
	if len(hdr.Get("x-request-id")) != 1 {
		t.Errorf("no x-request-id in the header metadata: %v", hdr)
	}
	if ready, err := c.ServerReady(ctx, &inferencepb.ServerReadyRequest{}); err != nil || !ready.GetReady() {
		t.Errorf("ServerReady: %v %v", ready, err)
	}
	if md, err := c.ServerMetadata(ctx, &inferencepb.ServerMetadataRequest{}); err != nil || md.GetName() != "huskyai" || md.GetVersion() == "" {
		t.Errorf("ServerMetadata: %v %v", md, err)
	}
	if r, err := c.ModelReady(ctx, &inferencepb.ModelReadyRequest{Name: "huskyai", Version: "1"}); err != nil || !r.GetReady() {
		t.Errorf("ModelReady: %v %v", r, err)
	}
	md, err := c.ModelMetadata(ctx, &inferencepb.ModelMetadataRequest{Name: "huskyai"})
	if err != nil || !strings.HasPrefix(md.GetName(), "huskyai") || len(md.GetInputs()) != 2 || len(md.GetOutputs()) != 1 {
		t.Fatalf("ModelMetadata: %v %v", md, err)
	}
	if in := md.GetInputs()[0]; in.GetName() != "input" || in.GetDatatype() != "FP32" || !slices.Equal(in.GetShape(), []int64{-1, 128, 128, 3}) {
		t.Errorf("ModelMetadata input %v", in)
	}
}

// checkGRPCErrors checks that ModelInfer's errors have their gRPC codes.
func checkGRPCErrors(ctx context.Context, t *testing.T, c inferencepb.GRPCInferenceServiceClient, img []byte) {
	t.Helper()
	for _, tt := range []struct {
		name string
		req  *inferencepb.ModelInferRequest
		code codes.Code
	}{
		{"bad shape", grpcInput("input", "FP32", []int64{1, 64, 64, 3}, &inferencepb.InferTensorContents{Fp32Contents: make([]float32, 64*64*3)}), codes.InvalidArgument},
		{"unknown model", &inferencepb.ModelInferRequest{ModelName: "resnet"}, codes.NotFound},
		{"image over --max-upload", grpcInput("image", "BYTES", []int64{1}, &inferencepb.InferTensorContents{BytesContents: [][]byte{make([]byte, 100<<10)}}), codes.ResourceExhausted},
	} {
		if _, err := c.ModelInfer(ctx, tt.req); grpcstatus.Code(err) != tt.code {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.code)
		}
	}
}

// checkGRPCAudit checks the audit log has a prediction record of each
// gRPC inference (4), with the peer's address, the input's hash and the
// probability, besides REST's one.
func checkGRPCAudit(t *testing.T, path string, img []byte, want float32) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	imgSum := sha256.Sum256(img)
	var grpcRecs, images int
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var rec struct {
			Type        string   `json:"type"`
			Protocol    string   `json:"protocol"`
			ClientAddr  string   `json:"client_addr"`
			ImageSHA256 string   `json:"image_sha256"`
			Probability *float32 `json:"probability"`
			Status      int      `json:"status"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Type != "prediction" || rec.Protocol != "grpc" {
			continue
		}
		grpcRecs++
		if !strings.HasPrefix(rec.ClientAddr, "127.0.0.1:") || rec.Status != 200 || rec.Probability == nil || *rec.Probability != want {
			t.Errorf("gRPC audit record %+v", rec)
		}
		if rec.ImageSHA256 == hex.EncodeToString(imgSum[:]) {
			images++
		}
	}
	if grpcRecs != 4 || images != 2 {
		t.Errorf("%d gRPC prediction records, %d of the image; want 4, 2 (the other two of its tensor)", grpcRecs, images)
	}
}

// TestServeGRPCRateLimit: gRPC and REST share a client's rate-limit
// bucket, and a refused RPC gets ResourceExhausted with retry-after;
// with --insecure-http the gRPC endpoint is plaintext.
func TestServeGRPCRateLimit(t *testing.T) {
	s := startServe(t, nil, "--insecure-http", "--grpc-addr", "127.0.0.1:0", "--rate-limit", "0.01", "--rate-burst", "2")
	c := s.grpcClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	img := gradientPNG(t, 7)
	req := grpcInput("image", "BYTES", []int64{1}, &inferencepb.InferTensorContents{BytesContents: [][]byte{img}})
	resp, err := c.ModelInfer(ctx, req)
	if err != nil {
		t.Fatalf("first inference: %v", err)
	}
	if got, want := grpcProbability(t, resp), s.restProbability(t, img); got != want { // REST takes the second token
		t.Errorf("probability %v, want REST's %v", got, want)
	}
	_, err = c.ModelInfer(ctx, req)
	var reason string
	var retry time.Duration
	for _, d := range grpcstatus.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.GetReason()
		case *errdetails.RetryInfo:
			retry = d.GetRetryDelay().AsDuration()
		}
	}
	if grpcstatus.Code(err) != codes.ResourceExhausted || reason != "rate_limited" || retry < time.Second {
		t.Errorf("third inference: %v (%q, retry %v); want ResourceExhausted, rate_limited, a retry delay", err, reason, retry)
	}
	if st, _, body := s.call(t, "POST", "/api/v1/predict", map[string]string{"Content-Type": "image/png"}, img); st != 429 {
		t.Errorf("REST after the bucket ran out: %d %s, want 429", st, body)
	}
}

// TestServeGRPCGracefulStop: RPCs in flight when serve is told to stop
// are answered, and serve stops cleanly. With one inference slot, eight
// RPCs of a large image queue behind each other, so that some are still
// in flight when the stop begins.
func TestServeGRPCGracefulStop(t *testing.T) {
	s := startServe(t, nil, "--insecure-http", "--grpc-addr", "127.0.0.1:0", "--rate-limit", "0",
		"--max-inflight", "1", "--max-pending", "16", "--max-pending-per-client", "16", "--queue-timeout", "30s")
	c := s.grpcClient(t)
	req := grpcInput("image", "BYTES", []int64{1}, &inferencepb.InferTensorContents{BytesContents: [][]byte{testPNG(t, 1024, 1024)}})
	const n = 8
	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, n)
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, err := c.ModelInfer(ctx, req)
			done <- result{err, time.Now()}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	stopping := time.Now()
	if err := s.stop(); err != nil {
		t.Fatalf("serve with RPCs in flight: %v", err)
	}
	after := 0
	for range n {
		r := <-done
		if r.err != nil {
			t.Errorf("an RPC in flight at the stop: %v", r.err)
		}
		if r.at.After(stopping) {
			after++
		}
	}
	if after == 0 {
		t.Errorf("all %d RPCs ended before the stop began: none was in flight", n)
	}
}

// TestServeGRPCReloadsCertificate: the gRPC port presents serve's
// certificate, and a reloaded one (POST /admin/reload, as SIGHUP and
// --watch) from the next connection on.
func TestServeGRPCReloadsCertificate(t *testing.T) {
	certFile, keyFile, newPair := certPair(t)
	newPair()
	s := startServe(t, nil, "--tls-cert", certFile, "--tls-key", keyFile, "--admin-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0")
	grpcAddr := grpcListeningRE.FindStringSubmatch(s.stdout.String())[2]
	served := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", grpcAddr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sum := sha256.Sum256(c.ConnectionState().PeerCertificates[0].Raw)
		return strings.ToUpper(hex.EncodeToString(sum[:]))
	}
	if got, want := served(), strings.ReplaceAll(s.fingerprint, ":", ""); got != want {
		t.Errorf("the gRPC port presents %s, want serve's certificate %s", got, want)
	}
	first := served()
	newPair()
	if status, m := s.adminReload(t); status != 200 {
		t.Fatalf("admin reload: %d %v", status, m)
	}
	second := served()
	if second == first {
		t.Fatal("the gRPC port still presents the certificate from before the reload")
	}
	// A client that trusts only the new certificate gets an answer.
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(pinnedTLS(second))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if live, err := inferencepb.NewGRPCInferenceServiceClient(conn).ServerLive(ctx, &inferencepb.ServerLiveRequest{}); err != nil || !live.GetLive() {
		t.Errorf("ServerLive over the reloaded certificate: %v %v", live, err)
	}
}
