package main

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/internal/testtool"
)

// grpcPython returns Debian's Python 3 with grpcio and grpc_tools
// (python3-grpcio, python3-grpc-tools), or calls testtool.Missing.
func grpcPython(t *testing.T) string {
	t.Helper()
	py := "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import grpc, grpc_tools.protoc").CombinedOutput(); err != nil {
		testtool.Missing(t, "%s with grpc and grpc_tools (apt-get install python3-grpcio python3-grpc-tools): %v %s", py, err, out)
	}
	return py
}

// TestServeGRPCPython calls serve's gRPC endpoint from Python, through
// stubs that grpc_tools generates from the same .proto at test time, over
// TLS with a --tls-cert certificate: the image (BYTES contents) and its
// tensor (FP32 raw_input_contents) get REST's probability, and an unknown
// model NOT_FOUND.
func TestServeGRPCPython(t *testing.T) {
	py := grpcPython(t)
	dir := t.TempDir()
	protoDir := filepath.Join(testtool.RepoRoot(), "internal", "oip", "inferencepb")
	stubs := filepath.Join(dir, "stubs")
	if err := os.Mkdir(stubs, 0o755); err != nil {
		t.Fatal(err)
	}
	gen := exec.Command(py, "-m", "grpc_tools.protoc", "-I", protoDir, "--python_out="+stubs, "--grpc_python_out="+stubs, "grpc_predict_v2.proto")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("grpc_tools.protoc: %v\n%s", err, out)
	}
	certPEM, keyPEM, err := selfSigned([]string{"127.0.0.1", "localhost"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	img := gradientPNG(t, 11)
	rgb, _, err := imageprep.Decode(img, 0)
	if err != nil {
		t.Fatal(err)
	}
	var tensor []byte
	for _, v := range rgb.Tensor(nil) {
		tensor = binary.LittleEndian.AppendUint32(tensor, math.Float32bits(v))
	}
	files := map[string][]byte{"cert.pem": certPEM, "key.pem": keyPEM, "image.png": img, "tensor.bin": tensor}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := startServe(t, nil, "--tls-cert", filepath.Join(dir, "cert.pem"), "--tls-key", filepath.Join(dir, "key.pem"),
		"--grpc-addr", "127.0.0.1:0", "--rate-limit", "0")
	addr := grpcListeningRE.FindStringSubmatch(s.stdout.String())[2]
	want := s.restProbability(t, img)

	cmd := exec.Command(py, filepath.Join("testdata", "oip_grpc_client.py"), stubs, addr,
		filepath.Join(dir, "cert.pem"), filepath.Join(dir, "image.png"), filepath.Join(dir, "tensor.bin"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, exitStderr(err))
	}
	var got struct {
		Live         bool   `json:"live"`
		Image        string `json:"image"`
		Tensor       string `json:"tensor"`
		UnknownModel string `json:"unknown_model"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python client output %q: %v", out, err)
	}
	wantHex := hex.EncodeToString(binary.LittleEndian.AppendUint32(nil, math.Float32bits(want)))
	if !got.Live || got.Image != wantHex || got.Tensor != wantHex || got.UnknownModel != "NOT_FOUND" {
		t.Errorf("python client: %+v; want live, image and tensor %s (REST's %v), unknown_model NOT_FOUND", got, wantHex, want)
	}
}

// exitStderr is the standard error of a command that failed, if any.
func exitStderr(err error) string {
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return string(ee.Stderr)
	}
	return ""
}
