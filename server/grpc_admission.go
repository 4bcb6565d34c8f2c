package server

// Admission of a ModelInfer before its message is read, as REST admits a
// request before its body (admitRequest): grpc-go reads a unary RPC's
// whole message before any interceptor or handler runs, so the rate limit,
// the probing block and the pending places are taken in the transport's
// tap (grpcTap), which runs when the RPC's headers arrive. A refused RPC
// is answered there, its message never read: what bounds memory to about
// --max-pending uploads over REST bounds it over gRPC too. The places go
// back when ModelInfer is done with them, or when the RPC's context ends
// (an RPC whose message never arrives never reaches its handler).
//
// The other RPCs (health, metadata) take no prediction place, but gRPC
// reads their messages too, up to the same size: each takes one of
// Config.MaxPending places of their own (grpcOther) for the time it runs,
// and is refused with Unavailable when none is free, so that all the
// messages being read stay below about 2 x MaxPending x MaxUpload.

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/huskyai/huskyai/internal/oip/inferencepb"
)

// modelInferMethod is the full name of the RPC that grpcTap admits.
const modelInferMethod = "/inference.GRPCInferenceService/ModelInfer"

// grpcMethods are the full names of the service's RPCs, the only ones
// grpcTap admits and the metrics name.
var grpcMethods = func() map[string]bool {
	svc := inferencepb.File_grpc_predict_v2_proto.Services().Get(0)
	m := make(map[string]bool)
	for i := range svc.Methods().Len() {
		m["/"+string(svc.FullName())+"/"+string(svc.Methods().Get(i).Name())] = true
	}
	return m
}()

// grpcAdmissionKey is the context key of an RPC's *grpcAdmission.
type grpcAdmissionKey struct{}

// grpcAdmission is the places grpcTap took for an RPC.
type grpcAdmission struct {
	once    sync.Once
	release func()
}

// done gives the places back, once.
func (a *grpcAdmission) done() { a.once.Do(a.release) }

// grpcTap admits a ModelInfer before its message is read (see the top
// of the file), other RPCs with admitOther, and bounds the RPC to
// GRPCConfig.RequestTimeout. It runs on the connection's reader, so it
// takes tokens and places but never waits. A refusal is counted and
// logged as unaryCall would, and answered with grpcStatus.
func (s *server) grpcTap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if !grpcMethods[info.FullMethodName] {
		return ctx, nil // gRPC answers Unimplemented without reading the message
	}
	ctx = s.grpcContext(ctx, info.Header)
	hdr := http.Header{}
	admit := s.admitRequest
	if info.FullMethodName != modelInferMethod {
		admit = s.admitOther
	}
	release, ue := admit(ctx, hdr, 1)
	if ue != nil {
		st := grpcStatus(ue, hdr)
		s.metrics.requests.WithLabelValues(info.FullMethodName, strconv.Itoa(ue.status)).Inc()
		s.logRequest(ctx, ue.status, []any{"request_id", requestIDOf(ctx), "method", "GRPC", "route", info.FullMethodName,
			"status", ue.status, "grpc_code", st.Code().String(), "duration_ms", 0.0})
		return nil, st.Err()
	}
	// The RPC's context, which the transport's reads of its message
	// also wait on, ends at the request timeout.
	ctx, cancel := context.WithTimeout(ctx, s.grpcTimeout)
	a := &grpcAdmission{release: func() {
		release()
		cancel()
	}}
	context.AfterFunc(ctx, a.done)
	return context.WithValue(ctx, grpcAdmissionKey{}, a), nil
}

// admitOther takes one of the places of the RPCs other than ModelInfer,
// or refuses with 503 when none is free.
func (s *server) admitOther(ctx context.Context, hdr http.Header, _ int) (func(), *uploadError) {
	select {
	case s.grpcOther <- struct{}{}:
		return func() { <-s.grpcOther }, nil
	default:
		s.metrics.rejected.WithLabelValues("pending").Inc()
		return nil, &uploadError{http.StatusServiceUnavailable, codeBusy, "the server is busy with other requests; try again in a moment"}
	}
}

// admitted is the admitFunc of a ModelInfer: the places grpcTap took,
// given back when runItems is done; admitRequest where no tap ran.
func (s *server) admitted(ctx context.Context, hdr http.Header, cost int) (func(), *uploadError) {
	if a, ok := ctx.Value(grpcAdmissionKey{}).(*grpcAdmission); ok {
		return a.done, nil
	}
	return s.admitRequest(ctx, hdr, cost)
}

// grpcContext is ctx with what an RPC's context carries for the pipeline,
// where the tap has not put it already: its log attributes and request id
// (the client's x-request-id, if valid) and its client (withPeer).
func (s *server) grpcContext(ctx context.Context, md metadata.MD) context.Context {
	if _, ok := ctx.Value(logKey{}).(*logAttrs); !ok {
		ctx = context.WithValue(ctx, logKey{}, &logAttrs{id: requestID(first(md.Get("x-request-id")))})
	}
	if _, ok := ctx.Value(clientKey{}).(*client); ok {
		return ctx // the tap's, already in the log attributes
	}
	return s.withPeer(ctx)
}

// grpcStatus is the gRPC status of REST's answer ue: its code
// (grpcCode) and message, with the details google.rpc.ErrorInfo (reason:
// REST's error code, domain "huskyai") and, where REST sends
// Retry-After (in hdr, or 1s with 503), google.rpc.RetryInfo.
func grpcStatus(ue *uploadError, hdr http.Header) *grpcstatus.Status {
	st := grpcstatus.New(grpcCode(ue.status), ue.message)
	info := &errdetails.ErrorInfo{Reason: ue.code, Domain: "huskyai"}
	var retry *errdetails.RetryInfo
	if secs, err := strconv.Atoi(retryAfter(ue, hdr)); err == nil {
		retry = &errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(secs) * time.Second)}
	}
	withDetails, err := st.WithDetails(info)
	if retry != nil {
		withDetails, err = st.WithDetails(info, retry)
	}
	if err != nil {
		return st
	}
	return withDetails
}

// retryAfter is the Retry-After of REST's answer ue: hdr's, or "1" for a
// 503; "" when there is none.
func retryAfter(ue *uploadError, hdr http.Header) string {
	if r := hdr.Get("Retry-After"); r != "" {
		return r
	}
	if ue.status == http.StatusServiceUnavailable {
		return "1"
	}
	return ""
}
