//go:build !ort

package main

import "github.com/huskyai/huskyai/engine/ort"

// ortBatch needs the ort build tag.
func ortBatch(data []byte, threads, n int, x []float32) (run func() (float32, error), closeFn func(), err error) {
	return nil, nil, ort.ErrNotBuilt
}
