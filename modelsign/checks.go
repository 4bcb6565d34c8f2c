package modelsign

// CheckSet is a behavioural self-test that travels inside a signature: a
// few small images with the probabilities the signed model gave them. A
// server runs them at every load and refuses a model whose outputs differ
// by more than Tolerance, which catches an edited model even when it was
// re-signed with a stolen key, and catches engine regressions.
//
// TODO(helper): encoded as the optional "checks" member of the signature
// file and covered by the signed payload (see the package documentation).
type CheckSet struct {
	// Tolerance is the largest accepted absolute difference between a
	// check's Probability and the model's output.
	Tolerance float32 `json:"tolerance"`
	// Checks are the images, at least one.
	Checks []Check `json:"checks"`
}

// Check is one image of a CheckSet.
type Check struct {
	// Name names the check in errors and logs (the image's file name).
	Name string `json:"name"`
	// Image is the image file's bytes (PNG, JPEG or GIF); base64 in JSON.
	Image []byte `json:"image"`
	// Probability is the signed model's output for Image.
	Probability float32 `json:"probability"`
}
