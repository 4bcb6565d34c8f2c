package deploy

// The checks of one kind of object or field that checkManifests
// (manifests_test.go) applies to the deployment manifests.

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

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
