package tflite

// ReadNormalization is normalization, for the external tests.
var ReadNormalization = normalization
