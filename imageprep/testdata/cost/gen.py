#!/usr/bin/python3
"""Writes the fixtures of imageprep's decode-cost tests (cost_test.go) that
Go's encoders cannot: progressive JPEGs (4:2:0, 4:4:4, CMYK) and a
baseline CMYK one, 640x480 of smooth content (small files), made with
Debian's python3-pil:

    /usr/bin/python3 imageprep/testdata/cost/gen.py
"""
import os

import numpy as np
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
w, h = 640, 480
y, x = np.mgrid[0:h, 0:w]
rgb = np.dstack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)]).astype(np.uint8)
im = Image.fromarray(rgb)
im.save(os.path.join(here, "jpeg_420_prog_640x480.jpg"), quality=50, progressive=True, subsampling=2)
im.save(os.path.join(here, "jpeg_444_prog_640x480.jpg"), quality=50, progressive=True, subsampling=0)
im.convert("CMYK").save(os.path.join(here, "jpeg_cmyk_prog_640x480.jpg"), quality=50, progressive=True)
im.convert("CMYK").save(os.path.join(here, "jpeg_cmyk_640x480.jpg"), quality=50)
