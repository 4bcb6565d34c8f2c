#!/usr/bin/python3
"""Generate the Pillow parity fixtures for package imageprep.

Run with Debian's Python, which has python3-pil 9.4 and numpy:

    cd imageprep/testdata && /usr/bin/python3 gen.py

It writes small seeded images to pillow/ and, for each, the bytes Pillow
produces for Image.open(p).convert("RGB").resize(size, filter) for each
filter and target size (saved as RGB PNGs), plus manifest.json. For JPEG
inputs it also saves Pillow's decoded RGB (decoders differ, so the Go test
compares those with a tolerance) and the resize of that decoded array.
unit.f32 holds np.arange(256).astype(np.float32) / 255.0, little-endian.
The output is deterministic.
"""

import io
import json
import os
import struct
import sys
import warnings
import zlib

import numpy as np
import PIL
from PIL import Image

OUT = "pillow"
FILTERS = {"box": Image.BOX, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
TARGETS = [(128, 128), (32, 24)]


def content(w, h, seed):
    """Gradients, hard-edged shapes, 1-pixel stripes and a noise patch."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = (x * 255 // max(w - 1, 1)).astype(np.uint8)
    a[..., 1] = (y * 255 // max(h - 1, 1)).astype(np.uint8)
    a[..., 2] = ((x + 2 * y) * 3 % 256).astype(np.uint8)
    # White rectangle and black disc: overshoot and undershoot for bicubic.
    a[h // 5 : h // 2, w // 6 : w // 2] = 255
    r = min(w, h) / 4
    a[(x - 2 * w / 3) ** 2 + (y - h / 2) ** 2 < r * r] = 0
    # One-pixel vertical and horizontal stripes.
    s = (slice(h // 2, h), slice(0, max(w // 4, 1)))
    a[s] = np.where(((x[s] % 2) == 0)[..., None], 250, 5).astype(np.uint8)
    s = (slice(0, max(h // 4, 1)), slice(w // 2, w))
    a[s] = np.where(((y[s] % 2) == 0)[..., None], 240, 20).astype(np.uint8)
    # Noise patch, bottom right.
    ph, pw = max(h // 5, 1), max(w // 5, 1)
    a[h - ph :, w - pw :] = rng.integers(0, 256, (ph, pw, 3), dtype=np.uint8)
    return a


def alpha(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    al = ((x * 7 + y * 13) % 256).astype(np.uint8)
    al[: h // 3, : w // 3] = 0  # fully transparent, colours still stored
    al[h // 2 :, w // 2 :] = rng.integers(0, 256, (h - h // 2, w - w // 2), dtype=np.uint8)
    return al


def png_chunk(t, data):
    c = struct.pack(">I", len(data)) + t + data
    return c + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)


def write_png16(path, arr, colortype):
    """Write a 16-bit PNG (Pillow cannot write 16-bit RGB or RGBA)."""
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[i].astype(">u2").tobytes() for i in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, colortype, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(png_chunk(b"IHDR", ihdr))
        f.write(png_chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(png_chunk(b"IEND", b""))


def gif_move_frame(data, screen, offset):
    """Enlarge a single-frame GIF's logical screen and move its frame."""
    b = bytearray(data)
    b[6:10] = struct.pack("<HH", *screen)
    p = 13
    if b[10] & 0x80:
        p += 3 << ((b[10] & 7) + 1)
    while b[p] == 0x21:
        p += 2
        while b[p]:
            p += 1 + b[p]
        p += 1
    assert b[p] == 0x2C
    b[p + 1 : p + 5] = struct.pack("<HH", *offset)
    return bytes(b)


def save(name, im, **kw):
    im.save(os.path.join(OUT, name), **kw)


def make_inputs():
    """Returns [(file name, kind)]; kind is "parity" or "jpeg"."""
    files = []
    for w, h in [(128, 128), (300, 200), (64, 48), (1000, 17), (129, 127)]:
        n = "rgb_%dx%d.png" % (w, h)
        save(n, Image.fromarray(content(w, h, w * h)))
        files.append(n)

    rgba = np.dstack([content(300, 200, 1), alpha(300, 200, 2)])
    save("rgba_300x200.png", Image.fromarray(rgba, "RGBA"))
    save("rgb_trns_64x48.png", Image.fromarray(content(64, 48, 3)), transparency=(255, 255, 255))
    save("l_300x200.png", Image.fromarray(content(300, 200, 4)).convert("L"))
    la = np.dstack([np.asarray(Image.fromarray(content(129, 127, 5)).convert("L")), alpha(129, 127, 6)])
    save("la_129x127.png", Image.fromarray(la, "LA"))
    save("bw_64x48.png", Image.fromarray(content(64, 48, 7)).convert("1"))
    p = Image.fromarray(content(300, 200, 8)).quantize(256)
    save("p_300x200.png", p)
    p16 = Image.fromarray(content(64, 48, 9)).quantize(16)
    save("p16_trns_64x48.png", p16, transparency=bytes([255, 0, 128] + [255] * 13))
    files += ["rgba_300x200.png", "rgb_trns_64x48.png", "l_300x200.png", "la_129x127.png",
              "bw_64x48.png", "p_300x200.png", "p16_trns_64x48.png"]

    # Low bytes that differ from the high ones, yet compress well.
    y, x = np.mgrid[0:100, 0:160]
    low = ((x * 37 + y * 11) % 256).astype(np.uint16)[..., None]
    c16 = content(160, 100, 10).astype(np.uint16) << 8 | low
    write_png16(os.path.join(OUT, "rgb16_160x100.png"), c16, 2)
    y, x = np.mgrid[0:127, 0:129]
    low = ((x * 5 + y * 3) % 256).astype(np.uint16)
    c16a = np.dstack([content(129, 127, 12).astype(np.uint16) << 8 | low[..., None],
                      alpha(129, 127, 13).astype(np.uint16) << 8 | low])
    write_png16(os.path.join(OUT, "rgba16_129x127.png"), c16a, 6)
    files += ["rgb16_160x100.png", "rgba16_129x127.png"]

    save("gif_300x200.gif", Image.fromarray(content(300, 200, 14)).quantize(256))
    g = Image.fromarray(content(129, 127, 15)).quantize(64)
    save("gif_trns_129x127.gif", g, transparency=3)
    save("gif_gray_64x48.gif", Image.fromarray(content(64, 48, 16)).convert("L"))
    b = io.BytesIO()
    Image.fromarray(content(64, 48, 17)).quantize(32).save(b, "GIF", transparency=5)
    with open(os.path.join(OUT, "gif_offset_trns_100x70.gif"), "wb") as f:
        f.write(gif_move_frame(b.getvalue(), (100, 70), (10, 5)))
    b = io.BytesIO()
    Image.fromarray(content(64, 48, 18)).quantize(32).save(b, "GIF")
    with open(os.path.join(OUT, "gif_offset_90x60.gif"), "wb") as f:
        f.write(gif_move_frame(b.getvalue(), (90, 60), (20, 3)))
    files += ["gif_300x200.gif", "gif_trns_129x127.gif", "gif_gray_64x48.gif",
              "gif_offset_trns_100x70.gif", "gif_offset_90x60.gif"]
    out = [(n, "parity") for n in files]

    j = Image.fromarray(content(160, 120, 19))
    save("jpeg_420_160x120.jpg", j, quality=90, subsampling=2)
    save("jpeg_444_160x120.jpg", j, quality=95, subsampling=0)
    save("jpeg_prog_160x120.jpg", j, quality=85, progressive=True)
    save("jpeg_422_q50_161x119.jpg", Image.fromarray(content(161, 119, 20)), quality=50, subsampling=1)
    save("jpeg_420_q75_97x61.jpg", Image.fromarray(content(97, 61, 21)), quality=75, subsampling=2)
    save("jpeg_gray_160x120.jpg", j.convert("L"), quality=90)
    save("jpeg_cmyk_160x120.jpg", j.convert("CMYK"), quality=90)
    out += [(n, "jpeg") for n in ["jpeg_420_160x120.jpg", "jpeg_444_160x120.jpg",
                                  "jpeg_prog_160x120.jpg", "jpeg_422_q50_161x119.jpg",
                                  "jpeg_420_q75_97x61.jpg", "jpeg_gray_160x120.jpg",
                                  "jpeg_cmyk_160x120.jpg"]]
    return out


def main():
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    # convert("RGB") of a PNG with a tRNS palette warns; that is expected.
    warnings.filterwarnings("ignore", "Palette images with Transparency")
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    manifest = {"pillow": PIL.__version__, "numpy": np.__version__, "images": []}
    for name, kind in make_inputs():
        im = Image.open(os.path.join(OUT, name))
        entry = {"file": name, "kind": kind, "format": im.format.lower(),
                 "mode": im.mode, "width": im.size[0], "height": im.size[1], "expected": []}
        rgb = im.convert("RGB")
        stem = os.path.splitext(name)[0]
        if kind == "jpeg":
            # Resample Pillow's own decode: this checks Resize on identical
            # input; the decoders themselves are compared with a tolerance.
            entry["decoded"] = stem + ".decoded.png"
            rgb.save(os.path.join(OUT, entry["decoded"]))
            plan = [("bicubic", (128, 128))]
        else:
            plan = [(f, t) for t in TARGETS for f in FILTERS]
        for fname, (w, h) in plan:
            e = "%s.%s.%dx%d.png" % (stem, fname, w, h)
            rgb.resize((w, h), FILTERS[fname]).save(os.path.join(OUT, e))
            entry["expected"].append({"filter": fname, "width": w, "height": h, "file": e})
        manifest["images"].append(entry)
    with open("manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    (np.arange(256).astype(np.float32) / 255.0).astype("<f4").tofile("unit.f32")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d images, %d files, %d bytes" % (len(manifest["images"]), len(os.listdir(OUT)), total),
          file=sys.stderr)


if __name__ == "__main__":
    main()
