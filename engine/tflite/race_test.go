//go:build race

package tflite

// raceEnabled: under the race detector sync.Pool drops some of what it is
// given, on purpose, so allocation counts are not meaningful.
const raceEnabled = true
