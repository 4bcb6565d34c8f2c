#!/usr/bin/python3
"""Reference outputs of the shared TFLite MobileNets, for engine/tflite's
parity test.

    /usr/bin/python3 scripts/gen_tflite_golden.py > engine/tflite/testdata/golden.json

For each model in ../shared/models, two test images made by a formula
(the Go test computes the same pixels) go through train/teacher.py's
PyTorch graph of the file: weights dequantized, float32 activations,
which is what engine/tflite runs. The outputs are written in full; the
model files themselves stay in ../shared.
"""

import json
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "train"))
from teacher import Teacher  # noqa: E402

MODELS = ["mobilenet_v2_1.0_224_quant.tflite", "tf2_mobilenet_v2_1.0_224_ptq.tflite",
          "mobilenet_v1_0.25_128_quant.tflite"]


def image(k, h, w):
    """Test image k (0 or 1), h x w x 3 uint8: pixel (y, x, c) is
    ((7x + 3(k+1)y + 50c) xor (xy >> 4)) mod 256."""
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    return ((7 * x + 3 * (k + 1) * y + 50 * c) ^ ((x * y) >> 4)) & 255


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    shared = os.path.join(ROOT, "..", "shared", "models")
    out = {"generator": "scripts/gen_tflite_golden.py", "models": []}
    for name in MODELS:
        t = Teacher(os.path.join(shared, name)).eval()
        rows = []
        with torch.no_grad():
            for k in range(2):
                x = torch.from_numpy(image(k, t.size, t.size).astype(np.float32)).permute(2, 0, 1)[None]
                rows.append([float(f"{v:.8g}") for v in t(x)[0].tolist()])
        out["models"].append({"file": name, "size": t.size, "outputs": rows})
    # One line per output row.
    lines = ['{"generator": "scripts/gen_tflite_golden.py", "models": [']
    for i, m in enumerate(out["models"]):
        rows = ",\n   ".join(json.dumps(r) for r in m["outputs"])
        sep = "," if i + 1 < len(out["models"]) else ""
        lines.append(f' {{"file": "{m["file"]}", "size": {m["size"]}, "outputs": [\n   {rows}]}}{sep}')
    lines.append("]}")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
