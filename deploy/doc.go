// Package deploy holds no code: its tests check the repository's container
// and cluster files without a Docker engine, a cluster or a network.
//
//   - dockerfile_test.go lints ../Dockerfile with BuildKit's own parser
//     and linter against this project's rules (multi-stage, a static
//     binary on distroless or scratch, a numeric non-root USER, no
//     "latest" or untagged base, no ADD of a URL, exec-form ENTRYPOINT).
//   - context_test.go builds ./cmd/huskyai from exactly the files
//     ../.dockerignore lets into the build context, the way the
//     Dockerfile's build stage does (CGO_ENABLED=0, -trimpath, -s -w),
//     and checks with debug/elf that the binary is static.
//   - manifests_test.go decodes every document of k8s/*.yaml and
//     kserve/*.yaml strictly into the Kubernetes API's own Go types
//     (k8s.io/api), as the API server's strict field validation does, and
//     checks what the types cannot: probes, security context, resources,
//     read-only mounts, label selectors, and that every container argument
//     is a flag "huskyai serve" accepts.
package deploy
