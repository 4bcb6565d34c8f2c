package server

import (
	"errors"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/imageprep"
)

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
