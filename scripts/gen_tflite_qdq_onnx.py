#!/usr/bin/python3
"""Writes a quantized TFLite MobileNet as a QDQ ONNX model, for benchmarks
of ONNX Runtime's own int8 kernels against huskyai's integer path on the
same quantization.

    /usr/bin/python3 scripts/gen_tflite_qdq_onnx.py --tflite ../shared/models/mobilenet_v2_1.0_224_quant.tflite --out .cache/bench/mobilenet_v2_qdq.onnx

Without onnxruntime.quantization (not installed here), the graph is
written directly from the file (read by scripts/tflite_int8_ref.py's
FlatBuffer reader): every 8-bit tensor becomes QuantizeLinear then
DequantizeLinear with the file's scale and zero point, every weight an
8-bit initializer behind DequantizeLinear (per channel where the file is),
every bias an int32 one, between float Conv, Add, AveragePool, ReduceMean,
Reshape and Softmax nodes. ONNX Runtime's QDQ transformer fuses these into
its integer kernels (QLinearConv, QLinearAdd, ...) at session creation.
The input is NCHW in [0,1], as huskyai feeds every model: times 255 and
quantized with scale 1, it is the uint8 pixels the file's input takes.
The output holds weights from the .tflite file, so it stays outside the
repository (.cache/bench/ is git-ignored).
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tflite_int8_ref as ref  # noqa: E402


class Graph:
    def __init__(self, fb, tensors, buffers):
        self.fb, self.T, self.buffers = fb, tensors, buffers
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, prefix):
        self.n += 1
        return f"{prefix}_{self.n}"

    def init(self, arr, prefix):
        nm = self.name(prefix)
        self.inits.append(numpy_helper.from_array(arr, nm))
        return nm

    def node(self, op, ins, prefix, **attrs):
        out = self.name(prefix)
        self.nodes.append(helper.make_node(op, ins, [out], **attrs))
        return out

    def qparams(self, t, axis_len=None):
        dt = np.uint8 if t["type"] == ref.UINT8 else np.int8
        s = np.array(t["scale"], np.float32)
        z = np.array(t["zero"], dt)
        if len(s) == 1:
            return self.init(s.reshape(()), "s"), self.init(z.reshape(()), "z")
        return self.init(s, "s"), self.init(z, "z")

    def qdq(self, x, t):
        """x (float) rounded to t's grid: QuantizeLinear then DequantizeLinear."""
        s, z = self.qparams(t)
        q = self.node("QuantizeLinear", [x, s, z], "q")
        return self.node("DequantizeLinear", [q, s, z], "dq")

    def weight(self, t, perm):
        """A weight tensor as an 8-bit initializer behind DequantizeLinear."""
        dt = np.uint8 if t["type"] == ref.UINT8 else np.int8
        w = ref.const(t, self.buffers).astype(dt).transpose(perm)
        s, z = self.qparams(t)
        attrs = {"axis": 0} if len(t["scale"]) > 1 else {}
        return self.node("DequantizeLinear", [self.init(np.ascontiguousarray(w), "w"), s, z], "wdq", **attrs)

    def bias(self, tb, ti, tw):
        b = ref.const(tb, self.buffers).astype(np.int32)
        s = (np.float32(ti["scale"][0]) * np.array(tw["scale"], np.float32)).astype(np.float32)
        if len(s) == 1:
            s = np.full(b.shape, s[0], np.float32)
        return self.node("DequantizeLinear", [self.init(b, "b"), self.init(s, "bs"), self.init(np.zeros(b.shape, np.int32), "bz")],
                         "bdq", axis=0)

    def act(self, x, code):
        if code == 1:
            return self.node("Relu", [x], "relu")
        if code == 3:
            return self.node("Clip", [x, self.init(np.float32(0), "lo"), self.init(np.float32(6), "hi")], "relu6")
        assert code == 0, code
        return x


def conv(g, op, x, depthwise):
    fb, T = g.fb, g.T
    ti, tw, to = T[op["inputs"][0]], T[op["inputs"][1]], T[op["outputs"][0]]
    o = op["options"]
    same = fb.scalar(o, 0, "b") == 0
    sw, sh = fb.scalar(o, 1, "i"), fb.scalar(o, 2, "i")
    act = fb.scalar(o, 4 if depthwise else 3, "b")
    _, h, w, c = ti["shape"]
    _, kh, kw, oc = tw["shape"]
    _, pt = ref.same_pad(h, kh, sh, same)
    _, pl = ref.same_pad(w, kw, sw, same)
    oh, ow = to["shape"][1], to["shape"][2]
    pb, pr = max((oh - 1) * sh + kh - h - pt, 0), max((ow - 1) * sw + kw - w - pl, 0)
    wn = g.weight(tw, (3, 0, 1, 2) if depthwise else (0, 3, 1, 2))
    bn = g.bias(T[op["inputs"][2]], ti, tw)
    y = g.node("Conv", [x, wn, bn], "conv", kernel_shape=[kh, kw], strides=[sh, sw], pads=[pt, pl, pb, pr],
               group=c if depthwise else 1)
    return g.qdq(g.act(y, act), to)


def build(path):
    fb, T, ops, buffers, inp = ref.load(path)
    g = Graph(fb, T, buffers)
    _, h, w, _ = T[inp]["shape"]
    x = g.node("Mul", ["input", g.init(np.float32(255), "k")], "px")
    one, zero = g.init(np.float32(1), "one"), g.init(np.uint8(0), "zero")
    px = g.node("QuantizeLinear", [x, one, zero], "pxq")
    s, z = g.qparams(T[inp])
    if T[inp]["type"] == ref.INT8:
        raise SystemExit("int8 inputs are not written by this script")
    vals = {inp: g.node("DequantizeLinear", [px, s, z], "in")}
    out = None
    for op in ops:
        code, i0, o0 = op["code"], op["inputs"][0], op["outputs"][0]
        if code in (ref.CONV, ref.DEPTHWISE):
            vals[o0] = conv(g, op, vals[i0], code == ref.DEPTHWISE)
        elif code == ref.ADD:
            y = g.node("Add", [vals[i0], vals[op["inputs"][1]]], "add")
            vals[o0] = g.qdq(g.act(y, fb.scalar(op["options"], 0, "b")), T[o0])
        elif code == ref.AVGPOOL:
            vals[o0] = g.qdq(g.node("GlobalAveragePool", [vals[i0]], "gap"), T[o0])
        elif code == ref.MEAN:
            vals[o0] = g.qdq(g.node("ReduceMean", [vals[i0]], "mean", axes=[2, 3], keepdims=1), T[o0])
        elif code in (ref.RESHAPE, ref.SQUEEZE):
            vals[o0] = g.node("Flatten", [vals[i0]], "flat")
        elif code == ref.QUANTIZE:
            vals[o0] = g.qdq(vals[i0], T[o0]) if T[o0]["type"] in (ref.UINT8, ref.INT8) else vals[i0]
        elif code == ref.SOFTMAX:
            out = g.node("Softmax", [vals[i0]], "softmax", axis=1)
            break
        else:
            raise SystemExit(f"operator {code} is not written by this script")
    g.nodes.append(helper.make_node("Identity", [out], ["output"]))
    graph = helper.make_graph(g.nodes, "mobilenet_qdq",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, h, w])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1001])], g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tflite", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    m = build(a.tflite)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    onnx.save(m, a.out)


if __name__ == "__main__":
    sys.exit(main())
