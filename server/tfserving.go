package server

// TF Serving's REST API, as a translator over the one prediction pipeline
// (pipeline.go): GET /v1/models/{model}[/versions/{version}] (model
// status), GET .../metadata (the serving signature) and POST
// /v1/models/{model}[/versions/{version}]:predict, in the row (instances)
// and columnar (inputs) formats; and KServe's V1 :explain verb, the same
// request answered with predictions and explanations (explain.go).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

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
	// Explanations are the answer of KServe's :explain, one per instance
	// (with the predictions, as KServe's V1 protocol has it).
	Explanations []explanation `json:"explanations,omitempty"`
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
		path, metadata := strings.CutSuffix(path, "/metadata")
		if metadata && verb != "" {
			errorJSON(w, http.StatusNotFound, codeNotFound, "no such page: "+r.URL.Path, "")
			return
		}
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
		case "predict", "explain":
			want = http.MethodPost
		default:
			errorJSON(w, http.StatusNotFound, codeNotFound, "only :predict and :explain are served, not :"+verb, "")
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
		if metadata {
			encode(w, http.StatusOK, tfMetadata(m))
			return
		}
		if verb == "" {
			encode(w, http.StatusOK, s.tfStatus(m, version))
			return
		}
		var ex *explainRequest
		if verb == "explain" {
			req, ok := s.explainRequest(w, r)
			if !ok {
				return
			}
			ex = &req
		}
		columnar := false
		probs, exs, ok := s.inferOrExplain(w, r, m, ex, func(body []byte) ([]inferItem, *uploadError) {
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
		resp := tfPredictResponse{Predictions: rows, Explanations: exs, Warning: m.c.Info().Warning}
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

// tfTensorInfo describes one tensor of a signature as TF Serving's
// metadata does (TensorInfo in JSON).
type tfTensorInfo struct {
	DType       string `json:"dtype"`
	TensorShape struct {
		Dim []struct {
			Size string `json:"size"`
			Name string `json:"name"`
		} `json:"dim"`
		UnknownRank bool `json:"unknown_rank"`
	} `json:"tensor_shape"`
	Name string `json:"name"`
}

// tfMetadataResponse is the answer of GET /v1/models/{model}/metadata:
// the model and its one signature, serving_default.
type tfMetadataResponse struct {
	ModelSpec struct {
		Name          string `json:"name"`
		SignatureName string `json:"signature_name"`
		Version       string `json:"version"`
	} `json:"model_spec"`
	Metadata struct {
		SignatureDef struct {
			SignatureDef map[string]tfSignature `json:"signature_def"`
		} `json:"signature_def"`
	} `json:"metadata"`
}

// tfSignature is one SignatureDef.
type tfSignature struct {
	Inputs     map[string]tfTensorInfo `json:"inputs"`
	Outputs    map[string]tfTensorInfo `json:"outputs"`
	MethodName string                  `json:"method_name"`
}

// tensorInfo describes a tensor of the given type and dimensions (-1:
// any).
func tensorInfo(dtype, name string, dims ...int) tfTensorInfo {
	t := tfTensorInfo{DType: dtype, Name: name}
	for _, d := range dims {
		t.TensorShape.Dim = append(t.TensorShape.Dim, struct {
			Size string `json:"size"`
			Name string `json:"name"`
		}{Size: fmt.Sprint(d)})
	}
	return t
}

// tfMetadata describes m's serving signature: an image (base64 string,
// "image_bytes" as TF Serving's image models name it) or an input tensor
// [N,H,W,3] in [0,1], and the husky probability [N,1].
func tfMetadata(m servedModel) tfMetadataResponse {
	in := m.c.Info().Input
	var r tfMetadataResponse
	r.ModelSpec.Name, r.ModelSpec.Version = m.name, m.version
	if r.ModelSpec.Name == "" {
		r.ModelSpec.Name = m.c.Info().Name
	}
	r.Metadata.SignatureDef.SignatureDef = map[string]tfSignature{"serving_default": {
		Inputs: map[string]tfTensorInfo{
			"image_bytes": tensorInfo("DT_STRING", "image_bytes:0", -1),
			"input":       tensorInfo("DT_FLOAT", "input:0", -1, in[0], in[1], in[2]),
		},
		Outputs:    map[string]tfTensorInfo{"probability": tensorInfo("DT_FLOAT", "probability:0", -1, 1)},
		MethodName: "tensorflow/serving/predict",
	}}
	return r
}

// tfStatus is the status of model m: of the version asked for, or, when
// none was, of every version of the model served, as TF Serving lists
// them.
func (s *server) tfStatus(m servedModel, version string) tfModelStatus {
	versions := []string{m.version}
	if version == "" && s.models != nil {
		for _, mv := range s.models.List() {
			if mv.Name == m.name && len(mv.Versions) > 0 {
				versions = mv.Versions
			}
		}
	}
	var st tfModelStatus
	for _, v := range versions {
		vs := tfVersionStatus{Version: v, State: "AVAILABLE"}
		vs.Status.ErrorCode = "OK"
		st.ModelVersionStatus = append(st.ModelVersionStatus, vs)
	}
	return st
}
