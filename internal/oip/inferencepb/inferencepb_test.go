package inferencepb

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/internal/testtool"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestGeneratedStubsUpToDate runs doc.go's go:generate command into a
// temporary directory and checks that the committed stubs are what it
// makes of grpc_predict_v2.proto.
func TestGeneratedStubsUpToDate(t *testing.T) {
	for _, tool := range []string{"protoc", "protoc-gen-go", "protoc-gen-go-grpc"} {
		if _, err := exec.LookPath(tool); err != nil {
			testtool.Missing(t, "%s (apt-get install protobuf-compiler protoc-gen-go protoc-gen-go-grpc): %v", tool, err)
		}
	}
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	_, line, ok := strings.Cut(string(src), "//go:generate ")
	if !ok {
		t.Fatal("doc.go has no //go:generate line")
	}
	line, _, _ = strings.Cut(line, "\n")
	args := strings.Fields(line)
	dir := t.TempDir()
	for i, a := range args {
		// Out to dir, the .proto from here.
		args[i] = strings.NewReplacer("--go_out=.", "--go_out="+dir, "--go-grpc_out=.", "--go-grpc_out="+dir).Replace(a)
	}
	cmd := exec.Command(args[0], args[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	for _, name := range []string{"grpc_predict_v2.pb.go", "grpc_predict_v2_grpc.pb.go"} {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what protoc generates from grpc_predict_v2.proto: run go generate ./internal/oip/inferencepb", name)
		}
	}
}

// wire is KServe's GRPCInferenceService as it travels: each message's
// full name with its fields as name=number:kind (repeated and map
// fields marked), each RPC with its types. A change here is a change of
// the wire format, which clients of KServe's definition would not read.
var wire = []string{
	"inference.ServerLiveRequest",
	"inference.ServerLiveResponse live=1:bool",
	"inference.ServerReadyRequest",
	"inference.ServerReadyResponse ready=1:bool",
	"inference.ModelReadyRequest name=1:string version=2:string",
	"inference.ModelReadyResponse ready=1:bool",
	"inference.ServerMetadataRequest",
	"inference.ServerMetadataResponse name=1:string version=2:string extensions=3:[]string",
	"inference.ModelMetadataRequest name=1:string version=2:string",
	"inference.ModelMetadataResponse name=1:string versions=2:[]string platform=3:string" +
		" inputs=4:[]inference.ModelMetadataResponse.TensorMetadata outputs=5:[]inference.ModelMetadataResponse.TensorMetadata",
	"inference.ModelMetadataResponse.TensorMetadata name=1:string datatype=2:string shape=3:[]int64",
	"inference.ModelInferRequest model_name=1:string model_version=2:string id=3:string" +
		" parameters=4:map[string]inference.InferParameter inputs=5:[]inference.ModelInferRequest.InferInputTensor" +
		" outputs=6:[]inference.ModelInferRequest.InferRequestedOutputTensor raw_input_contents=7:[]bytes",
	"inference.ModelInferRequest.InferInputTensor name=1:string datatype=2:string shape=3:[]int64" +
		" parameters=4:map[string]inference.InferParameter contents=5:inference.InferTensorContents",
	"inference.ModelInferRequest.InferRequestedOutputTensor name=1:string parameters=2:map[string]inference.InferParameter",
	"inference.ModelInferResponse model_name=1:string model_version=2:string id=3:string" +
		" parameters=4:map[string]inference.InferParameter outputs=5:[]inference.ModelInferResponse.InferOutputTensor" +
		" raw_output_contents=6:[]bytes",
	"inference.ModelInferResponse.InferOutputTensor name=1:string datatype=2:string shape=3:[]int64" +
		" parameters=4:map[string]inference.InferParameter contents=5:inference.InferTensorContents",
	"inference.InferParameter bool_param=1:bool int64_param=2:int64 string_param=3:string",
	"inference.InferTensorContents bool_contents=1:[]bool int_contents=2:[]int32 int64_contents=3:[]int64" +
		" uint_contents=4:[]uint32 uint64_contents=5:[]uint64 fp32_contents=6:[]float fp64_contents=7:[]double bytes_contents=8:[]bytes",
	"rpc /inference.GRPCInferenceService/ServerLive(inference.ServerLiveRequest) inference.ServerLiveResponse",
	"rpc /inference.GRPCInferenceService/ServerReady(inference.ServerReadyRequest) inference.ServerReadyResponse",
	"rpc /inference.GRPCInferenceService/ModelReady(inference.ModelReadyRequest) inference.ModelReadyResponse",
	"rpc /inference.GRPCInferenceService/ServerMetadata(inference.ServerMetadataRequest) inference.ServerMetadataResponse",
	"rpc /inference.GRPCInferenceService/ModelMetadata(inference.ModelMetadataRequest) inference.ModelMetadataResponse",
	"rpc /inference.GRPCInferenceService/ModelInfer(inference.ModelInferRequest) inference.ModelInferResponse",
}

// TestWireFormat checks the compiled definition against wire, written
// from KServe's grpc_predict_v2.proto.
func TestWireFormat(t *testing.T) {
	var got []string
	var msgs func(protoreflect.MessageDescriptors)
	msgs = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			m := ms.Get(i)
			if m.IsMapEntry() {
				continue
			}
			line := string(m.FullName())
			for j := range m.Fields().Len() {
				line += " " + fieldWire(m.Fields().Get(j))
			}
			got = append(got, line)
			msgs(m.Messages())
		}
	}
	fd := File_grpc_predict_v2_proto
	msgs(fd.Messages())
	svc := fd.Services().Get(0)
	for i := range svc.Methods().Len() {
		m := svc.Methods().Get(i)
		if m.IsStreamingClient() || m.IsStreamingServer() {
			t.Errorf("%s streams; KServe's RPCs are unary", m.FullName())
		}
		got = append(got, fmt.Sprintf("rpc /%s/%s(%s) %s", svc.FullName(), m.Name(), m.Input().FullName(), m.Output().FullName()))
	}
	if fd.Services().Len() != 1 {
		t.Errorf("%d services; want 1", fd.Services().Len())
	}
	if !slices.Equal(got, wire) {
		t.Errorf("the definition's wire format differs from KServe's:\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wire, "\n"))
	}
	if n := fd.Messages().ByName("InferParameter").Oneofs().ByName("parameter_choice"); n == nil || n.Fields().Len() != 3 {
		t.Error("InferParameter has no oneof parameter_choice of its 3 fields")
	}
}

// fieldWire is a field as name=number:kind.
func fieldWire(f protoreflect.FieldDescriptor) string {
	kind := func(f protoreflect.FieldDescriptor) string {
		if f.Kind() == protoreflect.MessageKind {
			return string(f.Message().FullName())
		}
		return f.Kind().String()
	}
	k := kind(f)
	switch {
	case f.IsMap():
		k = "map[" + kind(f.MapKey()) + "]" + kind(f.MapValue())
	case f.IsList():
		k = "[]" + k
	}
	return fmt.Sprintf("%s=%d:%s", f.Name(), f.Number(), k)
}
