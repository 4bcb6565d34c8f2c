package server

// The Open Inference Protocol (KServe v2) over gRPC: GRPCInferenceService
// (internal/oip/inferencepb) as a translator over the one prediction
// pipeline, as kserve.go is over HTTP, sharing its metadata, its input
// checks and the pipeline's errors, which unaryCall (grpc.go) turns into
// gRPC codes.
//
// ModelInfer takes one input, as REST's infer does: "input" (FP32, the
// model's [N,H,W,3] tensors with values in [0,1]) or "image" (BYTES, [N]
// encoded images), its values in the input's contents (fp32_contents,
// bytes_contents) or in raw_input_contents (little-endian float32; each
// BYTES element a 4-byte little-endian length and its bytes). It answers
// the FP32 output "probability" of shape [N,1] in the same form:
// raw_output_contents when the request used raw_input_contents, else
// contents.fp32_contents.

import (
	"cmp"
	"context"
	"encoding/binary"
	"math"

	"github.com/huskyai/huskyai/internal/oip/inferencepb"
)

// grpcInference serves inference.GRPCInferenceService.
type grpcInference struct {
	inferencepb.UnimplementedGRPCInferenceServiceServer
	s *server
}

// ServerLive answers true while the process serves.
func (g *grpcInference) ServerLive(context.Context, *inferencepb.ServerLiveRequest) (*inferencepb.ServerLiveResponse, error) {
	return &inferencepb.ServerLiveResponse{Live: true}, nil
}

// ServerReady answers true once a model is loaded, until shutdown
// begins, as /readyz and /v2/health/ready answer 200.
func (g *grpcInference) ServerReady(context.Context, *inferencepb.ServerReadyRequest) (*inferencepb.ServerReadyResponse, error) {
	ready := g.s.current() != nil && !g.s.cfg.Drain.Draining()
	return &inferencepb.ServerReadyResponse{Ready: ready}, nil
}

// ModelReady answers true when the model (and version) is served;
// NotFound when it is not, Unavailable before any model is loaded.
func (g *grpcInference) ModelReady(_ context.Context, req *inferencepb.ModelReadyRequest) (*inferencepb.ModelReadyResponse, error) {
	if _, ue := g.s.grpcFind(req.GetName(), req.GetVersion()); ue != nil {
		return nil, ue
	}
	return &inferencepb.ModelReadyResponse{Ready: true}, nil
}

// ServerMetadata answers GET /v2's metadata.
func (g *grpcInference) ServerMetadata(context.Context, *inferencepb.ServerMetadataRequest) (*inferencepb.ServerMetadataResponse, error) {
	md := g.s.v2Server()
	return &inferencepb.ServerMetadataResponse{Name: md.Name, Version: md.Version, Extensions: md.Extensions}, nil
}

// ModelMetadata answers GET /v2/models/{model}'s metadata (without the
// placeholder model's warning, which ModelInfer's parameters carry).
func (g *grpcInference) ModelMetadata(_ context.Context, req *inferencepb.ModelMetadataRequest) (*inferencepb.ModelMetadataResponse, error) {
	m, ue := g.s.grpcFind(req.GetName(), req.GetVersion())
	if ue != nil {
		return nil, ue
	}
	md := g.s.v2Model(m)
	tensors := func(ts []v2Tensor) []*inferencepb.ModelMetadataResponse_TensorMetadata {
		out := make([]*inferencepb.ModelMetadataResponse_TensorMetadata, len(ts))
		for i, t := range ts {
			shape := make([]int64, len(t.Shape))
			for j, d := range t.Shape {
				shape[j] = int64(d)
			}
			out[i] = &inferencepb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: shape}
		}
		return out
	}
	return &inferencepb.ModelMetadataResponse{Name: md.Name, Versions: md.Versions, Platform: md.Platform,
		Inputs: tensors(md.Inputs), Outputs: tensors(md.Outputs)}, nil
}

// ModelInfer classifies the tensors or images of the request through
// runItems, as POST /v2/models/{model}/infer does. The response's
// parameters carry the placeholder model's warning, if any, as
// "warning".
func (g *grpcInference) ModelInfer(ctx context.Context, req *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, error) {
	s := g.s
	m, ue := s.grpcFind(req.GetModelName(), req.GetModelVersion())
	if ue != nil {
		return nil, ue
	}
	probs, _, ue := s.runItems(ctx, grpcHeader(ctx), m, nil, s.admitted, func() ([]inferItem, *uploadError) {
		return s.grpcItems(req, m)
	})
	if ue != nil {
		return nil, ue
	}
	out := &inferencepb.ModelInferResponse_InferOutputTensor{Name: outputProb, Datatype: "FP32", Shape: []int64{int64(len(probs)), 1}}
	resp := &inferencepb.ModelInferResponse{ModelName: m.name, ModelVersion: m.version,
		Id: cmp.Or(req.GetId(), requestIDOf(ctx)), Outputs: []*inferencepb.ModelInferResponse_InferOutputTensor{out}}
	if len(req.GetRawInputContents()) > 0 {
		raw := make([]byte, 0, 4*len(probs))
		for _, p := range probs {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(p))
		}
		resp.RawOutputContents = [][]byte{raw}
	} else {
		out.Contents = &inferencepb.InferTensorContents{Fp32Contents: probs}
	}
	if w := m.c.Info().Warning; w != "" {
		resp.Parameters = map[string]*inferencepb.InferParameter{
			"warning": {ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: w}}}
	}
	return resp, nil
}

// grpcFind is find for an RPC, whose empty model name is the default
// model's, as /api/v1/predict without ?model= uses it.
func (s *server) grpcFind(name, version string) (servedModel, *uploadError) {
	if name == "" && s.models != nil {
		name = s.models.DefaultModel()
	}
	return s.find(name, version)
}

// grpcItems reads the items of a ModelInfer request for model m, with
// the checks of REST's parseV2.
func (s *server) grpcItems(req *inferencepb.ModelInferRequest, m servedModel) ([]inferItem, *uploadError) {
	for _, o := range req.GetOutputs() {
		if ue := checkV2Output(o.GetName()); ue != nil {
			return nil, ue
		}
	}
	ins := req.GetInputs()
	if len(ins) != 1 {
		return nil, badRequest("the request has %d inputs; give one: %q (FP32 tensors) or %q (BYTES images)", len(ins), inputTensor, inputImage)
	}
	in := ins[0]
	tensor, ue := v2InputKind(in.GetName(), in.GetDatatype())
	if ue != nil {
		return nil, ue
	}
	raws := req.GetRawInputContents()
	var raw []byte
	switch {
	case len(raws) > 1:
		return nil, badRequest("raw_input_contents has %d entries for 1 input", len(raws))
	case len(raws) == 1 && in.GetContents() != nil:
		return nil, badRequest("input %q has both contents and raw_input_contents", in.GetName())
	case len(raws) == 1:
		raw = raws[0]
	}
	v2in := v2Input{Name: in.GetName(), Shape: in.GetShape(), Datatype: in.GetDatatype()}
	switch {
	case raw != nil && tensor:
		return s.v2Tensors(v2in, raw, m)
	case raw != nil:
		return s.v2Images(v2in, raw)
	case tensor:
		return grpcTensors(v2in, in.GetContents().GetFp32Contents(), m)
	default:
		return s.grpcImages(v2in, in.GetContents().GetBytesContents())
	}
}

// grpcTensors makes the items of the FP32 input in from its contents x.
func grpcTensors(in v2Input, x []float32, m servedModel) ([]inferItem, *uploadError) {
	n, size, ue := tensorShape(in.Name, in.Shape, m)
	if ue != nil {
		return nil, ue
	}
	if ue := unitValues(in.Name, x); ue != nil {
		return nil, ue
	}
	return tensorItems(in.Name, in.Shape, x, n, size)
}

// grpcImages makes the items of the BYTES input in from its contents.
func (s *server) grpcImages(in v2Input, imgs [][]byte) ([]inferItem, *uploadError) {
	if ue := bytesShape(in.Name, in.Shape); ue != nil {
		return nil, ue
	}
	return s.bytesItems(in.Name, in.Shape, imgs)
}
