#!/usr/bin/python3
"""Generate the golden ONNX fixtures for engine/internal/onnxproto.

Run from this directory with Debian's interpreter, which has python3-onnx
1.12, python3-torch 1.13 and numpy:

    cd engine/internal/onnxproto/testdata && /usr/bin/python3 gen.py

It writes a few small .onnx files and expected.json, which records what
onnx's own Python API reads back from each file. The Go tests decode every
fixture and compare against expected.json. Output is deterministic: all
random data comes from fixed seeds.
"""

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))

# Tensors with at most this many elements have all their values recorded;
# larger ones only their sum and first few values.
SMALL = 64


def save(name, model):
    path = os.path.join(HERE, name)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


# --- fixtures -------------------------------------------------------------


def torch_cnn():
    """A tiny CNN exported by torch.onnx.export (opset 13)."""
    import torch
    import torch.nn as nn

    torch.manual_seed(0)

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, kernel_size=3, padding=1)
            self.relu = nn.ReLU()
            self.pool = nn.MaxPool2d(2)
            self.flat = nn.Flatten()
            self.fc = nn.Linear(4 * 4 * 4, 1)
            self.sig = nn.Sigmoid()

        def forward(self, x):
            return self.sig(self.fc(self.flat(self.pool(self.relu(self.conv(x))))))

    net = Tiny().eval()
    x = torch.zeros(1, 3, 8, 8)
    path = os.path.join(HERE, "torch_cnn.onnx")
    torch.onnx.export(
        net,
        x,
        path,
        opset_version=13,
        input_names=["input"],
        output_names=["prob"],
        dynamic_axes={"input": {0: "batch"}, "prob": {0: "batch"}},
        do_constant_folding=True,
    )
    # Re-serialize through onnx so the file does not depend on torch's
    # exporter writing fields in a particular order (it does not matter to
    # the decoder, but keeps the fixture byte-stable across reruns).
    m = onnx.load(path)
    save("torch_cnn.onnx", m)


def initializers():
    """float_data vs raw_data, int64 Reshape shape, DOUBLE, INT32, FLOAT16."""
    rng = np.random.default_rng(1)
    w_raw = rng.standard_normal((2, 3)).astype(np.float32)
    w_fd = rng.standard_normal((2, 3)).astype(np.float32)
    big = rng.standard_normal((8, 16)).astype(np.float32)
    dbl = rng.standard_normal((3,)).astype(np.float64)
    dbl_raw = rng.standard_normal((2, 2)).astype(np.float64)
    i32 = np.array([-7, 0, 2147483647, -2147483648], dtype=np.int32)
    f16 = np.array([0.5, -2.0, 65504.0, 1e-3], dtype=np.float16)
    scalar = np.array(3.25, dtype=np.float32)

    inits = [
        numpy_helper.from_array(w_raw, "w_raw"),  # raw_data
        helper.make_tensor("w_float_data", TensorProto.FLOAT, w_fd.shape,
                           w_fd.flatten().tolist(), raw=False),
        numpy_helper.from_array(big, "big"),
        helper.make_tensor("shape", TensorProto.INT64, [2], [1, -1], raw=False),
        numpy_helper.from_array(np.array([1, 6], dtype=np.int64), "shape_raw"),
        helper.make_tensor("dbl", TensorProto.DOUBLE, dbl.shape, dbl.tolist(), raw=False),
        numpy_helper.from_array(dbl_raw, "dbl_raw"),
        helper.make_tensor("i32", TensorProto.INT32, i32.shape, i32.tolist(), raw=False),
        numpy_helper.from_array(f16, "f16_raw"),
        numpy_helper.from_array(scalar, "scalar"),
        helper.make_tensor("empty", TensorProto.FLOAT, [0, 3], [], raw=False),
    ]
    nodes = [
        helper.make_node("Add", ["x", "w_raw"], ["a"], name="add0"),
        helper.make_node("Mul", ["a", "w_float_data"], ["b"], name="mul0"),
        helper.make_node("Reshape", ["b", "shape"], ["y"], name="reshape0"),
    ]
    graph = helper.make_graph(
        nodes, "initializers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6])],
        initializer=inits,
    )
    m = helper.make_model(graph, producer_name="huskyai-gen", producer_version="1",
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    m.doc_string = "initializer encodings"
    save("initializers.onnx", m)


def attributes():
    """Attributes of every type, a Constant with a TENSOR value, metadata."""
    t = helper.make_tensor("const_t", TensorProto.FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0])
    t2 = helper.make_tensor("t2", TensorProto.INT64, [3], [5, -6, 7])
    nodes = [
        helper.make_node("Constant", [], ["c"], name="const0", value=t),
        helper.make_node("LeakyRelu", ["x"], ["l"], name="leaky0", alpha=0.125),
        helper.make_node(
            "Custom", ["l", "c", ""], ["y"], name="custom0", domain="com.huskyai",
            f=1.5, i=-42, s="hello", ints=[1, -2, 3, 1 << 40], floats=[0.25, -1.0, 3.5],
            strings=["a", "bc", ""], t=t2, tensors=[t, t2],
        ),
    ]
    # A zero-valued INT attribute (still explicitly serialised by proto2).
    nodes[2].attribute.extend([helper.make_attribute("zero", 0)])
    graph = helper.make_graph(
        nodes, "attrs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    m = helper.make_model(graph, producer_name="huskyai-gen",
                          opset_imports=[helper.make_opsetid("", 13),
                                         helper.make_opsetid("com.huskyai", 1)])
    m.ir_version = 8
    m.model_version = 3
    m.domain = "ai.huskyai"
    helper.set_model_props(m, {"author": "gen.py", "license": "none", "empty": ""})
    save("attributes.onnx", m)


def nhwc():
    """A tf2onnx-style NHWC model: symbolic batch dim, Transpose with perm."""
    rng = np.random.default_rng(2)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal((4,)).astype(np.float32)
    nodes = [
        helper.make_node("Transpose", ["input:0"], ["conv__6:0"], name="conv__6",
                         perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["conv__6:0", "conv/kernel:0", "conv/bias:0"],
                         ["conv:0"], name="conv", dilations=[1, 1], strides=[2, 2],
                         kernel_shape=[3, 3], auto_pad="SAME_UPPER", group=1),
        helper.make_node("Relu", ["conv:0"], ["relu:0"], name="relu"),
        helper.make_node("Transpose", ["relu:0"], ["output:0"], name="conv__7",
                         perm=[0, 2, 3, 1]),
    ]
    graph = helper.make_graph(
        nodes, "tf2onnx",
        [helper.make_tensor_value_info("input:0", TensorProto.FLOAT, ["unk__12", 8, 8, 3])],
        [helper.make_tensor_value_info("output:0", TensorProto.FLOAT, ["unk__13", 4, 4, 4])],
        initializer=[numpy_helper.from_array(w, "conv/kernel:0"),
                     numpy_helper.from_array(b, "conv/bias:0")],
        value_info=[helper.make_tensor_value_info("conv:0", TensorProto.FLOAT,
                                                  ["unk__12", 4, None, 4])],
    )
    m = helper.make_model(graph, producer_name="tf2onnx", producer_version="1.9.3 1190aa",
                          opset_imports=[helper.make_opsetid("", 13),
                                         helper.make_opsetid("ai.onnx.ml", 2)])
    m.ir_version = 7
    helper.set_model_props(m, {"converted_from": "tf.keras"})
    save("nhwc.onnx", m)


# --- expectations ---------------------------------------------------------


DTYPE_NAME = {v: k for k, v in TensorProto.DataType.items()}
ATTR_NAME = {v: k for k, v in onnx.AttributeProto.AttributeType.items()}


def tensor_json(t):
    arr = numpy_helper.to_array(t)
    d = {
        "name": t.name,
        "dims": list(t.dims),
        "data_type": DTYPE_NAME[t.data_type],
        "raw": bool(t.raw_data),
        "num_elements": int(arr.size),
    }
    flat = arr.flatten()
    if arr.dtype.kind == "f":
        # Values as float64 so Go can compare float32 results exactly.
        vals = [float(v) for v in flat.astype(np.float64)]
    else:
        vals = [int(v) for v in flat]
    if arr.size <= SMALL:
        d["values"] = vals
    else:
        d["first"] = vals[:4]
        d["sum"] = float(flat.astype(np.float64).sum())
    return d


def attr_json(a):
    typ = ATTR_NAME[a.type]
    d = {"name": a.name, "type": typ}
    if typ == "FLOAT":
        d["f"] = float(a.f)
    elif typ == "INT":
        d["i"] = a.i
    elif typ == "STRING":
        d["s"] = a.s.decode()
    elif typ == "TENSOR":
        d["t"] = tensor_json(a.t)
    elif typ == "FLOATS":
        d["floats"] = [float(v) for v in a.floats]
    elif typ == "INTS":
        d["ints"] = list(a.ints)
    elif typ == "STRINGS":
        d["strings"] = [s.decode() for s in a.strings]
    elif typ == "TENSORS":
        d["tensors"] = [tensor_json(t) for t in a.tensors]
    else:
        raise ValueError("unexpected attribute type " + typ)
    return d


def value_info_json(v):
    d = {"name": v.name}
    tt = v.type.tensor_type
    d["elem_type"] = DTYPE_NAME[tt.elem_type]
    if tt.HasField("shape"):
        dims = []
        for dim in tt.shape.dim:
            which = dim.WhichOneof("value")
            if which == "dim_value":
                dims.append({"value": dim.dim_value})
            elif which == "dim_param":
                dims.append({"param": dim.dim_param})
            else:
                dims.append({"unknown": True})
        d["shape"] = dims
    else:
        d["shape"] = None
    return d


def norm_domain(d):
    return "" if d == "ai.onnx" else d


def model_json(path):
    m = onnx.load(path)
    g = m.graph
    return {
        "ir_version": m.ir_version,
        "producer_name": m.producer_name,
        "producer_version": m.producer_version,
        "domain": m.domain,
        "model_version": m.model_version,
        "opsets": {norm_domain(o.domain): o.version for o in m.opset_import},
        "metadata": {p.key: p.value for p in m.metadata_props},
        "graph": {
            "name": g.name,
            "nodes": [
                {
                    "name": n.name,
                    "op_type": n.op_type,
                    "domain": norm_domain(n.domain),
                    "inputs": list(n.input),
                    "outputs": list(n.output),
                    "attrs": [attr_json(a) for a in n.attribute],
                }
                for n in g.node
            ],
            "initializers": [tensor_json(t) for t in g.initializer],
            "inputs": [value_info_json(v) for v in g.input],
            "outputs": [value_info_json(v) for v in g.output],
            "value_info": [value_info_json(v) for v in g.value_info],
        },
    }


def main():
    torch_cnn()
    initializers()
    attributes()
    nhwc()
    names = ["torch_cnn.onnx", "initializers.onnx", "attributes.onnx", "nhwc.onnx"]
    expected = {}
    for name in names:
        path = os.path.join(HERE, name)
        if name != "attributes.onnx":  # its Custom op is unknown to the checker
            onnx.checker.check_model(onnx.load(path))
        expected[name] = model_json(path)
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
