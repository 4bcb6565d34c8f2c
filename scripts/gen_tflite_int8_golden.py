#!/usr/bin/python3
"""Reference outputs of the shared quantized TFLite MobileNets as an
integer implementation computes them, for engine/tflite's integer-path
test (TestIntegerGolden).

    /usr/bin/python3 scripts/gen_tflite_int8_golden.py > engine/tflite/testdata/int8_golden.json

For each model in ../shared/models, four test images made by a formula
(the Go test computes the same pixels: testImage) run through Arm NN's
reference backend (Debian's python3-pyarmnn, libarmnn-cpuref-backend22,
libarmnntfliteparser22), which executes the quantized file with its own
integer kernels; the model's raw output tensor (uint8 probabilities,
scale 1/256) is written in full. The model files stay in ../shared.
"""

import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from tflite_agreement import ArmNN  # noqa: E402

MODELS = ["mobilenet_v2_1.0_224_quant.tflite", "tf2_mobilenet_v2_1.0_224_ptq.tflite",
          "mobilenet_v1_0.25_128_quant.tflite"]
IMAGES = 4


def image(k, h, w):
    """Test image k, h x w x 3 uint8: pixel (y, x, c) is
    ((7x + 3(k+1)y + 50c) xor (xy >> 4)) mod 256."""
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    return (((7 * x + 3 * (k + 1) * y + 50 * c) ^ ((x * y) >> 4)) & 255).astype(np.uint8)


def main():
    shared = os.path.join(ROOT, "..", "shared", "models")
    lines = ['{"generator": "scripts/gen_tflite_int8_golden.py", "reference": "Arm NN CpuRef", "models": [']
    for i, name in enumerate(MODELS):
        arm = ArmNN(os.path.join(shared, name))
        _, h, w, _ = arm.shape
        rows = []
        for k in range(IMAGES):
            x = image(k, h, w)
            p = arm.run(x)  # dequantized: scale * (q - zero)
            q = np.rint(p / arm.out_scale + arm.out_zero).astype(int)
            rows.append("[" + ",".join(str(v) for v in q) + "]")
        sep = "," if i + 1 < len(MODELS) else ""
        body = ",\n   ".join(rows)
        lines.append(f' {{"file": "{name}", "size": {h}, "scale": {arm.out_scale!r}, "zero": {arm.out_zero}, '
                     f'"outputs": [\n   {body}]}}{sep}')
    lines.append("]}")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
