#!/usr/bin/env python3
"""Writes a model of the Husky architecture (128x128x3 input, the layers of
the embedded default model) with seeded random weights as ONNX, the way
torch.onnx.export writes it (NCHW input, free batch size).

For benchmarks of --engine ort against the native engine on the same file
(engine/ort's BenchmarkHusky128 and the bench/ harness run it); the
weights are not trained. With --h5 it also writes the same layers, with the
same weights, as a Keras 2 .h5 file (laid out as gen_parity.py writes the
embedded default model), so that the native engine can be timed on both
formats of one model.

    /usr/bin/python3 scripts/gen_husky_onnx.py --out /tmp/husky128.onnx [--h5 /tmp/husky128.h5] [--seed N]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_parity as gp  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--h5", help="also write the same model (same weights) as a Keras 2 .h5 file here")
    ap.add_argument("--seed", type=int, default=gp.DEFAULT_SEED)
    args = ap.parse_args(argv)
    x = gp.uniform(gp.case_gen(args.seed, "husky128/x"), (2, 128, 128, 3), 0.0, 1.0)
    layers = gp.husky_full(args.seed, "husky128/model", x)
    gp.export_onnx(gp.KerasAsTorch(layers), (128, 128, 3), args.out)
    if args.h5:
        gp.write_husky_h5(args.h5, layers, "husky128")


if __name__ == "__main__":
    sys.exit(main())
