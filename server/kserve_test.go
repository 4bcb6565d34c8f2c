package server

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/modelstore"
)

// The tests of this file talk to the server as the clients of KServe,
// Triton and TF Serving do: plain net/http and encoding/json, with the
// request shapes of the Open Inference Protocol's REST specification
// (kserve/open-inference-protocol, Triton's binary tensor data extension)
// and of TF Serving's REST API documentation.

// v2Model is the embedded default model, loaded once for the tests of
// this file.
var v2Model = sync.OnceValues(func() (*classifier.Classifier, error) {
	return classifier.LoadDefault(classifier.DefaultOptions())
})

// v2Image encodes a w x h picture whose colours depend on seed, as PNG or
// JPEG.
func v2Image(t *testing.T, format string, w, h, seed int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x*seed + y), uint8(y * (seed + 3)), uint8((x ^ y) * seed), 255})
		}
	}
	var buf bytes.Buffer
	var err error
	if format == "jpeg" {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	} else {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// v2TestTensor is the model input of a 128x128 PNG, prepared as the
// classifier prepares it (no resize at the model's size).
func v2TestTensor(t *testing.T, pngData []byte) []float32 {
	t.Helper()
	rgb, _, err := imageprep.Decode(pngData, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rgb.Width != 128 || rgb.Height != 128 {
		t.Fatalf("tensor of a %dx%d image", rgb.Width, rgb.Height)
	}
	return rgb.Tensor(nil)
}

// nest reshapes the flat HWC values x of one 128x128x3 image into nested
// lists, as numpy's tolist() writes them.
func nest(x []float32) [][][]float32 {
	out := make([][][]float32, 128)
	for y := range out {
		out[y] = make([][]float32, 128)
		for i := range out[y] {
			p := (y*128 + i) * 3
			out[y][i] = x[p : p+3]
		}
	}
	return out
}

// do sends a request and returns the response and its body.
func do(t *testing.T, method, url string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// mustJSON marshals v.
func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// predictProbability asks POST /api/v1/predict for img's probability.
func predictProbability(t *testing.T, base string, img []byte) float64 {
	t.Helper()
	res, body := do(t, "POST", base+"/api/v1/predict", map[string]string{"Content-Type": "application/octet-stream"}, img)
	var out struct {
		Probability *float64 `json:"probability"`
	}
	if err := json.Unmarshal(body, &out); res.StatusCode != 200 || err != nil || out.Probability == nil {
		t.Fatalf("/api/v1/predict: %s %s", res.Status, body)
	}
	return *out.Probability
}

// binaryBody is a request of the binary tensor data extension: the JSON
// header, then data; and its headers.
func binaryBody(t *testing.T, header any, data []byte) ([]byte, map[string]string) {
	t.Helper()
	h := mustJSON(t, header)
	return append(h, data...), map[string]string{
		"Content-Type":                    "application/octet-stream",
		"Inference-Header-Content-Length": strconv.Itoa(len(h)),
	}
}

// v2Probabilities reads the "probability" output of a v2 inference
// response, JSON or binary, and checks its name, datatype and shape.
func v2Probabilities(t *testing.T, res *http.Response, body []byte, n int) []float64 {
	t.Helper()
	header := body
	if hl := res.Header.Get("Inference-Header-Content-Length"); hl != "" {
		l, err := strconv.Atoi(hl)
		if err != nil || l > len(body) {
			t.Fatalf("Inference-Header-Content-Length %q for %d bytes", hl, len(body))
		}
		header = body[:l]
	}
	var out struct {
		ModelName    string `json:"model_name"`
		ModelVersion string `json:"model_version"`
		ID           string `json:"id"`
		Outputs      []struct {
			Name       string    `json:"name"`
			Datatype   string    `json:"datatype"`
			Shape      []int     `json:"shape"`
			Data       []float64 `json:"data"`
			Parameters struct {
				BinaryDataSize int `json:"binary_data_size"`
			} `json:"parameters"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(header, &out); err != nil {
		t.Fatalf("response %s: %v", header, err)
	}
	if len(out.Outputs) != 1 || out.Outputs[0].Name != "probability" || out.Outputs[0].Datatype != "FP32" ||
		!slices.Equal(out.Outputs[0].Shape, []int{n, 1}) {
		t.Fatalf("outputs: %s", header)
	}
	o := out.Outputs[0]
	if o.Parameters.BinaryDataSize == 0 {
		return o.Data
	}
	data := body[len(header):]
	if o.Parameters.BinaryDataSize != 4*n || len(data) != 4*n || o.Data != nil {
		t.Fatalf("binary output of %d bytes, binary_data_size %d, data %v", len(data), o.Parameters.BinaryDataSize, o.Data)
	}
	p := make([]float64, n)
	for i := range p {
		p[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])))
	}
	return p
}

// float32s converts probabilities to the model's float32.
func float32s(p []float64) []float32 {
	out := make([]float32, len(p))
	for i, v := range p {
		out[i] = float32(v)
	}
	return out
}

// v2Error checks that body is the protocols' error, {"error":"..."}.
func v2Error(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("want {\"error\":\"...\"}, got %s", body)
	}
	return e.Error
}

// TestV2Protocols sends every route of the KServe v2 and TF Serving APIs
// the request shapes of their specifications, and checks each answer;
// the probabilities must equal, exactly, those /api/v1/predict gives for
// the same images.
func TestV2Protocols(t *testing.T) {
	c, err := v2Model()
	if err != nil {
		t.Fatal(err)
	}
	name := c.Info().Name
	srv := httptest.NewServer(NewServer(nil, modelstore.Fixed(c), Config{Version: "1.2.3", MaxUpload: 1 << 20}))
	defer srv.Close()

	png1, png2 := v2Image(t, "png", 128, 128, 1), v2Image(t, "png", 128, 128, 7)
	jpg := v2Image(t, "jpeg", 300, 200, 5)
	want := []float64{predictProbability(t, srv.URL, png1), predictProbability(t, srv.URL, png2)}
	wantJPG := predictProbability(t, srv.URL, jpg)
	if want[0] == want[1] {
		t.Fatalf("both test images give %v: the comparison would prove nothing", want[0])
	}
	x1, x2 := v2TestTensor(t, png1), v2TestTensor(t, png2)
	flat := append(slices.Clone(x1), x2...)
	b64 := base64.StdEncoding.EncodeToString

	fp32 := func(shape []int, data any) []byte {
		return mustJSON(t, map[string]any{"id": "42", "inputs": []map[string]any{
			{"name": "input", "shape": shape, "datatype": "FP32", "data": data}}})
	}
	images := func(imgs ...[]byte) []byte {
		var data []string
		for _, img := range imgs {
			data = append(data, b64(img))
		}
		return mustJSON(t, map[string]any{"inputs": []map[string]any{
			{"name": "image", "shape": []int{len(imgs)}, "datatype": "BYTES", "data": data}}})
	}
	var rawFP32 []byte
	for _, v := range flat {
		rawFP32 = binary.LittleEndian.AppendUint32(rawFP32, math.Float32bits(v))
	}
	binFP32, binFP32Hdr := binaryBody(t, map[string]any{
		"inputs":  []map[string]any{{"name": "input", "shape": []int{2, 128, 128, 3}, "datatype": "FP32", "parameters": map[string]any{"binary_data_size": len(rawFP32)}}},
		"outputs": []map[string]any{{"name": "probability", "parameters": map[string]any{"binary_data": true}}},
	}, rawFP32)
	var rawBytes []byte // Triton's BYTES serialization: 4-byte length, then the bytes
	for _, img := range [][]byte{png1, jpg} {
		rawBytes = binary.LittleEndian.AppendUint32(rawBytes, uint32(len(img)))
		rawBytes = append(rawBytes, img...)
	}
	binImages, binImagesHdr := binaryBody(t, map[string]any{
		"model_name": name,
		"inputs":     []map[string]any{{"name": "image", "shape": []int{2}, "datatype": "BYTES", "parameters": map[string]any{"binary_data_size": len(rawBytes)}}},
		"outputs":    []map[string]any{{"name": "probability"}},
	}, rawBytes)
	badSize, badSizeHdr := binaryBody(t, map[string]any{
		"inputs": []map[string]any{{"name": "image", "shape": []int{1}, "datatype": "BYTES", "parameters": map[string]any{"binary_data_size": 10}}},
	}, rawBytes)
	jsonCT := map[string]string{"Content-Type": "application/json"}

	type check func(t *testing.T, res *http.Response, body []byte)
	probs := func(want ...float64) check {
		return func(t *testing.T, res *http.Response, body []byte) {
			// Both as float32, the model's output: JSON carries its
			// shortest decimal, binary data its bits.
			if got := v2Probabilities(t, res, body, len(want)); !slices.Equal(float32s(got), float32s(want)) {
				t.Errorf("probabilities %v, want those of /api/v1/predict %v", got, want)
			}
		}
	}
	tfProbs := func(key string, want ...float64) check {
		return func(t *testing.T, res *http.Response, body []byte) {
			var out struct {
				Predictions [][]float64 `json:"predictions"`
				Outputs     [][]float64 `json:"outputs"`
			}
			if err := json.Unmarshal(body, &out); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			rows := out.Predictions
			if key == "outputs" {
				rows = out.Outputs
			}
			var got []float64
			for _, row := range rows {
				if len(row) != 1 {
					t.Fatalf("%s: rows of one probability expected", body)
				}
				got = append(got, row[0])
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s %v, want those of /api/v1/predict %v (%s)", key, got, want, body)
			}
		}
	}
	errorHas := func(sub string) check {
		return func(t *testing.T, res *http.Response, body []byte) {
			if msg := v2Error(t, body); !strings.Contains(msg, sub) {
				t.Errorf("error %q lacks %q", msg, sub)
			}
		}
	}
	empty := func(t *testing.T, res *http.Response, body []byte) {
		if len(body) != 0 {
			t.Errorf("body %q, want none", body)
		}
	}

	tests := []struct {
		name         string
		method, path string
		hdr          map[string]string
		body         []byte
		status       int
		check        check
	}{
		// Server and model metadata, health.
		{"server metadata", "GET", "/v2", nil, nil, 200, func(t *testing.T, res *http.Response, body []byte) {
			var md struct {
				Name       string   `json:"name"`
				Version    string   `json:"version"`
				Extensions []string `json:"extensions"`
			}
			if err := json.Unmarshal(body, &md); err != nil || md.Name != "huskyai" || md.Version != "1.2.3" ||
				!slices.Contains(md.Extensions, "binary_tensor_data") {
				t.Errorf("metadata %s", body)
			}
		}},
		{"live", "GET", "/v2/health/live", nil, nil, 200, empty},
		{"ready", "GET", "/v2/health/ready", nil, nil, 200, empty},
		{"model metadata", "GET", "/v2/models/huskyai", nil, nil, 200, func(t *testing.T, res *http.Response, body []byte) {
			// Asked by the alias, the model answers under its own name.
			want := `{"name":"` + name + `","versions":["1"],"platform":"huskyai_native",` +
				`"inputs":[{"name":"input","datatype":"FP32","shape":[-1,128,128,3]},{"name":"image","datatype":"BYTES","shape":[-1]}],` +
				`"outputs":[{"name":"probability","datatype":"FP32","shape":[-1,1]}]`
			if !strings.HasPrefix(string(body), want) {
				t.Errorf("metadata\n%s\nwant\n%s...", body, want)
			}
		}},
		{"model metadata by file name", "GET", "/v2/models/" + name, nil, nil, 200, nil},
		{"model metadata versioned", "GET", "/v2/models/huskyai/versions/1", nil, nil, 200, nil},
		{"model ready", "GET", "/v2/models/huskyai/ready", nil, nil, 200, empty},
		{"model version ready", "GET", "/v2/models/huskyai/versions/1/ready", nil, nil, 200, empty},
		{"unknown version not ready", "GET", "/v2/models/huskyai/versions/2/ready", nil, nil, 404, errorHas(`version "2"`)},
		{"unknown model", "GET", "/v2/models/resnet50", nil, nil, 404, errorHas(`"resnet50"`)},
		{"metadata POST", "POST", "/v2/models/huskyai", nil, nil, 405, errorHas("GET")},
		{"infer GET", "GET", "/v2/models/huskyai/infer", nil, nil, 405, errorHas("POST")},
		{"unknown v2 path", "GET", "/v2/repository/index", nil, nil, 404, errorHas("no such page")},

		// Inference with FP32 tensors.
		{"FP32 flat", "POST", "/v2/models/huskyai/infer", jsonCT, fp32([]int{2, 128, 128, 3}, flat), 200, probs(want...)},
		{"FP32 nested", "POST", "/v2/models/huskyai/infer", jsonCT, fp32([]int{2, 128, 128, 3}, [][][][]float32{nest(x1), nest(x2)}), 200, probs(want...)},
		{"FP32 versioned", "POST", "/v2/models/huskyai/versions/1/infer", jsonCT, fp32([]int{1, 128, 128, 3}, x1), 200, probs(want[0])},
		{"FP32 binary in and out", "POST", "/v2/models/" + name + "/infer", binFP32Hdr, binFP32, 200, probs(want...)},
		{"FP32 echoes id", "POST", "/v2/models/huskyai/infer", jsonCT, fp32([]int{1, 128, 128, 3}, x2), 200, func(t *testing.T, res *http.Response, body []byte) {
			var out struct {
				ID           string `json:"id"`
				ModelName    string `json:"model_name"`
				ModelVersion string `json:"model_version"`
			}
			json.Unmarshal(body, &out)
			if out.ID != "42" || out.ModelName != name || out.ModelVersion != "1" {
				t.Errorf("id, model_name, model_version: %s", body)
			}
		}},
		{"FP32 wrong shape", "POST", "/v2/models/huskyai/infer", jsonCT, fp32([]int{1, 64, 64, 3}, x1[:64*64*3]), 400, errorHas("[N,128,128,3]")},
		{"FP32 too few values", "POST", "/v2/models/huskyai/infer", jsonCT, fp32([]int{2, 128, 128, 3}, x1), 400, errorHas("values for shape")},
		{"FP32 too many values", "POST", "/v2/models/huskyai/infer", jsonCT, fp32([]int{1, 128, 128, 3}, flat), 400, errorHas("more than")},
		{"FP32 unscaled", "POST", "/v2/models/huskyai/infer", jsonCT, fp32([]int{1, 128, 128, 3}, slices.Repeat([]float32{255}, 128*128*3)), 400, errorHas("[0, 1]")},
		{"FP32 ragged", "POST", "/v2/models/huskyai/infer", jsonCT, fp32([]int{1, 128, 128, 3}, [][]float32{x1[:3], x1[3 : 128*128*3]}), 400, errorHas("different lengths")},
		{"FP32 batch too large", "POST", "/v2/models/huskyai/infer", jsonCT, fp32([]int{9, 128, 128, 3}, []float32{0}), 400, errorHas("N from 1 to 8")},
		{"FP32 as strings", "POST", "/v2/models/huskyai/infer", jsonCT, fp32([]int{1, 128, 128, 3}, []string{"0.5"}), 400, errorHas("numbers")},

		// Inference with encoded images (BYTES).
		{"BYTES base64", "POST", "/v2/models/huskyai/infer", jsonCT, images(png1, jpg), 200, probs(want[0], wantJPG)},
		{"BYTES binary", "POST", "/v2/models/huskyai/infer", binImagesHdr, binImages, 200, probs(want[0], wantJPG)},
		{"BYTES binary_data_size mismatch", "POST", "/v2/models/huskyai/infer", badSizeHdr, badSize, 400, errorHas("binary_data_size")},
		{"bad Inference-Header-Content-Length", "POST", "/v2/models/huskyai/infer", map[string]string{"Inference-Header-Content-Length": "999999"}, images(png1), 400, errorHas("Inference-Header-Content-Length")},
		{"BYTES not base64", "POST", "/v2/models/huskyai/infer", jsonCT, mustJSON(t, map[string]any{"inputs": []map[string]any{
			{"name": "image", "shape": []int{1}, "datatype": "BYTES", "data": []string{"%%%"}}}}), 400, errorHas("base64")},
		{"BYTES not an image", "POST", "/v2/models/huskyai/infer", jsonCT, images([]byte("GIF? no, a text file")), 415, errorHas("PNG")},
		{"BYTES truncated PNG", "POST", "/v2/models/huskyai/infer", jsonCT, images(png1[:200]), 422, errorHas("damaged")},
		{"BYTES image too large", "POST", "/v2/models/huskyai/infer", jsonCT, images(slices.Repeat([]byte{0x89}, 1<<20+1)), 413, errorHas("limit")},
		{"BYTES shape mismatch", "POST", "/v2/models/huskyai/infer", jsonCT, mustJSON(t, map[string]any{"inputs": []map[string]any{
			{"name": "image", "shape": []int{2}, "datatype": "BYTES", "data": []string{b64(png1)}}}}), 400, errorHas("elements")},
		{"body too large", "POST", "/v2/models/huskyai/infer", jsonCT, slices.Repeat([]byte(" "), 10<<20), 413, errorHas("limit")},
		{"malformed JSON", "POST", "/v2/models/huskyai/infer", jsonCT, []byte(`{"inputs":[`), 400, errorHas("malformed")},
		{"unknown input", "POST", "/v2/models/huskyai/infer", jsonCT, mustJSON(t, map[string]any{"inputs": []map[string]any{
			{"name": "input0", "shape": []int{2, 2}, "datatype": "UINT32", "data": []int{1, 2, 3, 4}}}}), 400, errorHas(`unknown input "input0"`)},
		{"two inputs", "POST", "/v2/models/huskyai/infer", jsonCT, mustJSON(t, map[string]any{"inputs": []map[string]any{
			{"name": "image", "shape": []int{1}, "datatype": "BYTES", "data": []string{b64(png1)}},
			{"name": "input", "shape": []int{1, 128, 128, 3}, "datatype": "FP32", "data": x1}}}), 400, errorHas("2 inputs")},
		{"unknown output", "POST", "/v2/models/huskyai/infer", jsonCT, mustJSON(t, map[string]any{
			"inputs":  []map[string]any{{"name": "image", "shape": []int{1}, "datatype": "BYTES", "data": []string{b64(png1)}}},
			"outputs": []map[string]any{{"name": "output0"}}}), 400, errorHas(`unknown output "output0"`)},
		{"infer unknown model", "POST", "/v2/models/resnet50/infer", jsonCT, images(png1), 404, errorHas("resnet50")},

		// TF Serving REST.
		{"TF model status", "GET", "/v1/models/huskyai", nil, nil, 200, func(t *testing.T, res *http.Response, body []byte) {
			want := `{"model_version_status":[{"version":"1","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}}]}`
			if strings.TrimSpace(string(body)) != want {
				t.Errorf("status %s, want %s", body, want)
			}
		}},
		{"TF version status", "GET", "/v1/models/huskyai/versions/1", nil, nil, 200, nil},
		{"TF metadata", "GET", "/v1/models/huskyai/metadata", nil, nil, 200, func(t *testing.T, res *http.Response, body []byte) {
			var m tfMetadataResponse
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			sig, ok := m.Metadata.SignatureDef.SignatureDef["serving_default"]
			in := sig.Inputs["input"].TensorShape.Dim
			if !ok || m.ModelSpec.Version != "1" || sig.MethodName != "tensorflow/serving/predict" || len(in) != 4 ||
				in[1].Size != "128" || sig.Inputs["image_bytes"].DType != "DT_STRING" || sig.Outputs["probability"].DType != "DT_FLOAT" {
				t.Errorf("metadata %s", body)
			}
		}},
		{"TF version metadata", "GET", "/v1/models/huskyai/versions/1/metadata", nil, nil, 200, nil},
		{"TF list of models (no redirect)", "GET", "/v1/models", nil, nil, 200, func(t *testing.T, res *http.Response, body []byte) {
			if !strings.Contains(string(body), `"models"`) {
				t.Errorf("/v1/models: %s", body)
			}
		}},
		{"TF metadata with a verb", "GET", "/v1/models/huskyai/metadata:predict", nil, nil, 404, nil},
		{"TF unknown version", "GET", "/v1/models/huskyai/versions/7", nil, nil, 404, errorHas(`version "7"`)},
		{"TF predict b64", "POST", "/v1/models/huskyai:predict", jsonCT, mustJSON(t, map[string]any{
			"instances": []map[string]string{{"b64": b64(png1)}, {"b64": b64(jpg)}}}), 200, tfProbs("predictions", want[0], wantJPG)},
		{"TF predict named b64", "POST", "/v1/models/huskyai/versions/1:predict", jsonCT, mustJSON(t, map[string]any{
			"signature_name": "serving_default",
			"instances":      []map[string]any{{"image": map[string]string{"b64": b64(png2)}}}}), 200, tfProbs("predictions", want[1])},
		{"TF predict tensors", "POST", "/v1/models/huskyai:predict", jsonCT, mustJSON(t, map[string]any{
			"instances": [][][][]float32{nest(x1), nest(x2)}}), 200, tfProbs("predictions", want...)},
		{"TF predict columnar", "POST", "/v1/models/huskyai:predict", jsonCT, mustJSON(t, map[string]any{
			"inputs": map[string]any{"image": []map[string]string{{"b64": b64(jpg)}, {"b64": b64(png2)}}}}), 200, tfProbs("outputs", wantJPG, want[1])},
		{"TF predict columnar tensor", "POST", "/v1/models/huskyai:predict", jsonCT, mustJSON(t, map[string]any{
			"inputs": nest(x2)}), 200, tfProbs("outputs", want[1])},
		{"TF predict wrong tensor shape", "POST", "/v1/models/huskyai:predict", jsonCT, mustJSON(t, map[string]any{
			"instances": [][][][]float32{nest(x1)[:64]}}), 400, errorHas("[128,128,3]")},
		{"TF predict no instances", "POST", "/v1/models/huskyai:predict", jsonCT, []byte(`{"signature_name":"serving_default"}`), 400, errorHas("instances")},
		{"TF predict unknown signature", "POST", "/v1/models/huskyai:predict", jsonCT, []byte(`{"signature_name":"classify","instances":[]}`), 400, errorHas("signature_name")},
		{"TF predict not an image", "POST", "/v1/models/huskyai:predict", jsonCT, mustJSON(t, map[string]any{
			"instances": []map[string]string{{"b64": b64([]byte("plain text"))}}}), 415, errorHas("PNG")},
		{"TF predict unknown model", "POST", "/v1/models/mnist:predict", jsonCT, []byte(`{"instances":[]}`), 404, errorHas("mnist")},
		{"TF predict GET", "GET", "/v1/models/huskyai:predict", nil, nil, 405, errorHas("POST")},
		{"TF status POST", "POST", "/v1/models/huskyai", nil, nil, 405, errorHas("GET")},
		{"TF classify", "POST", "/v1/models/huskyai:classify", jsonCT, []byte(`{"examples":[]}`), 404, errorHas(":predict")},
		{"TF bad path", "GET", "/v1/models/huskyai/labels/stable", nil, nil, 404, errorHas("no such page")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := do(t, tt.method, srv.URL+tt.path, tt.hdr, tt.body)
			if res.StatusCode != tt.status {
				t.Fatalf("%s %s: %s %s, want %d", tt.method, tt.path, res.Status, body, tt.status)
			}
			if tt.check != nil {
				tt.check(t, res, body)
			}
		})
	}
}

// TestV2NotReady: without a model, readiness is 503 and inference
// answers 503 in the protocols' error form.
func TestV2NotReady(t *testing.T) {
	srv := httptest.NewServer(NewServer(nil, nil, Config{}))
	defer srv.Close()
	for _, tt := range []struct {
		method, path string
		status       int
		body         bool // an error body
	}{
		{"GET", "/v2/health/live", 200, false},
		{"GET", "/v2/health/ready", 503, false},
		{"GET", "/v2/models/huskyai/ready", 503, true},
		{"POST", "/v2/models/huskyai/infer", 503, true},
		{"POST", "/v1/models/huskyai:predict", 503, true},
	} {
		res, body := do(t, tt.method, srv.URL+tt.path, nil, []byte(`{}`))
		if res.StatusCode != tt.status {
			t.Errorf("%s %s: %s, want %d", tt.method, tt.path, res.Status, tt.status)
		}
		if tt.body {
			v2Error(t, body)
		} else if len(body) != 0 {
			t.Errorf("%s %s: body %q, want none", tt.method, tt.path, body)
		}
	}
}

// TestV2Limits: each image of a batch counts against the rate limit, the
// pending bound and the label-only setting apply to the protocols too.
func TestV2Limits(t *testing.T) {
	f := &fake{info: trainedInfo}
	img := base64.StdEncoding.EncodeToString(v2Image(t, "png", 16, 16, 3))
	batch := func(n int) []byte {
		return mustJSON(t, map[string]any{"inputs": []map[string]any{
			{"name": "image", "shape": []int{n}, "datatype": "BYTES", "data": slices.Repeat([]string{img}, n)}}})
	}
	tests := []struct {
		name   string
		cfg    Config
		bodies [][]byte // sent in turn; the last one's answer is checked
		status int
		want   string // in the body
	}{
		{"batch within burst", Config{RateLimit: 0.001, RateBurst: 3}, [][]byte{batch(3)}, 200, `"data":[0.8712,0.8712,0.8712]`},
		{"batch over burst", Config{RateLimit: 0.001, RateBurst: 3}, [][]byte{batch(4)}, 429, "each image"},
		{"burst spent", Config{RateLimit: 0.001, RateBurst: 3}, [][]byte{batch(3), batch(1)}, 429, "too many"},
		{"label only", Config{LabelOnly: true}, [][]byte{batch(2)}, 200, `"data":[1,1]`},
		// A shape whose product overflows int64 to 2 (issue 15).
		{"overflowing shape", Config{}, [][]byte{[]byte(`{"inputs":[{"name":"image","shape":[2,-9223372036854775807],"datatype":"BYTES","data":["` +
			img + `","` + img + `"]}]}`)}, 400, "has shape"},
		{"shape [N,2]", Config{}, [][]byte{[]byte(`{"inputs":[{"name":"image","shape":[1,2],"datatype":"BYTES","data":["` +
			img + `","` + img + `"]}]}`)}, 400, "has shape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(NewServer(nil, f, tt.cfg))
			defer srv.Close()
			var res *http.Response
			var body []byte
			for _, b := range tt.bodies {
				res, body = do(t, "POST", srv.URL+"/v2/models/trained/infer", nil, b)
			}
			if res.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Errorf("%s %s, want %d with %s", res.Status, body, tt.status, tt.want)
			}
			if res.StatusCode == 429 {
				v2Error(t, body)
				if res.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
			}
		})
	}
}

// TestParseNumbers covers the data arrays of FP32 inputs.
func TestParseNumbers(t *testing.T) {
	for _, tt := range []struct {
		in    string
		max   int
		want  []float32
		shape []int
		err   string
	}{
		{in: `[0, 0.5, 1]`, max: 3, want: []float32{0, 0.5, 1}, shape: []int{3}},
		{in: ` [[0,1e-1],[2.5E-1, 1.0]] `, max: 4, want: []float32{0, 0.1, 0.25, 1}, shape: []int{2, 2}},
		{in: `[[[0.25]]]`, max: 1, want: []float32{0.25}, shape: []int{1, 1, 1}},
		{in: `[]`, max: 1, shape: []int{0}},
		{in: `[0, 0.5, 1]`, max: 2, err: "more than"},
		{in: `[-0.5]`, max: 1, err: "[0, 1]"},
		{in: `[1.5]`, max: 1, err: "[0, 1]"},
		{in: `[1e39]`, max: 1, err: "[0, 1]"},
		{in: `[[0],[0,1]]`, max: 3, err: "different lengths"},
		{in: `[[0],0]`, max: 3, err: "different lengths"},
		{in: `[true]`, max: 1, err: "numbers only"},
		{in: `["0.5"]`, max: 1, err: "numbers only"},
		{in: `0.5`, max: 1, err: "array"},
		{in: `[[[[[[[[[0]]]]]]]]]`, max: 1, err: "nested"},
	} {
		got, shape, err := parseNumbers([]byte(tt.in), tt.max)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) || !slices.Equal(shape, tt.shape) {
			t.Errorf("%s: %v %v %v, want %v %v", tt.in, got, shape, err, tt.want, tt.shape)
		}
	}
}
