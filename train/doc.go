// Package train holds the training pipeline of huskyai's default model,
// train.py (Python with Debian's python3-torch; see README.md here). It has
// no Go API: its test runs the pipeline on a few photos for one epoch and
// checks that the Go engine loads the file it writes and computes what
// PyTorch computed, so the pipeline cannot rot.
package train
