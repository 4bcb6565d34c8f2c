#!/usr/bin/python3
"""A float PyTorch copy of a quantized TFLite image classifier, to use as a
teacher when training huskyai's default model.

    /usr/bin/python3 train/teacher.py ../shared/models/mobilenet_v2_1.0_224_quant.tflite DIR

prints, per image under DIR, the teacher's husky probability (the sum of
ImageNet's husky classes), and its balanced accuracy where DIR has the
husky/ and other/ folders.

The weights are dequantized (real = scale * (q - zero_point), per tensor
or per output channel) and run in float32; activations are not
re-quantized, so scores differ slightly from the integer model. That is
enough for a teacher; it is not the engine (issue 14 builds the real
TFLite loader in Go).

There is no TFLite runtime among Debian's Python packages, so this file
reads the flatbuffer itself: the schema is tensorflow/lite/schema/schema.fbs
(fields are numbered in declaration order, a union takes two), and every
offset is bounds-checked. Only what MobileNet needs is supported: CONV_2D,
DEPTHWISE_CONV_2D, ADD, AVERAGE_POOL_2D, MEAN, RESHAPE, SOFTMAX, QUANTIZE,
DEQUANTIZE; anything else is refused by name.
"""

import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ImageNet 248 "Eskimo dog", 249 "malamute", 250 "Siberian husky"; the
# TFLite MobileNets put "background" first, so class k is output k+1.
HUSKY_OUTPUTS = (249, 250, 251)

OPS = {0: "ADD", 1: "AVERAGE_POOL_2D", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D", 6: "DEQUANTIZE",
       22: "RESHAPE", 25: "SOFTMAX", 40: "MEAN", 114: "QUANTIZE"}
DTYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}


class Table:
    """One flatbuffer table: fields by number, offsets checked."""

    def __init__(self, buf, pos):
        self.buf, self.pos = buf, pos
        self._need(pos, 4)
        vt = pos - struct.unpack_from("<i", buf, pos)[0]
        self._need(vt, 4)
        n, _ = struct.unpack_from("<HH", buf, vt)
        if n < 4 or n % 2:
            raise ValueError(f"tflite: bad vtable at {vt}")
        self._need(vt, n)
        self.slots = struct.unpack_from(f"<{(n - 4) // 2}H", buf, vt + 4)

    def _need(self, at, n):
        if at < 0 or at + n > len(self.buf):
            raise ValueError(f"tflite: offset {at}+{n} outside the {len(self.buf)}-byte file")

    def _field(self, i):
        if i >= len(self.slots) or self.slots[i] == 0:
            return None
        return self.pos + self.slots[i]

    def scalar(self, i, fmt, default=0):
        at = self._field(i)
        if at is None:
            return default
        self._need(at, struct.calcsize(fmt))
        return struct.unpack_from("<" + fmt, self.buf, at)[0]

    def _ref(self, i):
        at = self._field(i)
        if at is None:
            return None
        self._need(at, 4)
        return at + struct.unpack_from("<I", self.buf, at)[0]

    def table(self, i):
        at = self._ref(i)
        return None if at is None else Table(self.buf, at)

    def vector(self, i, fmt=None):
        """Scalars as a numpy array (fmt a numpy dtype), or tables."""
        at = self._ref(i)
        if at is None:
            return [] if fmt is None else np.zeros(0, fmt)
        self._need(at, 4)
        n = struct.unpack_from("<I", self.buf, at)[0]
        if fmt is not None:
            size = np.dtype(fmt).itemsize
            self._need(at + 4, n * size)
            return np.frombuffer(self.buf, fmt, n, at + 4).copy()
        self._need(at + 4, 4 * n)
        return [Table(self.buf, at + 4 + 4 * k + struct.unpack_from("<I", self.buf, at + 4 + 4 * k)[0])
                for k in range(n)]

    def string(self, i):
        v = self.vector(i, np.uint8)
        return bytes(v).decode("utf-8", "replace")


class Tensor:
    def __init__(self, t, buffers):
        self.shape = [int(x) for x in t.vector(0, np.int32)]
        self.dtype = DTYPES.get(t.scalar(1, "b"))
        self.name = t.string(3)
        data = buffers[t.scalar(2, "I")].vector(0, np.uint8) if t.scalar(2, "I") < len(buffers) else None
        self.data = None
        if data is not None and len(data):
            if self.dtype is None:
                raise ValueError(f"tflite: tensor {self.name}: unsupported type {t.scalar(1, 'b')}")
            self.data = np.frombuffer(data.tobytes(), self.dtype).reshape(self.shape)
        q = t.table(4)
        self.scale = q.vector(2, np.float32) if q else np.zeros(0, np.float32)
        self.zero = q.vector(3, np.int64) if q else np.zeros(0, np.int64)
        self.axis = q.scalar(6, "i") if q else 0

    def real(self):
        """The constant's values in float32."""
        x = self.data.astype(np.float32)
        if len(self.scale) == 0:
            return x
        shape = [1] * x.ndim
        if len(self.scale) > 1:
            shape[self.axis] = -1
        s = self.scale.reshape(shape)
        z = self.zero.astype(np.float32).reshape(shape) if len(self.zero) else 0
        return (x - z) * s


def conv_same(x, w, b, s, groups=1):
    """conv2d with TensorFlow's SAME padding (any extra row or column at the
    bottom and right), for NCHW x; symmetric padding goes to conv2d itself,
    which is much cheaper than a padded copy."""
    pads = []
    for size, k in ((x.shape[2], w.shape[2]), (x.shape[3], w.shape[3])):
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    if all(a == b_ for a, b_ in pads):
        return F.conv2d(x, w, b, s, (pads[0][0], pads[1][0]), groups=groups)
    x = F.pad(x, [pads[1][0], pads[1][1], pads[0][0], pads[0][1]])
    return F.conv2d(x, w, b, s, groups=groups)


def conv_valid(x, w, b, s, groups=1):
    return F.conv2d(x, w, b, s, groups=groups)


ACT = {0: lambda x: x, 1: lambda x: F.relu(x, inplace=True), 3: lambda x: F.hardtanh(x, 0, 6, inplace=True)}


class Teacher(nn.Module):
    """The TFLite graph as a torch module: NCHW float in, the model's
    outputs (softmax probabilities) out."""

    def __init__(self, path):
        super().__init__()
        buf = open(path, "rb").read()
        if len(buf) < 8 or buf[4:8] != b"TFL3":
            raise ValueError(f"{path}: not a TFLite file (no TFL3 identifier)")
        root = Table(buf, struct.unpack_from("<I", buf, 0)[0])
        codes = []
        for oc in root.vector(1):
            c = max(oc.scalar(0, "b"), oc.scalar(3, "i"))
            codes.append(c)
        buffers = root.vector(4)
        sg = root.vector(2)[0]
        self.tensors = [Tensor(t, buffers) for t in sg.vector(0)]
        self.inputs = [int(i) for i in sg.vector(1, np.int32)]
        self.outputs = [int(i) for i in sg.vector(2, np.int32)]
        self.ops = []
        self.params = nn.ParameterList()
        for op in sg.vector(3):
            code = codes[op.scalar(0, "I")]
            name = OPS.get(code)
            if name is None:
                raise ValueError(f"{path}: operator code {code} is not supported by the teacher")
            ins = [int(i) for i in op.vector(1, np.int32)]
            outs = [int(i) for i in op.vector(2, np.int32)]
            opt = op.table(4)
            self.ops.append(self._build(name, ins, outs, opt))
        inp = self.tensors[self.inputs[0]]
        self.size = inp.shape[1]
        # real = scale * (q - zero) for the uint8 input; q is the pixel.
        if len(inp.scale):
            self.in_scale, self.in_zero = float(inp.scale[0]), float(inp.zero[0])
        else:
            self.in_scale, self.in_zero = 1 / 127.5, 127.5

    def _const(self, i):
        p = nn.Parameter(torch.from_numpy(self.tensors[i].real()), requires_grad=False)
        self.params.append(p)
        return p

    def _build(self, name, ins, outs, opt):
        o = outs[0]
        if name == "CONV_2D":
            w = self._const(ins[1]).data.permute(0, 3, 1, 2).contiguous()  # OHWI -> OIHW
            b = self._const(ins[2]).data if len(ins) > 2 and ins[2] >= 0 else None
            pad, sw, sh, act = opt.scalar(0, "b"), opt.scalar(1, "i"), opt.scalar(2, "i"), opt.scalar(3, "b")
            conv = conv_same if pad == 0 else conv_valid
            if sw != sh:
                raise ValueError("tflite: CONV_2D with unequal strides is not supported by the teacher")
            return (o, ins[:1], lambda x: ACT[act](conv(x, w, b, sh)))
        if name == "DEPTHWISE_CONV_2D":
            w = self._const(ins[1]).data.permute(3, 0, 1, 2).contiguous()  # 1HWC -> C1HW
            b = self._const(ins[2]).data if len(ins) > 2 and ins[2] >= 0 else None
            pad, sw, sh, act = opt.scalar(0, "b"), opt.scalar(1, "i"), opt.scalar(2, "i"), opt.scalar(4, "b")
            groups = w.shape[0] // max(opt.scalar(3, "i"), 1)
            conv = conv_same if pad == 0 else conv_valid
            if sw != sh:
                raise ValueError("tflite: DEPTHWISE_CONV_2D with unequal strides is not supported by the teacher")
            return (o, ins[:1], lambda x: ACT[act](conv(x, w, b, sh, groups)))
        if name == "ADD":
            act = opt.scalar(0, "b") if opt else 0
            return (o, ins, lambda a, b: ACT[act](a + b))
        if name == "AVERAGE_POOL_2D":
            sw, sh, fw, fh = (opt.scalar(k, "i") for k in (1, 2, 3, 4))
            return (o, ins[:1], lambda x: F.avg_pool2d(x, (fh, fw), (sh, sw)))
        if name == "MEAN":
            return (o, ins[:1], lambda x: x.mean(dim=(2, 3), keepdim=True))
        if name == "RESHAPE":
            return (o, ins[:1], lambda x: x.reshape(x.shape[0], -1))
        if name == "SOFTMAX":
            return (o, ins[:1], lambda x: F.softmax(x, dim=1))
        return (o, ins[:1], lambda x: x)  # QUANTIZE, DEQUANTIZE: float throughout

    def forward(self, x):
        """x: N,3,H,W pixels 0..255 (float)."""
        env = {self.inputs[0]: (x - self.in_zero) * self.in_scale}
        for out, ins, fn in self.ops:
            env[out] = fn(*[env[i] for i in ins])
        y = env[self.outputs[0]]
        return y.reshape(y.shape[0], -1)

    def husky(self, x):
        """P(husky): the sum of the husky classes' probabilities."""
        p = self.forward(x)
        return p[:, list(HUSKY_OUTPUTS)].sum(dim=1)


def centre_crop(im, size, fraction=0.875):
    from PIL import Image
    w, h = im.size
    s = min(w, h) * fraction
    box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
    return np.asarray(im.resize((size, size), Image.BILINEAR, box=box), dtype=np.float32)


def main(argv):
    import os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import train
    torch.set_num_threads(os.cpu_count())
    t = Teacher(argv[0]).eval()
    items = train.list_images(argv[1])
    ps, ys = [], []
    with torch.no_grad():
        for k in range(0, len(items), 32):
            batch = []
            for it in items[k:k + 32]:
                im = train.load_image(os.path.join(argv[1], it[0]))
                batch.append(centre_crop(im, t.size))
                ys.append(it[1])
            x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)
            ps += t.husky(x).tolist()
    for it, p in zip(items, ps):
        print(f"{p:.4f}\t{it[0]}")
    p, y = np.array(ps), np.array(ys)
    for thr in (0.5, 0.2):
        rec = ((p > thr) & (y == 1)).sum() / max((y == 1).sum(), 1)
        spec = ((p <= thr) & (y == 0)).sum() / max((y == 0).sum(), 1)
        print(f"threshold {thr}: recall {rec:.3f} specificity {spec:.3f} balanced accuracy {(rec + spec) / 2:.3f}",
              file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
