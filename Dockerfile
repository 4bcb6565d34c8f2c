# huskyai container image: one static Go binary on a distroless base,
# running as a non-root user, with nothing to write at run time.
#
#   docker build -t huskyai:dev --build-arg VERSION=$(git describe --always) .
#   docker run --rm --read-only --cap-drop ALL -p 8443:8443 huskyai:dev
#   curl -k https://127.0.0.1:8443/healthz
#
# The base images are pinned by tag. In production pin them by digest as
# well (FROM golang:1.26-bookworm@sha256:..., and the same for the final
# stage) so that a rebuild cannot silently pick up another image; let a
# bot (Renovate, Dependabot) move the digests.
#
# deploy/dockerfile_test.go lints this file with BuildKit's own parser (the
# rules are listed there); deploy/context_test.go builds the binary from
# the files .dockerignore lets into the context, as the build stage does,
# and checks that it is static. The tests build no image.

# --- build stage: the Go toolchain, discarded after the build.
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# CGO_ENABLED=0: a static binary (no libc, no dynamic loader), which is
# what lets the final stage have no C library. The optional cgo builds
# (-tags libjpeg, -tags ort) are not made here.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/huskyai ./cmd/huskyai

# --- final stage: no shell, no package manager, CA certificates and
# /etc/passwd only. The embedded default model is inside the binary; a real
# model is mounted read-only (see deploy/k8s/).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/huskyai /huskyai
# 65532 is distroless's "nonroot". Numeric, so that Kubernetes'
# runAsNonRoot can check it without reading /etc/passwd.
USER 65532:65532
EXPOSE 8443
# HTTPS on all interfaces. Without --tls-cert/--tls-key the service makes a
# self-signed certificate in memory at start (nothing is written: the root
# file system can be read-only); deploy/k8s/deployment.yaml mounts a
# certificate from a Secret instead. An --audit-log, if used, goes to "-"
# (stdout) or to a mounted volume.
ENTRYPOINT ["/huskyai", "serve"]
CMD ["--addr=0.0.0.0:8443"]
