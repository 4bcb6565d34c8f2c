package modelstore

import "github.com/huskyai/huskyai"

// The name and version a single model is also served as, on every route:
// it answers to its own name and to Alias, as SingleVersion.
const (
	Alias         = "huskyai"
	SingleVersion = "1"
)

// Fixed returns the huskyai.Models of one classifier that never changes,
// served as a Store serves its model: under its own name and Alias, as
// SingleVersion, with no reload history. A nil c is no model loaded.
func Fixed(c huskyai.Classifier) huskyai.Models { return fixed{c} }

type fixed struct{ c huskyai.Classifier }

func (f fixed) Current() huskyai.Classifier { return f.c }

// Lookup returns the model when name is its own name or Alias and version
// is empty or SingleVersion: served as its own name, version
// SingleVersion.
func (f fixed) Lookup(name, version string) (c huskyai.Classifier, served, resolved string, ok bool) {
	if f.c == nil || name != f.c.Info().Name && name != Alias || version != "" && version != SingleVersion {
		return nil, "", "", false
	}
	return f.c, f.c.Info().Name, SingleVersion, true
}

// List returns the model under its own name, with Alias as an alias, as
// version SingleVersion.
func (f fixed) List() []huskyai.ModelVersions {
	if f.c == nil {
		return nil
	}
	m := huskyai.ModelVersions{Name: f.c.Info().Name, Versions: []string{SingleVersion}}
	if m.Name != Alias {
		m.Aliases = []string{Alias}
	}
	return []huskyai.ModelVersions{m}
}

func (f fixed) DefaultModel() string {
	if f.c == nil {
		return ""
	}
	return f.c.Info().Name
}

// Status is the zero ModelStatus: a fixed model is never reloaded.
func (f fixed) Status() huskyai.ModelStatus { return huskyai.ModelStatus{} }
