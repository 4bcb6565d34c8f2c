package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"

	"google.golang.org/grpc"

	"github.com/huskyai/huskyai/server"
)

// grpcFlags are the flags of "huskyai serve" for the Open Inference
// Protocol's gRPC service (server.Service.GRPCServer), off unless
// --grpc-addr is given. It serves with the same TLS as --addr (the same
// certificate, reloaded with it; plaintext with --insecure-http) and the
// same limits, rate limits, metrics and audit.
type grpcFlags struct {
	grpcAddr string
}

// register defines the flags on fs.
func (f *grpcFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.grpcAddr, "grpc-addr", "", "also serve the KServe v2 (Open Inference Protocol) gRPC API, inference.GRPCInferenceService,\non this host:port (port 0 picks a free one), with --addr's TLS, limits, rate limit and audit; off by default")
}

// listen binds --grpc-addr; nil when it is not set.
func (f *grpcFlags) listen() (net.Listener, error) {
	if f.grpcAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", f.grpcAddr)
	if err != nil {
		return nil, fmt.Errorf("--grpc-addr: %w", err)
	}
	return ln, nil
}

// grpcServing is the gRPC server of --grpc-addr while it serves. A nil
// *grpcServing is no server: its methods do nothing.
type grpcServing struct {
	gs   *grpc.Server
	ln   net.Listener
	errc chan error
}

// startGRPC serves svc's gRPC service on ln (nil: none) with tlsConfig
// (nil: plaintext) and announces it.
func (f *serveFlags) startGRPC(svc *server.Service, ln net.Listener, tlsConfig *tls.Config, logger *slog.Logger, stdout io.Writer) *grpcServing {
	if ln == nil {
		return nil
	}
	gs := svc.GRPCServer(server.GRPCConfig{TLS: tlsConfig, ConnectionTimeout: f.readHeaderTimeout, IdleTimeout: idleTimeout,
		RequestTimeout: f.readTimeout + f.queueTimeout + writeMargin}) // as the HTTP server's WriteTimeout
	g := &grpcServing{gs: gs, ln: ln, errc: make(chan error, 1)}
	go func() { g.errc <- gs.Serve(ln) }()
	mode := "TLS"
	if tlsConfig == nil {
		mode = "plaintext"
	}
	logger.Info("gRPC listening", "address", ln.Addr().String(), "service", "inference.GRPCInferenceService", "transport", mode)
	fmt.Fprintf(stdout, "huskyai serve: gRPC (%s) listening on %s\n", mode, ln.Addr())
	return g
}

// failed is the error of a server that stopped serving on its own; a
// channel that never delivers for no server.
func (g *grpcServing) failed() <-chan error {
	if g == nil {
		return nil
	}
	return g.errc
}

// stop stops the server gracefully (GOAWAY, in-flight RPCs finish) in the
// background, and cuts the RPCs still running when ctx ends. The channel
// returned delivers nil, or an error when RPCs had to be cut or Serve
// failed.
func (g *grpcServing) stop(ctx context.Context) <-chan error {
	done := make(chan error, 1)
	if g == nil {
		done <- nil
		return done
	}
	graceful := make(chan struct{})
	go func() {
		g.gs.GracefulStop()
		close(graceful)
	}()
	go func() {
		var err error
		select {
		case <-graceful:
		case <-ctx.Done():
			g.gs.Stop()
			<-graceful
			err = errors.New("gRPC: cut the RPCs still running at the shutdown deadline")
		}
		if serr := <-g.errc; serr != nil && !errors.Is(serr, grpc.ErrServerStopped) {
			err = errors.Join(err, fmt.Errorf("gRPC: %w", serr))
		}
		done <- err
	}()
	return done
}

// close stops the server at once, when serve fails.
func (g *grpcServing) close() {
	if g != nil {
		g.gs.Stop()
	}
}
