package server

import (
	"errors"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/modelstore"
)

// The test doubles' side of huskyai.Models for a server of one model c,
// as modelstore.Store serves its model: under its own name and the alias
// modelstore.Alias, as version modelstore.SingleVersion.

func lookupOne(c Classifier, name, version string) (Classifier, string, string, bool) {
	if c == nil || name != c.Info().Name && name != modelstore.Alias || version != "" && version != modelstore.SingleVersion {
		return nil, "", "", false
	}
	return c, c.Info().Name, modelstore.SingleVersion, true
}

func listOne(c Classifier) []huskyai.ModelVersions {
	if c == nil {
		return nil
	}
	m := huskyai.ModelVersions{Name: c.Info().Name, Versions: []string{modelstore.SingleVersion}}
	if m.Name != modelstore.Alias {
		m.Aliases = []string{modelstore.Alias}
	}
	return []huskyai.ModelVersions{m}
}

func defaultOne(c Classifier) string {
	if c == nil {
		return ""
	}
	return c.Info().Name
}

// errNoTensors is the answer of the doubles that classify images only.
var errNoTensors = errors.New("test double: no tensors or batches")

// imagesOnly completes a double that classifies encoded images only.
type imagesOnly struct{}

func (imagesOnly) ClassifyTensor([]float32, imageprep.Info) (classifier.Result, error) {
	return classifier.Result{}, errNoTensors
}
func (imagesOnly) Prepare([]byte) (classifier.Prepared, error) {
	return classifier.Prepared{}, errNoTensors
}
func (imagesOnly) InferBatch([]classifier.Prepared) ([]classifier.Result, error) {
	return nil, errNoTensors
}
