#!/usr/bin/env python3
"""Writes a copy of an image set resized as the Python AnomalyMatch v1.0.0
loads it (its own AnomalyDetectionDataset._read_and_resize_image: imageio,
gray to RGB, skimage's anti-aliased resize, to uint8), as RGB PNGs of SIZE px,
with the set's labels.csv and truth.csv: am then trains on the tool's pixels
(its own resize is the identity at that size). bench/fmnist_protocol.sh uses
it for the rows `LOSS+toolresize`.

  tool_resize.py ANOMALYMATCH_DIR SRC_DIR DST_DIR SIZE
"""
import os
import shutil
import sys
import types

tool, src, dst, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, os.path.abspath(tool))
from PIL import Image  # noqa: E402
from anomaly_match.datasets.AnomalyDetectionDataset import AnomalyDetectionDataset  # noqa: E402

read = AnomalyDetectionDataset._read_and_resize_image
me = types.SimpleNamespace(size=[size, size])
os.makedirs(os.path.join(dst, "images"), exist_ok=True)
for f in ("labels.csv", "truth.csv"):
    shutil.copy(os.path.join(src, f), os.path.join(dst, f))
for name in sorted(os.listdir(os.path.join(src, "images"))):
    if name.endswith(".png"):
        Image.fromarray(read(me, os.path.join(src, "images", name))).save(os.path.join(dst, "images", name))
