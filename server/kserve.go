package server

// The Open Inference Protocol (KServe v2, Triton's HTTP/REST API), as a
// translator over the one prediction pipeline (pipeline.go):
// GET /v2, /v2/health/live, /v2/health/ready,
// /v2/models/{model}[/versions/{version}][/ready] and
// POST /v2/models/{model}[/versions/{version}]/infer.
//
// A model takes either prepared tensors (FP32, [N,H,W,3] in [0,1], the
// input named "input") or encoded images (BYTES, base64 in JSON or raw
// with the binary tensor data extension, the input named "image"); it
// answers one FP32 output, "probability", of shape [N,1].

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
)

// v2ServerMetadata is the answer of GET /v2.
type v2ServerMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

// handleV2Server answers the server metadata.
func handleV2Server(s *server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, s.v2Server())
	})
}

// v2Server is the server metadata, over HTTP and gRPC.
func (s *server) v2Server() v2ServerMetadata {
	ext := []string{"binary_tensor_data"}
	if repositoryOf(s.models) != nil {
		ext = append(ext, "model_repository") // on the admin listener (repository.go)
	}
	return v2ServerMetadata{Name: "huskyai", Version: s.cfg.Version, Extensions: ext}
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
		encode(w, http.StatusOK, s.v2Model(m))
	})
}

// v2Model is the metadata of model m, over HTTP and gRPC.
func (s *server) v2Model(m servedModel) v2ModelMetadata {
	info := m.c.Info()
	md := v2ModelMetadata{Name: m.name, Versions: s.versions(m), Platform: "huskyai_native",
		Outputs: []v2Tensor{{Name: outputProb, Datatype: "FP32", Shape: []int{-1, 1}}}, Warning: info.Warning}
	if info.Engine != "" {
		md.Platform = "onnxruntime_onnx"
	}
	md.Inputs = []v2Tensor{
		{Name: inputTensor, Datatype: "FP32", Shape: []int{-1, info.Input[0], info.Input[1], info.Input[2]}},
		{Name: inputImage, Datatype: "BYTES", Shape: []int{-1}},
	}
	return md
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
		if ue := checkV2Output(o.Name); ue != nil {
			return false, ue
		}
		binaryOut = binaryOut || o.Parameters.BinaryData
	}
	return binaryOut, nil
}

// checkV2Output refuses a request for an output other than outputProb.
func checkV2Output(name string) *uploadError {
	if name != outputProb {
		return badRequest("unknown output %q: the model's only output is %q", name, outputProb)
	}
	return nil
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
	tensor, ue := v2InputKind(in.Name, in.Datatype)
	switch {
	case ue != nil:
		return nil, ue
	case tensor:
		return s.v2Tensors(in, raw, m)
	default:
		return s.v2Images(in, raw)
	}
}

// v2InputKind tells whether the input name of datatype is the tensor
// input (FP32) or the image input (BYTES), and refuses any other.
func v2InputKind(name, datatype string) (tensor bool, ue *uploadError) {
	switch {
	case name == inputTensor && datatype == "FP32":
		return true, nil
	case name == inputImage && datatype == "BYTES":
		return false, nil
	case name == inputTensor || name == inputImage:
		return false, badRequest("input %q has datatype %q; %q is FP32 and %q is BYTES", name, datatype, inputTensor, inputImage)
	default:
		return false, badRequest("unknown input %q: give %q (FP32 tensors) or %q (BYTES images)", name, inputTensor, inputImage)
	}
}

// v2Tensors reads the FP32 tensors of input in, from its JSON data or
// its binary data raw (little-endian float32).
func (s *server) v2Tensors(in v2Input, raw []byte, m servedModel) ([]inferItem, *uploadError) {
	n, size, ue := tensorShape(in.Name, in.Shape, m)
	if ue != nil {
		return nil, ue
	}
	var x []float32
	if raw != nil {
		if len(raw) != 4*n*size {
			return nil, badRequest("input %q: %d bytes of binary data for shape %v; want %d", in.Name, len(raw), in.Shape, 4*n*size)
		}
		x = make([]float32, n*size)
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		if ue := unitValues(in.Name, x); ue != nil {
			return nil, ue
		}
	} else {
		var err error
		if x, _, err = parseNumbers(in.Data, n*size); err != nil {
			return nil, badRequest("input %q: %v", in.Name, err)
		}
	}
	return tensorItems(in.Name, in.Shape, x, n, size)
}

// tensorShape checks the shape of the tensor input name for model m,
// [N,H,W,C] with N from 1 to maxInferBatch, and returns N and the values
// of one tensor.
func tensorShape(name string, shape []int64, m servedModel) (n, size int, ue *uploadError) {
	want := m.c.Info().Input
	if len(shape) != 4 || shape[0] < 1 || shape[0] > maxInferBatch ||
		shape[1] != int64(want[0]) || shape[2] != int64(want[1]) || shape[3] != int64(want[2]) {
		return 0, 0, badRequest("input %q has shape %v; the model takes [N,%d,%d,%d] with N from 1 to %d",
			name, shape, want[0], want[1], want[2], maxInferBatch)
	}
	return int(shape[0]), want[0] * want[1] * want[2], nil
}

// unitValues refuses a value of input name's x outside [0, 1] (or NaN).
func unitValues(name string, x []float32) *uploadError {
	for i, v := range x {
		if !(v >= 0 && v <= 1) {
			return badRequest("input %q: value %d is %v; values must be scaled to [0, 1]", name, i, v)
		}
	}
	return nil
}

// tensorItems makes the n items of size values each of x, the values of
// input name of the given shape, refusing a count that does not match.
func tensorItems(name string, shape []int64, x []float32, n, size int) ([]inferItem, *uploadError) {
	if len(x) != n*size {
		return nil, badRequest("input %q: %d values for shape %v; want %d", name, len(x), shape, n*size)
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
	if ue := bytesShape(in.Name, in.Shape); ue != nil {
		return nil, ue
	}
	var imgs [][]byte
	if raw != nil {
		var ue *uploadError
		if imgs, ue = splitBytes(in.Name, raw); ue != nil {
			return nil, ue
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
	return s.bytesItems(in.Name, in.Shape, imgs)
}

// bytesShape checks the shape of the BYTES input name: [N] or [N,1] with
// N from 1 to maxInferBatch, checked dimension by dimension, not by their
// product, which a hostile shape such as [2, -9223372036854775807]
// overflows.
func bytesShape(name string, shape []int64) *uploadError {
	if len(shape) < 1 || len(shape) > 2 || shape[0] < 1 || shape[0] > maxInferBatch ||
		len(shape) == 2 && shape[1] != 1 {
		return badRequest("input %q has shape %v; give [N] (or [N,1]) with N from 1 to %d", name, shape, maxInferBatch)
	}
	return nil
}

// splitBytes splits the binary data of BYTES input name into its
// elements, each a 4-byte little-endian length and the bytes (Triton's
// serialization).
func splitBytes(name string, raw []byte) ([][]byte, *uploadError) {
	var elems [][]byte
	for len(raw) > 0 {
		if len(raw) < 4 {
			return nil, badRequest("input %q: the binary data ends inside an element's length", name)
		}
		l := binary.LittleEndian.Uint32(raw)
		if int64(l) > int64(len(raw)-4) {
			return nil, badRequest("input %q: an element of %d bytes overruns the binary data", name, l)
		}
		elems, raw = append(elems, raw[4:4+l:4+l]), raw[4+l:]
	}
	return elems, nil
}

// bytesItems makes the items of the images imgs of BYTES input name, of
// the given shape (bytesShape), refusing a count that does not match.
func (s *server) bytesItems(name string, shape []int64, imgs [][]byte) ([]inferItem, *uploadError) {
	if int64(len(imgs)) != shape[0] {
		return nil, badRequest("input %q: %d elements for shape %v", name, len(imgs), shape)
	}
	return s.imageItems(imgs)
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
