package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// kustomization is the part of kustomize's Kustomization these files use;
// any other field fails the strict decoding.
type kustomization struct {
	metav1.TypeMeta `json:",inline"`
	Resources       []string `json:"resources,omitempty"`
	Images          []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
	Patches []struct {
		Path   string `json:"path,omitempty"`
		Patch  string `json:"patch,omitempty"`
		Target *struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"target,omitempty"`
	} `json:"patches,omitempty"`
}

func readKustomization(t *testing.T, dir string) *kustomization {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := decodeStrict(b)
	if err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	return obj.(*kustomization)
}

// TestKustomize checks the kustomize base deploy/k8s (it lists every
// manifest there once) and applies the overlay deploy/overlays/example to
// it offline, as kustomize would (its images transformer and its JSON 6902
// patches), then checks the result: the patched objects still decode
// strictly and pass the manifests' checks, with the overlay's values.
func TestKustomize(t *testing.T) {
	base := readKustomization(t, "k8s")
	files, _ := filepath.Glob(filepath.Join("k8s", "*.yaml"))
	var want []string
	for _, f := range files {
		if n := filepath.Base(f); n != "kustomization.yaml" {
			want = append(want, n)
		}
	}
	got := slices.Sorted(slices.Values(base.Resources))
	if !slices.Equal(got, want) {
		t.Errorf("deploy/k8s/kustomization.yaml resources %v, want every manifest of the directory %v", got, want)
	}

	over := readKustomization(t, filepath.Join("overlays", "example"))
	if !slices.Equal(over.Resources, []string{"../../k8s"}) {
		t.Errorf("overlay resources %v, want the base ../../k8s", over.Resources)
	}
	docs := map[string][]byte{} // "Kind/name" -> JSON
	for _, m := range loadManifests(t, "k8s") {
		j, err := json.Marshal(m.obj)
		if err != nil {
			t.Fatal(err)
		}
		meta := m.obj.(metav1.ObjectMetaAccessor).GetObjectMeta()
		docs[reflect.TypeOf(m.obj).Elem().Name()+"/"+meta.GetName()] = j
	}
	for _, p := range over.Patches {
		if p.Target == nil || p.Path != "" {
			t.Fatalf("overlay patch %+v: want an inline JSON 6902 patch with a target", p)
		}
		key := p.Target.Kind + "/" + p.Target.Name
		doc, ok := docs[key]
		if !ok {
			t.Fatalf("overlay patch targets %s, which the base does not have", key)
		}
		var ops []jsonPatchOp
		if err := yaml.UnmarshalStrict([]byte(p.Patch), &ops); err != nil {
			t.Fatalf("patch of %s: %v", key, err)
		}
		patched, err := applyJSONPatch(doc, ops)
		if err != nil {
			t.Fatalf("patch of %s: %v", key, err)
		}
		docs[key] = patched
	}
	var dep appsv1.Deployment
	var ing networkingv1.Ingress
	mustUnmarshal(t, docs["Deployment/huskyai"], &dep)
	mustUnmarshal(t, docs["Ingress/huskyai"], &ing)
	c := &dep.Spec.Template.Spec.Containers[0]
	for _, im := range over.Images {
		if name, _, _ := strings.Cut(c.Image, ":"); name == im.Name {
			c.Image = im.NewName + "@" + im.Digest
		}
	}
	if !regexp.MustCompile(`^registry\.example\.com/huskyai@sha256:[0-9a-f]{64}$`).MatchString(c.Image) {
		t.Errorf("image after the overlay: %q", c.Image)
	}
	checkImage(t, "overlay Deployment", c.Image)
	args := checkServeArgs(t, "overlay Deployment", c.Args)
	if args.value("trusted-proxy") != "10.42.0.0/16" {
		t.Errorf("overlay Deployment: --trusted-proxy %q, want the overlay's 10.42.0.0/16", args.value("trusted-proxy"))
	}
	if len(ing.Spec.TLS) == 0 || ing.Spec.TLS[0].SecretName != "husky-example-org-tls" ||
		!slices.Contains(ing.Spec.TLS[0].Hosts, ing.Spec.Rules[0].Host) || ing.Spec.Rules[0].Host != "husky.example.org" {
		t.Errorf("overlay Ingress: tls %+v, rules[0].host %q: want the overlay's host in both and its secret", ing.Spec.TLS, ing.Spec.Rules[0].Host)
	}
}

func mustUnmarshal(t *testing.T, j []byte, v any) {
	t.Helper()
	if j == nil {
		t.Fatalf("no %T in the base", v)
	}
	if err := json.Unmarshal(j, v); err != nil {
		t.Fatal(err)
	}
}

// jsonPatchOp is one operation of a JSON 6902 patch (the ones the
// overlays use: test, replace, add).
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// applyJSONPatch applies ops to the JSON document doc, as kustomize's
// JSON 6902 patches do (RFC 6902), for test, replace and add.
func applyJSONPatch(doc []byte, ops []jsonPatchOp) ([]byte, error) {
	var root any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, err
	}
	for _, op := range ops {
		parts := strings.Split(strings.TrimPrefix(op.Path, "/"), "/")
		for i, p := range parts {
			parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(p)
		}
		parent := root
		for _, p := range parts[:len(parts)-1] {
			next, err := child(parent, p)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", op.Op, op.Path, err)
			}
			parent = next
		}
		last := parts[len(parts)-1]
		cur, err := child(parent, last)
		switch op.Op {
		case "test":
			if err != nil || !reflect.DeepEqual(cur, op.Value) {
				return nil, fmt.Errorf("test %s: the base has %v, the patch expects %v", op.Path, cur, op.Value)
			}
		case "replace", "add":
			if err != nil && op.Op == "replace" {
				return nil, fmt.Errorf("replace %s: %w", op.Path, err)
			}
			if err := set(parent, last, op.Value, op.Op == "add"); err != nil {
				return nil, fmt.Errorf("%s %s: %w", op.Op, op.Path, err)
			}
		default:
			return nil, fmt.Errorf("op %q: only test, replace and add are used here", op.Op)
		}
	}
	return json.Marshal(root)
}

func child(v any, key string) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		c, ok := v[key]
		if !ok {
			return nil, fmt.Errorf("no member %q", key)
		}
		return c, nil
	case []any:
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= len(v) {
			return nil, fmt.Errorf("no element %q of %d", key, len(v))
		}
		return v[i], nil
	}
	return nil, fmt.Errorf("%q of a scalar", key)
}

func set(parent any, key string, value any, insert bool) error {
	switch p := parent.(type) {
	case map[string]any:
		p[key] = value
		return nil
	case []any:
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= len(p) || insert {
			return fmt.Errorf("element %q of %d (inserting into arrays is not needed here)", key, len(p))
		}
		p[i] = value
		return nil
	}
	return fmt.Errorf("%q of a scalar", key)
}
