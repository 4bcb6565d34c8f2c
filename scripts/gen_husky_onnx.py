#!/usr/bin/env python3
"""Writes a model of the Husky architecture (128x128x3 input, the layers of
the embedded default model) with seeded random weights as ONNX, the way
torch.onnx.export writes it (NCHW input, free batch size).

For benchmarks of --engine ort against the native engine on the same file
(internal/ortengine's BenchmarkHusky128 runs it); the weights are not
trained.

    /usr/bin/python3 scripts/gen_husky_onnx.py --out /tmp/husky128.onnx [--seed N]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_parity as gp  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=gp.DEFAULT_SEED)
    args = ap.parse_args(argv)
    x = gp.uniform(gp.case_gen(args.seed, "husky128/x"), (2, 128, 128, 3), 0.0, 1.0)
    layers = gp.husky_full(args.seed, "husky128/model", x)
    gp.export_onnx(gp.KerasAsTorch(layers), (128, 128, 3), args.out)


if __name__ == "__main__":
    sys.exit(main())
