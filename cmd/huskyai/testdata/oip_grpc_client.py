"""A third-party client of huskyai's Open Inference Protocol gRPC API.

Used by TestServeGRPCPython: it imports the stubs that grpc_tools.protoc
generated from internal/oip/inferencepb/grpc_predict_v2.proto into STUBS,
calls the server at ADDR over TLS trusting the certificate CERT, and prints
one JSON object: live, the float32 probability of the image IMAGE (BYTES,
in contents) and of the tensor TENSOR (FP32, raw little-endian bytes, in
raw_input_contents) as little-endian hex, and the status code name of an
inference on an unknown model.

Usage: oip_grpc_client.py STUBS ADDR CERT IMAGE TENSOR
"""
import json
import struct
import sys

import grpc

stubs, addr, cert, image_path, tensor_path = sys.argv[1:6]
sys.path.insert(0, stubs)
import grpc_predict_v2_pb2 as pb  # noqa: E402
import grpc_predict_v2_pb2_grpc as pb_grpc  # noqa: E402


def main():
    with open(cert, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    out = {}
    with grpc.secure_channel(addr, creds) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        out["live"] = stub.ServerLive(pb.ServerLiveRequest(), timeout=60).live

        req = pb.ModelInferRequest(model_name="huskyai")
        image = req.inputs.add(name="image", datatype="BYTES", shape=[1])
        with open(image_path, "rb") as f:
            image.contents.bytes_contents.append(f.read())
        resp = stub.ModelInfer(req, timeout=60)
        prob = resp.outputs[0].contents.fp32_contents[0]
        out["image"] = struct.pack("<f", prob).hex()

        req = pb.ModelInferRequest(model_name="huskyai")
        req.inputs.add(name="input", datatype="FP32", shape=[1, 128, 128, 3])
        with open(tensor_path, "rb") as f:
            req.raw_input_contents.append(f.read())
        resp = stub.ModelInfer(req, timeout=60)
        out["tensor"] = resp.raw_output_contents[0].hex()

        try:
            stub.ModelInfer(pb.ModelInferRequest(model_name="resnet"), timeout=60)
            out["unknown_model"] = "OK"
        except grpc.RpcError as e:
            out["unknown_model"] = e.code().name
    print(json.dumps(out))


main()
