#!/usr/bin/python3
"""Generate huskyai's reference fixtures: model files with seeded random
weights, PyTorch's outputs for them, and files the loaders must refuse.

    /usr/bin/python3 scripts/gen_parity.py --out testdata/parity
    /usr/bin/python3 scripts/gen_parity.py --fresh --out DIR --seed N

No TensorFlow or Keras is involved: the Keras files are written with h5py
in exactly the layout tf.keras 2.x (model.save("x.h5")) and Keras 3
(model.save("x.keras")) write, and every reference output is computed by
PyTorch, in float64 from the float32 weights and inputs, then rounded to
float32. The output is deterministic: the same seed gives byte-identical
files (HDF5 object timestamps are off, ZIP entries carry a fixed date).

Needs Debian's python3 with python3-torch, python3-h5py, python3-onnx,
python3-pil and python3-numpy.
"""

import argparse
import copy
import hashlib
import io
import json
import os
import re
import sys
import tempfile
import warnings
import zipfile

import h5py
import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kerash5 import (  # noqa: E402
    K2_GLOROT, K2_ONES, K2_ZEROS, KERAS2_VERSION, Fill, activation, bn, conv, dense, dropout, flatten, gap, h5create,
    k2_functional_config, k2_input_config, k2_layer_config, k2_sequential_config, k2_weight_list,
    keras2_model_layers, mkgroup, name_list, pool, put, relu_layer, rescaling, write_keras2_h5,
    write_keras2_weights)

DEFAULT_SEED = 20261125
BATCH = 4
KERAS3_VERSION = "3.3.3"
DATE_SAVED = "2024-05-20@12:00:00"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
PLACEHOLDER_NOTE = b"UNTRAINED PLACEHOLDER: seeded random weights, not trained on any data"

torch.set_num_threads(1)

# ---------------------------------------------------------------------------
# Random numbers: every case draws from its own torch.Generator, seeded from
# the global seed and the case name, so adding a case leaves the others as
# they are.


def case_gen(seed, name):
    h = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(h[:8], "little") & ((1 << 63) - 1))


def uniform(gen, shape, lo, hi):
    t = torch.rand(tuple(shape), generator=gen, dtype=torch.float32)
    return (t * (hi - lo) + lo).numpy().astype(np.float32)


def snake(name):
    """keras.src.utils.naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ---------------------------------------------------------------------------
# Layer specs (kerash5's conv, pool, dense, ...). A model is a list of dicts;
# build() names them the way Keras does, follows the shape, resolves "same"
# padding and draws the weights.


def same_pad(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def window_pad(H, W, L):
    """(top, bottom, left, right) padding of a Keras window layer L over HxW."""
    if L["padding"] != "same":
        return (0, 0, 0, 0)
    (kh, kw), (sh, sw) = L["k"], L["s"]
    return same_pad(H, kh, sh) + same_pad(W, kw, sw)


def out_len(n, k, s, padding):
    return -(-n // s) if padding == "same" else (n - k) // s + 1


def init_kernel(gen, shape, fan_in, act):
    # He uniform before ReLU-like activations, LeCun uniform otherwise.
    limit = np.sqrt((6.0 if act in ("relu", "relu6", "elu") else 3.0) / fan_in)
    return uniform(gen, shape, -limit, limit)


def build(specs, in_shape, gen, names=None):
    """Returns layers with names, shapes, paddings and weights filled in."""
    counts = {}
    layers = []
    shape = tuple(in_shape)  # (H, W, C) or (n,)
    for i, sp in enumerate(specs):
        L = copy.deepcopy(sp)
        cls = L["cls"]
        if names and names[i]:
            L["name"] = names[i]
        elif "name" not in L:
            base = snake(cls)
            n = counts.get(base, 0)
            counts[base] = n + 1
            L["name"] = base if n == 0 else f"{base}_{n}"
        L["in_shape"] = shape
        w = {}
        if cls == "Conv2D":
            H, W_, C = shape
            kh, kw = L["k"]
            sh, sw = L["s"]
            L["pad"] = window_pad(H, W_, L)
            cin = L.get("kernel_cin", C // L.get("groups", 1))
            w["kernel"] = init_kernel(gen, (kh, kw, cin, L["filters"]), kh * kw * cin, L["act"])
            if L["bias"]:
                w["bias"] = uniform(gen, (L["filters"],), -0.1, 0.1)
            shape = (out_len(H, kh, sh, L["padding"]), out_len(W_, kw, sw, L["padding"]), L["filters"])
        elif cls in ("MaxPooling2D", "AveragePooling2D"):
            H, W_, C = shape
            kh, kw = L["k"]
            sh, sw = L["s"]
            L["pad"] = window_pad(H, W_, L)
            shape = (out_len(H, kh, sh, L["padding"]), out_len(W_, kw, sw, L["padding"]), C)
        elif cls == "Dense":
            cin = shape[-1]
            w["kernel"] = init_kernel(gen, (cin, L["units"]), cin, L["act"])
            if L["bias"]:
                w["bias"] = uniform(gen, (L["units"],), -0.1, 0.1)
            shape = shape[:-1] + (L["units"],)
        elif cls == "BatchNormalization":
            C = shape[-1]
            if L["scale"]:
                w["gamma"] = uniform(gen, (C,), 0.6, 1.5)
            if L["center"]:
                w["beta"] = uniform(gen, (C,), -0.3, 0.3)
            w["moving_mean"] = uniform(gen, (C,), -0.4, 0.4)
            w["moving_variance"] = uniform(gen, (C,), 0.3, 2.0)
        elif cls == "Flatten":
            shape = (int(np.prod(shape)),)
        elif cls == "GlobalAveragePooling2D":
            shape = (shape[-1],)
        L["w"] = w
        L["out_shape"] = shape
        layers.append(L)
    return layers, shape


# ---------------------------------------------------------------------------
# Reference forward pass (PyTorch, float64, Keras semantics).


def apply_act(t, act):
    if act == "linear":
        return t
    if act == "relu":
        return torch.relu(t)
    if act == "relu6":
        return torch.clamp(t, 0.0, 6.0)
    if act == "sigmoid":
        return torch.sigmoid(t)
    if act == "tanh":
        return torch.tanh(t)
    if act == "elu":
        return F.elu(t)
    if act == "softmax":
        return torch.softmax(t, dim=1)
    raise ValueError(act)


def d64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def keras_forward(layers, x, upto=None):
    """x: NHWC float32 numpy. Returns the output as (N, features) float64,
    features in Keras' H,W,C order."""
    t = d64(x).permute(0, 3, 1, 2)  # NCHW
    n = t.shape[0]
    for L in layers[:upto]:
        cls = L["cls"]
        w = L["w"]
        if cls == "Conv2D":
            pt, pb, pl, pr = L["pad"]
            t = F.pad(t, (pl, pr, pt, pb))
            b = d64(w["bias"]) if "bias" in w else None
            t = F.conv2d(t, d64(w["kernel"]).permute(3, 2, 0, 1), b, stride=L["s"], groups=L.get("groups", 1))
            t = apply_act(t, L["act"])
        elif cls == "MaxPooling2D":
            pt, pb, pl, pr = L["pad"]
            t = F.pad(t, (pl, pr, pt, pb), value=float("-inf"))
            t = F.max_pool2d(t, L["k"], L["s"])
        elif cls == "AveragePooling2D":
            pt, pb, pl, pr = L["pad"]
            # Keras "same": the padded cells are left out of the count.
            ones = torch.ones_like(t[:, :1])
            num = F.avg_pool2d(F.pad(t, (pl, pr, pt, pb)), L["k"], L["s"], divisor_override=1)
            den = F.avg_pool2d(F.pad(ones, (pl, pr, pt, pb)), L["k"], L["s"], divisor_override=1)
            t = num / den
        elif cls == "GlobalAveragePooling2D":
            t = t.mean(dim=(2, 3))
        elif cls == "Flatten":
            t = t.permute(0, 2, 3, 1).reshape(n, -1)
        elif cls == "Dense":
            W = d64(w["kernel"])
            if t.dim() == 4:
                t = torch.einsum("nchw,cu->nuhw", t, W)
                if "bias" in w:
                    t = t + d64(w["bias"]).view(1, -1, 1, 1)
            else:
                t = t @ W
                if "bias" in w:
                    t = t + d64(w["bias"])
            t = apply_act(t, L["act"])
        elif cls == "BatchNormalization":
            shp = (1, -1, 1, 1) if t.dim() == 4 else (1, -1)
            t = (t - d64(w["moving_mean"]).view(shp)) / torch.sqrt(d64(w["moving_variance"]).view(shp) + L["eps"])
            if "gamma" in w:
                t = t * d64(w["gamma"]).view(shp)
            if "beta" in w:
                t = t + d64(w["beta"]).view(shp)
        elif cls == "Activation":
            t = apply_act(t, L["act"])
        elif cls == "ReLU":
            t = torch.relu(t) if L["max_value"] is None else torch.clamp(t, 0.0, float(L["max_value"]))
        elif cls == "Dropout":
            pass
        elif cls == "Rescaling":
            t = t * L["scale"] + L["offset"]
        else:
            raise ValueError(cls)
    if t.dim() == 4:
        t = t.permute(0, 2, 3, 1).reshape(n, -1)
    return t.numpy()


def round_sig(v, digits=2):
    v = float(v)
    return 0.0 if v == 0 else float(f"{v:.{digits - 1}e}")


def tune_last_dense(layers, x, spread=1.6, max_scale=8.0):
    """Rescale the final Dense so that its logits over the batch are centred
    and spread (std about `spread`), making sigmoid/softmax outputs
    informative instead of saturated. The factors are rounded so that the
    stored float32 weights do not depend on the last bits of float64 sums."""
    L = layers[-1]
    if L["cls"] != "Dense":
        return
    feats = keras_forward(layers, x, upto=len(layers) - 1)
    W = L["w"]["kernel"].astype(np.float64)
    b = L["w"]["bias"].astype(np.float64) if "bias" in L["w"] else 0.0
    z = feats @ W + b
    std = z.std()
    s = round_sig(min(max(spread / std, 0.05), max_scale) if std > 0 else 1.0)
    if os.environ.get("GEN_PARITY_DEBUG"):
        print(f"tune {L['name']}: logit std {std:.3g}, scale {s}", file=sys.stderr)
    m = np.array([round_sig(v, 3) for v in z.mean(axis=0)])
    L["w"]["kernel"] = (L["w"]["kernel"] * np.float32(s)).astype(np.float32)
    if "bias" in L["w"]:
        L["w"]["bias"] = ((L["w"]["bias"].astype(np.float64) - m) * s).astype(np.float32)


def rows(out):
    """Reference outputs as JSON rows of float32 values."""
    return [[float(np.float32(v)) for v in r] for r in np.asarray(out, dtype=np.float64)]


# ---------------------------------------------------------------------------
# Optimizer state as tf.keras 2.x saves it.


def adam_slots(layers, prefix):
    ws = [("iteration:0", np.int64(120))]
    for L in layers:
        for n, v in k2_weight_list(L):
            if "moving_" in n:
                continue
            base = n[:-2]
            ws.append((f"{prefix}/m/{base}:0", np.full_like(v, 1e-3)))
            ws.append((f"{prefix}/v/{base}:0", np.full_like(v, 1e-6)))
    return ws


# ---------------------------------------------------------------------------
# Keras 3 ".keras" layout (keras/src/saving/saving_lib.py).


def k3_dtype(style):
    if style == "policy":
        return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                "registered_name": None}
    return "float32"


def k3_compile_config():
    return {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {
        "name": "adam", "learning_rate": 0.0010000000474974513, "weight_decay": None, "clipnorm": None,
        "global_clipnorm": None, "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
        "ema_overwrite_frequency": None, "loss_scale_factor": None, "gradient_accumulation_steps": None,
        "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}, "registered_name": None},
        "loss": "binary_crossentropy", "loss_weights": None, "metrics": ["accuracy"],
        "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def k3_shape(s):
    return [None] + list(s)


def k3_layer_entry(L, style):
    return {"module": "keras.layers", "class_name": L.get("class_name", L["cls"]),
            "config": k2_layer_config(L, keras3=k3_dtype(style)), "registered_name": None,
            "build_config": {"input_shape": k3_shape(L["in_shape"])}}


def k3_input_entry(name, in_shape, style):
    c = {"batch_shape": k3_shape(in_shape), "dtype": "float32", "sparse": False, "name": name}
    if style == "policy":  # Keras >= 3.5 also records these
        c["ragged"] = False
        c["optional"] = False
    return {"module": "keras.layers", "class_name": "InputLayer", "config": c, "registered_name": None}


def k3_sequential_config(layers, in_shape, style, name="sequential"):
    entries = [k3_input_entry("input_layer", in_shape, style)] + [k3_layer_entry(L, style) for L in layers]
    return {"module": "keras", "class_name": "Sequential", "config": {
        "name": name, "trainable": True, "dtype": k3_dtype(style), "layers": entries,
        "build_input_shape": k3_shape(in_shape)}, "registered_name": None,
        "build_config": {"input_shape": k3_shape(in_shape)}, "compile_config": k3_compile_config()}


def k3_functional_config(layers, in_shape, style, name="functional", nested_io=False):
    inp = k3_input_entry("input_layer", in_shape, style)
    inp["name"] = "input_layer"
    inp["inbound_nodes"] = []
    entries = [inp]
    prev, prev_shape = "input_layer", in_shape
    for L in layers:
        e = k3_layer_entry(L, style)
        e["name"] = L["name"]
        e["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": {
            "shape": k3_shape(prev_shape), "dtype": "float32", "keras_history": [prev, 0, 0]}}],
            "kwargs": {}}]
        entries.append(e)
        prev, prev_shape = L["name"], L["out_shape"]
    # keras.Model(inp, out) records a single tensor as a flat reference;
    # keras.Model([inp], [out]) as a list of them.
    ins, outs = ["input_layer", 0, 0], [prev, 0, 0]
    if nested_io:
        ins, outs = [ins], [outs]
    return {"module": "keras.src.models.functional", "class_name": "Functional", "config": {
        "name": name, "trainable": True, "layers": entries, "input_layers": ins, "output_layers": outs},
        "registered_name": "Functional", "build_config": {"input_shape": None},
        "compile_config": k3_compile_config()}


def k3_store_paths(layers, functional):
    """saving_lib._save_container_state: each layer of model.layers is stored
    under layers/<snake_case(class name)>[_<n>], numbered per class within
    the container, whatever the layer's own name. Sequential.layers leaves
    the InputLayer out; Functional.layers includes it."""
    used = {}
    out = []
    seq = ([("InputLayer", None)] if functional else []) + [(L.get("class_name", L["cls"]), L) for L in layers]
    for cls, L in seq:
        name = snake(cls)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        out.append(("layers/" + name, L))
    return out


def write_keras3(path, config, layers, functional, *, keras_version=KERAS3_VERSION, adam=False):
    with tempfile.TemporaryDirectory() as td:
        hp = os.path.join(td, "model.weights.h5")
        with h5create(hp) as f:
            mkgroup(f, "vars")  # the model's own (empty) variables
            for p, L in k3_store_paths(layers, functional):
                g = mkgroup(f, p + "/vars")
                if L is None:
                    continue
                for i, (_, v) in enumerate(k2_weight_list(L)):
                    put(g, str(i), v)
            og = mkgroup(f, "optimizer/vars")
            put(og, "0", np.int64(120 if adam else 0))  # iterations
            put(og, "1", np.float32(0.001))  # learning_rate
            if adam:
                i = 2
                for L in layers:
                    for n, v in k2_weight_list(L):
                        if "moving_" in n:
                            continue
                        put(og, str(i), np.full_like(v, 1e-3))
                        put(og, str(i + 1), np.full_like(v, 1e-6))
                        i += 2
        weights = open(hp, "rb").read()
    meta = {"keras_version": keras_version, "date_saved": DATE_SAVED}
    write_zip(path, [("metadata.json", json.dumps(meta).encode()),
                     ("config.json", json.dumps(config).encode()),
                     ("model.weights.h5", weights)])


def write_zip(path, members):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members:
            zi = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            zi.compress_type = zipfile.ZIP_STORED
            zi.external_attr = 0o644 << 16
            zi.create_system = 3
            zf.writestr(zi, data)


# ---------------------------------------------------------------------------
# ONNX.


class KerasAsTorch(nn.Module):
    """A Keras chain as a torch module (NCHW input), for torch.onnx.export.
    Supports what the ONNX twins use: valid/same Conv2D, pooling, Flatten
    (in Keras' H,W,C order), Dense, Dropout."""

    def __init__(self, layers):
        super().__init__()
        mods = []
        for L in layers:
            cls = L["cls"]
            if cls == "Conv2D":
                assert L["padding"] == "valid"
                kh, kw, cin, cout = L["w"]["kernel"].shape
                m = nn.Conv2d(cin, cout, (kh, kw), stride=L["s"], bias="bias" in L["w"])
                m.weight.data = torch.from_numpy(L["w"]["kernel"].transpose(3, 2, 0, 1).copy())
                if "bias" in L["w"]:
                    m.bias.data = torch.from_numpy(L["w"]["bias"].copy())
                mods.append(m)
                mods.append(torch_act(L["act"]))
            elif cls == "MaxPooling2D":
                assert L["padding"] == "valid"
                mods.append(nn.MaxPool2d(L["k"], L["s"]))
            elif cls == "Dropout":
                mods.append(nn.Dropout(L["rate"]))
            elif cls == "Flatten":
                mods.append(NHWCFlatten())
            elif cls == "Dense":
                cin, cout = L["w"]["kernel"].shape
                m = nn.Linear(cin, cout, bias="bias" in L["w"])
                m.weight.data = torch.from_numpy(L["w"]["kernel"].T.copy())
                if "bias" in L["w"]:
                    m.bias.data = torch.from_numpy(L["w"]["bias"].copy())
                mods.append(m)
                mods.append(torch_act(L["act"]))
            else:
                raise ValueError(cls)
        self.seq = nn.Sequential(*[m for m in mods if m is not None])

    def forward(self, x):
        return self.seq(x)


class NHWCFlatten(nn.Module):
    def forward(self, x):
        return torch.flatten(x.permute(0, 2, 3, 1), 1)


def torch_act(act):
    return {"linear": None, "relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(),
            "elu": nn.ELU(), "relu6": nn.ReLU6(), "softmax": nn.Softmax(dim=1)}[act]


def torch_reference(module, x):
    """float64 outputs of module for NHWC float32 input x."""
    m = copy.deepcopy(module).double().eval()
    with torch.no_grad():
        out = m(d64(x).permute(0, 3, 1, 2))
    return out.reshape(out.shape[0], -1).numpy()


def export_onnx(module, in_shape, path):
    H, W, C = in_shape
    module = module.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, torch.zeros(1, C, H, W), buf, input_names=["input"], output_names=["output"],
                          opset_version=13, do_constant_folding=True,
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    m = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(m)
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    return m


def tf2onnx_graph(layers, in_shape, name):
    """An ONNX graph laid out the way tf2onnx converts a Keras model: NHWC
    input, a Transpose to NCHW in front of the convolutions, a Transpose
    back before Flatten (a Reshape), Dense as MatMul + Add."""
    H, W, C = in_shape
    nodes, inits = [], []
    cnt = [0]

    def t(prefix):
        cnt[0] += 1
        return f"{name}/{prefix}:{cnt[0]}"

    def init(nm, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), nm))
        return nm

    cur = "input_1"
    nodes.append(helper.make_node("Transpose", [cur], [t("transpose")], perm=[0, 3, 1, 2], name="Transpose__in"))
    cur = nodes[-1].output[0]
    layout = "NCHW"
    for L in layers:
        cls, nm = L["cls"], f"{name}/{L['name']}"
        if cls == "Conv2D":
            ins = [cur, init(nm + "/kernel", L["w"]["kernel"].transpose(3, 2, 0, 1).copy())]
            if "bias" in L["w"]:
                ins.append(init(nm + "/bias", L["w"]["bias"]))
            kw = dict(kernel_shape=list(L["k"]), strides=list(L["s"]), dilations=[1, 1], group=1)
            if L["padding"] == "same":
                kw["auto_pad"] = "SAME_UPPER"
            else:
                kw["pads"] = [0, 0, 0, 0]
            nodes.append(helper.make_node("Conv", ins, [t("conv")], name=nm + "/Conv2D", **kw))
            cur = nodes[-1].output[0]
            cur = onnx_act(nodes, inits, cur, L["act"], nm, t)
        elif cls == "MaxPooling2D":
            kw = dict(kernel_shape=list(L["k"]), strides=list(L["s"]))
            if L["padding"] == "same":
                kw["auto_pad"] = "SAME_UPPER"
            nodes.append(helper.make_node("MaxPool", [cur], [t("pool")], name=nm + "/MaxPool", **kw))
            cur = nodes[-1].output[0]
        elif cls == "Dropout":
            pass
        elif cls == "Activation":
            cur = onnx_act(nodes, inits, cur, L["act"], nm, t)
        elif cls == "Flatten":
            assert layout == "NCHW"
            nodes.append(helper.make_node("Transpose", [cur], [t("transpose")], perm=[0, 2, 3, 1],
                                          name=nm + "/Transpose"))
            cur = nodes[-1].output[0]
            shape = init(nm + "/Const", np.array([-1, L["out_shape"][0]], dtype=np.int64))
            nodes.append(helper.make_node("Reshape", [cur, shape], [t("reshape")], name=nm + "/Reshape"))
            cur = nodes[-1].output[0]
            layout = "flat"
        elif cls == "Dense":
            assert layout == "flat"
            w = init(nm + "/MatMul/ReadVariableOp:0", L["w"]["kernel"])
            nodes.append(helper.make_node("MatMul", [cur, w], [t("matmul")], name=nm + "/MatMul"))
            cur = nodes[-1].output[0]
            if "bias" in L["w"]:
                b = init(nm + "/BiasAdd/ReadVariableOp:0", L["w"]["bias"])
                nodes.append(helper.make_node("Add", [cur, b], [t("biasadd")], name=nm + "/BiasAdd"))
                cur = nodes[-1].output[0]
            cur = onnx_act(nodes, inits, cur, L["act"], nm, t)
        else:
            raise ValueError(cls)
    out_name = layers[-1]["name"]
    nodes[-1].output[0] = out_name
    n_out = layers[-1]["out_shape"][0]
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, ["unk__0", H, W, C])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["unk__1", n_out])],
        initializer=inits)
    m = helper.make_model(g, producer_name="tf2onnx", producer_version="1.14.0 8f8d49",
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    return m


def onnx_act(nodes, inits, cur, act, nm, t):
    if act == "linear":
        return cur
    if act == "relu6":
        lo = nm + "/Relu6/min"
        hi = nm + "/Relu6/max"
        inits.append(numpy_helper.from_array(np.array(0.0, dtype=np.float32), lo))
        inits.append(numpy_helper.from_array(np.array(6.0, dtype=np.float32), hi))
        nodes.append(helper.make_node("Clip", [cur, lo, hi], [t("relu6")], name=nm + "/Relu6"))
        return nodes[-1].output[0]
    op = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "elu": "Elu", "softmax": "Softmax"}[act]
    kw = {"alpha": 1.0} if act == "elu" else {}
    nodes.append(helper.make_node(op, [cur], [t(op.lower())], name=f"{nm}/{op}", **kw))
    return nodes[-1].output[0]


def save_onnx(m, path):
    with open(path, "wb") as f:
        f.write(m.SerializeToString())


# ---------------------------------------------------------------------------
# Models.

HUSKY_SMALL = [conv(8, 3, act="relu"), pool("max", 2), dropout(0.4),
               conv(16, 3, act="relu"), pool("max", 2), dropout(0.4),
               conv(32, 3, act="relu"), pool("max", 2), dropout(0.4),
               flatten(), dense(16, act="relu"), dense(1, act="sigmoid")]

HUSKY_FULL = [conv(32, 3, act="relu"), pool("max", 2), dropout(0.4),
              conv(64, 3, act="relu"), pool("max", 2), dropout(0.4),
              conv(128, 3, act="relu"), pool("max", 2), dropout(0.4),
              flatten(), dense(128, act="relu"), dense(1, act="sigmoid")]


def make_inputs(gen, shape, n=BATCH):
    return uniform(gen, (n,) + tuple(shape), 0.0, 1.0)


def write_input(path, x):
    with open(path, "wb") as f:
        f.write(np.ascontiguousarray(x, dtype="<f4").tobytes())


class Generator:
    def __init__(self, out, seed):
        self.out = out
        self.seed = seed
        self.cases = []
        self.refused = []
        self.twins = []  # (case a, case b) that must agree

    def path(self, name):
        return os.path.join(self.out, name)

    def inputs(self, name, shape, n=BATCH, scale=1.0):
        x = make_inputs(case_gen(self.seed, name + "/input"), shape, n)
        if scale != 1.0:
            x = (x * np.float32(scale)).astype(np.float32)
        write_input(self.path(name + ".input.f32"), x)
        return name + ".input.f32", x

    def model(self, name, specs, shape, names=None, tune=True, xscale=1.0):
        gen = case_gen(self.seed, name)
        layers, out_shape = build(specs, shape, gen, names)
        inp, x = self.inputs(name, shape, scale=xscale)
        if tune:
            tune_last_dense(layers, x)
        return layers, inp, x

    def case(self, name, model, fmt, shape, inp, out, covers):
        self.cases.append({"name": name, "model": model, "format": fmt, "input_shape": list(shape),
                           "batch": len(out), "input": inp, "outputs": rows(out), "covers": covers})
        return out

    def refuse(self, name, model, fmt, contains):
        self.refused.append({"name": name, "model": model, "format": fmt, "error_contains": contains})


def gen_all(g):
    # --- husky_small: the Husky architecture at 32x32, in every format. ---
    shape = (32, 32, 3)
    layers, inp, x = g.model("husky_small", HUSKY_SMALL, shape)
    ref = keras_forward(layers, x)
    write_keras2_h5(g.path("husky_small.h5"), k2_sequential_config(layers, shape), keras2_model_layers(layers),
                    optimizer_weights=adam_slots(layers, "Adam"))
    g.case("husky_small", "husky_small.h5", "keras-h5", shape, inp, ref,
           ["Sequential (TF 2.4+, InputLayer in config, not in model_weights)", "InputLayer", "Conv2D valid 3x3 relu",
            "MaxPooling2D 2 valid", "Dropout", "Flatten (H,W,C order)", "Dense relu", "Dense sigmoid",
            "optimizer_weights group (ignored)", "string attributes as variable-length strings (h5py 3)"])
    write_keras3(g.path("husky_small_v3.keras"), k3_sequential_config(layers, shape, "string"), layers, False)
    g.case("husky_small_v3", "husky_small_v3.keras", "keras-v3", shape, inp, ref,
           ["Keras 3 .keras Sequential", "Keras 3 weights layers/<class>/vars/<i>", "optimizer/vars (ignored)",
            "string dtypes (Keras 3.3)", "same weights as husky_small"])
    tm = KerasAsTorch(layers)
    export_onnx(tm, shape, g.path("husky_small_torch.onnx"))
    ref_t = torch_reference(tm, x)
    g.case("husky_small_torch", "husky_small_torch.onnx", "onnx", shape, inp, ref_t,
           ["ONNX from torch.onnx.export (NCHW input)", "Conv", "Relu", "MaxPool", "Transpose before Flatten",
            "Flatten", "Gemm transB=1", "Sigmoid", "same weights as husky_small"])
    save_onnx(tf2onnx_graph(layers, shape, "sequential"), g.path("husky_small_tf2onnx.onnx"))
    g.case("husky_small_tf2onnx", "husky_small_tf2onnx.onnx", "onnx", shape, inp, ref,
           ["ONNX tf2onnx layout (NHWC input)", "Transpose", "Conv pads", "Relu", "MaxPool",
            "Transpose + Reshape", "MatMul + Add", "Sigmoid", "same weights as husky_small"])
    g.twins.append(("husky_small", "husky_small_torch", ref, ref_t))

    # --- conv_same_strides: same padding (asymmetric), strides, kernel sizes. ---
    shape = (16, 13, 3)
    specs = [conv(6, (3, 2), (2, 1), "same", act="relu"),  # pads H 0/1, W 0/1
             conv(8, 5, 1, "same", act="elu"),
             conv(8, 3, 2, "same", act="relu6"),  # pads H 0/1, W 1/1
             conv(5, 1, 1, "valid", act="tanh", bias=False),
             conv(4, 3, (2, 1), "valid", act="sigmoid"),
             flatten(), dense(3, act="softmax")]
    layers, inp, x = g.model("conv_same_strides", specs, shape)
    ref = keras_forward(layers, x)
    write_keras2_h5(g.path("conv_same_strides.h5"), k2_sequential_config(layers, shape),
                    keras2_model_layers(layers))
    g.case("conv_same_strides", "conv_same_strides.h5", "keras-h5", shape, inp, ref,
           ["non-square input 16x13", "Conv2D same, kernel 3x2, strides (2,1), extra pad bottom/right",
            "Conv2D 5x5 same", "Conv2D 3x3 stride 2 same", "Conv2D 1x1 use_bias=False", "Conv2D stride (2,1) valid",
            "fused activations relu, elu, relu6, tanh, sigmoid", "Dense softmax (3 units)"])
    save_onnx(tf2onnx_graph(layers, shape, "sequential"), g.path("conv_same_strides_tf2onnx.onnx"))
    g.case("conv_same_strides_tf2onnx", "conv_same_strides_tf2onnx.onnx", "onnx", shape, inp, ref,
           ["ONNX tf2onnx layout", "Conv auto_pad SAME_UPPER", "Conv without bias", "Elu", "Clip (relu6)", "Tanh",
            "Sigmoid", "Softmax", "same weights as conv_same_strides"])

    # --- conv_groups: grouped convolutions (ResNeXt, ShuffleNet). ---
    shape = (10, 9, 3)
    specs = [conv(8, 3, 1, "same", act="relu"),
             conv(12, 3, 2, "same", act="relu6", groups=4),
             conv(6, 1, 1, "valid", groups=2, bias=False),
             flatten(), dense(1, act="sigmoid")]
    layers, inp, x = g.model("conv_groups", specs, shape)
    ref = keras_forward(layers, x)
    write_keras2_h5(g.path("conv_groups.h5"), k2_sequential_config(layers, shape), keras2_model_layers(layers))
    g.case("conv_groups", "conv_groups.h5", "keras-h5", shape, inp, ref,
           ["Conv2D groups 4, 3x3 stride 2 same, relu6", "Conv2D groups 2, 1x1, no bias", "Flatten", "Dense sigmoid"])

    # --- pooling ---
    shape = (16, 16, 3)
    specs = [conv(4, 3, act="relu"),  # 14x14
             pool("max", 3, 2, "same"),  # 7x7, pads 0/1 (-inf)
             pool("avg", 2, 2, "same"),  # 4x4, pads 0/1 excluded from the count
             pool("avg", 3, 1, "same"),  # 4x4, pads 1/1 excluded from the count
             pool("max", 2, 1, "valid"),  # 3x3
             pool("avg", 2, 1, "valid"),  # 2x2
             flatten(), dense(2, act="linear"), activation("sigmoid")]
    layers, inp, x = g.model("pooling", specs, shape, tune=False)
    tune_dense_at(layers, x, len(layers) - 2)
    ref = keras_forward(layers, x)
    write_keras2_h5(g.path("pooling.h5"), k2_sequential_config(layers, shape), keras2_model_layers(layers))
    g.case("pooling", "pooling.h5", "keras-h5", shape, inp, ref,
           ["MaxPooling2D pool 3 stride 2 same (pads -inf, bottom/right)",
            "AveragePooling2D pool 2 stride 2 same (padding excluded from count)",
            "AveragePooling2D pool 3 stride 1 same", "MaxPooling2D pool 2 stride 1 valid",
            "AveragePooling2D valid", "Dense linear", "Activation sigmoid"])

    # --- batchnorm variants, Rescaling, GlobalAveragePooling2D ---
    shape = (12, 12, 3)
    specs = [rescaling(1 / 127.5, -1.0),
             conv(6, 3, 2, act="linear", bias=False), bn(True, True), activation("relu"),  # 5x5
             conv(6, 3, act="linear"), bn(False, True), activation("tanh"),  # 3x3
             bn(True, False), bn(False, False),
             flatten(), dense(8, act="relu"), bn(True, True), dense(1, act="sigmoid")]
    # Rescaling(1/127.5, -1) expects pixels in 0..255: so are these inputs.
    layers, inp, x = g.model("batchnorm", specs, shape, xscale=255.0)
    ref = keras_forward(layers, x)
    write_keras2_h5(g.path("batchnorm.h5"), k2_sequential_config(layers, shape), keras2_model_layers(layers))
    g.case("batchnorm", "batchnorm.h5", "keras-h5", shape, inp, ref,
           ["Rescaling 1/127.5, -1 (inputs in 0..255)", "Conv2D use_bias=False", "BatchNormalization center+scale",
            "BatchNormalization scale only", "BatchNormalization center only", "BatchNormalization neither",
            "BatchNormalization on a Dense output (axis [1])", "Activation relu, tanh", "Conv2D stride 2 valid",
            "epsilon 1e-3"])

    # --- activations, Functional (Keras 2) ---
    shape = (10, 10, 3)
    specs = [conv(4, 3, 1, "same", act="linear"), activation("relu6"), activation("elu"),
             conv(5, 3, act="elu"), relu_layer(6.0), activation("tanh"),
             conv(4, 3, act="linear"), relu_layer(None), activation("sigmoid"),
             flatten(), dense(6, act="relu6"), dropout(0.25), dense(4, act="linear"), activation("softmax")]
    layers, inp, x = g.model("activations_functional", specs, shape, tune=False)
    tune_dense_at(layers, x, len(layers) - 2)
    ref = keras_forward(layers, x)
    write_keras2_h5(g.path("activations_functional.h5"), k2_functional_config(layers, shape),
                    keras2_model_layers(layers, functional_input="input_1"))
    g.case("activations_functional", "activations_functional.h5", "keras-h5", shape, inp, ref,
           ["Functional (Keras 2, InputLayer in model_weights with empty weight_names)", "Conv2D 3x3 same",
            "Activation relu6", "Activation elu", "ReLU max_value 6", "ReLU", "Activation tanh",
            "Activation sigmoid", "Dense relu6", "Dense linear", "Activation softmax", "Dropout"])

    # --- old Sequential (TF <= 2.3, no InputLayer), root attrs as bytes ---
    shape = (8, 8, 3)
    specs = [conv(4, 2, act="tanh"), pool("max", 2), flatten(), dense(3, act="sigmoid")]
    layers, inp, x = g.model("sequential_no_inputlayer", specs, shape)
    ref = keras_forward(layers, x)
    write_keras2_h5(g.path("sequential_no_inputlayer.h5"),
                    k2_sequential_config(layers, shape, input_layer=False), keras2_model_layers(layers),
                    strings="fixed", keras_version="2.2.4", training_config=False)
    g.case("sequential_no_inputlayer", "sequential_no_inputlayer.h5", "keras-h5", shape, inp, ref,
           ["Sequential without InputLayer (Keras 2.2 / TF <= 2.3), batch_input_shape on the first layer",
            "all string attributes fixed-length (h5py 2.x era), layer_names/weight_names as S arrays", "Conv2D 2x2 tanh", "Dense sigmoid, 3 units"])

    # --- superblock v3 / link messages (libver latest), Dense on a feature map ---
    shape = (12, 12, 3)
    specs = [conv(5, 3, 1, "same", act="relu"), pool("avg", 2), conv(6, 3, act="relu"),  # 4x4
             pool("max", 2), dense(4, act="relu"), gap(), dense(1, act="sigmoid")]
    layers, inp, x = g.model("libver_latest", specs, shape)
    ref = keras_forward(layers, x)
    write_keras2_h5(g.path("libver_latest.h5"), k2_sequential_config(layers, shape), keras2_model_layers(layers),
                    libver="latest")
    g.case("libver_latest", "libver_latest.h5", "keras-h5", shape, inp, ref,
           ["HDF5 libver=latest (superblock v3, link messages, v2 object headers)", "AveragePooling2D 2 valid",
            "Dense applied per position on a 4-D tensor", "GlobalAveragePooling2D"])

    # --- chunked datasets, gzip + shuffle ---
    shape = (9, 11, 3)
    specs = [conv(6, 3, act="relu"), bn(), pool("max", 2), flatten(), dense(5, act="tanh", bias=False),
             dense(1, act="sigmoid")]
    layers, inp, x = g.model("gzip_shuffle", specs, shape)
    ref = keras_forward(layers, x)
    write_keras2_h5(g.path("gzip_shuffle.h5"), k2_sequential_config(layers, shape), keras2_model_layers(layers),
                    compress=True)
    g.case("gzip_shuffle", "gzip_shuffle.h5", "keras-h5", shape, inp, ref,
           ["HDF5 chunked datasets with shuffle + gzip", "odd input 9x11", "BatchNormalization after Conv2D",
            "Dense use_bias=False, tanh"])

    # --- Keras 3: Sequential with DTypePolicy dtypes (Keras >= 3.5) ---
    shape = (14, 14, 3)
    specs = [rescaling(1 / 127.5, -1.0), conv(6, 3, 2, "same", act="linear"), bn(), activation("relu"),
             pool("max", 3, 2, "same"), conv(8, 1, act="relu6"), gap(), dropout(0.2), dense(3, act="softmax")]
    layers, inp, x = g.model("keras3_sequential", specs, shape, xscale=255.0)
    ref = keras_forward(layers, x)
    write_keras3(g.path("keras3_sequential.keras"), k3_sequential_config(layers, shape, "policy"), layers, False,
                 keras_version="3.6.0")
    g.case("keras3_sequential", "keras3_sequential.keras", "keras-v3", shape, inp, ref,
           ["Keras 3 Sequential", "DTypePolicy dtypes", "InputLayer optional/ragged false", "BatchNormalization axis -1",
            "Rescaling 1/127.5, -1 (inputs in 0..255)", "Conv2D stride 2 same", "MaxPooling2D same", "Conv2D 1x1 relu6", "GlobalAveragePooling2D",
            "Dense softmax"])

    # --- Keras 3: Functional, keras.Model(inp, out) (flat input/output refs) ---
    shape = (12, 10, 3)
    specs = [conv(6, 3, act="relu"), bn(center=False), pool("avg", 2), conv(8, 3, 1, "same", act="elu"),
             flatten(), dense(8, act="tanh"), dense(1, act="sigmoid")]
    layers, inp, x = g.model("keras3_functional", specs, shape)
    ref = keras_forward(layers, x)
    write_keras3(g.path("keras3_functional.keras"), k3_functional_config(layers, shape, "string"), layers, True)
    g.case("keras3_functional", "keras3_functional.keras", "keras-v3", shape, inp, ref,
           ["Keras 3 Functional, __keras_tensor__ inbound nodes", "input_layers/output_layers as flat references",
            "layers/input_layer/vars (empty)", "BatchNormalization center=False", "AveragePooling2D",
            "Conv2D same elu", "Dense tanh", "Dense sigmoid"])

    # --- Keras 3: Functional with custom layer names, nested input/output refs ---
    shape = (10, 10, 3)
    specs = [conv(4, 3, act="relu", name="stem_conv"), conv(6, 3, 2, "same", act="relu", name="block1_conv"),
             bn(name="block1_bn"), pool("max", 2, name="block1_pool"), flatten(name="flat"),
             dense(6, act="relu", name="fc"), dense(2, act="softmax", name="head")]
    layers, inp, x = g.model("keras3_named_layers", specs, shape)
    ref = keras_forward(layers, x)
    write_keras3(g.path("keras3_named_layers.keras"),
                 k3_functional_config(layers, shape, "policy", name="named", nested_io=True), layers, True,
                 keras_version="3.6.0")
    g.case("keras3_named_layers", "keras3_named_layers.keras", "keras-v3", shape, inp, ref,
           ["Keras 3 Functional with custom layer names: weights stored under layers/<snake_case class>[_n], "
            "not the layer name (layers/conv2d_1/vars for block1_conv)",
            "input_layers/output_layers as lists of references", "Dense softmax (2 units)"])

    # --- ONNX from PyTorch modules ---
    gen_torch_onnx(g)
    gen_keras_graph(g)

    # --- refused ---
    gen_refused(g)


def tune_dense_at(layers, x, idx):
    """tune_last_dense for the Dense at idx (followed by an Activation)."""
    sub = layers[:idx + 1]
    tune_last_dense(sub, x)


# ---------------------------------------------------------------------------
# Pure-PyTorch models exported to ONNX.


class TorchCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=1, padding=1), nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
            nn.Conv2d(8, 12, 3, stride=2, padding=0, bias=False), nn.ReLU(),
            nn.BatchNorm2d(12),  # after ReLU: stays a BatchNormalization node
            nn.AvgPool2d(2, stride=2, padding=1, count_include_pad=False),
            nn.Conv2d(12, 10, 1), nn.Sigmoid(),
            nn.Dropout(0.3),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(10, 5), nn.Softmax(dim=1))

    def forward(self, x):
        return self.features(x)


class TorchMobileBlock(nn.Module):
    """The graph patterns of the mobile families, as torch.onnx.export
    writes them: an inverted residual (1x1 expansion, depthwise 3x3,
    squeeze-and-excitation gate, 1x1 projection, residual Add), a
    Concat of two branches, a depthwise convolution with multiplier 2 and
    stride 2, SiLU (Sigmoid and Mul of one tensor), ReLU6 (Clip)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.expand = nn.Sequential(nn.Conv2d(16, 48, 1, bias=False), nn.BatchNorm2d(48), nn.ReLU6())
        self.dw = nn.Sequential(nn.Conv2d(48, 48, 3, padding=1, groups=48, bias=False), nn.BatchNorm2d(48), nn.ReLU6())
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(48, 12, 1), nn.ReLU(), nn.Conv2d(12, 48, 1), nn.Sigmoid())
        self.project = nn.Sequential(nn.Conv2d(48, 16, 1, bias=False), nn.BatchNorm2d(16))
        self.dw2 = nn.Conv2d(32, 64, 3, stride=2, padding=1, groups=32)
        self.head = nn.Linear(64, 1)

    def forward(self, x):
        s = self.stem(x)
        h = self.dw(self.expand(s))
        h = h * self.se(h)
        r = s + self.project(h)
        c = torch.cat([r, s], dim=1)
        d = self.dw2(c)
        d = d * torch.sigmoid(d)
        return torch.sigmoid(self.head(d.mean(dim=(2, 3))))


class TorchHard(nn.Module):
    """MobileNetV3's activations, Hardswish and Hardsigmoid (a gate), after a
    grouped convolution."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=4)
        self.gate = nn.Conv2d(8, 8, 1)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        h = F.hardswish(self.grouped(torch.relu(self.conv(x))))
        h = h * F.hardsigmoid(self.gate(h.mean(dim=(2, 3), keepdim=True)))
        return torch.sigmoid(self.head(h.mean(dim=(2, 3))))


class TorchAvgPoolPad(nn.Module):
    """nn.AvgPool2d with its default count_include_pad=True: torch.onnx.export
    (opset 13) writes a Pad node (constant 0) in front of the AveragePool."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3), nn.ReLU(),
            nn.AvgPool2d(3, stride=1, padding=1),
            nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(4 * 3 * 3, 1), nn.Sigmoid())

    def forward(self, x):
        return self.features(x)


class TorchFlat(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 5, stride=1, padding=2), nn.BatchNorm2d(6), nn.Tanh(),  # Conv+BN: folded
            # count_include_pad=True (the default) would export as Pad + AveragePool,
            # see onnx_torch_avgpool_pad.
            nn.AvgPool2d(3, stride=2, count_include_pad=False),
            nn.Conv2d(6, 8, (3, 2), stride=(1, 2), padding=(1, 0)), nn.ELU(),
            nn.MaxPool2d(2, stride=2, padding=1),
            nn.Conv2d(8, 6, 3, padding=1), nn.ReLU6(),
            nn.Flatten(),  # C,H,W order, as PyTorch flattens
            nn.Linear(6 * 3 * 2, 12), nn.ReLU(), nn.Dropout(0.5), nn.Linear(12, 1), nn.Sigmoid())

    def forward(self, x):
        return self.features(x)


def randomize_torch(module, gen):
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                lim = np.sqrt(6.0 / fan_in)
                m.weight.copy_(torch.from_numpy(uniform(gen, m.weight.shape, -lim, lim)))
                if m.bias is not None:
                    m.bias.copy_(torch.from_numpy(uniform(gen, m.bias.shape, -0.1, 0.1)))
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.from_numpy(uniform(gen, (c,), 0.6, 1.5)))
                m.bias.copy_(torch.from_numpy(uniform(gen, (c,), -0.3, 0.3)))
                m.running_mean.copy_(torch.from_numpy(uniform(gen, (c,), -0.4, 0.4)))
                m.running_var.copy_(torch.from_numpy(uniform(gen, (c,), 0.3, 2.0)))
    return module.eval()


def tune_torch_last_linear(module, x):
    """Centre and spread the last Linear's outputs (see tune_last_dense)."""
    lin = [m for m in module.modules() if isinstance(m, nn.Linear)][-1]
    feats = []
    h = lin.register_forward_hook(lambda m, i, o: feats.append(i[0].detach().numpy()))
    torch_reference(module, x)  # runs a float64 copy; the hook is copied along
    h.remove()
    f = feats[0]
    W = lin.weight.detach().numpy().astype(np.float64)
    b = lin.bias.detach().numpy().astype(np.float64)
    z = f @ W.T + b
    s = round_sig(min(max(1.6 / z.std(), 0.05), 8.0))
    mu = np.array([round_sig(v, 3) for v in z.mean(axis=0)])
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy((lin.weight.detach().numpy() * np.float32(s)).astype(np.float32)))
        lin.bias.copy_(torch.from_numpy(((b - mu) * s).astype(np.float32)))


def gen_onnx_pool_pads(g):
    """AveragePool's and MaxPool's own pads (symmetric and asymmetric),
    count_include_pad 1 and 0: a hand-built NCHW graph, as torch.onnx.export
    writes count_include_pad=1 with a separate Pad node instead."""
    name = "onnx_pool_pads"
    shape = (10, 10, 3)
    gen = case_gen(g.seed, name)
    wc = init_kernel(gen, (4, 3, 3, 3), 27, "relu")
    bc = uniform(gen, (4,), -0.1, 0.1)
    wf = init_kernel(gen, (1, 36), 36, "linear")
    bf = uniform(gen, (1,), -0.1, 0.1)
    inp, x = g.inputs(name, shape)

    def features(x):
        t = d64(x).permute(0, 3, 1, 2)
        t = torch.relu(F.conv2d(t, d64(wc), d64(bc), padding=1))
        # ONNX pads are [top, left, bottom, right]; F.pad takes (left, right, top, bottom).
        t = F.avg_pool2d(F.pad(t, (1, 1, 1, 1)), 3, 2)  # count_include_pad=1
        t = F.max_pool2d(F.pad(t, (0, 1, 0, 1), value=float("-inf")), 2, 1)
        ones = torch.ones_like(t[:, :1])
        num = F.avg_pool2d(F.pad(t, (0, 1, 0, 1)), 2, 2, divisor_override=1)
        den = F.avg_pool2d(F.pad(ones, (0, 1, 0, 1)), 2, 2, divisor_override=1)
        return (num / den).reshape(t.shape[0], -1)  # C,H,W order

    f = features(x).numpy()
    z = f @ wf.astype(np.float64).T + bf
    s = round_sig(min(max(1.6 / z.std(), 0.05), 8.0))
    wf = (wf * np.float32(s)).astype(np.float32)
    bf = ((bf.astype(np.float64) - round_sig(z.mean(), 3)) * s).astype(np.float32)
    ref = torch.sigmoid(torch.from_numpy(f @ wf.astype(np.float64).T + bf.astype(np.float64))).numpy()

    inits = [numpy_helper.from_array(wc, "conv.weight"), numpy_helper.from_array(bc, "conv.bias"),
             numpy_helper.from_array(wf, "fc.weight"), numpy_helper.from_array(bf, "fc.bias")]
    nodes = [helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1], group=1, name="Conv_0"),
             helper.make_node("Relu", ["c"], ["r"], name="Relu_1"),
             helper.make_node("AveragePool", ["r"], ["a1"], kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1], count_include_pad=1, ceil_mode=0, name="AveragePool_2"),
             helper.make_node("MaxPool", ["a1"], ["m"], kernel_shape=[2, 2], strides=[1, 1],
                              pads=[0, 0, 1, 1], ceil_mode=0, name="MaxPool_3"),
             helper.make_node("AveragePool", ["m"], ["a2"], kernel_shape=[2, 2], strides=[2, 2],
                              pads=[0, 0, 1, 1], count_include_pad=0, ceil_mode=0, name="AveragePool_4"),
             helper.make_node("Flatten", ["a2"], ["fl"], axis=1, name="Flatten_5"),
             helper.make_node("Gemm", ["fl", "fc.weight", "fc.bias"], ["z"], alpha=1.0, beta=1.0, transB=1,
                              name="Gemm_6"),
             helper.make_node("Sigmoid", ["z"], ["output"], name="Sigmoid_7")]
    graph = helper.make_graph(
        nodes, "torch_jit", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 10, 10])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1])], initializer=inits)
    m = helper.make_model(graph, producer_name="pytorch", producer_version="1.13.0",
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    save_onnx(m, g.path(name + ".onnx"))
    g.case(name, name + ".onnx", "onnx", shape, inp, ref,
           ["ONNX AveragePool pads with count_include_pad=1", "MaxPool asymmetric pads (bottom/right)",
            "AveragePool asymmetric pads with count_include_pad=0", "Conv pads 1", "Flatten (C,H,W)", "Gemm",
            "Sigmoid"])


def gen_torch_onnx(g):
    gen_onnx_pool_pads(g)
    for name, cls, shape, covers in [
        ("onnx_torch_cnn", TorchCNN, (16, 16, 3),
         ["ONNX from torch.onnx.export", "Conv pads 1", "Conv stride 2 no bias", "Relu",
          "MaxPool 3 stride 2 pads 1 (ceil_mode 0)", "BatchNormalization node (after Relu, not folded)",
          "AveragePool count_include_pad=0 with pads", "Conv 1x1", "Sigmoid", "Dropout (removed in eval)",
          "GlobalAveragePool", "Flatten", "Gemm transB=1", "Softmax"]),
        ("onnx_torch_flatten", TorchFlat, (12, 10, 3),
         ["ONNX from torch.onnx.export", "Conv 5x5 pads 2 with BatchNorm folded", "Tanh",
          "AveragePool 3 stride 2", "Conv kernel 3x2 stride (1,2) pads (1,0)", "Elu",
          "MaxPool with pads", "Clip (ReLU6)", "Flatten in PyTorch's C,H,W order", "Gemm", "Relu", "Sigmoid"]),
        ("onnx_torch_mobile_block", TorchMobileBlock, (16, 16, 3),
         ["ONNX from torch.onnx.export", "a graph: residual Add of two computed tensors",
          "squeeze-and-excitation: GlobalAveragePool, Conv 1x1, Sigmoid, Mul by a 1x1 gate",
          "Conv group = channels (depthwise) 3x3 pads 1, BatchNorm folded", "depthwise multiplier 2 stride 2",
          "Concat along channels", "SiLU as Sigmoid and Mul", "Clip (ReLU6)", "ReduceMean over H,W", "Gemm",
          "Sigmoid"]),
        ("onnx_torch_hard", TorchHard, (8, 8, 3),
         ["ONNX from torch.onnx.export", "Conv group 4 (2 channels per group)", "Hardswish as HardSigmoid and Mul of one tensor (opset 13)", "HardSigmoid alpha 1/6 as a gate", "Mul by a 1x1 gate", "ReduceMean"]),
        ("onnx_torch_avgpool_pad", TorchAvgPoolPad, (8, 8, 3),
         ["ONNX from torch.onnx.export", "nn.AvgPool2d default count_include_pad=True: Pad (constant 0) + "
          "AveragePool", "Pad with all-zero pads (from nn.AvgPool2d(2))", "Flatten", "Gemm", "Sigmoid"]),
    ]:
        m = randomize_torch(cls(), case_gen(g.seed, name))
        inp, x = g.inputs(name, shape)
        tune_torch_last_linear(m, x)
        export_onnx(m, shape, g.path(name + ".onnx"))
        g.case(name, name + ".onnx", "onnx", shape, inp, torch_reference(m, x), covers)


# ---------------------------------------------------------------------------
# Keras Functional graphs: branches and the mobile families' layers.


def gen_keras_graph(g):
    """A MobileNet-like Functional model written as tf.keras 2.x (.h5) and
    Keras 3 (.keras) save it: ZeroPadding2D + stride-2 Conv2D, BatchNorm,
    ReLU(6), an inverted residual (1x1 expansion, DepthwiseConv2D, a
    squeeze-and-excitation gate: GlobalAveragePooling2D keepdims, 1x1
    convs, Multiply), a residual Add, Concatenate, SeparableConv2D with
    depth multiplier 2, Reshape and Dense. The reference is computed in
    float64 by PyTorch from the same weights."""
    name = "keras_graph"
    shape = (12, 12, 3)
    gen = case_gen(g.seed, name)
    inp, x = g.inputs(name, shape)

    def k(*shp):
        fan_in = int(np.prod(shp[:-1]))
        return uniform(gen, shp, -np.sqrt(3.0 / fan_in), np.sqrt(3.0 / fan_in))

    def bnw(c):
        return [("gamma", uniform(gen, (c,), 0.6, 1.5)), ("beta", uniform(gen, (c,), -0.3, 0.3)),
                ("moving_mean", uniform(gen, (c,), -0.3, 0.3)), ("moving_variance", uniform(gen, (c,), 0.5, 2.0))]

    # (name, class, config, inputs, [(role, array)])
    L = []

    def add(nm, cls, cfg, ins, w=()):
        L.append((nm, cls, dict(cfg, name=nm, trainable=True, dtype="float32"), ins, list(w)))
        return nm

    conv_cfg = dict(kernel_size=[1, 1], strides=[1, 1], padding="valid", data_format="channels_last",
                    dilation_rate=[1, 1], groups=1, activation="linear", use_bias=True)
    x0 = add("zero_padding2d", "ZeroPadding2D", dict(padding=[[0, 1], [0, 1]], data_format="channels_last"),
             ["input_1"])
    s = add("stem", "Conv2D", dict(conv_cfg, filters=8, kernel_size=[3, 3], strides=[2, 2], use_bias=False),
            [x0], [("kernel", k(3, 3, 3, 8))])
    s = add("stem_bn", "BatchNormalization", dict(axis=-1, epsilon=1e-3, center=True, scale=True), [s], bnw(8))
    s = add("stem_relu", "ReLU", dict(max_value=6.0, negative_slope=0.0, threshold=0.0), [s])
    e = add("expand", "Conv2D", dict(conv_cfg, filters=24, activation="relu6"), [s],
            [("kernel", k(1, 1, 8, 24)), ("bias", uniform(gen, (24,), -0.1, 0.1))])
    d = add("dw", "DepthwiseConv2D", dict(kernel_size=[3, 3], strides=[1, 1], padding="same", depth_multiplier=1,
                                          data_format="channels_last", dilation_rate=[1, 1], activation="linear",
                                          use_bias=False), [e], [("depthwise_kernel", k(3, 3, 24, 1))])
    d = add("dw_bn", "BatchNormalization", dict(axis=-1, epsilon=1e-3, center=True, scale=True), [d], bnw(24))
    d = add("dw_relu", "ReLU", dict(max_value=6.0, negative_slope=0.0, threshold=0.0), [d])
    q = add("se_pool", "GlobalAveragePooling2D", dict(data_format="channels_last", keepdims=True), [d])
    q = add("se_reduce", "Conv2D", dict(conv_cfg, filters=6, activation="relu"), [q],
            [("kernel", k(1, 1, 24, 6)), ("bias", uniform(gen, (6,), -0.1, 0.1))])
    q = add("se_expand", "Conv2D", dict(conv_cfg, filters=24, activation="sigmoid"), [q],
            [("kernel", k(1, 1, 6, 24)), ("bias", uniform(gen, (24,), -0.1, 0.1))])
    m = add("se_multiply", "Multiply", {}, [d, q])
    pj = add("project", "Conv2D", dict(conv_cfg, filters=8), [m],
             [("kernel", k(1, 1, 24, 8)), ("bias", uniform(gen, (8,), -0.1, 0.1))])
    r = add("residual", "Add", {}, [s, pj])
    c = add("concat", "Concatenate", dict(axis=-1), [r, s])
    sp = add("sep", "SeparableConv2D", dict(filters=12, kernel_size=[3, 3], strides=[2, 2], padding="same",
                                            depth_multiplier=2, data_format="channels_last", dilation_rate=[1, 1],
                                            activation="relu", use_bias=True), [c],
             [("depthwise_kernel", k(3, 3, 16, 2)), ("pointwise_kernel", k(1, 1, 32, 12)),
              ("bias", uniform(gen, (12,), -0.1, 0.1))])
    gp = add("gap", "GlobalAveragePooling2D", dict(data_format="channels_last", keepdims=True), [sp])
    rs = add("reshape", "Reshape", dict(target_shape=[12]), [gp])
    out = add("dense", "Dense", dict(units=1, activation="sigmoid", use_bias=True), [rs],
              [("kernel", k(12, 1)), ("bias", uniform(gen, (1,), -0.1, 0.1))])

    W = {nm: dict(w) for nm, _, _, _, w in L}

    def forward(x, head_scale=1.0, head_shift=0.0):
        t = d64(x).permute(0, 3, 1, 2)

        def bn(t, nm):
            w = W[nm]
            sh = (1, -1, 1, 1)
            return ((t - d64(w["moving_mean"]).view(sh)) / torch.sqrt(d64(w["moving_variance"]).view(sh) + 1e-3)
                    * d64(w["gamma"]).view(sh) + d64(w["beta"]).view(sh))

        def conv(t, nm, stride=1, groups=1, key="kernel", bias=True):
            w = W[nm]
            b = d64(w["bias"]) if bias and "bias" in w else None
            kern = d64(w[key])
            if groups > 1:  # depthwise: KH,KW,C,M -> C*M,1,KH,KW
                kh, kw, cc, mm = kern.shape
                kern = kern.permute(2, 3, 0, 1).reshape(cc * mm, 1, kh, kw)
            else:
                kern = kern.permute(3, 2, 0, 1)
            return F.conv2d(t, kern, b, stride=stride, groups=groups)

        t = F.pad(t, (0, 1, 0, 1))
        s = torch.clamp(bn(conv(t, "stem", 2), "stem_bn"), 0, 6)
        e = torch.clamp(conv(s, "expand"), 0, 6)
        d = conv(F.pad(e, (1, 1, 1, 1)), "dw", groups=24, key="depthwise_kernel")
        d = torch.clamp(bn(d, "dw_bn"), 0, 6)
        q = d.mean(dim=(2, 3), keepdim=True)
        q = torch.sigmoid(conv(torch.relu(conv(q, "se_reduce")), "se_expand"))
        r = s + conv(d * q, "project")
        c = torch.cat([r, s], dim=1)
        # SAME for 6x6, kernel 3, stride 2: 0 before, 1 after.
        h = conv(F.pad(c, (0, 1, 0, 1)), "sep", 2, groups=16, key="depthwise_kernel", bias=False)
        h = torch.relu(conv(h, "sep", key="pointwise_kernel"))
        f = h.mean(dim=(2, 3))
        z = f @ d64(W["dense"]["kernel"]) + d64(W["dense"]["bias"])
        return z

    # Centre and spread the head's logits over the batch, as for the others.
    z = forward(x).numpy()
    sc = round_sig(min(max(1.6 / z.std(), 0.05), 8.0))
    W["dense"]["kernel"] = (W["dense"]["kernel"] * np.float32(sc)).astype(np.float32)
    W["dense"]["bias"] = ((W["dense"]["bias"].astype(np.float64) - round_sig(z.mean(), 3)) * sc).astype(np.float32)
    ref = torch.sigmoid(forward(x)).numpy()
    L = [(nm, cls, cfg, ins, [(r, W[nm][r]) for r, _ in w]) for nm, cls, cfg, ins, w in L]

    # tf.keras 2.x .h5
    layers2 = [{"class_name": "InputLayer", "config": k2_input_config("input_1", shape), "name": "input_1",
                "inbound_nodes": []}]
    for nm, cls, cfg, ins, _ in L:
        layers2.append({"class_name": cls, "config": cfg, "name": nm,
                        "inbound_nodes": [[[i, 0, 0, {}] for i in ins]]})
    cfg2 = {"class_name": "Functional", "config": {"name": "mobile", "trainable": True, "layers": layers2,
                                                    "input_layers": [["input_1", 0, 0]],
                                                    "output_layers": [[out, 0, 0]]}}
    wl = [("input_1", [])] + [(nm, [(f"{nm}/{r}:0", v) for r, v in w]) for nm, _, _, _, w in L]
    write_keras2_h5(g.path(name + ".h5"), cfg2, wl)
    covers = ["Functional graph: branches, Add, Multiply (SE gate 1x1), Concatenate",
              "ZeroPadding2D ((0,1),(0,1)) + Conv2D stride 2 valid", "BatchNormalization", "ReLU max_value 6",
              "Conv2D activation relu6", "DepthwiseConv2D same, no bias", "GlobalAveragePooling2D keepdims",
              "SeparableConv2D stride 2 same, depth_multiplier 2", "Reshape to (C,)", "Dense sigmoid"]
    g.case(name, name + ".h5", "keras-h5", shape, inp, ref, covers)

    # Keras 3 .keras
    def tensor(nm):
        return {"class_name": "__keras_tensor__", "config": {"shape": None, "dtype": "float32",
                                                             "keras_history": [nm, 0, 0]}}

    inl = k3_input_entry("input_1", shape, "string")
    inl["name"] = "input_1"
    inl["inbound_nodes"] = []
    entries = [inl]
    for nm, cls, cfg, ins, _ in L:
        args = [[tensor(i) for i in ins]] if cls in ("Add", "Multiply", "Concatenate") else [tensor(ins[0])]
        entries.append({"module": "keras.layers", "class_name": cls, "config": cfg, "registered_name": None,
                        "name": nm, "inbound_nodes": [{"args": args, "kwargs": {}}]})
    cfg3 = {"module": "keras.src.models.functional", "class_name": "Functional", "config": {
        "name": "mobile", "trainable": True, "layers": entries, "input_layers": ["input_1", 0, 0],
        "output_layers": [out, 0, 0]}, "registered_name": "Functional", "build_config": {"input_shape": None},
        "compile_config": k3_compile_config()}
    k3layers = [{"class_name": cls, "cls": cls, "name": nm, "weight_list": w} for nm, cls, _, _, w in L]
    write_keras3(g.path(name + "_v3.keras"), cfg3, k3layers, True)
    g.case(name + "_v3", name + "_v3.keras", "keras-v3", shape, inp, ref,
           ["Keras 3 .keras Functional graph", "merge layers' inbound args as a list of tensors",
            "Keras 3 weights of DepthwiseConv2D and SeparableConv2D"] + covers[1:])


# ---------------------------------------------------------------------------
# Files the loaders must refuse.


def gen_refused(g):
    shape = (8, 8, 3)
    base = [conv(4, 3, act="relu"), flatten(), dense(1, act="sigmoid")]

    def h5(name, specs, contains, in_shape=shape, mutate=None, functional=False, **kw):
        layers, _ = build(specs, in_shape, case_gen(g.seed, name))
        if mutate:
            mutate(layers)
        if functional:
            cfg = k2_functional_config(layers, in_shape)
            wl = keras2_model_layers(layers, functional_input="input_1")
        else:
            cfg = k2_sequential_config(layers, in_shape)
            wl = keras2_model_layers(layers)
        hook = kw.pop("hook", None)
        if hook:
            cfg, wl = hook(cfg, wl)
        write_keras2_h5(g.path(name + ".h5"), cfg, wl, **kw)
        g.refuse(name, name + ".h5", "keras-h5", contains)

    # Unknown layer classes, with the weights Keras would store for them.
    def lstm_hook(cfg, wl):
        # InputLayer, conv2d, LSTM (in place of flatten), dense.
        cfg["config"]["layers"][2] = {"class_name": "LSTM", "config": {
            "name": "lstm", "trainable": True, "dtype": "float32", "return_sequences": False,
            "return_state": False, "go_backwards": False, "stateful": False, "unroll": False,
            "time_major": False, "units": 4, "activation": "tanh", "recurrent_activation": "sigmoid",
            "use_bias": True, "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 2}}
        gen = case_gen(g.seed, "lstm_weights")
        wl[1] = ("lstm", [("lstm/lstm_cell/kernel:0", uniform(gen, (4, 16), -0.5, 0.5)),
                          ("lstm/lstm_cell/recurrent_kernel:0", uniform(gen, (4, 16), -0.5, 0.5)),
                          ("lstm/lstm_cell/bias:0", uniform(gen, (16,), -0.1, 0.1))])
        return cfg, wl

    h5("unknown_layer_lstm", base, "LSTM", hook=lstm_hook)

    def tconv_hook(cfg, wl):
        gen = case_gen(g.seed, "tconv_weights")
        c = {"name": "conv2d_transpose", "trainable": True, "dtype": "float32", "filters": 2,
             "kernel_size": [3, 3], "strides": [2, 2], "padding": "same", "data_format": "channels_last",
             "dilation_rate": [1, 1], "groups": 1, "activation": "linear", "use_bias": True,
             "kernel_initializer": K2_GLOROT, "bias_initializer": K2_ZEROS, "kernel_regularizer": None,
             "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
             "bias_constraint": None, "output_padding": None}
        cfg["config"]["layers"].insert(2, {"class_name": "Conv2DTranspose", "config": c})
        wl.insert(1, ("conv2d_transpose", [
            ("conv2d_transpose/kernel:0", uniform(gen, (3, 3, 2, 4), -0.3, 0.3)),
            ("conv2d_transpose/bias:0", uniform(gen, (2,), -0.1, 0.1))]))
        # The Dense now sees 12*12*2 features.
        wl[-1] = ("dense", [("dense/kernel:0", uniform(gen, (288, 1), -0.1, 0.1)),
                            ("dense/bias:0", np.zeros(1, np.float32))])
        return cfg, wl

    h5("unknown_layer_conv2dtranspose", [conv(4, 3, 1, "same", act="relu"), flatten(), dense(1, act="sigmoid")],
       "Conv2DTranspose", hook=tconv_hook)

    def opt(layer_idx, **extra):
        def f(layers):
            layers[layer_idx].setdefault("config_extra", {}).update(extra)
        return f

    h5("conv_dilation", base, "dilation_rate", mutate=opt(0, dilation_rate=[2, 2]))
    h5("conv_channels_first", base, "data_format", mutate=opt(0, data_format="channels_first"))
    h5("conv_groups_indivisible", [conv(4, 3, act="relu"), dict(conv(6, 3, act="relu"), kernel_cin=2), flatten(),
                                   dense(1, act="sigmoid")],
       "groups do not divide", mutate=opt(1, groups=3))
    h5("conv_padding_causal", base, "causal", mutate=opt(0, padding="causal"))
    h5("activation_gelu", [conv(4, 3, act="relu"), flatten(), dense(4, act="gelu"), dense(1, act="sigmoid")],
       "gelu")
    h5("bn_renorm", [conv(4, 3), bn(), flatten(), dense(1, act="sigmoid")], "renorm",
       mutate=opt(1, renorm=True, renorm_clipping=None, renorm_momentum=0.99))

    def bad_kernel(layers):
        layers[0]["w"]["kernel"] = uniform(case_gen(g.seed, "bad_kernel"), (3, 3, 3, 9), -0.3, 0.3)

    # A small file declaring a 151 MB kernel of fill value: refused once the
    # decoded weights would pass the file's budget (32 times its size + 64
    # MiB), before the kernel is allocated.
    def fill_bomb(layers):
        layers[1]["w"]["kernel"] = Fill((3, 3, 512, 8192), 0.5)

    h5("fill_value_bomb", [conv(512, 1), conv(8192, 3), gap(), dense(1, act="sigmoid")], "budget",
       mutate=fill_bomb)
    h5("weight_shape_mismatch", [conv(8, 3, act="relu"), flatten(), dense(1, act="sigmoid")], "kernel",
       mutate=bad_kernel)
    h5("missing_weight", base, "bias", skip_datasets=("conv2d/bias:0",))
    h5("input_one_channel", base, "channel", in_shape=(8, 8, 1))
    h5("absurd_input_shape", [gap(), dense(1, act="sigmoid")], "1000000", in_shape=(1000000, 1000000, 3))

    # A Functional model that calls one layer twice (a shared layer): the
    # convolution's weights apply to the input and to its own output.
    def shared_hook(cfg, wl):
        L = cfg["config"]["layers"]  # input_1, conv2d, flatten, dense
        L[1]["inbound_nodes"] = [[["input_1", 0, 0, {}]], [["conv2d", 0, 0, {}]]]
        L[2]["inbound_nodes"] = [[["conv2d", 1, 0, {}]]]
        return cfg, wl

    h5("functional_shared_layer", base, "shared layers", functional=True, hook=shared_hook)

    # Weights only (model.save_weights): no model_config.
    layers, _ = build(base, shape, case_gen(g.seed, "weights_only"))
    with h5create(g.path("weights_only.h5")) as f:
        write_keras2_weights(f, keras2_model_layers(layers), KERAS2_VERSION)
    g.refuse("weights_only", "weights_only.h5", "keras-h5", "model_config")

    # Truncated copies of good files.
    for src, name, fmt, contains in [("husky_small.h5", "truncated_h5", "keras-h5", "hdf5"),
                                     ("onnx_torch_cnn.onnx", "truncated_onnx", "onnx", "onnx"),
                                     ("keras3_sequential.keras", "truncated_keras", "keras-v3", "keras")]:
        data = open(g.path(src), "rb").read()
        ext = os.path.splitext(src)[1]
        with open(g.path(name + ext), "wb") as f:
            f.write(data[:len(data) // 2])
        g.refuse(name, name + ext, fmt, contains)

    # Keras 3 archive with a layer class the engine lacks.
    ishape = (8, 8, 3)
    layers, _ = build([conv(4, 3, act="relu"), flatten(), dense(1, act="sigmoid")], ishape,
                      case_gen(g.seed, "keras3_unknown_layer"))
    cfg = k3_sequential_config(layers, ishape, "string")
    ln = {"module": "keras.layers", "class_name": "LayerNormalization", "config": {
        "name": "layer_normalization", "trainable": True, "dtype": "float32", "axis": [-1], "epsilon": 0.001,
        "center": True, "scale": True, "rms_scaling": False, "beta_initializer": None, "gamma_initializer": None,
        "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None, "gamma_constraint": None},
        "registered_name": None, "build_config": {"input_shape": [None, 6, 6, 4]}}
    cfg["config"]["layers"].insert(2, ln)
    ln_layer = dict(cls="LayerNormalization", class_name="LayerNormalization", name="layer_normalization",
                    weight_list=[("g", np.ones(4, np.float32)), ("b", np.zeros(4, np.float32))])
    write_keras3(g.path("keras3_unknown_layer.keras"), cfg, [layers[0], ln_layer] + layers[1:], False)
    g.refuse("keras3_unknown_layer", "keras3_unknown_layer.keras", "keras-v3", "LayerNormalization")

    # ONNX with an operator the engine lacks (Resize).
    gen = case_gen(g.seed, "onnx_unsupported_resize")
    inits = [numpy_helper.from_array(uniform(gen, (4, 3, 3, 3), -0.3, 0.3), "conv.weight"),
             numpy_helper.from_array(uniform(gen, (4,), -0.1, 0.1), "conv.bias"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales"),
             numpy_helper.from_array(uniform(gen, (1, 4), -0.5, 0.5), "fc.weight"),
             numpy_helper.from_array(np.zeros(1, np.float32), "fc.bias")]
    nodes = [helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1], name="Conv_0"),
             helper.make_node("Relu", ["c"], ["r"], name="Relu_1"),
             helper.make_node("Resize", ["r", "", "scales"], ["u"], mode="nearest", name="Resize_2"),
             helper.make_node("GlobalAveragePool", ["u"], ["p"], name="GlobalAveragePool_3"),
             helper.make_node("Flatten", ["p"], ["f"], axis=1, name="Flatten_4"),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["z"], alpha=1.0, beta=1.0, transB=1,
                              name="Gemm_5"),
             helper.make_node("Sigmoid", ["z"], ["output"], name="Sigmoid_6")]
    graph = helper.make_graph(nodes, "torch_jit", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                 ["batch", 3, 8, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1])],
                              initializer=inits)
    m = helper.make_model(graph, producer_name="pytorch", producer_version="1.13.0",
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    save_onnx(m, g.path("onnx_unsupported_resize.onnx"))
    g.refuse("onnx_unsupported_resize", "onnx_unsupported_resize.onnx", "onnx", "Resize")


# ---------------------------------------------------------------------------
# The placeholder default model and --fresh.


def husky_full(seed, name, x_for_tuning, max_scale=8.0):
    layers, _ = build(HUSKY_FULL, (128, 128, 3), case_gen(seed, name))
    tune_last_dense(layers, x_for_tuning, max_scale=max_scale)
    return layers


def write_husky_h5(path, layers, model_name, extra_attrs=None):
    write_keras2_h5(path, k2_sequential_config(layers, (128, 128, 3), name=model_name),
                    keras2_model_layers(layers), extra_attrs=extra_attrs)


def gen_placeholder(g):
    shape = (128, 128, 3)
    # Two images, not four: 128x128x3 float32 inputs are 196 KiB each.
    inp, x = g.inputs("husky_placeholder", shape, n=2)
    # A gentle final scale: float32 sums over 25088 features differ from
    # float64 by a few 1e-6 after the sigmoid at scale 8.
    layers = husky_full(g.seed, "husky_placeholder", x, max_scale=3.0)
    write_husky_h5(g.path("husky_placeholder.h5"), layers, "huskyai_placeholder_untrained",
                   {"huskyai_note": PLACEHOLDER_NOTE})
    g.case("husky_placeholder", "husky_placeholder.h5", "keras-h5", shape, inp,
           keras_forward(layers, x),
           ["a model that declares itself UNTRAINED PLACEHOLDER (huskyai_note)", "full Husky architecture at 128x128",
            "Flatten of 25088 features", "Dense 25088x128"])


def fresh_images(seed):
    """Six seeded 128x128 RGB images: noise, gradients, blocks."""
    gen = case_gen(seed, "fresh/images")
    r = lambda *s: uniform(gen, s, 0.0, 1.0)  # noqa: E731
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float32) / 127.0
    imgs = {}
    imgs["noise.png"] = r(128, 128, 3)
    c0, c1 = r(3), r(3)
    imgs["gradient_h.png"] = c0 * (1 - xx[..., None]) + c1 * xx[..., None]
    c0, c1 = r(3), r(3)
    imgs["gradient_diag.png"] = c0 * (1 - ((xx + yy) / 2)[..., None]) + c1 * ((xx + yy) / 2)[..., None]
    cells = r(8, 8, 3)
    imgs["blocks.png"] = np.kron(cells, np.ones((16, 16, 1), np.float32))
    c0, c1 = r(3), r(3)
    check = ((np.arange(128)[:, None] // 8 + np.arange(128)[None, :] // 8) % 2).astype(np.float32)[..., None]
    imgs["checker.png"] = c0 * check + c1 * (1 - check)
    rad = np.sqrt((xx - 0.5) ** 2 + (yy - 0.5) ** 2)[..., None] * 1.4
    imgs["radial_noise.png"] = np.clip(r(3) * (1 - rad) + 0.3 * r(128, 128, 3), 0, 1)
    return {k: np.clip(np.round(v * 255.0), 0, 255).astype(np.uint8) for k, v in imgs.items()}


def gen_fresh(out, seed):
    from PIL import Image
    os.makedirs(out, exist_ok=True)
    xs = []
    names = []
    for name, arr in fresh_images(seed).items():
        p = os.path.join(out, name)
        Image.fromarray(arr, "RGB").save(p, format="PNG")
        xs.append(np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255.0)
        names.append(name)
    x = np.stack(xs).astype(np.float32)
    layers = husky_full(seed, "fresh/model", x)
    write_husky_h5(os.path.join(out, "husky.h5"), layers, "sequential")
    probs = keras_forward(layers, x)[:, 0]
    with open(os.path.join(out, "fresh.json"), "w") as f:
        json.dump({n: float(np.float32(p)) for n, p in zip(names, probs)}, f, indent=1, sort_keys=True)
        f.write("\n")


# ---------------------------------------------------------------------------

README = """\
# Reference fixtures (generated; do not edit)

Written by `scripts/gen_parity.py` with seeded random weights, so that the
Go engine can be checked against PyTorch without TensorFlow:

- `*.h5`: tf.keras 2.x `model.save("x.h5")` layout (written with h5py);
- `*.keras`: Keras 3 `.keras` archives (config.json, metadata.json,
  model.weights.h5);
- `*.onnx`: `torch.onnx.export` output and tf2onnx-style graphs;
- `<case>.input.f32`: the input batch, raw little-endian float32, NHWC;
- `manifest.json`: for each case its model, format, input, the outputs
  PyTorch computes for it (float64 arithmetic rounded to float32) and what
  it covers; under `refused`, files the loaders must reject and a substring
  their error must contain.

The case `husky_placeholder` is the original Husky AI architecture at full
size (Flatten of 25088 features) with seeded random weights; its file says
so in its `huskyai_note` attribute ("UNTRAINED PLACEHOLDER: ..."), and
huskyai then warns that its scores mean nothing. (It was the embedded
default model until the trained one, written by train/train.py, replaced
it.)

Regenerate (byte-identical for the same seed; TestFixturesUpToDate checks):

    /usr/bin/python3 scripts/gen_parity.py --out testdata/parity
"""


def check_twins(g):
    for a, b, ra, rb in g.twins:
        d = np.abs(np.asarray(ra) - np.asarray(rb)).max()
        if d > 1e-9:
            raise SystemExit(f"twin cases {a} and {b} disagree by {d}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="testdata/parity")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--fresh", action="store_true",
                    help="write only husky.h5, six PNGs and fresh.json (for the unseen-model test)")
    args = ap.parse_args(argv)
    if args.fresh:
        gen_fresh(args.out, args.seed)
        return
    os.makedirs(args.out, exist_ok=True)
    g = Generator(args.out, args.seed)
    gen_all(g)
    check_twins(g)
    gen_placeholder(g)
    manifest = {"generator": "scripts/gen_parity.py", "seed": args.seed, "torch_version": torch.__version__,
                "cases": g.cases, "refused": g.refused}
    with open(g.path("manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    with open(g.path("README.md"), "w") as f:
        f.write(README)


if __name__ == "__main__":
    sys.exit(main())
