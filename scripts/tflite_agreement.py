#!/usr/bin/python3
"""How far huskyai's TFLite path is from an independent implementation of
the integer model: Arm NN's reference backend (Debian's python3-pyarmnn,
libarmnn-cpuref-backend22, libarmnntfliteparser22) runs the quantized
.tflite file as its integer kernels compute it; huskyai runs the same file
(weights dequantized, float32) on the same pixels.

    /usr/bin/python3 scripts/tflite_agreement.py --model ../shared/models/mobilenet_v2_1.0_224_quant.tflite \\
        --data ../shared/data/photos --every 4 [--limit N] [--out report.json] [--quantized integer,float]

Each photo is decoded and resized to the model's input by Pillow (bicubic,
whole image, as huskyai serves) and written as a PNG of exactly the input
size, so huskyai reads the very same uint8 pixels (a lossless file at the
input size needs no resize). --quantized picks huskyai's path for the
quantized model (integer, float, or both, one report each). The report
gives the number of photos, how often the two agree on the top class and
on husky at 0.5, and the largest
differences of the husky probability (sum of outputs 249-251) and of the
top class's probability, with the photos where they are largest.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "train"))
import train  # noqa: E402  (list_images, load_image: the decoding huskyai's training uses)

HUSKY = (249, 250, 251)


class ArmNN:
    """One .tflite model on Arm NN's CpuRef backend."""

    def __init__(self, path):
        import pyarmnn as ann
        self.ann = ann
        parser = ann.ITfLiteParser()
        net = parser.CreateNetworkFromBinaryFile(path)
        self.ib = parser.GetNetworkInputBindingInfo(0, parser.GetSubgraphInputTensorNames(0)[0])
        self.ob = parser.GetNetworkOutputBindingInfo(0, parser.GetSubgraphOutputTensorNames(0)[0])
        self.rt = ann.IRuntime(ann.CreationOptions())
        opt, _ = ann.Optimize(net, [ann.BackendId("CpuRef")], self.rt.GetDeviceSpec(), ann.OptimizerOptions())
        self.net, _ = self.rt.LoadNetwork(opt)
        info = self.ib[1]
        self.shape = tuple(info.GetShape()[i] for i in range(info.GetNumDimensions()))
        out = self.ob[1]
        self.out_scale, self.out_zero = out.GetQuantizationScale(), out.GetQuantizationOffset()
        self.out_type = out.GetDataType()

    def run(self, x):
        """Probabilities (float64) for one H x W x 3 uint8 image."""
        ann = self.ann
        inp = ann.make_input_tensors([self.ib], [x[None]])
        out = ann.make_output_tensors([self.ob])
        self.rt.EnqueueWorkload(self.net, inp, out)
        q = ann.workload_tensors_to_ndarray(out)[0].reshape(-1)
        if q.dtype == np.float32:
            return q.astype(np.float64)
        return self.out_scale * (q.astype(np.float64) - self.out_zero)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "photos"))
    ap.add_argument("--every", type=int, default=4, help="take every Nth photo (in path order)")
    ap.add_argument("--limit", type=int, default=0, help="at most N photos")
    ap.add_argument("--shard", default="0/1", help="K/N: only the Kth of N interleaved parts (run N at once on N cores; "
                    "merge their --out files with --merge)")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="do not run: merge the rows of these --out files into one report")
    ap.add_argument("--huskyai", default="", help="huskyai binary (default: go run ./cmd/huskyai)")
    ap.add_argument("--out", help="write the report (and per-photo rows) as JSON here")
    ap.add_argument("--quantized", default="auto",
                    help="huskyai's --quantized: auto, integer or float, or several comma-separated (one report each, "
                         "on the same Arm NN outputs; --out gets the mode before its extension)")
    a = ap.parse_args(argv)
    if a.merge:
        rows, secs = [], 0.0
        for path in a.merge:
            with open(path) as f:
                d = json.load(f)
            rows += d["rows"]
            secs = max(secs, d["report"]["seconds"])
        return report(a, rows, secs)

    arm = ArmNN(a.model)
    _, h, w, _ = arm.shape
    items = train.list_images(a.data)[::a.every]
    if a.limit:
        items = items[:a.limit]
    k, n = (int(v) for v in a.shard.split("/"))
    items = items[k::n]
    t0 = time.time()
    ref = {}
    with tempfile.TemporaryDirectory() as td:
        for i, (rel, *_) in enumerate(items):
            im = train.load_image(os.path.join(a.data, rel))
            if im is None:
                continue
            x = np.asarray(im.resize((w, h), Image.BICUBIC), dtype=np.uint8)
            name = f"{i:05d}.png"
            Image.fromarray(x).save(os.path.join(td, name))
            ref[name] = (rel, arm.run(x))
            if i % 50 == 49:
                print(f"  Arm NN: {i + 1}/{len(items)} photos, {time.time() - t0:.0f} s", file=sys.stderr)
        for mode in a.quantized.split(","):
            rows = predict(a, td, ref, mode)
            report(a, rows, time.time() - t0, mode)


def predict(a, td, ref, mode):
    """huskyai predict with --quantized mode on the PNGs in td, as rows
    next to Arm NN's outputs ref."""
    cmd = ([a.huskyai] if a.huskyai else ["go", "run", "./cmd/huskyai"]) + [
        "predict", "--model", a.model, "--quantized", mode, "--positive-classes", ",".join(map(str, HUSKY)),
        "--format", "jsonl", td]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if res.returncode not in (0, 1):
        sys.exit(f"huskyai predict failed: {res.stderr}")
    rows = []
    for line in res.stdout.splitlines():
        r = json.loads(line)
        name = os.path.basename(r["file"])
        rel, p = ref[name]
        husky_ref = float(sum(p[c] for c in HUSKY))
        top_ref = int(p.argmax())
        rows.append({"photo": rel, "husky": r["probability"], "husky_ref": husky_ref,
                     "top": r["top_class"]["index"], "top_ref": top_ref,
                     "top_p": r["top_class"]["probability"], "top_p_ref": float(p[top_ref])})
    return rows


def report(a, rows, seconds, mode="auto"):
    """Prints (and with --out writes) the agreement of rows."""
    n = len(rows)
    top1 = sum(r["top"] == r["top_ref"] for r in rows)
    verdict = sum((r["husky"] > 0.5) == (r["husky_ref"] > 0.5) for r in rows)
    dh = max(rows, key=lambda r: abs(r["husky"] - r["husky_ref"]))
    dt = max(rows, key=lambda r: abs(r["top_p"] - r["top_p_ref"]) if r["top"] == r["top_ref"] else 0)
    rep = {"model": os.path.basename(a.model), "quantized": mode, "photos": n, "every": a.every,
           "top1_agreement": top1 / n, "top1_agree": top1,
           "husky_verdict_agreement": verdict / n, "husky_verdict_agree": verdict,
           "max_husky_prob_diff": abs(dh["husky"] - dh["husky_ref"]), "max_husky_prob_diff_photo": dh["photo"],
           "mean_husky_prob_diff": float(np.mean([abs(r["husky"] - r["husky_ref"]) for r in rows])),
           "max_top_prob_diff_same_class": abs(dt["top_p"] - dt["top_p_ref"]) if dt["top"] == dt["top_ref"] else 0,
           "reference": "Arm NN CpuRef (python3-pyarmnn): quantized tensors, requantized through float32", "seconds": seconds}
    print(json.dumps(rep, indent=1))
    if a.out:
        out = a.out
        if "," in a.quantized:
            base, ext = os.path.splitext(a.out)
            out = f"{base}.{mode}{ext}"
        with open(out, "w") as f:
            json.dump({"report": rep, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
