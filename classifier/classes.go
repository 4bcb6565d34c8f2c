package classifier

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/huskyai/huskyai"
)

// MaxLabels bounds a labels file's lines.
const MaxLabels = 1 << 20

// ParseLabels reads a labels file: one class name per line, line i naming
// output i (ImageNet's TFLite models list "background" first, for output
// 0). Blank lines count as unnamed classes; a trailing newline does not
// add one.
func ParseLabels(data []byte) ([]string, error) {
	var labels []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<16)
	for sc.Scan() {
		if len(labels) == MaxLabels {
			return nil, fmt.Errorf("labels: more than %d lines", MaxLabels)
		}
		labels = append(labels, strings.TrimSpace(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	return labels, nil
}

// ParseClasses reads a comma-separated list of output classes, each an
// index ("250") or, with labels, a class name: the whole label or one of
// its comma-free names, compared without case ("Siberian husky", and
// "malamute" for the label "malamute, malemute, Alaskan malamute"; use ';'
// between names then, since names hold commas). Indices are checked
// against labels when given, and against the model's outputs by Load.
func ParseClasses(spec string, labels []string) ([]int, error) {
	sep := ","
	if strings.Contains(spec, ";") {
		sep = ";"
	}
	var out []int
	seen := map[int]bool{}
	for _, item := range strings.Split(spec, sep) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		i, err := strconv.Atoi(item)
		if err != nil {
			if i, err = classByName(item, labels); err != nil {
				return nil, err
			}
		}
		if i < 0 || labels != nil && i >= len(labels) {
			return nil, fmt.Errorf("class %d is outside the %d labels", i, len(labels))
		}
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no classes in %q", spec)
	}
	return out, nil
}

// classByName finds the one label that name is, or is one of the names of.
func classByName(name string, labels []string) (int, error) {
	if labels == nil {
		return 0, fmt.Errorf("class %q is not an index, and no labels file names classes", name)
	}
	found := -1
	for i, l := range labels {
		match := strings.EqualFold(l, name)
		for _, part := range strings.Split(l, ",") {
			match = match || strings.EqualFold(strings.TrimSpace(part), name)
		}
		if match {
			if found >= 0 {
				return 0, fmt.Errorf("class %q names both %d %q and %d %q", name, found, labels[found], i, l)
			}
			found = i
		}
	}
	if found < 0 {
		return 0, fmt.Errorf("no label is %q", name)
	}
	return found, nil
}

// classList writes classes as ModelInfo.PositiveClasses does.
func classList(classes []int) string {
	s := make([]string, len(classes))
	for i, c := range classes {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// checkOutputs checks the model's output size against the options: one
// value (a sigmoid), or a multi-class output with the positive classes
// that make up "husky" and, if given, one label per output.
func (o *Options) checkOutputs(name string, n int) error {
	if len(o.PositiveClasses) == 0 {
		if n != 1 {
			return fmt.Errorf("model %q has %d outputs; huskyai needs one sigmoid output (husky probability), "+
				"or the output classes that mean husky (--positive-classes)", name, n)
		}
		return nil
	}
	for _, i := range o.PositiveClasses {
		if i < 0 || i >= n {
			return fmt.Errorf("positive class %d is outside the model's %d outputs", i, n)
		}
	}
	if o.Labels != nil && len(o.Labels) != n {
		return fmt.Errorf("the labels file has %d lines for the model's %d outputs", len(o.Labels), n)
	}
	return nil
}

// verdict words one image's outputs: the sigmoid output itself, or the sum
// of the positive classes' outputs (at most 1), with the top class.
func (c *Classifier) verdict(out []float32) huskyai.Verdict {
	if len(c.opt.PositiveClasses) == 0 {
		return huskyai.NewVerdict(out[0], c.opt.ScorePrecision)
	}
	var p float32
	for _, i := range c.opt.PositiveClasses {
		p += out[i]
	}
	v := huskyai.NewVerdict(min(p, 1), c.opt.ScorePrecision)
	top := 0
	for i, x := range out {
		if x > out[top] {
			top = i
		}
	}
	v.Top = &huskyai.Class{Index: top, Probability: out[top]}
	if top < len(c.opt.Labels) {
		v.Top.Label = c.opt.Labels[top]
	}
	return v
}
