#!/usr/bin/python3
"""Writes a TFLite image classifier's float32 twin as ONNX, for benchmarks
of ONNX Runtime against huskyai's engine on the same weights.

    /usr/bin/python3 scripts/gen_mobilenet_onnx.py --tflite ../shared/models/mobilenet_v2_1.0_224_quant.tflite --out .cache/bench/mobilenet_v2.onnx

The graph is train/teacher.py's PyTorch copy of the file (weights
dequantized, float32 activations: what engine/tflite runs), exported by
torch.onnx.export with an NCHW input in [0,1], as huskyai feeds every
model; the model's own input mapping (the quantized input's scale and zero
point) is inside the graph. The output file holds weights derived from
the .tflite file, so it stays outside the repository (.cache/bench/ is
git-ignored).
"""
import argparse
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "train"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from teacher import Teacher  # noqa: E402
import gen_parity as gp  # noqa: E402


class FromUnit(torch.nn.Module):
    """The teacher on [0,1] pixels (it takes 0..255)."""

    def __init__(self, t):
        super().__init__()
        self.t = t
        with torch.no_grad():
            self.n = t(torch.zeros(1, 3, t.size, t.size)).shape[1]

    def forward(self, x):
        # A fixed class axis: ONNX Runtime sessions in huskyai need one.
        return self.t(x * 255).reshape(-1, self.n)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tflite", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    t = Teacher(a.tflite).eval()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    gp.export_onnx(FromUnit(t), (t.size, t.size, 3), a.out)


if __name__ == "__main__":
    sys.exit(main())
