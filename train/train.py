#!/usr/bin/python3
"""Train huskyai's default model: a small Conv-BN-ReLU network, 128x128 RGB
in, one sigmoid out, exported as a tf.keras 2.x .h5 file that huskyai loads.

    /usr/bin/python3 train/train.py --data ../shared/data/photos --out build/huskymodel.h5

reproduces the embedded default model (defaultmodel/huskymodel.h5) on a
2-core CPU. The metrics that count are not the ones printed here but those
of the Go engine on exactly what "huskyai serve" does:

    go run ./cmd/huskyai eval --model build/huskymodel.h5 build/val

where build/val is the validation split this script writes (--val-dir,
symbolic links into --data, by source photo).

Data layout (as Keras' flow_from_directory): DATA/husky/** and
DATA/other/**, any depth below; the first folder below the class is the
category reported per epoch (other/wolf, husky/malamute, ...). Images are
read by content (PNG, JPEG, GIF, ...), other files are skipped. Where
DATA/MANIFEST.tsv exists (../shared/data/photos has one), its source_path
column names the source photo; else the file name does. Crops of one
source photo never straddle the split.

Preprocessing is the serving path's: EXIF orientation, RGB, one bicubic
antialiased resize of the whole (augmented) picture to 128x128 (Pillow's
BICUBIC, which imageprep.Bicubic reproduces), /255.

Needs Debian's python3 with python3-torch, python3-h5py, python3-pil and
python3-numpy. Deterministic on CPU for a given --seed, --threads, --precision
and data.
"""

import argparse
import hashlib
import json
import math
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageFile, ImageOps

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from kerash5 import dense, conv, pool, gap, write_sequential_h5  # noqa: E402

ImageFile.LOAD_TRUNCATED_IMAGES = False
SIZE = 128
CLASSES = ("other", "husky")  # label 0, 1
# Images are cached with this longer side at most: big enough that the
# random crops below keep detail, small enough for 3,000 photos in memory.
CACHE_SIDE = 256


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------------------
# Data: listing, source ids, split.

SOURCE_ID = re.compile(r"n\d{8}_\d+")


def source_id(name):
    """The source photo's id in a file name or source path: an ImageNet /
    Stanford Dogs id (n02110185_1234) where there is one, else the file
    name without its extension."""
    m = SOURCE_ID.search(name)
    if m:
        return m.group(0)
    return os.path.splitext(os.path.basename(name))[0]


def read_manifest(data):
    """{relative path: source path} from DATA/MANIFEST.tsv, or {}."""
    p = os.path.join(data, "MANIFEST.tsv")
    if not os.path.exists(p):
        return {}
    out = {}
    with open(p, encoding="utf8") as f:
        head = f.readline().rstrip("\n").split("\t")
        if "file" not in head or "source_path" not in head:
            return {}
        fi, si = head.index("file"), head.index("source_path")
        for line in f:
            row = line.rstrip("\n").split("\t")
            if len(row) > max(fi, si):
                out[row[fi]] = row[si]
    return out


def list_images(data):
    """[(relative path, label, category, source id)] sorted by path."""
    manifest = read_manifest(data)
    items = []
    for label, cls in enumerate(CLASSES):
        root = os.path.join(data, cls)
        if not os.path.isdir(root):
            sys.exit(f"train: {root} is missing; --data wants DIR/husky/** and DIR/other/**")
        for dirpath, dirnames, files in os.walk(root, followlinks=True):
            dirnames.sort()
            for fn in sorted(files):
                rel = os.path.relpath(os.path.join(dirpath, fn), data)
                parts = rel.split(os.sep)
                cat = f"{cls}/{parts[1]}" if len(parts) > 2 else cls
                src = manifest.get(rel.replace(os.sep, "/"), rel)
                items.append((rel, label, cat, f"{cat}:{source_id(src)}"))
    return items


def split(items, val_fraction, seed):
    """Splits by source id: within each category the ids are ordered by a
    seeded hash and the first val_fraction of them go to validation."""
    by_cat = {}
    for it in items:
        by_cat.setdefault(it[2], set()).add(it[3])
    val_ids = set()
    for cat, ids in sorted(by_cat.items()):
        order = sorted(ids, key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())
        k = int(round(val_fraction * len(order)))
        if val_fraction > 0 and len(order) >= 2:
            k = max(k, 1)
        val_ids.update(order[:k])
    train = [it for it in items if it[3] not in val_ids]
    val = [it for it in items if it[3] in val_ids]
    return train, val


def load_image(path):
    """The decoded picture as serve sees it (EXIF orientation, RGB), or None."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                # As imageprep: transparent pixels over black.
                im = im.convert("RGBA")
                bg = Image.new("RGBA", im.size, (0, 0, 0, 255))
                im = Image.alpha_composite(bg, im)
            return im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def serve_tensor(im):
    """What serve feeds the model: the whole picture resized to 128x128."""
    return np.asarray(im.resize((SIZE, SIZE), Image.BICUBIC), dtype=np.uint8)


def cache(im, side=CACHE_SIDE):
    if max(im.size) > side:
        s = side / max(im.size)
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.BICUBIC)
    return im


# ---------------------------------------------------------------------------
# Augmentation: wide shots from tight crops, and synthetic negatives.


def background(rng, w, h, others):
    """A backdrop for zoom-out: another (non-husky) photo, a solid colour,
    smooth noise or a gradient."""
    k = rng.integers(4)
    if k == 0 and others:
        return others[rng.integers(len(others))].resize((w, h), Image.BICUBIC)
    if k == 1:
        return Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 256, 3)))
    if k == 2:
        small = rng.integers(0, 256, (rng.integers(2, 9), rng.integers(2, 9), 3), dtype=np.uint8)
        return Image.fromarray(small).resize((w, h), Image.BICUBIC)
    return Image.fromarray(gradient(rng, max(w, 1), max(h, 1)))


def augment_view(rng, im, others):
    """A random framing of im, the way a wider or differently framed upload
    of the same subject would look: (picture, crop box, mirror?). The view
    is the box of the picture, squashed to a square as serve squashes every
    upload."""
    w, h = im.size
    if rng.random() < 0.5:
        # Zoom out: the subject takes 1/z of each side of a larger picture.
        z = math.exp(rng.uniform(0, math.log(2.2)))
        W, H = int(w * z * rng.uniform(0.85, 1.15)), int(h * z * rng.uniform(0.85, 1.15))
        W, H = max(W, w), max(H, h)
        canvas = background(rng, W, H, others)
        canvas.paste(im, (int(rng.integers(0, W - w + 1)), int(rng.integers(0, H - h + 1))))
        im, w, h = canvas, W, H
    # Random crop of 40-100% of the area with a random aspect: serve
    # squashes every picture to a square, so aspects are seen squashed.
    area = w * h * rng.uniform(0.4, 1.0)
    aspect = math.exp(rng.uniform(math.log(0.6), math.log(1.65)))
    cw = int(round(min(w, math.sqrt(area * aspect))))
    ch = int(round(min(h, math.sqrt(area / aspect))))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return im, (x0, y0, x0 + cw, y0 + ch), rng.random() < 0.5


def augment(rng, im, others):
    """A random view of im as the model sees it: 128x128 uint8."""
    im, box, flip = augment_view(rng, im, others)
    a = np.asarray(im.resize((SIZE, SIZE), Image.BICUBIC, box=box), dtype=np.uint8)
    return a[:, ::-1] if flip else a


def gradient(rng, w, h):
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ang = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx / max(w - 1, 1)) * math.cos(ang) + (yy / max(h - 1, 1)) * math.sin(ang)
    t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
    return (c0 + (c1 - c0) * t[..., None]).clip(0, 255).astype(np.uint8)


def synthetic(rng):
    """One synthetic negative, 128x128 uint8: the inputs that fooled the
    original model (solid colours and greys, uniform and Gaussian noise)
    and their kin (gradients, blocky noise, stripes)."""
    k = rng.integers(7)
    if k == 0:  # grey shade
        return np.full((SIZE, SIZE, 3), rng.integers(0, 256), np.uint8)
    if k == 1:  # solid colour
        return np.broadcast_to(rng.integers(0, 256, 3).astype(np.uint8), (SIZE, SIZE, 3)).copy()
    if k == 2:  # uniform noise, colour or grey
        if rng.random() < 0.3:
            return np.repeat(rng.integers(0, 256, (SIZE, SIZE, 1), dtype=np.uint8), 3, axis=2)
        return rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    if k == 3:  # Gaussian noise around a colour
        mu, sd = rng.uniform(0, 255, 3), rng.uniform(5, 110)
        return (mu + sd * rng.standard_normal((SIZE, SIZE, 3))).clip(0, 255).astype(np.uint8)
    if k == 4:
        return gradient(rng, SIZE, SIZE)
    if k == 5:  # blocky noise
        n = int(rng.integers(2, 33))
        small = rng.integers(0, 256, (n, n, 3), dtype=np.uint8)
        f = Image.NEAREST if rng.random() < 0.5 else Image.BICUBIC
        return np.asarray(Image.fromarray(small).resize((SIZE, SIZE), f))
    period = int(rng.integers(2, 40))  # stripes or checkers
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    m = ((xx // period) + (yy // period if rng.random() < 0.5 else 0)) % 2
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    return np.where(m[..., None] == 1, c0, c1).astype(np.uint8)


def jitter(x, gen):
    """Colour jitter on a batch (N,3,H,W in [0,1]): brightness, contrast,
    saturation, a little grey, and some pixel noise."""
    n = x.shape[0]
    r = lambda lo, hi: torch.empty(n, 1, 1, 1).uniform_(lo, hi, generator=gen)  # noqa: E731
    x = x * r(0.65, 1.35)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * r(0.65, 1.35) + mean
    grey = x.mean(dim=1, keepdim=True)
    sat = r(0.6, 1.4)
    sat = torch.where(torch.rand(n, 1, 1, 1, generator=gen) < 0.05, torch.zeros_like(sat), sat)
    x = (x - grey) * sat + grey
    noisy = (torch.rand(n, 1, 1, 1, generator=gen) < 0.2).float()
    x = x + noisy * r(0, 0.08) * torch.randn(x.shape, generator=gen)
    return x.clamp(0, 1)


# ---------------------------------------------------------------------------
# The network: Conv-BN-ReLU, max pooling, global average pooling, Dense.

def stages(width):
    """[(channels, convolutions)] per resolution 128, 64, 32, 16, 8."""
    w = lambda c: max(8, int(round(c * width / 8)) * 8)  # noqa: E731
    return [(w(24), 1), (w(32), 2), (w(64), 2), (w(128), 2), (w(256), 2)]


class Net(nn.Module):
    def __init__(self, width=1.0, aux=0):
        super().__init__()
        layers, cin = [], 3
        self.plan = stages(width)
        for i, (c, n) in enumerate(self.plan):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            for _ in range(n):
                layers += [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c, eps=1e-3, momentum=0.05),
                           nn.ReLU(inplace=True)]
                cin = c
        self.features = nn.Sequential(*layers)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(cin, 1)
        # A training-only head over the teacher's classes (--teacher-aux):
        # never exported.
        self.aux = nn.Linear(cin, aux) if aux else None
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.forward_both(x)[0]

    def forward_both(self, x):
        """The husky logit, and the auxiliary head's logits (or None)."""
        f = self.drop(self.features(x).mean(dim=(2, 3)))
        return self.head(f).squeeze(1), (self.aux(f) if self.aux is not None else None)


def flops(net):
    """Multiply-adds x 2 of one 128x128 image."""
    total, hw = 0, SIZE * SIZE
    for m in net.features:
        if isinstance(m, nn.MaxPool2d):
            hw //= 4
        elif isinstance(m, nn.Conv2d):
            total += 2 * hw * m.in_channels * m.out_channels * 9
    return total + 2 * net.head.in_features


def export_h5(net, path, name, note):
    """Writes net as a tf.keras 2.x Sequential .h5: each Conv-BN pair folded
    into one Conv2D with bias and ReLU, MaxPooling2D, GlobalAveragePooling2D,
    Dense with sigmoid; see write_model."""
    write_model(net_specs(net), path, name, note)


def net_specs(net):
    """The exported layers of net (kerash5 specs), BatchNorm folded."""
    net = net.eval()
    layers, mods, i = [], list(net.features), 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, nn.MaxPool2d):
            layers.append(("pool",))
            i += 1
            continue
        bn = mods[i + 1]
        s = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().double()
        wk = m.weight.detach().double() * s[:, None, None, None]
        b = bn.bias.detach().double() - bn.running_mean.detach().double() * s
        layers.append(("conv", wk.permute(2, 3, 1, 0).float().numpy(), b.float().numpy()))
        i += 3
    return chain_specs(layers, net.head.weight.detach().t().float().numpy().copy(),
                       net.head.bias.detach().float().numpy().copy())


def chain_specs(layers, head_kernel, head_bias):
    """kerash5 specs of the exported chain: layers are ("pool",) or ("conv",
    kernel in Keras' HWIO layout, bias), named as Keras names them, then
    global average pooling and the Dense head."""
    specs, shape, count = [], (SIZE, SIZE, 3), {}
    for kind, *w in layers:
        base = "conv2d" if kind == "conv" else "max_pooling2d"
        k = count.get(base, 0)
        count[base] = k + 1
        if kind == "conv":
            filters = int(w[0].shape[3])
            L = conv(filters, 3, 1, padding="same", act="relu", bias=True)
            L["w"] = {"kernel": w[0], "bias": w[1]}
            shape = shape[:2] + (filters,)
        else:
            L = pool("max", 2)
            L["w"] = {}
            shape = (shape[0] // 2, shape[1] // 2, shape[2])
        L["name"] = base + (f"_{k}" if k else "")
        L["in_shape"] = shape
        specs.append(L)
    return specs + head_specs(shape, head_kernel, head_bias)


def head_specs(shape, kernel, bias):
    g = gap()
    g["name"], g["in_shape"], g["w"] = "global_average_pooling2d", shape, {}
    d = dense(1, act="sigmoid")
    d["name"], d["in_shape"] = "dense", (shape[2],)
    d["w"] = {"kernel": kernel, "bias": bias}
    return [g, d]


# PANEL is the number of output channels huskyai's fastest convolution
# kernels take at once (the AVX-512 micro-kernel's panel; AVX2's is 16). A
# convolution with a multiple of it runs several times faster than one
# without: the 24-channel first layer took over half of an inference.
PANEL = 32


def pad_filters(specs, multiple=PANEL):
    """Adds zero filters to each convolution up to a multiple of `multiple`
    channels, and zero inputs for them to the next convolution or dense
    layer, where only pooling lies between. The outputs are the same: the
    new channels are ReLU(0) = 0 everywhere and weigh nothing."""
    for i, L in enumerate(specs):
        extra = -L["filters"] % multiple if L["cls"] == "Conv2D" else 0
        if not extra:
            continue
        j = next((j for j in range(i + 1, len(specs)) if specs[j]["cls"] in ("Conv2D", "Dense")), None)
        if j is None or any(M["cls"] not in ("MaxPooling2D", "GlobalAveragePooling2D") for M in specs[i + 1:j]):
            continue
        k, b = L["w"]["kernel"], L["w"]["bias"]
        L["w"]["kernel"] = np.concatenate([k, np.zeros(k.shape[:3] + (extra,), np.float32)], axis=3)
        L["w"]["bias"] = np.concatenate([b, np.zeros(extra, np.float32)])
        L["filters"] += extra
        for M in specs[i:j]:
            M["in_shape"] = M["in_shape"][:-1] + (M["in_shape"][-1] + extra,)
        nk = specs[j]["w"]["kernel"]
        axis = 2 if specs[j]["cls"] == "Conv2D" else 0
        pad = list(nk.shape)
        pad[axis] = extra
        specs[j]["w"]["kernel"] = np.concatenate([nk, np.zeros(pad, np.float32)], axis=axis)
        if specs[j]["cls"] == "Dense":
            specs[j]["in_shape"] = (specs[j]["in_shape"][0] + extra,)
    return specs


def write_model(specs, path, name, note, pad=True):
    """Writes the exported layers, their filters padded (pad_filters), with
    note in the root attribute huskyai_note."""
    if pad:
        specs = pad_filters(specs)
    write_sequential_h5(path, specs, (SIZE, SIZE, 3), name, {"huskyai_note": note.encode()})


def read_model(path):
    """The layers, name and note of a file export_h5 wrote, as net_specs
    gives them (with any padding of an earlier export left in), for
    --reexport."""
    import h5py
    with h5py.File(path, "r") as f:
        cfg = json.loads(f.attrs["model_config"])
        note = f.attrs["huskyai_note"]
        note = note.decode() if isinstance(note, bytes) else str(note)
        mw = f["model_weights"]
        w = lambda n, r: mw[n][n][r + ":0"][...]  # noqa: E731
        layers, head = [], (None, None)
        for lc in cfg["config"]["layers"]:
            n = lc["config"]["name"]
            if lc["class_name"] == "Conv2D":
                layers.append(("conv", w(n, "kernel"), w(n, "bias")))
            elif lc["class_name"] == "MaxPooling2D":
                layers.append(("pool",))
            elif lc["class_name"] == "Dense":
                head = (w(n, "kernel"), w(n, "bias"))
        specs = chain_specs(layers, *head)
        return specs, cfg["config"]["name"], note


# ---------------------------------------------------------------------------
# Training.


def metrics(p, y):
    p, y = np.asarray(p), np.asarray(y)
    pos, neg = y == 1, y == 0
    tpr = float((p[pos] > 0.5).mean()) if pos.any() else float("nan")
    tnr = float((p[neg] <= 0.5).mean()) if neg.any() else float("nan")
    # ROC AUC by ranks (Mann-Whitney), ties counted half.
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    ps = p[order]
    i = 0
    while i < len(p):
        j = i
        while j + 1 < len(p) and ps[j + 1] == ps[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    npos, nneg = pos.sum(), neg.sum()
    auc = float((ranks[pos].sum() - npos * (npos + 1) / 2) / (npos * nneg)) if npos and nneg else float("nan")
    return {"recall": tpr, "specificity": tnr, "balanced_accuracy": (tpr + tnr) / 2, "auc": auc}


class EMA:
    """An exponential moving average of a network's weights and batch-norm
    statistics, updated after every step: the averaged network is steadier
    than the last step's and is what gets validated and exported."""

    def __init__(self, net, decay):
        import copy
        self.model = copy.deepcopy(net)
        self.decay = decay
        for p in self.model.parameters():
            p.requires_grad_(False)

    def update(self, net):
        with torch.no_grad():
            for e, v in zip(self.model.state_dict().values(), net.state_dict().values()):
                if e.dtype.is_floating_point:
                    e.mul_(self.decay).add_(v, alpha=1 - self.decay)
                else:
                    e.copy_(v)


def teacher_targets(a, ims, y):
    """Soft targets for the training photos: (1-w)*label + w*teacher, where
    teacher is the ImageNet classifier's husky probability (centre crop of
    87.5%, as ImageNet models are evaluated) mapped through a logistic fit
    on these same training labels (the teacher's own scale is not a
    calibrated husky-or-not probability). The validation split is never
    shown to the teacher or the fit. Returns the targets, the teacher, the
    calibration (for teacher_pool) and the teacher's whole output
    distribution per photo (for --teacher-aux)."""
    from teacher import HUSKY_OUTPUTS, Teacher, centre_crop
    t0 = time.time()
    t = Teacher(a.teacher).eval()
    dist = []
    with torch.no_grad():
        for k in range(0, len(ims), 16):
            x = np.stack([centre_crop(im, t.size) for im in ims[k:k + 16]])
            dist.append(t(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()).numpy())
    dist = np.concatenate(dist).astype(np.float32)
    z = logit(dist[:, list(HUSKY_OUTPUTS)].sum(axis=1))
    # Class-balanced logistic regression of the label on the teacher's
    # logit: two parameters, Newton's method.
    wts = np.where(y == 1, 0.5 / max((y == 1).sum(), 1), 0.5 / max((y == 0).sum(), 1))
    ab = np.zeros(2)
    X = np.stack([z, np.ones_like(z)], 1)
    for _ in range(50):
        q = 1 / (1 + np.exp(-(X @ ab)))
        g = X.T @ (wts * (q - y))
        # A small ridge keeps the fit finite where the teacher separates
        # the training photos perfectly.
        g += 1e-4 * ab
        H = (X * (wts * q * (1 - q))[:, None]).T @ X + 1e-4 * np.eye(2)
        ab -= np.linalg.solve(H, g)
    q = 1 / (1 + np.exp(-(X @ ab)))
    m = metrics(q, y)
    log(f"teacher {os.path.basename(a.teacher)}: calibrated as sigmoid({ab[0]:.3f} * logit + {ab[1]:.3f}); "
        f"on the training photos recall {m['recall']:.3f} specificity {m['specificity']:.3f}; "
        f"{time.time() - t0:.0f} s")
    return ((1 - a.teacher_weight) * y + a.teacher_weight * q).astype(np.float32), t, ab, dist


def soften(dist, temperature):
    """The teacher's distributions at a temperature: p^(1/T), renormalized
    (softmax(logits / T) for a model whose last op is a softmax)."""
    q = np.power(np.clip(dist, 1e-12, None), 1.0 / temperature)
    return (q / q.sum(axis=1, keepdims=True)).astype(np.float32)


def logit(p):
    p = np.clip(np.asarray(p, np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def teacher_pool(a, t, ab, ims, y, others, rng):
    """Views of the training photos labelled by the teacher on that very
    view (consistent teaching): a random framing that cuts the dog out, or
    shrinks it to a speck, gets the teacher's lower score instead of the
    photo's. --teacher-views per photo (twice that per husky photo, which
    an epoch shows more often); the teacher sees each view at its own
    resolution from the photo at up to 448 pixels, the student the same
    box at 128. Returns the views (N,128,128,3 uint8), their targets and
    the photo each came from."""
    t0 = time.time()
    views, owner, ps, tin = [], [], [], []

    def flush():
        if tin:
            with torch.no_grad():
                x = torch.from_numpy(np.stack(tin)).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
                ps.append(t.husky(x).numpy())
            tin.clear()

    for i, im in enumerate(ims):
        for _ in range(a.teacher_views * (2 if y[i] == 1 else 1)):
            pic, box, _ = augment_view(rng, im, others)
            views.append(np.asarray(pic.resize((SIZE, SIZE), Image.BICUBIC, box=box), dtype=np.uint8))
            tin.append(np.asarray(pic.resize((t.size, t.size), Image.BILINEAR, box=box), dtype=np.float32))
            owner.append(i)
            if len(tin) == 32:
                flush()
        if i % 200 == 199:
            log(f"  teacher views: {i + 1}/{len(ims)} photos, {len(views)} views, {time.time() - t0:.0f} s")
    flush()
    q = 1 / (1 + np.exp(-(ab[0] * logit(np.concatenate(ps)) + ab[1])))
    owner = np.array(owner)
    target = ((1 - a.teacher_weight) * y[owner] + a.teacher_weight * q).astype(np.float32)
    drop = (y[owner] == 1) & (q < 0.5)
    log(f"teacher views: {len(views)} in {time.time() - t0:.0f} s; the teacher doubts {drop.sum()} of "
        f"{(y[owner] == 1).sum()} husky views (calibrated score below 0.5)")
    return np.stack(views), target, owner


def aux_loss(aux, aux_t, idx, temperature, device):
    """KL(teacher || student) at the temperature, times T^2 (Hinton et al.),
    over the real photos of the batch (synthetic ones have no teacher)."""
    real = torch.from_numpy(idx >= 0)
    q = aux_t[torch.from_numpy(idx[idx >= 0])].to(device)
    logp = F.log_softmax(aux[real.to(device)] / temperature, dim=1)
    return F.kl_div(logp, q, reduction="batchmean") * temperature ** 2


def resolve_precision(precision, device):
    """The --precision a run uses: auto becomes bfloat16 where the hardware
    has it (on a 2-core AVX-512 BF16 CPU a training step is 3-4 times
    faster than in float32: train/README.md), float32 elsewhere, where
    bfloat16 would be emulated and slower."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    try:
        with open("/proc/cpuinfo") as f:
            native = re.search(r"\b(avx512_bf16|amx_bf16)\b", f.read()) is not None
    except OSError:
        native = False
    return "bfloat16" if native else "float32"


def predict(net, x, bs=128):
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), bs):
            xb = torch.from_numpy(x[i:i + bs]).permute(0, 3, 1, 2).float().div_(255)
            xb = xb.to(next(net.parameters()).device, memory_format=torch.channels_last)
            out.append(torch.sigmoid(net(xb)).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "photos"),
                    help="DIR with husky/** and other/** (default ../shared/data/photos)")
    ap.add_argument("--out", required=True, help="the .h5 file to write")
    ap.add_argument("--val-dir", help="write the validation split here as symbolic links, for huskyai eval")
    ap.add_argument("--val-fraction", type=float, default=0.15)
    ap.add_argument("--epochs", type=int, default=88)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.004)
    ap.add_argument("--width", type=float, default=1.0, help="channel width multiplier")
    ap.add_argument("--synthetic", type=float, default=0.12, help="synthetic negatives per real image")
    ap.add_argument("--husky-repeat", type=int, default=3, help="times each husky photo is seen per epoch")
    ap.add_argument("--seed", type=int, default=20261204)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    ap.add_argument("--device", default="cpu", help="cpu (deterministic) or cuda")
    ap.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"),
                    help="arithmetic of the training steps: bfloat16 autocast (weights, loss and the exported "
                         "network stay float32) or float32; auto: bfloat16 where the processor computes it "
                         "natively (AVX-512 BF16 or AMX on CPU, a bf16 GPU), else float32")
    ap.add_argument("--limit", type=int, default=0, help="use at most N photos per class (smoke tests)")
    ap.add_argument("--name", default="huskyai_2026_12", help="the model's name in the file")
    ap.add_argument("--history", help="write per-epoch metrics here as JSON")
    ap.add_argument("--teacher", metavar="TFLITE",
                    help="an ImageNet classifier (.tflite) whose husky probability, calibrated on the training "
                         "split, softens each training photo's label (knowledge distillation)")
    ap.add_argument("--teacher-weight", type=float, default=0.5,
                    help="share of the teacher in a real photo's target (the label has the rest)")
    ap.add_argument("--teacher-views", type=int, default=0,
                    help="views per photo (twice per husky photo) that the teacher labels one by one (0: none, as "
                         "the shipped model; 4 measured worse: train/README.md)")
    ap.add_argument("--teacher-view-share", type=float, default=0.5,
                    help="share of a real photo's appearances that use one of its teacher-labelled views")
    ap.add_argument("--teacher-aux", type=float, default=0.25,
                    help="weight of a training-only head that learns the teacher's whole output distribution "
                         "(all its classes) on each real photo's views, as the shipped model was trained; 0: off")
    ap.add_argument("--teacher-temperature", type=float, default=2.0,
                    help="temperature of the teacher's distribution for --teacher-aux")
    ap.add_argument("--ema", type=float, default=0.998,
                    help="decay of the moving average of the weights that is validated and exported (0: off)")
    ap.add_argument("--reexport", metavar="FILE",
                    help="do not train: write FILE, an earlier output of train.py, again with this export (to --out)")
    a = ap.parse_args(argv)
    if a.reexport:
        specs, name, note = read_model(a.reexport)
        write_model(specs, a.out, name, note)
        log(f"wrote {a.out} from {a.reexport}")
        return

    t_start = time.time()
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(a.threads or os.cpu_count() or 1)
    rng = np.random.default_rng(a.seed)
    gen = torch.Generator().manual_seed(a.seed)

    items = list_images(a.data)
    if a.limit:
        items = [it for lab in (0, 1) for it in [x for x in items if x[1] == lab][:a.limit]]
    train_items, val_items = split(items, a.val_fraction, a.seed)
    log(f"data: {len(items)} files in {a.data}; train {len(train_items)}, validation {len(val_items)} "
        f"(split by source photo, seed {a.seed})")

    def load_all(its, what):
        ims, keep = [], []
        for it in its:
            im = load_image(os.path.join(a.data, it[0]))
            if im is None:
                log(f"  skipped {it[0]}: not an image")
                continue
            ims.append(im)
            keep.append(it)
        log(f"  {what}: {len(keep)} images decoded")
        return ims, keep

    t0 = time.time()
    train_ims, train_items = load_all(train_items, "train")
    val_ims, val_items = load_all(val_items, "validation")
    val_x = np.stack([serve_tensor(im) for im in val_ims]) if val_ims else np.zeros((0, SIZE, SIZE, 3), np.uint8)
    val_y = np.array([it[1] for it in val_items])
    train_ims_full = train_ims if a.teacher else None
    train_ims = [cache(im) for im in train_ims]
    train_y = np.array([it[1] for it in train_items])
    others = [im for im, y in zip(train_ims, train_y) if y == 0]
    log(f"  decoded in {time.time() - t0:.0f} s")
    soft_y = train_y.astype(np.float32)
    pool_x, pool_t, pool_of = None, None, [[] for _ in train_items]
    aux_t = None
    if a.teacher:
        soft_y, teacher, ab, dist = teacher_targets(a, train_ims_full, train_y)
        if a.teacher_aux > 0:
            aux_t = torch.from_numpy(soften(dist, a.teacher_temperature))
        if a.teacher_views > 0:
            pool_x, pool_t, owner = teacher_pool(
                a, teacher, ab, [cache(im, 448) for im in train_ims_full], train_y, others, rng)
            for j, i in enumerate(owner):
                pool_of[i].append(j)
        del train_ims_full, teacher

    if a.val_dir:
        for it in val_items:
            dst = os.path.join(a.val_dir, it[0])
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.lexists(dst):
                os.remove(dst)
            os.symlink(os.path.abspath(os.path.join(a.data, it[0])), dst)
        log(f"validation split: {len(val_items)} links under {a.val_dir}")

    device = torch.device(a.device)
    a.precision = resolve_precision(a.precision, device)
    # channels_last: 1.5x faster on CPU (oneDNN) than NCHW.
    net = Net(a.width, aux_t.shape[1] if aux_t is not None else 0).to(device, memory_format=torch.channels_last)
    # The exported network's parameters (the auxiliary head is not exported).
    nparams = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("aux."))
    log(f"model: stages {net.plan}, {nparams} parameters, {flops(net) / 1e6:.0f} MFLOP per image; "
        f"training in {a.precision}")

    pos_idx = np.flatnonzero(train_y == 1)
    neg_idx = np.flatnonzero(train_y == 0)
    n_syn = int(round(a.synthetic * len(train_y)))
    n_pos, n_neg = len(pos_idx) * a.husky_repeat, len(neg_idx) + n_syn
    per_epoch = n_pos + n_neg
    steps = max(1, per_epoch // a.batch)
    # Class weights: each class carries half of the loss.
    w_pos, w_neg = per_epoch / (2 * max(n_pos, 1)), per_epoch / (2 * max(n_neg, 1))
    log(f"epoch: {n_pos} husky views, {len(neg_idx)} other, {n_syn} synthetic; "
        f"{steps} steps of {a.batch}; class weights husky {w_pos:.2f}, other {w_neg:.2f}")

    ema = EMA(net, a.ema) if a.ema > 0 else None
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.epochs * steps, pct_start=0.15)
    history = []
    t_train = time.time()
    for epoch in range(1, a.epochs + 1):
        te = time.time()
        net.train()
        plan = np.concatenate([np.repeat(pos_idx, a.husky_repeat), neg_idx, -np.ones(n_syn, np.int64)])
        rng.shuffle(plan)
        tot, seen = 0.0, 0
        for s in range(steps):
            idx = plan[s * a.batch:(s + 1) * a.batch]
            xs, soft = [], []
            for i in idx:
                if i < 0:
                    xs.append(synthetic(rng))
                    soft.append(0)
                elif pool_of[i] and rng.random() < a.teacher_view_share:
                    j = pool_of[i][rng.integers(len(pool_of[i]))]
                    xs.append(pool_x[j][:, ::-1] if rng.random() < 0.5 else pool_x[j])
                    soft.append(pool_t[j])
                else:
                    xs.append(augment(rng, train_ims[i], others))
                    soft.append(soft_y[i])
            xs = np.stack(xs)
            ys = np.array([0 if i < 0 else train_y[i] for i in idx], np.float32)
            soft = np.array(soft, np.float32)
            x = jitter(torch.from_numpy(xs).permute(0, 3, 1, 2).float().div_(255), gen)
            # Synthetic images keep their exact colours half the time: the
            # grey shades and noise the probes use are never jittered.
            syn = torch.from_numpy(idx < 0)
            keep = syn & (torch.rand(len(idx), generator=gen) < 0.5)
            x[keep] = torch.from_numpy(xs[keep.numpy()]).permute(0, 3, 1, 2).float().div_(255)
            y = torch.from_numpy(ys)
            w = torch.where(y > 0.5, torch.tensor(w_pos), torch.tensor(w_neg))
            # Label smoothing of 0.05 keeps the logits finite.
            target = torch.from_numpy(soft) * 0.95 + 0.025
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.precision == "bfloat16"):
                logit, aux = net.forward_both(x.to(device, memory_format=torch.channels_last))
            logit, aux = logit.float(), (aux.float() if aux is not None else None)
            loss = (F.binary_cross_entropy_with_logits(logit, target.to(device), reduction="none") * w.to(device)).mean()
            if aux_t is not None and (idx >= 0).any():
                loss = loss + a.teacher_aux * aux_loss(aux, aux_t, idx, a.teacher_temperature, device)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update(net)
            tot += float(loss) * len(idx)
            seen += len(idx)
        final = ema.model if ema is not None else net
        m = metrics(predict(final, val_x), val_y) if len(val_y) else {}
        el = time.time() - t_train
        eta = el / epoch * (a.epochs - epoch)
        rec = {"epoch": epoch, "loss": tot / max(seen, 1), "seconds": time.time() - te, **m}
        history.append(rec)
        vm = " ".join(f"{k} {v:.4f}" for k, v in m.items())
        log(f"epoch {epoch}/{a.epochs}: loss {rec['loss']:.4f}; validation {vm}; "
            f"{rec['seconds']:.0f} s, ETA {eta / 60:.1f} min")

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    taught = (f", teacher {os.path.basename(a.teacher)} weight {a.teacher_weight}, "
              f"{a.teacher_views} views per photo, share {a.teacher_view_share}, "
              f"aux {a.teacher_aux} at T={a.teacher_temperature}") if a.teacher else ""
    note = (f"huskyai default model {a.name}: trained by train/train.py (seed {a.seed}, {a.epochs} epochs, "
            f"width {a.width}, {a.precision}{taught}) on {len(train_items)} photos; research and evaluation use of the training data")
    export_h5(final, a.out, a.name, note)
    log(f"wrote {a.out} ({os.path.getsize(a.out)} bytes) in {(time.time() - t_start) / 60:.1f} min")
    if a.history:
        # PyTorch's probabilities for the first validation images, from
        # Pillow's decoding: the Go engine's on the exported file should
        # agree to a few 1e-3 (decoders differ by a pixel level here and
        # there).
        probe = [{"file": it[0], "probability": float(p)}
                 for it, p in zip(val_items[:8], predict(final, val_x[:8]))]
        with open(a.history, "w") as f:
            json.dump({"args": vars(a), "train": len(train_items), "validation": len(val_items),
                       "params": nparams, "mflop": flops(net) / 1e6, "epochs": history, "probe": probe}, f, indent=1)


if __name__ == "__main__":
    main()
