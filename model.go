package huskyai

import "time"

// Info reports what was decoded, for logs and responses.
type ImageInfo struct {
	// Format is "png", "jpeg" or "gif"; empty when the format was not
	// recognised.
	Format string `json:"format,omitempty"`
	// Width and Height are the image's size as declared by its header
	// (zero when the header could not be read); for a decoded JPEG whose
	// Exif orientation swaps the axes (5 to 8), the upright size.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
}

// ModelInfo describes the loaded model for logs and responses.
type ModelInfo struct {
	Name   string `json:"name"`
	Format string `json:"format"`
	// SHA256 is the hex SHA-256 of the model file's bytes.
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
	// Input is the model's input image shape: height, width, channels.
	Input  [3]int `json:"input_shape"`
	Params int    `json:"params"`
	// PositiveClasses lists, comma-separated, the output classes of a
	// multi-class model whose probabilities add up to the husky
	// probability (--positive-classes: "249,250,251"); empty for a model
	// with one sigmoid output. (A string keeps ModelInfo comparable.)
	PositiveClasses string `json:"positive_classes,omitempty"`
	// Engine names the engine that runs the model when it is not the
	// native one ("onnxruntime 1.24.1").
	Engine string `json:"engine,omitempty"`
	// Kernels names the arithmetic and the kernels huskyai's own engine
	// runs the model on ("float32 packed-avx512", "int8
	// avx512-vnni": --quantized chooses for a quantized TFLite model);
	// empty when another engine runs it.
	Kernels string `json:"kernels,omitempty"`
	// Placeholder is set for a model whose file declares it untrained
	// (huskyai.UntrainedNote); Warning then says so in words.
	Placeholder bool   `json:"placeholder,omitempty"`
	Warning     string `json:"warning,omitempty"`
	// Provenance says how the file was checked before it was loaded; it
	// is the zero value until a loader such as modelstore sets it.
	Provenance
}

// Provenance says where a loaded model came from and how it was checked.
// modelstore fills it in after it verified the model file.
type Provenance struct {
	// Signed reports that a signature by a trusted key was verified over
	// the exact bytes loaded.
	Signed bool `json:"signed"`
	// SignerKeyID is the modelsign key id of the key that signed the
	// model; empty when it is unsigned.
	SignerKeyID string `json:"signer_key_id,omitempty"`
	// Checks is the number of self-test images of the signature that the
	// model passed at load.
	Checks int `json:"checks"`
	// LoadedAt is when the model was loaded, verified and made ready.
	LoadedAt time.Time `json:"loaded_at,omitzero"`
}

// Result is the answer for one image.
type Result struct {
	Verdict
	// Image describes the decoded image.
	Image ImageInfo
	// Timings are the durations of the stages that produced the verdict.
	Timings Timings
	// PHash is the perceptual hash (imageprep.RGB.DHash) of the model's
	// input image, set by Classify when it succeeds: near-identical
	// uploads have hashes a few bits apart.
	PHash uint64
}

// Timings are the durations of the stages of one classification.
type Timings struct {
	// Decode is sniffing, the header check, decoding and resizing to the
	// model's input (one step: the resize reads the decoded rows as they
	// are converted to RGB).
	Decode time.Duration
	// Preprocess is scaling the model's input to [0, 1] and its
	// perceptual hash.
	Preprocess time.Duration
	// Inference is the engine's forward pass.
	Inference time.Duration
	// Batch is the number of images of the engine run that produced the
	// verdict when InferBatch ran it; 0 for Classify.
	Batch int
}

// Prepared is an image made ready for the model by Prepare.
type Prepared struct {
	// X is the model's input tensor (HWC, [0,1]).
	X []float32
	// Image describes the decoded image.
	Image ImageInfo
	// PHash is the perceptual hash of the model's input image.
	PHash uint64
	// Timings has the Decode and Preprocess durations.
	Timings Timings
}

// RefusalKind classifies why a model was refused.
type RefusalKind string

// ReloadAttempt is the outcome of one reload.
type ReloadAttempt struct {
	// At is when the reload finished.
	At time.Time `json:"at"`
	OK bool      `json:"ok"`
	// Error says why the reload was refused; Kind classifies it.
	Error string      `json:"error,omitempty"`
	Kind  RefusalKind `json:"kind,omitempty"`
	// SHA256 is the hex SHA-256 of the model read, when it was read.
	SHA256 string `json:"sha256,omitempty"`
	// Duration is how long the reload took, from reading to publishing.
	Duration time.Duration `json:"-"`
}

// ModelStatus is the model being served and its reload history.
type ModelStatus struct {
	// Model describes the model being served.
	Model ModelInfo
	// Source is the model's path (modelstore.Embedded for the embedded
	// model), or a repository's directory.
	Source string
	// LastReload is the last reload attempt, nil before the first.
	LastReload *ReloadAttempt
	// Reloads and ReloadFailures count reload attempts since Open.
	Reloads, ReloadFailures uint64
}

// ModelVersions names a model being served and its versions, newest
// first: Versions[0] answers a request that names the model but no
// version. Aliases are other names the model answers to.
type ModelVersions struct {
	Name     string
	Aliases  []string
	Versions []string
}

// Classifier is a loaded model, as the outer layers (the server, the
// command line) use it. Errors about an image are *imageprep.Error.
type Classifier interface {
	// Info describes the model.
	Info() ModelInfo
	// Classify decodes an encoded image, resizes it to the model's input
	// and returns the verdict: Prepare, then the model.
	Classify(img []byte) (Result, error)
	// ClassifyTensor runs a prepared input tensor (HWC, [0,1], of the
	// model's input shape); img describes the image it came from.
	ClassifyTensor(x []float32, img ImageInfo) (Result, error)
	// Prepare decodes and resizes an image for the model, the first half
	// of Classify; InferBatch finishes several at once.
	Prepare(img []byte) (Prepared, error)
	// InferBatch runs prepared images through the model in one pass.
	InferBatch(ps []Prepared) ([]Result, error)
}

// Models are the models a server answers with: one model (a file or the
// embedded one) or a repository of named, versioned models. A request
// resolves its model once and uses it to its end, so a model swapped
// meanwhile never changes an answer half-way. Implementations are safe
// for concurrent use.
type Models interface {
	// Current is the default model, which answers the requests that name
	// none; nil while no model is loaded.
	Current() Classifier
	// Lookup returns the model that name (or one of its aliases) names in
	// version, the newest for an empty version: the model, its name as
	// served, and the version found; ok is false when no such model or
	// version is served.
	Lookup(name, version string) (c Classifier, served, resolved string, ok bool)
	// List returns the models served, sorted by name.
	List() []ModelVersions
	// DefaultModel is the name of the default model ("" while none).
	DefaultModel() string
	// Status is the default model and the reload history.
	Status() ModelStatus
}
