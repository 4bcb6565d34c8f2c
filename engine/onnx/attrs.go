package onnx

import (
	"fmt"
	"sort"
	"strings"

	"github.com/huskyai/huskyai/engine/internal/onnxproto"
)

// attrs reads a node's attributes, records which it read, and refuses any
// it did not: an attribute this loader does not understand may change what
// the operator computes.
type attrs struct {
	n    *onnxproto.Node
	used map[string]bool
	err  error
}

func (a *attrs) get(name string, t onnxproto.AttrType) *onnxproto.Attribute {
	a.used[name] = true
	at := a.n.Attr(name)
	if at == nil {
		return nil
	}
	if at.Type != t {
		a.fail(name, "has type %v; want %v", at.Type, t)
		return nil
	}
	return at
}

func (a *attrs) fail(name, format string, args ...any) {
	if a.err == nil {
		a.err = fmt.Errorf("attribute %q: %s", name, fmt.Sprintf(format, args...))
	}
}

func (a *attrs) int(name string, def int64) int64 {
	if at := a.get(name, onnxproto.AttrInt); at != nil {
		return at.I
	}
	return def
}

func (a *attrs) float(name string, def float32) float32 {
	if at := a.get(name, onnxproto.AttrFloat); at != nil {
		return at.F
	}
	return def
}

func (a *attrs) str(name, def string) string {
	if at := a.get(name, onnxproto.AttrString); at != nil {
		return string(at.S)
	}
	return def
}

func (a *attrs) ints(name string, def []int64) []int64 {
	if at := a.get(name, onnxproto.AttrInts); at != nil {
		return at.Ints
	}
	return def
}

// check returns the first error, or names the attributes nobody read.
func (a *attrs) check() error {
	if a.err != nil {
		return a.err
	}
	var unknown []string
	for _, at := range a.n.Attrs {
		if !a.used[at.Name] {
			unknown = append(unknown, at.Name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("unsupported attribute %s", strings.Join(unknown, ", "))
	}
	return nil
}
