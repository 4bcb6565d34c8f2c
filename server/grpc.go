package server

// The gRPC server (huskyai serve --grpc-addr): the Open Inference
// Protocol's GRPCInferenceService (kserve_grpc.go) under the same
// defences as HTTP. grpcTap admits a ModelInfer before its message is
// read (grpc_admission.go). unaryCall does for each RPC what middleware and
// instrument do for each HTTP request: a request id, the client (the
// connection's peer: X-Forwarded-For and --trusted-proxy are HTTP's
// only), a span, the metrics of its route (its full method name, with the
// HTTP status of the same answer as code), one log line, and panics
// recovered; and it turns the *uploadError a handler returns, the
// answer REST would give, into a gRPC status (grpcCode).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/huskyai/huskyai/abuse"
	"github.com/huskyai/huskyai/internal/oip/inferencepb"
)

// Defaults of GRPCConfig.
const (
	// DefaultGRPCConnectionTimeout bounds a connection's handshakes.
	DefaultGRPCConnectionTimeout = 10 * time.Second
	// DefaultGRPCIdleTimeout closes a connection without RPCs.
	DefaultGRPCIdleTimeout = 2 * time.Minute
	// DefaultGRPCRequestTimeout bounds an RPC, its message included.
	DefaultGRPCRequestTimeout = 3 * time.Minute
)

// Keepalive of the gRPC server: clients may ping at most every
// grpcMinPing, and only while they have RPCs in flight (else the
// connection is closed with too_many_pings); the server pings a silent
// client after grpcPingAfter and drops it when the ping is not answered
// within grpcPingTimeout.
const (
	grpcMinPing     = 10 * time.Second
	grpcPingAfter   = 2 * time.Minute
	grpcPingTimeout = 20 * time.Second
	// grpcMaxHeaderBytes bounds an RPC's metadata, as the HTTP server's
	// MaxHeaderBytes bounds headers.
	grpcMaxHeaderBytes = 64 << 10
)

// GRPCConfig tunes the gRPC server of a Service (GRPCServer). The zero
// value of each field means its default.
type GRPCConfig struct {
	// TLS, if not nil, secures the connections with this configuration:
	// its GetCertificate is asked at each handshake, so a certificate
	// reloaded there serves gRPC too. Nil: plaintext (HTTP/2 without
	// TLS, behind a TLS-terminating proxy).
	TLS *tls.Config
	// ConnectionTimeout bounds a new connection's TLS and HTTP/2
	// handshakes. Default DefaultGRPCConnectionTimeout.
	ConnectionTimeout time.Duration
	// IdleTimeout closes a connection that had no RPC for this long.
	// Default DefaultGRPCIdleTimeout.
	IdleTimeout time.Duration
	// RequestTimeout bounds each RPC from its headers on, the arrival of
	// its message included, as the HTTP server's WriteTimeout bounds a
	// request: a client that trickles its message loses its place then.
	// Default DefaultGRPCRequestTimeout.
	RequestTimeout time.Duration
}

// GRPCServer returns a gRPC server of the Open Inference Protocol's
// inference.GRPCInferenceService over v's pipeline, for the caller to
// Serve on a listener and to stop (GracefulStop) along with the HTTP
// server. Its limits are the HTTP server's: a message is at most
// Config.MaxUpload, or maxInferBatch tensors, plus room for its names and
// shapes (grpcMaxMessage; larger ones get ResourceExhausted before they
// are read whole), a connection carries at most 2 x Config.MaxPending
// concurrent RPCs, and every ModelInfer goes through the same rate limit,
// admission (before its message is read), pipeline and audit as POST
// /v2/models/{model}/infer. Call it once per Service.
func (v *Service) GRPCServer(cfg GRPCConfig) *grpc.Server {
	s := v.s
	if cfg.ConnectionTimeout <= 0 {
		cfg.ConnectionTimeout = DefaultGRPCConnectionTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultGRPCIdleTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultGRPCRequestTimeout
	}
	s.grpcTimeout = cfg.RequestTimeout
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(s.grpcMaxMessage())),
		// Room for every place of both kinds (grpc_admission.go).
		grpc.MaxConcurrentStreams(uint32(2 * s.cfg.MaxPending)),
		grpc.MaxHeaderListSize(grpcMaxHeaderBytes),
		grpc.ConnectionTimeout(cfg.ConnectionTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: grpcMinPing}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: cfg.IdleTimeout, Time: grpcPingAfter, Timeout: grpcPingTimeout}),
		grpc.InTapHandle(s.grpcTap),
		grpc.ChainUnaryInterceptor(s.unaryCall),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	s.grpcOther = make(chan struct{}, s.cfg.MaxPending)
	gs := grpc.NewServer(opts...)
	inferencepb.RegisterGRPCInferenceServiceServer(gs, &grpcInference{s: s})
	return gs
}

// grpcMaxMessage is the largest gRPC message the server reads, as
// inferBodyLimit bounds a REST request: one upload (Config.MaxUpload),
// which the images of a request share, or maxInferBatch tensors (4 bytes
// a value) of the largest model served when the server starts, whichever
// is larger, and protocolOverhead for the rest.
func (s *server) grpcMaxMessage() int64 {
	limit := s.cfg.MaxUpload
	if s.models != nil {
		for _, ref := range s.models.List() {
			for _, v := range ref.Versions {
				if m, ok := s.lookup(ref.Name, v); ok {
					in := m.c.Info().Input
					limit = max(limit, int64(maxInferBatch)*int64(in[0]*in[1]*in[2])*4)
				}
			}
		}
	}
	return limit + protocolOverhead
}

// grpcCallKey is the context key of an RPC's *grpcCall.
type grpcCallKey struct{}

// grpcCall is what unaryCall keeps of an RPC for its handler.
type grpcCall struct {
	// hdr takes the response headers the pipeline sets (Retry-After);
	// unaryCall sends them as trailer metadata.
	hdr http.Header
}

// grpcHeader returns the response header of the RPC of ctx (grpcCall).
func grpcHeader(ctx context.Context) http.Header {
	if c, ok := ctx.Value(grpcCallKey{}).(*grpcCall); ok {
		return c.hdr
	}
	return http.Header{}
}

// unaryCall is the interceptor of every RPC (see the top of the file).
func (s *server) unaryCall(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	route := info.FullMethod // one of the service's few methods: grpc answers others itself
	md, _ := metadata.FromIncomingContext(ctx)
	ctx = s.grpcContext(ctx, md)
	id := requestIDOf(ctx)
	call := &grpcCall{hdr: http.Header{}}
	ctx = context.WithValue(ctx, grpcCallKey{}, call)
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-request-id", id))
	ctx, endSpan := s.startRPCSpan(ctx, route, md)
	inflight := s.metrics.inflight.WithLabelValues(route)
	inflight.Inc()
	defer func() {
		if a, ok := ctx.Value(grpcAdmissionKey{}).(*grpcAdmission); ok {
			a.done() // after a refusal before runItems too
		}
		st := http.StatusOK
		if p := recover(); p != nil {
			s.logger.ErrorContext(ctx, "panic serving request", "request_id", id, "route", route,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp, err = nil, &uploadError{http.StatusInternalServerError, codeInternal, "internal error"}
		}
		if err != nil {
			st, err = s.grpcError(ctx, call.hdr, err)
		}
		code := grpcstatus.Code(err)
		endSpan(code)
		elapsed := time.Since(start)
		inflight.Dec()
		s.metrics.duration.WithLabelValues(route).Observe(elapsed.Seconds())
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(st)).Inc()
		s.logRequest(ctx, st, []any{"request_id", id, "method", "GRPC", "route", route, "status", st,
			"grpc_code", code.String(), "duration_ms", float64(elapsed.Microseconds()) / 1000})
	}()
	return handler(ctx, req)
}

// first returns the first of vs, or "".
func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// withPeer is withClient for an RPC: the client is the connection's peer,
// keyed in the rate limiter as HTTP's clients are.
func (s *server) withPeer(ctx context.Context) context.Context {
	var remote string
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		remote = p.Addr.String()
	}
	addr, _ := abuse.ClientAddr(remote, nil, nil)
	c := &client{Addr: addr, Peer: remote, Protocol: "grpc"}
	addLogAttrs(ctx, "client", c.String())
	return context.WithValue(ctx, clientKey{}, c)
}

// grpcError returns the gRPC status of a handler's error and the HTTP
// status of the same answer (for the metrics and the log). An
// *uploadError becomes grpcStatus, and its error code and any
// Retry-After also go in the trailer metadata ("huskyai-error-code",
// "retry-after"); an error that already is a status keeps it.
func (s *server) grpcError(ctx context.Context, hdr http.Header, err error) (int, error) {
	ue, ok := errors.AsType[*uploadError](err)
	if !ok {
		code := grpcstatus.Code(err)
		return httpStatus(code), err
	}
	trailer := metadata.Pairs("huskyai-error-code", ue.code)
	if retry := retryAfter(ue, hdr); retry != "" {
		trailer.Set("retry-after", retry)
	}
	_ = grpc.SetTrailer(ctx, trailer)
	return ue.status, grpcStatus(ue, hdr).Err()
}

// grpcCode is the gRPC code of an answer REST gives with the HTTP status
// st.
func grpcCode(st int) codes.Code {
	switch st {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		return codes.InvalidArgument
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusRequestTimeout:
		return codes.DeadlineExceeded
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusNotImplemented:
		return codes.Unimplemented
	case http.StatusInternalServerError:
		return codes.Internal
	}
	return codes.Unknown
}

// httpStatus is the HTTP status the metrics count an RPC that ended with
// code under, when no handler's *uploadError said it.
func httpStatus(code codes.Code) int {
	switch code {
	case codes.OK:
		return http.StatusOK
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Canceled:
		return 499 // as nginx logs a client that went away
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
