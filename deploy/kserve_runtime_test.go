package deploy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestKServeRuntime decodes deploy/kserve-runtime strictly and checks that
// the ClusterServingRuntime runs the service as the other manifests do,
// that KServe can pick it for the InferenceService (model format,
// protocol) and that its metrics annotations name the container's port.
func TestKServeRuntime(t *testing.T) {
	ms := loadManifests(t, "kserve-runtime")
	if t.Failed() {
		t.FailNow()
	}
	rt, rtWhere := one[*clusterServingRuntime](t, ms)
	isvc, isvcWhere := one[*inferenceService](t, ms)
	dep, _ := one[*appsv1.Deployment](t, loadManifests(t, "k8s"))
	_, facts, err := lintDockerfile(readRepoFile(t, "Dockerfile"), goModVersion(t))
	if err != nil {
		t.Fatal(err)
	}
	imageUID, _, _ := strings.Cut(facts.user, ":")

	spec := rt.Spec
	if len(spec.Containers) != 1 || spec.Containers[0].Name != "kserve-container" {
		t.Fatalf("%s: want one container named kserve-container", rtWhere)
	}
	c := spec.Containers[0]
	cw := rtWhere + " container " + c.Name
	if img := dep.Spec.Template.Spec.Containers[0].Image; c.Image != img {
		t.Errorf("%s: image %q, want the Deployment's %q", cw, c.Image, img)
	}
	checkImage(t, cw, c.Image)
	args := checkServeArgs(t, cw, c.Args)
	checkSecurity(t, cw, isvc.Spec.Predictor.SecurityContext, c.SecurityContext, imageUID)
	checkResources(t, cw, c)
	if args.value("insecure-http") != "true" || args.value("require-signature") != "true" {
		t.Errorf("%s: want --insecure-http (KServe ends TLS at its gateway) and --require-signature", cw)
	}
	if !strings.HasPrefix(args.value("model"), "/mnt/models/") {
		t.Errorf("%s: --model %q: want a file under /mnt/models, where KServe puts storageUri's files", cw, args.value("model"))
	}
	var port int32
	if len(c.Ports) != 1 {
		t.Errorf("%s: want one port (KServe routes to the first)", cw)
	} else {
		port = checkAddr(t, cw, args, c, c.Ports[0].Name)
		checkProbe(t, cw+" livenessProbe", c.LivenessProbe, "/healthz", corev1.URISchemeHTTP, c, port)
		checkProbe(t, cw+" readinessProbe", c.ReadinessProbe, "/readyz", corev1.URISchemeHTTP, c, port)
	}
	pod := corev1.PodSpec{Containers: spec.Containers, Volumes: spec.Volumes}
	checkSecretDir(t, cw, pod, c, args.value("trusted-keys"), "--trusted-keys")

	// Metrics: KServe's Prometheus annotations name the port and path.
	if spec.Annotations["prometheus.kserve.io/port"] != fmt.Sprint(port) || spec.Annotations["prometheus.kserve.io/path"] != "/metrics" {
		t.Errorf("%s: annotations %v: want prometheus.kserve.io/port %d and path /metrics", rtWhere, spec.Annotations, port)
	}

	// KServe selects this runtime for the InferenceService: its model
	// format, with autoSelect, and its protocol.
	m := isvc.Spec.Predictor.Model
	if m == nil {
		t.Fatalf("%s: no predictor.model", isvcWhere)
	}
	found := false
	for _, f := range spec.SupportedModelFormats {
		if f.Name == m.ModelFormat.Name && f.AutoSelect != nil && *f.AutoSelect && (m.ModelFormat.Version == nil || f.Version != nil && *f.Version == *m.ModelFormat.Version) {
			found = true
		}
	}
	if !found {
		t.Errorf("%s: model format %q is not one %s supports with autoSelect", isvcWhere, m.ModelFormat.Name, rt.Name)
	}
	if m.ProtocolVersion == nil || !slices.Contains(spec.ProtocolVersions, *m.ProtocolVersion) {
		t.Errorf("%s: protocolVersion %v: want one of the runtime's %v", isvcWhere, m.ProtocolVersion, spec.ProtocolVersions)
	}
	if !slices.Contains(spec.ProtocolVersions, "v2") {
		t.Errorf("%s: protocolVersions %v: want v2 (the Open Inference Protocol huskyai speaks)", rtWhere, spec.ProtocolVersions)
	}
	// grpc-v2: an InferenceService asking for it gets the port named h2c
	// it declares, which must be where serve's --grpc-addr listens.
	if slices.Contains(spec.ProtocolVersions, "grpc-v2") && !strings.HasSuffix(args.value("grpc-addr"), ":9000") {
		t.Errorf("%s: protocolVersions %v with --grpc-addr %q: want gRPC on port 9000, which the comment tells InferenceServices to name h2c", rtWhere, spec.ProtocolVersions, args.value("grpc-addr"))
	}
	if m.StorageURI == nil || *m.StorageURI == "" {
		t.Errorf("%s: want a storageUri", isvcWhere)
	}
	if len(isvc.Spec.Predictor.Containers) != 0 {
		t.Errorf("%s: containers of its own: the runtime provides the container", isvcWhere)
	}
	if isvc.Annotations["serving.kserve.io/enable-prometheus-scraping"] != "true" {
		t.Errorf("%s: want the annotation serving.kserve.io/enable-prometheus-scraping: \"true\"", isvcWhere)
	}
}
