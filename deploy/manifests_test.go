package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
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
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	MaxReplicas int32  `json:"maxReplicas,omitempty"`
	ScaleMetric string `json:"scaleMetric,omitempty"`
	ScaleTarget *int32 `json:"scaleTarget,omitempty"`
	// Model is KServe's ModelSpec: a model format served by a
	// ServingRuntime, instead of containers of one's own.
	Model          *kserveModel `json:"model,omitempty"`
	corev1.PodSpec `json:",inline"`
}

// kserveModel is KServe's ModelSpec (its PredictorExtensionSpec's fields
// that deploy/kserve-runtime uses, and the Container inline).
type kserveModel struct {
	ModelFormat struct {
		Name    string  `json:"name"`
		Version *string `json:"version,omitempty"`
	} `json:"modelFormat"`
	Runtime          *string `json:"runtime,omitempty"`
	StorageURI       *string `json:"storageUri,omitempty"`
	RuntimeVersion   *string `json:"runtimeVersion,omitempty"`
	ProtocolVersion  *string `json:"protocolVersion,omitempty"`
	corev1.Container `json:",inline"`
}

// clusterServingRuntime is KServe's serving.kserve.io/v1alpha1
// ClusterServingRuntime, its ServingRuntimeSpec typed as KServe types it
// (the ModelMesh and multi-node fields left out: none is used here).
type clusterServingRuntime struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SupportedModelFormats []struct {
			Name       string  `json:"name"`
			Version    *string `json:"version,omitempty"`
			AutoSelect *bool   `json:"autoSelect,omitempty"`
			Priority   *int32  `json:"priority,omitempty"`
		} `json:"supportedModelFormats,omitempty"`
		MultiModel       *bool                         `json:"multiModel,omitempty"`
		Disabled         *bool                         `json:"disabled,omitempty"`
		ProtocolVersions []string                      `json:"protocolVersions,omitempty"`
		Containers       []corev1.Container            `json:"containers"`
		Volumes          []corev1.Volume               `json:"volumes,omitempty"`
		NodeSelector     map[string]string             `json:"nodeSelector,omitempty"`
		Affinity         *corev1.Affinity              `json:"affinity,omitempty"`
		Tolerations      []corev1.Toleration           `json:"tolerations,omitempty"`
		Labels           map[string]string             `json:"labels,omitempty"`
		Annotations      map[string]string             `json:"annotations,omitempty"`
		ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	} `json:"spec"`
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
	case "serving.kserve.io/v1alpha1 ClusterServingRuntime":
		return &clusterServingRuntime{}, nil
	case "kustomize.config.k8s.io/v1beta1 Kustomization":
		return &kustomization{}, nil // decoded by kustomize_test.go only
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
			case e.Name() == "kustomization.yaml":
				continue // kustomize's, not an API object: kustomize_test.go
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
	// The pod's grace period covers the preStop hook, the drain
	// (--shutdown-delay) and the shutdown itself (--shutdown-timeout).
	shutdown, delay := 30*time.Second, 2*time.Second
	for flag, d := range map[string]*time.Duration{"shutdown-timeout": &shutdown, "shutdown-delay": &delay} {
		if v := args.value(flag); v != "" {
			if *d, err = time.ParseDuration(v); err != nil {
				t.Errorf("%s: --%s: %v", where, flag, err)
			}
		}
	}
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	if preStop == 0 {
		t.Errorf("%s: no preStop sleep: the ingress may still send requests after SIGTERM", where)
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= shutdown+delay+preStop {
		t.Errorf("%s: terminationGracePeriodSeconds must exceed the preStop sleep, --shutdown-delay and --shutdown-timeout (%s), or in-flight requests are killed",
			depWhere, shutdown+delay+preStop)
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
		{"short grace", "k8s/deployment.yaml", "terminationGracePeriodSeconds: 50", "terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds"},
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
