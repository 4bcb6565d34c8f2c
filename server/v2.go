package server

// The ecosystem protocols, on the same port as our own API (routes.go):
//
//   - the Open Inference Protocol (KServe v2, Triton's HTTP/REST API):
//     GET /v2, /v2/health/live, /v2/health/ready, /v2/models/{model}[/versions/{version}][/ready]
//     and POST /v2/models/{model}[/versions/{version}]/infer;
//   - TF Serving's REST API: GET /v1/models/{model}[/versions/{version}]
//     (model status) and POST /v1/models/{model}[/versions/{version}]:predict.
//
// A model takes either prepared tensors (FP32, [N,H,W,3] in [0,1], the
// input named "input") or encoded images (BYTES, base64 in JSON or raw
// with the binary tensor data extension, the input named "image"); it
// answers one FP32 output, "probability", of shape [N,1]. Images take the
// path of POST /api/v1/predict (sniff, decode, resize, classify) under
// the same limits, admission, rate limit, probing detection, metrics and
// audit; tensors skip decoding. Errors are {"error":"message"}.

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/imageprep"
)

// Names of the protocols' model and tensors.
const (
	// modelAlias is a name the single model (not a Repository) also
	// answers to, so that clients need not know its name; answers name
	// the model by its own name all the same, and GET /api/v1/models
	// lists the alias.
	modelAlias = "huskyai"
	// singleVersion is the version of the single model.
	singleVersion = "1"
	inputTensor   = "input"       // FP32 [N,H,W,C], values in [0,1]
	inputImage    = "image"       // BYTES [N]: encoded PNG, JPEG or GIF
	outputProb    = "probability" // FP32 [N,1]
)

// Limits of protocol requests.
const (
	// maxInferBatch bounds the images or tensors of one request.
	maxInferBatch = 8
	// jsonBytesPerValue is the most JSON text one FP32 value may take in
	// a request ("0.50196078431372548," and spaces).
	jsonBytesPerValue = 24
	// protocolOverhead is the room in a request body beyond its images or
	// tensors: names, shapes, parameters.
	protocolOverhead = 64 << 10
)

// tensorClassifier is implemented by models that take a prepared input
// tensor, as *classifier.Classifier does; only they accept FP32 inputs.
type tensorClassifier interface {
	ClassifyTensor(x []float32, info imageprep.Info) (classifier.Result, error)
}

// lookup returns the model that the path of a protocol request names,
// name in version ("" for the newest). With a Repository it is the
// repository's; otherwise the single model answers to its own name and
// to modelAlias, as version singleVersion, and is served under its own
// name: one name and one version on every route and in
// GET /api/v1/models. It is the one place where the protocols resolve a
// model.
func (s *server) lookup(name, version string) (servedModel, bool) {
	if repo, ok := s.models.(Repository); ok {
		c, v, ok := repo.Lookup(name, version)
		return servedModel{c, name, v}, ok && c != nil
	}
	c := s.current()
	if c == nil || name != c.Info().Name && name != modelAlias || version != "" && version != singleVersion {
		return servedModel{}, false
	}
	return servedModel{c, c.Info().Name, singleVersion}, true
}

// modelLabel is the model label of m in the metrics: the repository's
// name for it, or the single model's own name (whatever name the request
// used), as handlePredict counts it.
func (s *server) modelLabel(m servedModel) string {
	if _, ok := s.models.(Repository); ok {
		return m.name
	}
	return m.c.Info().Name
}

// versions returns the versions served of the model m was found as,
// newest first.
func (s *server) versions(m servedModel) []string {
	if repo, ok := s.models.(Repository); ok {
		for _, ref := range repo.List() {
			if ref.Name == m.name {
				return ref.Versions
			}
		}
	}
	return []string{m.version}
}

// protocolModel resolves the model named by the path values model and
// version of r. When there is none it answers 503 (no model loaded yet)
// or 404 and returns false.
func (s *server) protocolModel(w http.ResponseWriter, r *http.Request) (servedModel, bool) {
	name, version := r.PathValue("model"), r.PathValue("version")
	return s.resolve(w, name, version)
}

// resolve returns the model name in version ("" for the newest), or
// answers 503 (no model loaded yet) or 404 and returns false.
func (s *server) resolve(w http.ResponseWriter, name, version string) (servedModel, bool) {
	if m, ok := s.lookup(name, version); ok {
		return m, true
	}
	if s.current() == nil {
		errorJSON(w, http.StatusServiceUnavailable, codeNotReady, "no model is loaded yet; try again shortly", "")
		return servedModel{}, false
	}
	msg := fmt.Sprintf("model %q is not served here", name)
	if version != "" {
		msg = fmt.Sprintf("version %q of model %q is not served here", version, name)
	}
	errorJSON(w, http.StatusNotFound, codeModelNotFound, msg, "")
	return servedModel{}, false
}

// v2ServerMetadata is the answer of GET /v2.
type v2ServerMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

// handleV2Server answers the server metadata.
func handleV2Server(s *server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, v2ServerMetadata{Name: "huskyai", Version: s.cfg.Version,
			Extensions: []string{"binary_tensor_data"}})
	})
}

// handleV2Live answers 200 with no body while the process serves.
func handleV2Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
}

// handleV2Ready answers 200 with no body once a model is loaded, else
// 503.
func handleV2Ready(s *server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.current() == nil {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// handleV2ModelReady answers 200 with no body when the model (and
// version) of the path is served, else 404 or 503.
func handleV2ModelReady(s *server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.protocolModel(w, r); ok {
			w.WriteHeader(http.StatusOK)
		}
	})
}

// v2Tensor describes an input or output of a model.
type v2Tensor struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
}

// v2ModelMetadata is the answer of GET /v2/models/{model}.
type v2ModelMetadata struct {
	Name     string     `json:"name"`
	Versions []string   `json:"versions"`
	Platform string     `json:"platform"`
	Inputs   []v2Tensor `json:"inputs"`
	Outputs  []v2Tensor `json:"outputs"`
	// Warning is the placeholder model's warning.
	Warning string `json:"warning,omitempty"`
}

// handleV2Model answers the metadata of the model of the path. A request
// gives one of its inputs: "input" (FP32 tensors, for models that take
// them) or "image" (BYTES, encoded images).
func handleV2Model(s *server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, ok := s.protocolModel(w, r)
		if !ok {
			return
		}
		info := m.c.Info()
		md := v2ModelMetadata{Name: m.name, Versions: s.versions(m), Platform: "huskyai_native",
			Outputs: []v2Tensor{{Name: outputProb, Datatype: "FP32", Shape: []int{-1, 1}}}, Warning: info.Warning}
		if info.Engine != "" {
			md.Platform = "onnxruntime_onnx"
		}
		if _, ok := m.c.(tensorClassifier); ok {
			md.Inputs = append(md.Inputs, v2Tensor{Name: inputTensor, Datatype: "FP32",
				Shape: []int{-1, info.Input[0], info.Input[1], info.Input[2]}})
		}
		md.Inputs = append(md.Inputs, v2Tensor{Name: inputImage, Datatype: "BYTES", Shape: []int{-1}})
		encode(w, http.StatusOK, md)
	})
}

// v2InferRequest is the body (or, with the binary tensor data extension,
// the JSON header) of POST /v2/models/{model}/infer.
type v2InferRequest struct {
	ID         string `json:"id"`
	Parameters struct {
		BinaryDataOutput bool `json:"binary_data_output"`
	} `json:"parameters"`
	Inputs  []v2Input           `json:"inputs"`
	Outputs []v2RequestedOutput `json:"outputs"`
}

// v2Input is one input tensor of a request: its data is in Data (JSON,
// flat or nested) or, with Parameters.BinaryDataSize, in the binary part
// of the body.
type v2Input struct {
	Name       string  `json:"name"`
	Shape      []int64 `json:"shape"`
	Datatype   string  `json:"datatype"`
	Parameters struct {
		BinaryDataSize *int64 `json:"binary_data_size"`
	} `json:"parameters"`
	Data json.RawMessage `json:"data"`
}

// v2RequestedOutput is an output a request asks for, in JSON or binary.
type v2RequestedOutput struct {
	Name       string `json:"name"`
	Parameters struct {
		BinaryData bool `json:"binary_data"`
	} `json:"parameters"`
}

// v2InferResponse is the answer of POST /v2/models/{model}/infer.
type v2InferResponse struct {
	ModelName    string     `json:"model_name"`
	ModelVersion string     `json:"model_version,omitempty"`
	ID           string     `json:"id"`
	Outputs      []v2Output `json:"outputs"`
	// Warning is the placeholder model's warning.
	Warning string `json:"warning,omitempty"`
}

// v2Output is the output tensor of a response: its data in Data, or in
// the binary part of the response when Parameters is set.
type v2Output struct {
	Name       string          `json:"name"`
	Datatype   string          `json:"datatype"`
	Shape      []int           `json:"shape"`
	Parameters *v2OutputBinary `json:"parameters,omitempty"`
	Data       []float32       `json:"data,omitempty"`
}

// v2OutputBinary says the size of an output sent as binary data.
type v2OutputBinary struct {
	BinaryDataSize int `json:"binary_data_size"`
}

// handleV2Infer classifies the tensors or images of a v2 inference
// request.
func handleV2Infer(s *server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, ok := s.protocolModel(w, r)
		if !ok {
			return
		}
		var req v2InferRequest
		binaryOut := false
		probs, ok := s.infer(w, r, m, func(body []byte) ([]inferItem, *uploadError) {
			items, err := s.parseV2(body, r.Header.Get("Inference-Header-Content-Length"), m, &req)
			if err == nil {
				binaryOut, err = v2BinaryOutput(&req)
			}
			return items, err
		})
		if !ok {
			return
		}
		info := m.c.Info()
		out := v2Output{Name: outputProb, Datatype: "FP32", Shape: []int{len(probs), 1}}
		resp := v2InferResponse{ModelName: m.name, ModelVersion: m.version,
			ID: cmp.Or(req.ID, requestIDOf(r.Context())), Warning: info.Warning}
		if !binaryOut {
			out.Data = probs
			resp.Outputs = []v2Output{out}
			encode(w, http.StatusOK, resp)
			return
		}
		data := make([]byte, 0, 4*len(probs))
		for _, p := range probs {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(p))
		}
		out.Parameters = &v2OutputBinary{BinaryDataSize: len(data)}
		resp.Outputs = []v2Output{out}
		encodeBinary(w, http.StatusOK, resp, data)
	})
}

// v2BinaryOutput checks the outputs req asks for (only outputProb) and
// returns whether it wants them as binary data.
func v2BinaryOutput(req *v2InferRequest) (bool, *uploadError) {
	binaryOut := req.Parameters.BinaryDataOutput
	for _, o := range req.Outputs {
		if o.Name != outputProb {
			return false, badRequest("unknown output %q: the model's only output is %q", o.Name, outputProb)
		}
		binaryOut = binaryOut || o.Parameters.BinaryData
	}
	return binaryOut, nil
}

// parseV2 reads the items of a v2 inference request from body. headerLen
// is its Inference-Header-Content-Length: when set, the JSON header is
// that many bytes and binary tensor data follows.
func (s *server) parseV2(body []byte, headerLen string, m servedModel, req *v2InferRequest) ([]inferItem, *uploadError) {
	header, bin := body, []byte(nil)
	if headerLen != "" {
		n, err := strconv.Atoi(headerLen)
		if err != nil || n <= 0 || n > len(body) {
			return nil, badRequest("Inference-Header-Content-Length %q: want the length of the JSON header, at most the body's %d bytes", headerLen, len(body))
		}
		header, bin = body[:n], body[n:]
	}
	if err := decode(header, req); err != nil {
		return nil, badRequest("malformed inference request: %v", err)
	}
	if len(req.Inputs) != 1 {
		return nil, badRequest("the request has %d inputs; give one: %q (FP32 tensors) or %q (BYTES images)", len(req.Inputs), inputTensor, inputImage)
	}
	in := req.Inputs[0]
	var raw []byte // the input's binary data
	if size := in.Parameters.BinaryDataSize; size != nil {
		if len(in.Data) > 0 {
			return nil, badRequest("input %q has both data and binary_data_size", in.Name)
		}
		if *size != int64(len(bin)) {
			return nil, badRequest("input %q: binary_data_size is %d but %d bytes of binary data follow the JSON header", in.Name, *size, len(bin))
		}
		raw = bin
	} else if len(bin) > 0 {
		return nil, badRequest("%d bytes follow the JSON header but no input has binary_data_size", len(bin))
	} else if len(in.Data) == 0 {
		return nil, badRequest("input %q has no data", in.Name)
	}
	switch {
	case in.Name == inputTensor && in.Datatype == "FP32":
		return s.v2Tensors(in, raw, m)
	case in.Name == inputImage && in.Datatype == "BYTES":
		return s.v2Images(in, raw)
	case in.Name == inputTensor || in.Name == inputImage:
		return nil, badRequest("input %q has datatype %q; %q is FP32 and %q is BYTES", in.Name, in.Datatype, inputTensor, inputImage)
	default:
		return nil, badRequest("unknown input %q: give %q (FP32 tensors) or %q (BYTES images)", in.Name, inputTensor, inputImage)
	}
}

// v2Tensors reads the FP32 tensors of input in, from its JSON data or
// its binary data raw (little-endian float32).
func (s *server) v2Tensors(in v2Input, raw []byte, m servedModel) ([]inferItem, *uploadError) {
	if _, ok := m.c.(tensorClassifier); !ok {
		return nil, badRequest("this model takes encoded images only: give input %q (BYTES)", inputImage)
	}
	shape := m.c.Info().Input
	size := shape[0] * shape[1] * shape[2]
	if len(in.Shape) != 4 || in.Shape[0] < 1 || in.Shape[0] > maxInferBatch ||
		in.Shape[1] != int64(shape[0]) || in.Shape[2] != int64(shape[1]) || in.Shape[3] != int64(shape[2]) {
		return nil, badRequest("input %q has shape %v; the model takes [N,%d,%d,%d] with N from 1 to %d",
			in.Name, in.Shape, shape[0], shape[1], shape[2], maxInferBatch)
	}
	n := int(in.Shape[0])
	var x []float32
	if raw != nil {
		if len(raw) != 4*n*size {
			return nil, badRequest("input %q: %d bytes of binary data for shape %v; want %d", in.Name, len(raw), in.Shape, 4*n*size)
		}
		x = make([]float32, n*size)
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			if !(x[i] >= 0 && x[i] <= 1) {
				return nil, badRequest("input %q: value %d is %v; values must be scaled to [0, 1]", in.Name, i, x[i])
			}
		}
	} else {
		var err error
		if x, _, err = parseNumbers(in.Data, n*size); err != nil {
			return nil, badRequest("input %q: %v", in.Name, err)
		}
		if len(x) != n*size {
			return nil, badRequest("input %q: %d values for shape %v; want %d", in.Name, len(x), in.Shape, n*size)
		}
	}
	items := make([]inferItem, n)
	for i := range items {
		items[i].tensor = x[i*size : (i+1)*size : (i+1)*size]
	}
	return items, nil
}

// v2Images reads the encoded images of BYTES input in: base64 strings in
// its JSON data, or in its binary data raw each element as a 4-byte
// little-endian length and the bytes (Triton's serialization).
func (s *server) v2Images(in v2Input, raw []byte) ([]inferItem, *uploadError) {
	n := int64(1)
	for _, d := range in.Shape {
		n *= d
	}
	if len(in.Shape) < 1 || len(in.Shape) > 2 || in.Shape[0] < 1 || in.Shape[0] > maxInferBatch || n != in.Shape[0] {
		return nil, badRequest("input %q has shape %v; give [N] (or [N,1]) with N from 1 to %d", in.Name, in.Shape, maxInferBatch)
	}
	var imgs [][]byte
	if raw != nil {
		for len(raw) > 0 {
			if len(raw) < 4 {
				return nil, badRequest("input %q: the binary data ends inside an element's length", in.Name)
			}
			l := binary.LittleEndian.Uint32(raw)
			if int64(l) > int64(len(raw)-4) {
				return nil, badRequest("input %q: an element of %d bytes overruns the binary data", in.Name, l)
			}
			imgs, raw = append(imgs, raw[4:4+l:4+l]), raw[4+l:]
		}
	} else {
		strs, err := parseStrings(in.Data)
		if err != nil {
			return nil, badRequest("input %q: %v", in.Name, err)
		}
		for _, str := range strs {
			img, ue := s.decodeBase64(str)
			if ue != nil {
				return nil, ue
			}
			imgs = append(imgs, img)
		}
	}
	if int64(len(imgs)) != n {
		return nil, badRequest("input %q: %d elements for shape %v", in.Name, len(imgs), in.Shape)
	}
	return s.imageItems(imgs)
}

// imageItems makes the items of encoded images, refusing one larger
// than the upload limit.
func (s *server) imageItems(imgs [][]byte) ([]inferItem, *uploadError) {
	items := make([]inferItem, len(imgs))
	for i, img := range imgs {
		if int64(len(img)) > s.cfg.MaxUpload {
			return nil, &uploadError{http.StatusRequestEntityTooLarge, codeTooLarge,
				fmt.Sprintf("image %d is %d bytes, more than the limit of %d bytes", i, len(img), s.cfg.MaxUpload)}
		}
		items[i].img = img
	}
	return items, nil
}

// decodeBase64 decodes an image sent as base64 (standard or URL
// alphabet, padded or not).
func (s *server) decodeBase64(str string) ([]byte, *uploadError) {
	if int64(base64.StdEncoding.DecodedLen(len(str))) > s.cfg.MaxUpload+3 {
		return nil, &uploadError{http.StatusRequestEntityTooLarge, codeTooLarge,
			fmt.Sprintf("an image is larger than the limit of %d bytes", s.cfg.MaxUpload)}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(str); err == nil {
			return b, nil
		}
	}
	return nil, badRequest("an image is not valid base64")
}

// tfPredictRequest is the body of POST /v1/models/{model}:predict, in the
// row (instances) or the columnar (inputs) format.
type tfPredictRequest struct {
	SignatureName string          `json:"signature_name"`
	Instances     json.RawMessage `json:"instances"`
	Inputs        json.RawMessage `json:"inputs"`
}

// tfPredictResponse is the answer of :predict: predictions for a row
// request, outputs for a columnar one; each is [probability].
type tfPredictResponse struct {
	Predictions [][1]float32 `json:"predictions,omitempty"`
	Outputs     [][1]float32 `json:"outputs,omitempty"`
	// Warning is the placeholder model's warning.
	Warning string `json:"warning,omitempty"`
}

// tfModelStatus is the answer of GET /v1/models/{model}.
type tfModelStatus struct {
	ModelVersionStatus []tfVersionStatus `json:"model_version_status"`
}

// tfVersionStatus is the state of one version of a model.
type tfVersionStatus struct {
	Version string `json:"version"`
	State   string `json:"state"`
	Status  struct {
		ErrorCode    string `json:"error_code"`
		ErrorMessage string `json:"error_message"`
	} `json:"status"`
}

// handleTFServing serves TF Serving's REST API under /v1/models/: the
// path is MODEL[/versions/VERSION][:predict], which ServeMux patterns
// cannot split at the colon.
func handleTFServing(s *server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := r.PathValue("rest")
		path, verb, _ := strings.Cut(rest, ":")
		name, version, ok := strings.Cut(path, "/versions/")
		if !ok {
			version = ""
		}
		if name == "" || strings.Contains(name, "/") || ok && (version == "" || strings.Contains(version, "/")) {
			errorJSON(w, http.StatusNotFound, codeNotFound, "no such page: "+r.URL.Path+"; use /v1/models/MODEL[/versions/VERSION][:predict]", "")
			return
		}
		want := http.MethodGet
		switch verb {
		case "":
		case "predict":
			want = http.MethodPost
		default:
			errorJSON(w, http.StatusNotFound, codeNotFound, "only :predict is served, not :"+verb, "")
			return
		}
		if r.Method != want && !(want == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", want)
			errorJSON(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "method "+r.Method+" is not allowed here; use "+want, "")
			return
		}
		m, ok := s.resolve(w, name, version)
		if !ok {
			return
		}
		if verb == "" {
			st := tfVersionStatus{Version: m.version, State: "AVAILABLE"}
			st.Status.ErrorCode = "OK"
			encode(w, http.StatusOK, tfModelStatus{ModelVersionStatus: []tfVersionStatus{st}})
			return
		}
		columnar := false
		probs, ok := s.infer(w, r, m, func(body []byte) ([]inferItem, *uploadError) {
			var items []inferItem
			var ue *uploadError
			items, columnar, ue = s.parseTF(body, m)
			return items, ue
		})
		if !ok {
			return
		}
		rows := make([][1]float32, len(probs))
		for i, p := range probs {
			rows[i] = [1]float32{p}
		}
		resp := tfPredictResponse{Predictions: rows, Warning: m.c.Info().Warning}
		if columnar {
			resp.Predictions, resp.Outputs = nil, rows
		}
		encode(w, http.StatusOK, resp)
	})
}

// parseTF reads the items of a :predict request: instances (row format)
// or inputs (columnar format, reported by columnar), each instance
// {"b64": ...}, {"image": {"b64": ...}} or {"image_bytes": {"b64": ...}}
// for an encoded image, or a nested [H][W][C] array, or {"input": that},
// for a tensor. Columnar inputs are a list of instances, one instance, or
// {"image"|"image_bytes"|"input": a list of instances or one}.
func (s *server) parseTF(body []byte, m servedModel) (items []inferItem, columnar bool, ue *uploadError) {
	var req tfPredictRequest
	if err := decode(body, &req); err != nil {
		return nil, false, badRequest("malformed predict request: %v", err)
	}
	if req.SignatureName != "" && req.SignatureName != "serving_default" {
		return nil, false, badRequest("unknown signature_name %q: the model has serving_default only", req.SignatureName)
	}
	var list json.RawMessage
	switch {
	case len(req.Instances) > 0 && len(req.Inputs) > 0:
		return nil, false, badRequest("give instances or inputs, not both")
	case len(req.Instances) > 0:
		list = req.Instances
	case len(req.Inputs) > 0:
		columnar, list = true, req.Inputs
		var named map[string]json.RawMessage
		if bytes.HasPrefix(bytes.TrimSpace(list), []byte("{")) && decode(list, &named) == nil && len(named) == 1 {
			for k, v := range named {
				if k == inputImage || k == "image_bytes" || k == inputTensor {
					list = v
				}
			}
		}
		if !bytes.HasPrefix(bytes.TrimSpace(list), []byte("[")) || isTensor(list) {
			list = append(append([]byte("["), list...), ']') // one instance
		}
	default:
		return nil, false, badRequest(`the request has neither "instances" nor "inputs"`)
	}
	var instances []json.RawMessage
	if err := decode(list, &instances); err != nil {
		return nil, false, badRequest("instances: want a list: %v", err)
	}
	if len(instances) < 1 || len(instances) > maxInferBatch {
		return nil, false, badRequest("%d instances: give 1 to %d", len(instances), maxInferBatch)
	}
	items = make([]inferItem, len(instances))
	for i, inst := range instances {
		if items[i], ue = s.tfInstance(inst, m, 0); ue != nil {
			ue.message = fmt.Sprintf("instance %d: %s", i, ue.message)
			return nil, false, ue
		}
	}
	return items, columnar, nil
}

// isTensor reports whether raw is a single [H][W][C] instance rather than
// a list of them: an array nested three deep.
func isTensor(raw []byte) bool {
	depth := 0
	for _, c := range raw {
		if c == '[' {
			depth++
		} else if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			break
		}
	}
	return depth == 3
}

// tfInstance reads one instance of a :predict request.
func (s *server) tfInstance(raw json.RawMessage, m servedModel, depth int) (inferItem, *uploadError) {
	raw = bytes.TrimSpace(raw)
	if bytes.HasPrefix(raw, []byte("[")) {
		if _, ok := m.c.(tensorClassifier); !ok {
			return inferItem{}, badRequest(`this model takes encoded images only: give {"b64": "..."}`)
		}
		shape := m.c.Info().Input
		size := shape[0] * shape[1] * shape[2]
		x, got, err := parseNumbers(raw, size)
		if err != nil {
			return inferItem{}, badRequest("%v", err)
		}
		if !slices.Equal(got, shape[:]) {
			return inferItem{}, badRequest("a tensor of shape %v; the model takes [%d,%d,%d]", got, shape[0], shape[1], shape[2])
		}
		return inferItem{tensor: x}, nil
	}
	var obj map[string]json.RawMessage
	if err := decode(raw, &obj); err != nil || len(obj) != 1 {
		return inferItem{}, badRequest(`want {"b64": "..."}, {"image": {"b64": "..."}} or a [%d][%d][%d] array`,
			m.c.Info().Input[0], m.c.Info().Input[1], m.c.Info().Input[2])
	}
	if b64, ok := obj["b64"]; ok {
		var str string
		if err := decode(b64, &str); err != nil {
			return inferItem{}, badRequest("b64: want a string")
		}
		img, ue := s.decodeBase64(str)
		if ue != nil {
			return inferItem{}, ue
		}
		items, ue := s.imageItems([][]byte{img})
		if ue != nil {
			return inferItem{}, ue
		}
		return items[0], nil
	}
	for _, k := range []string{inputImage, "image_bytes", inputTensor} {
		if v, ok := obj[k]; ok && depth == 0 {
			return s.tfInstance(v, m, depth+1)
		}
	}
	return inferItem{}, badRequest("unknown input: give {\"b64\": ...}, %q or %q", inputImage, inputTensor)
}

// inferItem is one image or tensor of a protocol request.
type inferItem struct {
	img    []byte    // an encoded image, or
	tensor []float32 // a prepared input tensor, HWC in [0,1]
}

// badRequest is a 400 with a formatted message.
func badRequest(format string, args ...any) *uploadError {
	return &uploadError{http.StatusBadRequest, codeBadRequest, fmt.Sprintf(format, args...)}
}

// inferBodyLimit is the largest body of a protocol request to a model of
// info: an image of MaxUpload bytes as base64, or maxInferBatch tensors
// in JSON, whichever is larger. The images of one request share it, so
// that an admitted request holds about as much memory as one upload.
func (s *server) inferBodyLimit(info classifier.ModelInfo) int64 {
	tensors := int64(maxInferBatch) * int64(info.Input[0]*info.Input[1]*info.Input[2]) * jsonBytesPerValue
	return max(s.cfg.MaxUpload/3*4+4, tensors) + protocolOverhead
}

// infer serves a protocol request for model m as handlePredict serves
// one upload: per-client admission, the pending bound, the body read
// within its limit and parsed by parse, one more rate-limit token for
// each item past the first, then for each item an inference slot, the
// classification, the probing detector and an audit record. It answers
// errors itself (in the protocols' form) and returns the probabilities
// in order, and true, on success.
func (s *server) infer(w http.ResponseWriter, r *http.Request, m servedModel,
	parse func(body []byte) ([]inferItem, *uploadError)) (probs []float32, ok bool) {
	start := time.Now()
	info := m.c.Info()
	status := http.StatusInternalServerError
	defer func() { s.metrics.countInference(s.modelLabel(m), status) }()
	fail := func(ue *uploadError) {
		status = ue.status
		addLogAttrs(r.Context(), "infer_error", ue.message)
		errorJSON(w, ue.status, ue.code, ue.message, "")
	}
	if !s.admitClient(w, r, "") {
		status = http.StatusTooManyRequests
		return nil, false
	}
	release, admitted := s.admitPending(w)
	if !admitted {
		fail(&uploadError{http.StatusServiceUnavailable, codeBusy, "the server is busy with other requests; try again in a moment"})
		return nil, false
	}
	defer release()

	limit := s.inferBodyLimit(info)
	tooLarge := &uploadError{http.StatusRequestEntityTooLarge, codeTooLarge,
		fmt.Sprintf("the request is larger than the limit of %d bytes", limit)}
	var items []inferItem
	ue := func() *uploadError {
		if r.ContentLength > limit {
			return tooLarge
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			return bodyError(err, tooLarge)
		}
		var ue *uploadError
		items, ue = parse(body)
		return ue
	}()
	s.observeStage(r.Context(), stageRead, start, time.Now())
	if ue != nil {
		fail(ue)
		return nil, false
	}
	if !s.admitMore(w, r, len(items)-1) {
		status = http.StatusTooManyRequests
		return nil, false
	}
	probs = make([]float32, len(items))
	for i, it := range items {
		p, ue := s.inferItem(w, r, start, m, it)
		if ue != nil {
			if len(items) > 1 {
				ue.message = fmt.Sprintf("item %d: %s", i, ue.message)
			}
			fail(ue)
			return nil, false
		}
		probs[i] = p
		if s.cfg.LabelOnly { // the label only: 1 husky, 0 not
			probs[i] = 0
			if p > 0.5 {
				probs[i] = 1
			}
		}
	}
	addLogAttrs(r.Context(), "items", len(items))
	status = http.StatusOK
	return probs, true
}

// admitMore takes n more tokens of the client's rate limit, for the items
// of a request past its first. It answers 429 and returns false when the
// client runs out.
func (s *server) admitMore(w http.ResponseWriter, r *http.Request, n int) bool {
	if s.limiter == nil {
		return true
	}
	key, now := bucketKey(clientOf(r.Context()).Addr), time.Now()
	for range n {
		if ok, wait := s.limiter.reserve(key, now); !ok {
			s.metrics.rateLimited.Inc()
			s.refuse(w, wait, codeRateLimited, fmt.Sprintf(
				"too many predictions from your address: each image or tensor counts, the limit is %g per second, in bursts of up to %d; try again in %s seconds",
				float64(s.limiter.limit), s.limiter.burst, retryAfterSeconds(wait)), "")
			return false
		}
	}
	return true
}

// inferItem classifies one item of a protocol request, with an audit
// record of its own.
func (s *server) inferItem(w http.ResponseWriter, r *http.Request, start time.Time, m servedModel, it inferItem) (float32, *uploadError) {
	info := m.c.Info()
	var (
		res          classifier.Result
		rgb          *imageprep.RGB // the tensor as an image, for the probing detector
		status, code = http.StatusInternalServerError, codeInternal
	)
	img := it.img
	if it.tensor != nil {
		img = make([]byte, 0, 4*len(it.tensor))
		for _, v := range it.tensor {
			img = binary.LittleEndian.AppendUint32(img, math.Float32bits(v))
		}
		rgb = imageprep.NewRGB(info.Input[1], info.Input[0])
		for i, v := range it.tensor {
			rgb.Pix[i] = uint8(math.Round(float64(v) * 255))
		}
	}
	sum := sha256.Sum256(img)
	defer func() { s.auditPrediction(r, start, info, img, sum, res, status, code) }()
	fail := func(st int, c, msg string) (float32, *uploadError) {
		status, code = st, c
		return 0, &uploadError{st, c, msg}
	}
	if it.tensor == nil {
		if _, ok := imageprep.Sniff(img); !ok {
			return fail(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "the image is not a PNG, JPEG or GIF")
		}
	}
	release, err := s.acquire(r.Context())
	if err != nil {
		s.metrics.rejected.WithLabelValues("busy").Inc()
		return fail(http.StatusServiceUnavailable, codeBusy, "the server is busy classifying other images; try again in a moment")
	}
	res, err = func() (classifier.Result, error) {
		if bc, ok := s.batchFor(m.c); ok {
			return s.batched(bc, release, func() (classifier.Prepared, error) {
				if it.tensor == nil {
					return bc.Prepare(img)
				}
				return classifier.Prepared{X: it.tensor, PHash: rgb.DHash()}, nil
			})
		}
		defer release() // even if the model panics
		if it.tensor == nil {
			return m.c.Classify(img)
		}
		t := time.Now()
		res, err := m.c.(tensorClassifier).ClassifyTensor(it.tensor, imageprep.Info{})
		res.Timings.Inference = time.Since(t)
		res.PHash = rgb.DHash()
		return res, err
	}()
	s.observeClassify(r.Context(), time.Now(), res.Timings)
	if err != nil {
		st, c, msg := classifyError(err)
		if st == http.StatusInternalServerError {
			s.logger.ErrorContext(r.Context(), "classification failed", "request_id", requestIDOf(r.Context()), "err", err)
		}
		return fail(st, c, msg)
	}
	if block, msg := s.checkProbing(w, r, sum, res.PHash); block {
		return fail(http.StatusTooManyRequests, codeProbing, msg)
	}
	status, code = http.StatusOK, ""
	return res.Probability, nil
}

// parseNumbers reads the numbers of the JSON array raw, flat or nested,
// at most max of them, each within [0, 1]. Nested arrays must be
// rectangular; shape is their nesting ([len] for a flat array).
func parseNumbers(raw []byte, max int) (x []float32, shape []int, err error) {
	p := numParser{b: raw, max: max, out: make([]float32, 0, max)}
	shape, err = p.value(0)
	if err == nil {
		p.skip()
		if p.i != len(p.b) || shape == nil {
			err = errors.New("data must be an array of numbers")
		}
	}
	return p.out, shape, err
}

// numParser reads nested arrays of numbers from valid JSON.
type numParser struct {
	b   []byte
	i   int
	max int
	out []float32
}

// maxNesting bounds the depth of nested data arrays.
const maxNesting = 8

func (p *numParser) skip() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

// value reads a number (shape nil) or an array (its shape) at p.i.
func (p *numParser) value(depth int) ([]int, error) {
	p.skip()
	if p.i >= len(p.b) {
		return nil, errors.New("data ends early")
	}
	c := p.b[p.i]
	if c == '-' || c >= '0' && c <= '9' {
		j := p.i
		for j < len(p.b) && strings.IndexByte("+-.0123456789eE", p.b[j]) >= 0 {
			j++
		}
		f, err := strconv.ParseFloat(string(p.b[p.i:j]), 32)
		if err != nil || !(f >= 0 && f <= 1) {
			return nil, fmt.Errorf("value %s at index %d: values must be numbers scaled to [0, 1]", p.b[p.i:j], len(p.out))
		}
		if len(p.out) == p.max {
			return nil, fmt.Errorf("more than the %d values of the shape", p.max)
		}
		p.out = append(p.out, float32(f))
		p.i = j
		return nil, nil
	}
	if c != '[' {
		return nil, fmt.Errorf("data must hold numbers only, found %q", c)
	}
	if depth == maxNesting {
		return nil, fmt.Errorf("data is nested more than %d deep", maxNesting)
	}
	p.i++
	p.skip()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return []int{0}, nil
	}
	var elem []int
	for n := 0; ; n++ {
		sh, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			elem = sh
		} else if !slices.Equal(sh, elem) {
			return nil, errors.New("nested arrays of different lengths")
		}
		p.skip()
		if p.i < len(p.b) && p.b[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return append([]int{n + 1}, elem...), nil
		}
		return nil, errors.New("malformed data array")
	}
}

// parseStrings reads the strings of a JSON array of BYTES elements,
// flat or nested one deep ([["..."], ...]).
func parseStrings(raw []byte) ([]string, error) {
	var flat []string
	if decode(raw, &flat) == nil {
		return flat, nil
	}
	var nested [][]string
	if err := decode(raw, &nested); err != nil {
		return nil, errors.New("BYTES data must be an array of base64 strings")
	}
	for _, row := range nested {
		flat = append(flat, row...)
	}
	return flat, nil
}
