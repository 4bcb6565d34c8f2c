#!/usr/bin/python3
"""An integer reference of TensorFlow Lite's 8-bit kernels in numpy, for
checking huskyai's integer path (engine/tflite, qkernels) bit for bit.

    /usr/bin/python3 scripts/tflite_int8_ref.py > engine/tflite/testdata/int8_logits.json

It reads a quantized .tflite file with its own FlatBuffer reader and runs
CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, AVERAGE_POOL_2D, MEAN,
RESHAPE, SQUEEZE and QUANTIZE as TFLite's reference kernels compute
them: int32 accumulators of (q - zero_point) products, then
MultiplyByQuantizedMultiplier with TFLite's default two roundings
(SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT), the
multipliers from QuantizeMultiplier (frexp), ADD with 20 bits of
headroom, fused activations clamped as CalculateActivationRangeQuantized
does. It stops at the SOFTMAX (or the end) and writes the logits, the
softmax's 8-bit input, for four test images of each shared MobileNet
(the formula of engine/tflite's testImage). It shares no code with the
Go implementation; it is slow (tens of seconds per model).
"""

import json
import math
import os
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["mobilenet_v2_1.0_224_quant.tflite", "tf2_mobilenet_v2_1.0_224_ptq.tflite",
          "mobilenet_v1_0.25_128_quant.tflite"]
IMAGES = 4


class FB:
    """Just enough of a FlatBuffer reader for the TFLite schema."""

    def __init__(self, data):
        self.b = data

    def u32(self, o):
        return struct.unpack_from("<I", self.b, o)[0]

    def field(self, t, i):
        vt = t - struct.unpack_from("<i", self.b, t)[0]
        n = struct.unpack_from("<H", self.b, vt)[0]
        if 4 + 2 * i >= n:
            return None
        off = struct.unpack_from("<H", self.b, vt + 4 + 2 * i)[0]
        return t + off if off else None

    def table(self, t, i):
        f = self.field(t, i)
        return None if f is None else f + self.u32(f)

    def vector(self, t, i):
        f = self.field(t, i)
        if f is None:
            return None, 0
        v = f + self.u32(f)
        return v + 4, self.u32(v)

    def tables(self, t, i):
        v, n = self.vector(t, i)
        return [v + 4 * k + self.u32(v + 4 * k) for k in range(n)]

    def scalars(self, t, i, fmt):
        v, n = self.vector(t, i)
        size = struct.calcsize(fmt)
        return [struct.unpack_from("<" + fmt, self.b, v + size * k)[0] for k in range(n)]

    def scalar(self, t, i, fmt, default=0):
        f = None if t is None else self.field(t, i)
        return default if f is None else struct.unpack_from("<" + fmt, self.b, f)[0]

    def string(self, t, i):
        v, n = self.vector(t, i)
        return "" if v is None else self.b[v:v + n].decode()


def load(path):
    """The tensors, operators (code, inputs, outputs, options table) and
    buffers of subgraph 0."""
    fb = FB(open(path, "rb").read())
    root = fb.u32(0)
    codes = []
    for c in fb.tables(root, 1):
        codes.append(max(fb.scalar(c, 0, "b"), fb.scalar(c, 3, "i")))
    buffers = []
    for b in fb.tables(root, 4):
        v, n = fb.vector(b, 0)
        buffers.append(fb.b[v:v + n] if v else b"")
    sg = fb.tables(root, 2)[0]
    tensors = []
    for t in fb.tables(sg, 0):
        q = fb.table(t, 4)
        tensors.append({
            "shape": fb.scalars(t, 0, "i"), "type": fb.scalar(t, 1, "b"), "buffer": fb.scalar(t, 2, "I"),
            "name": fb.string(t, 3),
            "scale": fb.scalars(q, 2, "f") if q else [], "zero": fb.scalars(q, 3, "q") if q else [],
            "qdim": fb.scalar(q, 6, "i") if q else 0})
    ops = []
    for o in fb.tables(sg, 3):
        ops.append({"code": codes[fb.scalar(o, 0, "I")], "inputs": fb.scalars(o, 1, "i"),
                    "outputs": fb.scalars(o, 2, "i"), "options": fb.table(o, 4)})
    return fb, tensors, ops, buffers, fb.scalars(sg, 1, "i")[0]


UINT8, INT8, INT32 = 3, 9, 2


def const(t, buffers):
    dt = {UINT8: np.uint8, INT8: np.int8, INT32: np.int32}[t["type"]]
    return np.frombuffer(buffers[t["buffer"]], dtype=dt).astype(np.int64).reshape(t["shape"])


def qrange(t):
    return (0, 255) if t["type"] == UINT8 else (-128, 127)


def quantize_multiplier(real):
    """TFLite's QuantizeMultiplier."""
    if real == 0:
        return 0, 0
    q, e = math.frexp(real)
    qf = int(math.floor(q * (1 << 31) + 0.5))
    if qf == 1 << 31:
        qf //= 2
        e += 1
    if e < -31:
        return 0, 0
    if e > 30:
        return (1 << 31) - 1, 30
    return qf, e


def srdhm(a, b):
    """gemmlowp's SaturatingRoundingDoublingHighMul (no saturation case
    arises: b > 0)."""
    ab = a.astype(np.int64) * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    return np.where(s >= 0, s >> 31, -((-s) >> 31))  # C++ division truncates


def rdbpot(x, e):
    """gemmlowp's RoundingDivideByPOT."""
    mask = (np.int64(1) << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (x < 0)
    return (x >> e) + (rem > thr)


def mbqm(x, m, shift):
    """TFLite's MultiplyByQuantizedMultiplier, element-wise (m and shift
    broadcast)."""
    m, shift = np.asarray(m, np.int64), np.asarray(shift, np.int64)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    x = (np.asarray(x, np.int64) << left).astype(np.int32).astype(np.int64)
    return rdbpot(srdhm(x, m), right)


def act_range(act, t):
    lo, hi = qrange(t)
    s, z = np.float32(t["scale"][0]), t["zero"][0]

    def q(f):
        v = np.float32(f) / s
        return z + int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)
    if act == 1:
        lo = max(lo, q(0))
    elif act == 3:
        lo, hi = max(lo, q(0)), min(hi, q(6))
    elif act != 0:
        raise ValueError(f"fused activation {act}")
    return lo, hi


def same_pad(n, k, s, same):
    out = (n + s - 1) // s if same else (n - k) // s + 1
    total = max((out - 1) * s + k - n, 0) if same else 0
    return out, total // 2


def requant_out(acc, ti, tw, to, bias, act):
    """acc + bias, times in*w/out per channel, + zero_out, clamped."""
    mult, shift = [], []
    for s in tw["scale"]:
        m, e = quantize_multiplier(float(ti["scale"][0]) * float(s) / float(to["scale"][0]))
        mult.append(m)
        shift.append(e)
    v = mbqm(acc + bias, np.array(mult), np.array(shift)) + to["zero"][0]
    lo, hi = act_range(act, to)
    return np.clip(v, lo, hi)


def windows(x, kh, kw, sh, sw, oh, ow, pt, pl, fill):
    """The (oh, ow, kh, kw, c) windows of x (h, w, c), padding = fill."""
    h, w, c = x.shape
    pb = max((oh - 1) * sh + kh - h - pt, 0)
    pr = max((ow - 1) * sw + kw - w - pl, 0)
    xp = np.full((h + pt + pb, w + pl + pr, c), fill, np.int64)
    xp[pt:pt + h, pl:pl + w] = x
    out = np.empty((oh, ow, kh, kw, c), np.int64)
    for ky in range(kh):
        for kx in range(kw):
            out[:, :, ky, kx] = xp[ky:ky + sh * (oh - 1) + 1:sh, kx:kx + sw * (ow - 1) + 1:sw]
    return out


def conv(fb, op, T, vals, buffers, depthwise):
    ti, tw, to = \
        (T[op["inputs"][0]], T[op["inputs"][1]], T[op["outputs"][0]])
    o = op["options"]
    same = fb.scalar(o, 0, "b") == 0
    sw, sh = fb.scalar(o, 1, "i"), fb.scalar(o, 2, "i")
    act = fb.scalar(o, 4 if depthwise else 3, "b")
    x = vals[op["inputs"][0]][0]
    w = const(tw, buffers)
    zw = np.array(tw["zero"], np.int64)
    if depthwise:
        _, kh, kw, c = w.shape
        w = w[0] - zw  # zw per channel (last axis) or one
    else:
        _, kh, kw, c = w.shape
        w = w - zw.reshape(-1, 1, 1, 1)
    oh, pt = same_pad(x.shape[0], kh, sh, same)
    ow, pl = same_pad(x.shape[1], kw, sw, same)
    win = windows(x, kh, kw, sh, sw, oh, ow, pt, pl, ti["zero"][0]) - ti["zero"][0]
    if depthwise:
        acc = np.einsum("hwijc,ijc->hwc", win, w)
    else:
        acc = np.tensordot(win, w, axes=([2, 3, 4], [1, 2, 3]))
    bias = const(T[op["inputs"][2]], buffers) if len(op["inputs"]) > 2 and op["inputs"][2] >= 0 else 0
    return requant_out(acc, ti, tw, to, bias, act)[None]


def fully_connected(fb, op, T, vals, buffers):
    ti, tw, to = T[op["inputs"][0]], T[op["inputs"][1]], T[op["outputs"][0]]
    x = vals[op["inputs"][0]].reshape(-1) - ti["zero"][0]
    w = const(tw, buffers) - np.array(tw["zero"], np.int64).reshape(-1, 1)
    bias = const(T[op["inputs"][2]], buffers) if len(op["inputs"]) > 2 and op["inputs"][2] >= 0 else 0
    return requant_out(w @ x, ti, tw, to, bias, fb.scalar(op["options"], 0, "b")).reshape(to["shape"])


def add(fb, op, T, vals):
    t1, t2, to = T[op["inputs"][0]], T[op["inputs"][1]], T[op["outputs"][0]]
    s1, s2, so = (float(np.float32(t["scale"][0])) for t in (t1, t2, to))
    twice = 2 * max(s1, s2)
    m1, e1 = quantize_multiplier(s1 / twice)
    m2, e2 = quantize_multiplier(s2 / twice)
    mo, eo = quantize_multiplier(twice / ((1 << 20) * so))
    a = mbqm((vals[op["inputs"][0]] - t1["zero"][0]) * (1 << 20), m1, e1)
    b = mbqm((vals[op["inputs"][1]] - t2["zero"][0]) * (1 << 20), m2, e2)
    v = mbqm(a + b, mo, eo) + to["zero"][0]
    lo, hi = act_range(fb.scalar(op["options"], 0, "b"), to)
    return np.clip(v, lo, hi)


def round_div(acc, n):
    """(acc +- n/2) / n, truncating as C++ does."""
    s = np.where(acc > 0, acc + n // 2, acc - n // 2)
    return np.where(s >= 0, s // n, -((-s) // n))


def avg_pool(fb, op, T, vals):
    ti, to = T[op["inputs"][0]], T[op["outputs"][0]]
    o = op["options"]
    same = fb.scalar(o, 0, "b") == 0
    sw, sh, fw, fh = (fb.scalar(o, k, "i") for k in (1, 2, 3, 4))
    x = vals[op["inputs"][0]][0]
    h, w, c = x.shape
    oh, pt = same_pad(h, fh, sh, same)
    ow, pl = same_pad(w, fw, sw, same)
    out = np.empty((oh, ow, c), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            y0, x0 = oy * sh - pt, ox * sw - pl
            cell = x[max(y0, 0):min(y0 + fh, h), max(x0, 0):min(x0 + fw, w)]
            n = cell.shape[0] * cell.shape[1]
            out[oy, ox] = round_div(cell.sum(axis=(0, 1)), n)
    lo, hi = act_range(fb.scalar(o, 5, "b"), to)
    return np.clip(out, lo, hi)[None]


def mean(fb, op, T, vals, buffers):
    ti, to = T[op["inputs"][0]], T[op["outputs"][0]]
    axes = list(const(T[op["inputs"][1]], buffers).reshape(-1))
    assert axes == [1, 2], axes
    assert ti["type"] == INT8, "TFLite's uint8 MEAN rescales in float32, not as here"
    x = vals[op["inputs"][0]][0]
    n = x.shape[0] * x.shape[1]
    m, e = quantize_multiplier(float(ti["scale"][0]) / float(to["scale"][0]))
    acc = mbqm((x - ti["zero"][0]).sum(axis=(0, 1)), m, e)
    v = round_div(acc, n) + to["zero"][0]
    lo, hi = qrange(to)
    return np.clip(v, lo, hi).reshape(to["shape"])


def requantize(op, T, vals):
    ti, to = T[op["inputs"][0]], T[op["outputs"][0]]
    m, e = quantize_multiplier(float(ti["scale"][0]) / float(to["scale"][0]))
    v = mbqm(vals[op["inputs"][0]] - ti["zero"][0], m, e) + to["zero"][0]
    lo, hi = qrange(to)
    return np.clip(v, lo, hi)


CONV, DEPTHWISE, FC, ADD, AVGPOOL, MEAN, RESHAPE, SQUEEZE, QUANTIZE, SOFTMAX = 3, 4, 9, 0, 1, 40, 22, 43, 114, 25


def logits(path, image):
    """The 8-bit input of the model's SOFTMAX for one uint8 image."""
    fb, T, ops, buffers, inp = load(path)
    x = image.astype(np.int64)
    if T[inp]["type"] == INT8:
        x = x - 128
    vals = {inp: x[None]}
    for op in ops:
        code, out = op["code"], op["outputs"][0]
        if code == SOFTMAX:
            return vals[op["inputs"][0]].reshape(-1), T[op["inputs"][0]]
        if code in (CONV, DEPTHWISE):
            vals[out] = conv(fb, op, T, vals, buffers, code == DEPTHWISE)
        elif code == FC:
            vals[out] = fully_connected(fb, op, T, vals, buffers)
        elif code == ADD:
            vals[out] = add(fb, op, T, vals)
        elif code == AVGPOOL:
            vals[out] = avg_pool(fb, op, T, vals)
        elif code == MEAN:
            vals[out] = mean(fb, op, T, vals, buffers)
        elif code in (RESHAPE, SQUEEZE):
            vals[out] = vals[op["inputs"][0]].reshape(T[out]["shape"])
        elif code == QUANTIZE:
            vals[out] = requantize(op, T, vals)
        else:
            raise ValueError(f"operator {code} is not in this reference")
    raise ValueError("no SOFTMAX")


def image(k, h, w):
    """Test image k, h x w x 3 uint8: pixel (y, x, c) is
    ((7x + 3(k+1)y + 50c) xor (xy >> 4)) mod 256."""
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    return (((7 * x + 3 * (k + 1) * y + 50 * c) ^ ((x * y) >> 4)) & 255).astype(np.uint8)


def main():
    shared = os.path.join(ROOT, "..", "shared", "models")
    lines = ['{"generator": "scripts/tflite_int8_ref.py", "models": [']
    for i, name in enumerate(MODELS):
        path = os.path.join(shared, name)
        _, T, _, _, inp = load(path)
        h = T[inp]["shape"][1]
        rows = []
        for k in range(IMAGES):
            q, t = logits(path, image(k, h, h))
            rows.append("[" + ",".join(str(int(v)) for v in q) + "]")
        sep = "," if i + 1 < len(MODELS) else ""
        body = ",\n   ".join(rows)
        lines.append(f' {{"file": "{name}", "size": {h}, "logits": [\n   {body}]}}{sep}')
    lines.append("]}")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
