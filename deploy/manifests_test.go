package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// manifestDirs are the directories whose *.yaml files are all checked.
var manifestDirs = []string{"k8s", "kserve"}

// inferenceService is the part of KServe's serving.kserve.io/v1beta1
// InferenceService that deploy/kserve uses, typed as KServe types it (its
// Go module is not used here: it would bring Knative and a controller
// runtime for one struct). The predictor is KServe's PodSpec (the
// Kubernetes PodSpec's fields, inline) plus the ComponentExtensionSpec
// fields listed; any other field fails the strict decoding.
type inferenceService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Predictor kservePredictor `json:"predictor"`
	} `json:"spec"`
}

type kservePredictor struct {
	MinReplicas    *int32 `json:"minReplicas,omitempty"`
	MaxReplicas    int32  `json:"maxReplicas,omitempty"`
	ScaleMetric    string `json:"scaleMetric,omitempty"`
	ScaleTarget    *int32 `json:"scaleTarget,omitempty"`
	corev1.PodSpec `json:",inline"`
}

// newObject returns the typed object for a document's apiVersion and kind.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, nil
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "networking.k8s.io/v1 Ingress":
		return &networkingv1.Ingress{}, nil
	case "serving.kserve.io/v1beta1 InferenceService":
		return &inferenceService{}, nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q: not a kind these manifests should hold (or a typo)", apiVersion, kind)
}

// decodeStrict decodes one YAML document into a typed object the way the
// API server's strict field validation does: YAML with a duplicate key is
// refused, then the JSON is decoded case-sensitively (sigs.k8s.io/json,
// the decoder of k8s.io/apimachinery) refusing unknown and duplicate
// fields. Wrong types and malformed quantities fail in the decoding.
func decodeStrict(doc []byte) (any, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	var tm metav1.TypeMeta
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(j, &tm); err != nil {
		return nil, err
	}
	obj, err := newObject(tm.APIVersion, tm.Kind)
	if err != nil {
		return nil, err
	}
	strict, err := sigsjson.UnmarshalStrict(j, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, err
	}
	if len(strict) > 0 {
		return nil, errors.Join(strict...)
	}
	return obj, nil
}

// manifest is one decoded document.
type manifest struct {
	where string // file:document
	obj   any
}

// loadManifests decodes every document of every *.yaml file under
// manifestDirs.
func loadManifests(t reporter, dirs ...string) []manifest {
	t.Helper()
	var out []manifest
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := filepath.Join(dir, e.Name())
			switch ext := filepath.Ext(e.Name()); {
			case e.IsDir():
				t.Errorf("%s: a directory: these tests would not look into it", name)
				continue
			case ext == ".yml" || ext == ".json":
				t.Errorf("%s: name it .yaml, or these tests would not check it", name)
				continue
			case ext != ".yaml":
				continue
			}
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
			for i := 1; ; i++ {
				doc, err := r.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				var top map[string]any
				if err := yaml.Unmarshal(doc, &top); err != nil {
					t.Errorf("%s, document %d: %v", name, i, err)
					continue
				}
				if top == nil {
					continue // comments only
				}
				where := fmt.Sprintf("%s#%d", name, i)
				obj, err := decodeStrict(doc)
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				out = append(out, manifest{where, obj})
			}
		}
	}
	return out
}

// one returns the only object of type T among ms, failing otherwise.
func one[T any](t reporter, ms []manifest) (T, string) {
	t.Helper()
	var found []manifest
	for _, m := range ms {
		if _, ok := m.obj.(T); ok {
			found = append(found, m)
		}
	}
	var zero T
	if len(found) != 1 {
		t.Fatalf("want exactly one %T in %v, found %d", zero, manifestDirs, len(found))
	}
	return found[0].obj.(T), found[0].where
}

// TestStrictDecoding shows that decodeStrict refuses what the API server
// would refuse, starting from valid documents.
func TestStrictDecoding(t *testing.T) {
	const svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n    - port: 443\n"
	const dep = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {a: b}\n  template:\n    spec:\n      containers:\n        - name: c\n          resources:\n            limits: {memory: 768Mi}\n"
	if _, err := decodeStrict([]byte(svc)); err != nil {
		t.Fatalf("a valid Service: %v", err)
	}
	if _, err := decodeStrict([]byte(dep)); err != nil {
		t.Fatalf("a valid Deployment: %v", err)
	}
	for _, tc := range []struct{ name, doc string }{
		{"unknown field", strings.Replace(dep, "replicas:", "replica:", 1)},
		{"wrong case", strings.Replace(dep, "matchLabels:", "matchlabels:", 1)},
		{"field at the wrong level", strings.Replace(dep, "      containers:", "      replicas: 2\n      containers:", 1)},
		{"wrong type", strings.Replace(dep, "replicas: 2", "replicas: two", 1)},
		{"string for a number", strings.Replace(dep, "replicas: 2", `replicas: "2"`, 1)},
		{"bad quantity", strings.Replace(dep, "768Mi", "768MB!", 1)},
		{"duplicate key", strings.Replace(dep, "replicas: 2", "replicas: 2\n  replicas: 3", 1)},
		{"unknown kind", strings.Replace(svc, "kind: Service", "kind: Servise", 1)},
		{"wrong apiVersion", strings.Replace(dep, "apps/v1", "apps/v1beta1", 1)},
		{"unknown InferenceService field", "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: x}\nspec:\n  predictor:\n    minReplica: 2\n"},
	} {
		if _, err := decodeStrict([]byte(tc.doc)); err == nil {
			t.Errorf("%s: accepted:\n%s", tc.name, tc.doc)
		}
	}
}

// TestManifests decodes every manifest strictly and checks, across them,
// what the API types cannot: that the pieces fit together and follow the
// service's rules.
func TestManifests(t *testing.T) {
	ms := loadManifests(t, manifestDirs...)
	if t.Failed() {
		t.FailNow()
	}
	checkManifests(t, ms)
}

// checkManifests is TestManifests' checks of the decoded manifests ms.
func checkManifests(t reporter, ms []manifest) {
	t.Helper()
	ns, _ := one[*corev1.Namespace](t, ms)
	dep, depWhere := one[*appsv1.Deployment](t, ms)
	svc, svcWhere := one[*corev1.Service](t, ms)
	hpa, hpaWhere := one[*autoscalingv2.HorizontalPodAutoscaler](t, ms)
	pdb, pdbWhere := one[*policyv1.PodDisruptionBudget](t, ms)
	ing, ingWhere := one[*networkingv1.Ingress](t, ms)
	pvc, _ := one[*corev1.PersistentVolumeClaim](t, ms)
	isvc, isvcWhere := one[*inferenceService](t, ms)

	_, facts, err := lintDockerfile(readRepoFile(t, "Dockerfile"), goModVersion(t))
	if err != nil {
		t.Fatal(err)
	}
	imageUID, _, _ := strings.Cut(facts.user, ":")

	// One namespace, with the restricted Pod Security Standard enforced.
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s: want the label pod-security.kubernetes.io/enforce: restricted", ns.Name)
	}
	for _, m := range ms {
		meta := m.obj.(metav1.ObjectMetaAccessor).GetObjectMeta()
		if meta.GetName() == "" {
			t.Errorf("%s: no metadata.name", m.where)
		}
		if _, isNS := m.obj.(*corev1.Namespace); !isNS && meta.GetNamespace() != ns.Name {
			t.Errorf("%s: namespace %q, want %q (namespace.yaml)", m.where, meta.GetNamespace(), ns.Name)
		}
	}

	// The Deployment.
	pod := dep.Spec.Template.Spec
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2 {
		t.Errorf("%s: want 2 or more replicas", depWhere)
	}
	if ru := dep.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("%s: want a rolling update with maxUnavailable 0 (a new pod whose model is refused never replaces a serving one)", depWhere)
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil || sel.Empty() {
		t.Fatalf("%s: selector: %v", depWhere, err)
	}
	podLabels := labels.Set(dep.Spec.Template.Labels)
	if !sel.Matches(podLabels) {
		t.Errorf("%s: the selector %s does not match the pod template's labels %v", depWhere, sel, podLabels)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken: want false (the service never calls the Kubernetes API)", depWhere)
	}
	for _, tsc := range pod.TopologySpreadConstraints {
		if tsc.LabelSelector == nil || !maps.Equal(tsc.LabelSelector.MatchLabels, dep.Spec.Selector.MatchLabels) {
			t.Errorf("%s: topologySpreadConstraints selector differs from the Deployment's", depWhere)
		}
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("%s: want one container", depWhere)
	}
	c := pod.Containers[0]
	where := depWhere + " container " + c.Name
	args := checkServeArgs(t, where, c.Args)
	if len(c.Command) != 0 {
		t.Errorf("%s: command %q replaces the image's ENTRYPOINT %q; give args only", where, c.Command, facts.entrypoint)
	}
	checkImage(t, where, c.Image)
	checkSecurity(t, where, pod.SecurityContext, c.SecurityContext, imageUID)
	checkResources(t, where, c)
	port := checkAddr(t, where, args, c, "https")
	checkProbe(t, where+" livenessProbe", c.LivenessProbe, "/healthz", corev1.URISchemeHTTPS, c, port)
	checkProbe(t, where+" readinessProbe", c.ReadinessProbe, "/readyz", corev1.URISchemeHTTPS, c, port)
	if c.StartupProbe != nil {
		checkProbe(t, where+" startupProbe", c.StartupProbe, "/healthz", corev1.URISchemeHTTPS, c, port)
	}
	if args.has("insecure-http") {
		t.Errorf("%s: --insecure-http: the Deployment serves HTTPS", where)
	}
	for _, f := range []string{"require-signature", "watch"} {
		if args.value(f) != "true" {
			t.Errorf("%s: want --%s", where, f)
		}
	}
	if a := args.value("audit-log"); a != "" && a != "-" {
		t.Errorf("%s: --audit-log=%s: the root file system is read-only; use - (stdout)", where, a)
	}
	if args.has("admin-addr") {
		t.Errorf("%s: --admin-addr listens on the pod's loopback, unreachable; reload with --watch", where)
	}
	shutdown := 30 * time.Second
	if v := args.value("shutdown-timeout"); v != "" {
		if shutdown, err = time.ParseDuration(v); err != nil {
			t.Errorf("%s: --shutdown-timeout: %v", where, err)
		}
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= shutdown {
		t.Errorf("%s: terminationGracePeriodSeconds must exceed --shutdown-timeout (%s), or in-flight requests are killed", depWhere, shutdown)
	}
	// The model, read-only, on the claim of model-pvc.yaml; its .sig
	// beside it, so on the same volume.
	modelVol := checkMountedFile(t, where, pod, c, args.value("model"), "--model")
	if modelVol != nil {
		switch {
		case modelVol.PersistentVolumeClaim != nil:
			if !modelVol.PersistentVolumeClaim.ReadOnly {
				t.Errorf("%s: volume %s: want persistentVolumeClaim.readOnly: true", depWhere, modelVol.Name)
			}
			if modelVol.PersistentVolumeClaim.ClaimName != pvc.Name {
				t.Errorf("%s: volume %s: claim %q, but model-pvc.yaml defines %q", depWhere, modelVol.Name, modelVol.PersistentVolumeClaim.ClaimName, pvc.Name)
			}
		case modelVol.Image != nil, modelVol.CSI != nil && modelVol.CSI.ReadOnly != nil && *modelVol.CSI.ReadOnly:
		default:
			t.Errorf("%s: volume %s: want the model on a read-only claim or an image volume", depWhere, modelVol.Name)
		}
	}
	checkSecretDir(t, where, pod, c, args.value("trusted-keys"), "--trusted-keys")
	for _, f := range []string{"tls-cert", "tls-key"} {
		if v := checkMountedFile(t, where, pod, c, args.value(f), "--"+f); v != nil && v.Secret == nil {
			t.Errorf("%s: --%s: want it from a Secret, not volume %s", where, f, v.Name)
		}
	}

	// The Service selects exactly the Deployment's pods, on a named
	// container port.
	if !maps.Equal(svc.Spec.Selector, dep.Spec.Selector.MatchLabels) {
		t.Errorf("%s: selector %v, want the Deployment's %v", svcWhere, svc.Spec.Selector, dep.Spec.Selector.MatchLabels)
	}
	svcPorts := map[string]corev1.ServicePort{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Name] = p
		if containerPort(c, p.TargetPort) != port {
			t.Errorf("%s: port %s: targetPort %s is not the container's port %d", svcWhere, p.Name, p.TargetPort.String(), port)
		}
	}

	// The PodDisruptionBudget covers the same pods and leaves one serving.
	if pdb.Spec.Selector == nil || !maps.Equal(pdb.Spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels) || len(pdb.Spec.Selector.MatchExpressions) > 0 {
		t.Errorf("%s: selector differs from the Deployment's %v", pdbWhere, dep.Spec.Selector.MatchLabels)
	}
	minReplicas := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = *hpa.Spec.MinReplicas
	}
	switch {
	case pdb.Spec.MaxUnavailable != nil && pdb.Spec.MinAvailable != nil:
		t.Errorf("%s: minAvailable and maxUnavailable exclude each other", pdbWhere)
	case pdb.Spec.MaxUnavailable != nil:
		if n := pdb.Spec.MaxUnavailable; n.Type != intstr.Int || n.IntVal < 1 || n.IntVal >= minReplicas {
			t.Errorf("%s: maxUnavailable %s: want 1..%d (fewer than the HPA's minReplicas)", pdbWhere, n.String(), minReplicas-1)
		}
	case pdb.Spec.MinAvailable != nil:
		if n := pdb.Spec.MinAvailable; n.Type != intstr.Int || n.IntVal < 1 || n.IntVal >= minReplicas {
			t.Errorf("%s: minAvailable %s: want 1..%d, or drains block", pdbWhere, n.String(), minReplicas-1)
		}
	default:
		t.Errorf("%s: neither minAvailable nor maxUnavailable", pdbWhere)
	}

	// The HorizontalPodAutoscaler scales this Deployment on CPU.
	if ref := hpa.Spec.ScaleTargetRef; ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != dep.Name {
		t.Errorf("%s: scaleTargetRef %+v is not the Deployment %s", hpaWhere, ref, dep.Name)
	}
	if minReplicas < 2 || hpa.Spec.MaxReplicas < minReplicas {
		t.Errorf("%s: replicas %d..%d: want a minimum of 2 or more, and max >= min", hpaWhere, minReplicas, hpa.Spec.MaxReplicas)
	}
	if dep.Spec.Replicas != nil && *dep.Spec.Replicas != minReplicas {
		t.Errorf("%s: the Deployment's replicas (%d) differ from the HPA's minReplicas (%d)", depWhere, *dep.Spec.Replicas, minReplicas)
	}
	cpuTarget := false
	for _, m := range hpa.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil &&
			*m.Resource.Target.AverageUtilization > 0 && *m.Resource.Target.AverageUtilization <= 100 {
			cpuTarget = true
		}
	}
	if !cpuTarget {
		t.Errorf("%s: want a CPU utilisation target (1..100%%)", hpaWhere)
	}

	// The Ingress: the Service's named port, TLS both ways, body size and
	// rate limit, and no route to /metrics.
	checkIngress(t, ingWhere, ing, svc, svcPorts, args, ns.Name)

	// The KServe InferenceService.
	checkInferenceService(t, isvcWhere, isvc, imageUID, c.Image, pvc.Name)
}

// checkImage wants a pinned image reference.
func checkImage(t reporter, where, image string) {
	t.Helper()
	_, tag, digest := imageTag(image)
	if image == "" || (tag == "" && digest == "") || tag == "latest" {
		t.Errorf("%s: image %q: want a version tag or a digest, never latest", where, image)
	}
}

// checkSecurity wants the container unable to gain anything: the
// Dockerfile's non-root user, a read-only root, no privilege escalation,
// no capabilities, the runtime's seccomp profile.
func checkSecurity(t reporter, where string, pod *corev1.PodSecurityContext, sc *corev1.SecurityContext, imageUID string) {
	t.Helper()
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	nonRoot, uid, seccomp := pod.RunAsNonRoot, pod.RunAsUser, pod.SeccompProfile
	if sc.RunAsNonRoot != nil {
		nonRoot = sc.RunAsNonRoot
	}
	if sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if sc.SeccompProfile != nil {
		seccomp = sc.SeccompProfile
	}
	if nonRoot == nil || !*nonRoot {
		t.Errorf("%s: want runAsNonRoot: true", where)
	}
	if uid == nil {
		t.Errorf("%s: no runAsUser: want %s, the Dockerfile's USER", where, imageUID)
	} else if strconv.FormatInt(*uid, 10) != imageUID {
		t.Errorf("%s: runAsUser %d: want %s, the Dockerfile's USER", where, *uid, imageUID)
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: want seccompProfile type RuntimeDefault", where)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: want readOnlyRootFilesystem: true", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: want allowPrivilegeEscalation: false", where)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: privileged", where)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: want capabilities drop [ALL] and nothing added", where)
	}
}

// goMemLimit parses a GOMEMLIMIT value (bytes, or B, KiB, MiB, GiB, TiB).
func goMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

// checkResources wants the measured requests and limits set (see
// deployment.yaml's comment): 1 CPU requested, memory requested and
// limited, and Go's soft memory limit under the hard one.
func checkResources(t reporter, where string, c corev1.Container) {
	t.Helper()
	req, lim := c.Resources.Requests, c.Resources.Limits
	if cpu, ok := req[corev1.ResourceCPU]; !ok || cpu.Cmp(resource.MustParse("1")) != 0 {
		t.Errorf("%s: want a CPU request of 1", where)
	}
	if cpu, ok := lim[corev1.ResourceCPU]; ok && cpu.Cmp(req[corev1.ResourceCPU]) < 0 {
		t.Errorf("%s: CPU limit under the request", where)
	}
	memReq, okReq := req[corev1.ResourceMemory]
	memLim, okLim := lim[corev1.ResourceMemory]
	if !okReq || !okLim || memReq.Sign() <= 0 || memLim.Cmp(memReq) < 0 {
		t.Errorf("%s: want a memory request and a memory limit at least as large", where)
		return
	}
	for _, e := range c.Env {
		if e.Name != "GOMEMLIMIT" {
			continue
		}
		n, err := goMemLimit(e.Value)
		if err != nil || n <= memReq.Value() || n >= memLim.Value() {
			t.Errorf("%s: GOMEMLIMIT=%s: want it between the memory request and limit (%s..%s)", where, e.Value, memReq.String(), memLim.String())
		}
	}
}

// containerPort resolves a port (number or name) of c; 0 if it is not one.
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	return 0
}

// checkAddr wants --addr on all interfaces, on the container port named
// portName; it returns that port.
func checkAddr(t reporter, where string, args parsedArgs, c corev1.Container, portName string) int32 {
	t.Helper()
	host, p, err := net.SplitHostPort(args.value("addr"))
	if err != nil || (host != "0.0.0.0" && host != "" && host != "::") {
		t.Errorf("%s: --addr %q: want 0.0.0.0:PORT (the default, loopback, is unreachable from outside the pod)", where, args.value("addr"))
		return containerPort(c, intstr.FromString(portName))
	}
	n, _ := strconv.Atoi(p)
	port := containerPort(c, intstr.FromString(portName))
	if port == 0 || int(port) != n {
		t.Errorf("%s: --addr port %s is not the container port named %q (%d)", where, p, portName, port)
	}
	return port
}

// checkProbe wants an HTTP GET of path on the service's own port.
func checkProbe(t reporter, where string, p *corev1.Probe, path string, scheme corev1.URIScheme, c corev1.Container, port int32) {
	t.Helper()
	switch {
	case p == nil:
		t.Errorf("%s: missing", where)
	case p.HTTPGet == nil:
		t.Errorf("%s: want an httpGet probe", where)
	case p.HTTPGet.Path != path:
		t.Errorf("%s: path %q, want %q", where, p.HTTPGet.Path, path)
	case p.HTTPGet.Scheme != scheme && !(scheme == corev1.URISchemeHTTP && p.HTTPGet.Scheme == ""):
		t.Errorf("%s: scheme %q, want %q", where, p.HTTPGet.Scheme, scheme)
	case containerPort(c, p.HTTPGet.Port) != port:
		t.Errorf("%s: port %s is not the service's port %d", where, p.HTTPGet.Port.String(), port)
	}
}

// mountOf returns the mount of c under which file lies, and its volume.
func mountOf(pod corev1.PodSpec, c corev1.Container, file string) (*corev1.VolumeMount, *corev1.Volume) {
	var best *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") && (best == nil || len(m.MountPath) > len(best.MountPath)) {
			best = &c.VolumeMounts[i]
		}
	}
	if best == nil {
		return nil, nil
	}
	for i, v := range pod.Volumes {
		if v.Name == best.Name {
			return best, &pod.Volumes[i]
		}
	}
	return best, nil
}

// checkMountedFile wants file on a read-only mount of one of the pod's
// volumes and, for a Secret listing items, among them; it returns the
// volume.
func checkMountedFile(t reporter, where string, pod corev1.PodSpec, c corev1.Container, file, flag string) *corev1.Volume {
	t.Helper()
	if !path.IsAbs(file) {
		t.Errorf("%s: %s %q: want an absolute path on a mounted volume", where, flag, file)
		return nil
	}
	m, v := mountOf(pod, c, file)
	switch {
	case m == nil:
		t.Errorf("%s: %s %s: on no volume mount (the image has nothing there)", where, flag, file)
		return nil
	case v == nil:
		t.Errorf("%s: %s: mount %s names no volume of the pod", where, flag, m.Name)
		return nil
	case !m.ReadOnly:
		t.Errorf("%s: %s: mount %s at %s: want readOnly: true", where, flag, m.Name, m.MountPath)
	}
	rel := strings.TrimPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
	if v.Secret != nil && len(v.Secret.Items) > 0 && !slices.ContainsFunc(v.Secret.Items, func(k corev1.KeyToPath) bool { return k.Path == rel }) {
		t.Errorf("%s: %s %s: Secret volume %s does not project %s", where, flag, file, v.Name, rel)
	}
	return v
}

// checkSecretDir wants dir to be exactly the read-only mount of a Secret.
func checkSecretDir(t reporter, where string, pod corev1.PodSpec, c corev1.Container, dir, flag string) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) != path.Clean(dir) {
			continue
		}
		if !m.ReadOnly {
			t.Errorf("%s: %s: mount %s: want readOnly: true", where, flag, m.Name)
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.Secret == nil {
				t.Errorf("%s: %s: volume %s is not a Secret", where, flag, v.Name)
			}
		}
		return
	}
	t.Errorf("%s: %s %q: not the mount path of a volume", where, flag, dir)
}

// parseNginxSize parses an nginx size (bytes, or k/m/g suffixes).
func parseNginxSize(s string) (int64, error) {
	mult := int64(1)
	switch strings.ToLower(s[len(s)-1:]) {
	case "k":
		mult = 1 << 10
	case "m":
		mult = 1 << 20
	case "g":
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

func checkIngress(t reporter, where string, ing *networkingv1.Ingress, svc *corev1.Service, svcPorts map[string]corev1.ServicePort, args parsedArgs, namespace string) {
	t.Helper()
	const ann = "nginx.ingress.kubernetes.io/"
	a := ing.Annotations
	if a[ann+"backend-protocol"] != "HTTPS" {
		t.Errorf("%s: want %sbackend-protocol: HTTPS (the service speaks TLS only)", where, ann)
	}
	if args.has("max-upload") {
		t.Errorf("%s: --max-upload is set: check proxy-body-size by hand and teach this test", where)
	}
	// The same body limit as the nginx gateway's, which gateway_test.go
	// runs: --max-upload's default (10 MiB) + 64 KiB of multipart.
	m := regexp.MustCompile(`(?m)^\s*client_max_body_size\s+(\S+);`).FindSubmatch(readRepoFile(t, "deploy/nginx/huskyai.conf"))
	if m == nil {
		t.Errorf("deploy/nginx/huskyai.conf: no client_max_body_size")
	} else if a[ann+"proxy-body-size"] != string(m[1]) {
		t.Errorf("%s: %sproxy-body-size %q, want %q as deploy/nginx/huskyai.conf", where, ann, a[ann+"proxy-body-size"], m[1])
	}
	body, err1 := parseNginxSize(a[ann+"proxy-body-size"])
	buf, err2 := parseNginxSize(a[ann+"client-body-buffer-size"])
	if err1 != nil || err2 != nil || buf <= body {
		t.Errorf("%s: want %sclient-body-buffer-size above proxy-body-size, so that uploads stay in memory", where, ann)
	}
	if n, err := strconv.Atoi(a[ann+"limit-rps"]); err != nil || n <= 0 {
		t.Errorf("%s: want a rate limit, %slimit-rps: N", where, ann)
	}
	if a[ann+"proxy-ssl-verify"] != "on" {
		t.Errorf("%s: want %sproxy-ssl-verify: on (check the service's certificate)", where, ann)
	}
	if sns, _, ok := strings.Cut(a[ann+"proxy-ssl-secret"], "/"); !ok || sns != namespace {
		t.Errorf("%s: %sproxy-ssl-secret %q: want %s/NAME", where, ann, a[ann+"proxy-ssl-secret"], namespace)
	}
	if name := a[ann+"proxy-ssl-name"]; name != svc.Name+"."+namespace+".svc" {
		t.Errorf("%s: %sproxy-ssl-name %q: want the Service's name %s.%s.svc", where, ann, name, svc.Name, namespace)
	}
	if len(ing.Spec.TLS) == 0 {
		t.Errorf("%s: no tls: clients would talk plain HTTP", where)
	}
	if ing.Spec.DefaultBackend != nil {
		t.Errorf("%s: a defaultBackend routes every path, /metrics included", where)
	}
	paths := 0
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			paths++
			pw := fmt.Sprintf("%s: path %s", where, p.Path)
			b := p.Backend.Service
			if b == nil || b.Name != svc.Name {
				t.Errorf("%s: backend is not the Service %s", pw, svc.Name)
				continue
			}
			if _, ok := svcPorts[b.Port.Name]; !ok || b.Port.Name == "" {
				t.Errorf("%s: backend port %q is not a named port of the Service", pw, b.Port.Name)
			}
			if p.PathType == nil {
				t.Errorf("%s: no pathType", pw)
				continue
			}
			for _, private := range []string{"/metrics", "/admin/reload"} {
				if *p.PathType == networkingv1.PathTypeExact && p.Path == private ||
					*p.PathType != networkingv1.PathTypeExact && (p.Path == "/" || strings.HasPrefix(private+"/", strings.TrimSuffix(p.Path, "/")+"/")) {
					t.Errorf("%s (%s) routes %s to the public", pw, *p.PathType, private)
				}
			}
		}
	}
	if paths == 0 {
		t.Errorf("%s: no paths", where)
	}
}

func checkInferenceService(t reporter, where string, isvc *inferenceService, imageUID, image, claim string) {
	t.Helper()
	p := isvc.Spec.Predictor
	switch p.ScaleMetric {
	case "", "cpu", "memory", "concurrency", "rps":
	default:
		t.Errorf("%s: scaleMetric %q: KServe knows cpu, memory, concurrency and rps", where, p.ScaleMetric)
	}
	if p.MinReplicas == nil || *p.MinReplicas < 2 || p.MaxReplicas < *p.MinReplicas {
		t.Errorf("%s: want minReplicas >= 2 and maxReplicas >= minReplicas", where)
	}
	if len(p.Containers) != 1 || p.Containers[0].Name != "kserve-container" {
		t.Fatalf("%s: want one container named kserve-container (KServe's name for the predictor's)", where)
	}
	c := p.Containers[0]
	cw := where + " container " + c.Name
	if c.Image != image {
		t.Errorf("%s: image %q, want the Deployment's %q", cw, c.Image, image)
	}
	checkImage(t, cw, c.Image)
	args := checkServeArgs(t, cw, c.Args)
	checkSecurity(t, cw, p.SecurityContext, c.SecurityContext, imageUID)
	checkResources(t, cw, c)
	if args.value("insecure-http") != "true" {
		t.Errorf("%s: want --insecure-http: KServe's routing speaks plain HTTP to the container and terminates TLS at its gateway", cw)
	}
	if len(c.Ports) != 1 {
		t.Errorf("%s: want one port (KServe routes to the first)", cw)
	} else {
		port := checkAddr(t, cw, args, c, c.Ports[0].Name)
		checkProbe(t, cw+" livenessProbe", c.LivenessProbe, "/healthz", corev1.URISchemeHTTP, c, port)
		checkProbe(t, cw+" readinessProbe", c.ReadinessProbe, "/readyz", corev1.URISchemeHTTP, c, port)
	}
	if args.value("require-signature") != "true" {
		t.Errorf("%s: want --require-signature", cw)
	}
	storage := ""
	for _, e := range c.Env {
		if e.Name == "STORAGE_URI" {
			storage = e.Value
		}
	}
	if storage == "" {
		t.Errorf("%s: want STORAGE_URI, from which KServe puts the model and its .sig in /mnt/models", cw)
	} else if claimName, ok := strings.CutPrefix(storage, "pvc://"); ok && strings.Split(claimName, "/")[0] != claim {
		t.Errorf("%s: STORAGE_URI %s: the claim of model-pvc.yaml is %s", cw, storage, claim)
	}
	if !strings.HasPrefix(args.value("model"), "/mnt/models/") {
		t.Errorf("%s: --model %q: want a file under /mnt/models, where KServe puts STORAGE_URI's files", cw, args.value("model"))
	}
	checkSecretDir(t, cw, p.PodSpec, c, args.value("trusted-keys"), "--trusted-keys")
}

// TestManifestRules shows that checkManifests catches what it is for: each
// case breaks one manifest of a copy in one way.
func TestManifestRules(t *testing.T) {
	huskyaiServeFlags(t) // build first: a Fatal inside a case would look like a caught error
	for _, tc := range []struct {
		name, file, old, new, want string
	}{
		{"writable root", "k8s/deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem"},
		{"root user", "k8s/deployment.yaml", "            runAsUser: 65532", "            runAsUser: 0", "runAsUser"},
		{"capabilities kept", "k8s/deployment.yaml", "                - ALL", "                - NET_RAW", "capabilities"},
		{"escalation", "k8s/deployment.yaml", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation"},
		{"no seccomp", "k8s/deployment.yaml", "            seccompProfile:\n              type: RuntimeDefault", "            seccompProfile:\n              type: Unconfined", "seccompProfile"},
		{"readiness on healthz", "k8s/deployment.yaml", "path: /readyz", "path: /healthz", "readinessProbe"},
		{"probe over HTTP", "k8s/deployment.yaml", "scheme: HTTPS", "scheme: HTTP", "scheme"},
		{"typo in a flag", "k8s/deployment.yaml", "- --watch\n", "- --wacth\n", "not a flag of huskyai serve"},
		{"unsigned models", "k8s/deployment.yaml", "            - --require-signature\n", "", "--require-signature"},
		{"loopback addr", "k8s/deployment.yaml", "--addr=0.0.0.0:8443", "--addr=127.0.0.1:8443", "--addr"},
		{"writable model", "k8s/deployment.yaml", "mountPath: /models\n              readOnly: true", "mountPath: /models\n              readOnly: false", "readOnly"},
		{"model off the volume", "k8s/deployment.yaml", "--model=/models/", "--model=/data/", "on no volume mount"},
		{"keys from elsewhere", "k8s/deployment.yaml", "--trusted-keys=/etc/huskyai/keys", "--trusted-keys=/etc/keys", "--trusted-keys"},
		{"no memory limit", "k8s/deployment.yaml", "              memory: 768Mi\n", "", "memory limit"},
		{"GOMEMLIMIT over limit", "k8s/deployment.yaml", "value: 640MiB", "value: 1GiB", "GOMEMLIMIT"},
		{"half a CPU", "k8s/deployment.yaml", `cpu: "1"`, `cpu: 500m`, "CPU request"},
		{"latest image", "k8s/deployment.yaml", "huskyai:0.1.0", "huskyai:latest", "never latest"},
		{"one replica", "k8s/deployment.yaml", "replicas: 2", "replicas: 1", "replicas"},
		{"short grace", "k8s/deployment.yaml", "terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds: 10", "terminationGracePeriodSeconds"},
		{"service selects others", "k8s/service.yaml", "    app.kubernetes.io/instance: huskyai\n  ports", "    app.kubernetes.io/instance: other\n  ports", "selector"},
		{"service port", "k8s/service.yaml", "targetPort: https", "targetPort: 8080", "targetPort"},
		{"pdb blocks drains", "k8s/pdb.yaml", "maxUnavailable: 1", "maxUnavailable: 2", "maxUnavailable"},
		{"pdb selects others", "k8s/pdb.yaml", "      app.kubernetes.io/instance: huskyai\n", "      app.kubernetes.io/instance: other\n", "selector"},
		{"hpa scales another", "k8s/hpa.yaml", "    name: huskyai\n  minReplicas", "    name: huskyai-old\n  minReplicas", "scaleTargetRef"},
		{"hpa on memory", "k8s/hpa.yaml", "name: cpu", "name: memory", "CPU utilisation"},
		{"metrics public", "k8s/ingress.yaml", "- path: /api\n            pathType: Prefix", "- path: /\n            pathType: Prefix", "routes /metrics"},
		{"body size", "k8s/ingress.yaml", `proxy-body-size: "10304k"`, `proxy-body-size: "20m"`, "proxy-body-size"},
		{"no rate limit", "k8s/ingress.yaml", `limit-rps: "5"`, `limit-rps: ""`, "limit-rps"},
		{"plain backend", "k8s/ingress.yaml", `backend-protocol: "HTTPS"`, `backend-protocol: "HTTP"`, "backend-protocol"},
		{"other namespace", "k8s/service.yaml", "namespace: huskyai", "namespace: default", "namespace"},
		{"kserve https", "kserve/inferenceservice.yaml", "          - --insecure-http\n", "", "--insecure-http"},
		{"kserve container name", "kserve/inferenceservice.yaml", "name: kserve-container", "name: huskyai", "kserve-container"},
		{"kserve model path", "kserve/inferenceservice.yaml", "--model=/mnt/models/", "--model=/models/", "/mnt/models"},
		{"kserve claim", "kserve/inferenceservice.yaml", "pvc://huskyai-models", "pvc://models", "STORAGE_URI"},
	} {
		dir := t.TempDir()
		var dirs []string
		for _, d := range manifestDirs {
			dirs = append(dirs, filepath.Join(dir, d))
			if err := os.CopyFS(filepath.Join(dir, d), os.DirFS(d)); err != nil {
				t.Fatal(err)
			}
		}
		name := filepath.Join(dir, tc.file)
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte(tc.old)) {
			t.Fatalf("%s: %s no longer has %q: update this test", tc.name, tc.file, tc.old)
		}
		if err := os.WriteFile(name, bytes.Replace(data, []byte(tc.old), []byte(tc.new), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		rt := &recordingT{}
		rt.run(func() { checkManifests(rt, loadManifests(rt, dirs...)) })
		got := strings.Join(rt.errors, "\n")
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: want an error with %q, got:\n%s", tc.name, tc.want, got)
		}
		t.Logf("%s: %d error(s): %s", tc.name, len(rt.errors), strings.ReplaceAll(got, dir+"/", ""))
	}
}
