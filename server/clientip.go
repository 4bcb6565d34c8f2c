package server

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/huskyai/huskyai/abuse"
)

// client is who sent a request, decided once per request by
// withClient and used by everything that keys on the client: the rate
// limiter, the probing detector, the audit record and the log line.
type client struct {
	// Addr is the client's IP address: the connection's peer, or, when
	// the peer is a trusted proxy, the address taken from
	// X-Forwarded-For (see abuse.ClientAddr). It is the zero Addr when the
	// peer's address cannot be parsed.
	Addr netip.Addr
	// Peer is the connection's remote address as the server got it
	// (http.Request.RemoteAddr, host:port).
	Peer string
	// Forwarded is set when Addr was taken from X-Forwarded-For.
	Forwarded bool
	// Protocol is the request's protocol when it is not HTTP: "grpc"
	// (grpc.go). It goes into the audit record.
	Protocol string
	// probing is set by the probing detector when it flags the request.
	// Only the request's own goroutine touches it.
	probing bool
}

// String returns the client's IP address, or "unknown".
func (c *client) String() string {
	if !c.Addr.IsValid() {
		return "unknown"
	}
	return c.Addr.String()
}

// clientKey is the context key of a request's *client.
type clientKey struct{}

// withClient decides who sent r, adds it to the request's log line as
// "client" and returns ctx with it, for clientOf.
func (s *server) withClient(ctx context.Context, r *http.Request) context.Context {
	addr, fwd := abuse.ClientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), s.cfg.TrustedProxies)
	c := &client{Addr: addr, Peer: r.RemoteAddr, Forwarded: fwd}
	addLogAttrs(ctx, "client", c.String())
	return context.WithValue(ctx, clientKey{}, c)
}

// clientOf returns the client withClient stored in ctx; outside the
// middleware (which never happens in the server) it returns an unknown
// client rather than nil.
func clientOf(ctx context.Context) *client {
	if c, ok := ctx.Value(clientKey{}).(*client); ok {
		return c
	}
	return &client{}
}
