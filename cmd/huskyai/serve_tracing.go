package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracingFlushTimeout bounds the export of the last spans at shutdown.
const tracingFlushTimeout = 5 * time.Second

// tracingFlags are the flags of "huskyai serve" for OpenTelemetry
// tracing, which is off unless --otlp-endpoint is given: setting only
// the standard OTEL_EXPORTER_OTLP_ENDPOINT does not turn it on, so that a
// variable meant for another program in the same environment never makes
// this one send data anywhere. Once it is on, the exporter honours the
// other standard variables (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT,
// _CERTIFICATE, _COMPRESSION, ...), the sampler OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG (default: parent-based, always on), and the
// resource OTEL_SERVICE_NAME (default huskyai) and
// OTEL_RESOURCE_ATTRIBUTES.
type tracingFlags struct {
	otlpEndpoint string
}

// register defines the flags on fs.
func (f *tracingFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.otlpEndpoint, "otlp-endpoint", "", "send OpenTelemetry traces (a span per request, a child span per stage) over\nOTLP/HTTP to this collector `URL`, e.g. http://otel-collector:4318 (/v1/traces is\nadded to a URL without a path); off by default. OTEL_EXPORTER_OTLP_HEADERS and the\nother standard variables configure the exporter")
}

// check validates the flags.
func (f *tracingFlags) check() error {
	if f.otlpEndpoint == "" {
		return nil
	}
	if _, err := f.tracesURL(); err != nil {
		return err
	}
	return nil
}

// tracesURL is the URL the spans are posted to.
func (f *tracingFlags) tracesURL() (string, error) {
	u, err := url.Parse(f.otlpEndpoint)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("--otlp-endpoint %q: want an http:// or https:// URL of an OTLP collector", f.otlpEndpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// start returns the tracer provider of the server, nil when tracing is
// off, and the function that exports the spans still buffered and stops
// it, to call at shutdown.
func (f *tracingFlags) start(ctx context.Context, logger *slog.Logger) (trace.TracerProvider, func(), error) {
	if f.otlpEndpoint == "" {
		return nil, func() {}, nil
	}
	endpoint, err := f.tracesURL()
	if err != nil {
		return nil, nil, err
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, nil, fmt.Errorf("--otlp-endpoint: %w", err)
	}
	// Later sources win: the environment over our defaults.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "huskyai"), attribute.String("service.version", version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		logger.Warn("tracing: part of the resource could not be detected", "err", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	logger.Info("tracing: sending spans over OTLP/HTTP", "endpoint", endpoint)
	stop := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingFlushTimeout)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			logger.Warn("tracing: the last spans could not be exported", "err", err)
		}
	}
	return tp, stop, nil
}
