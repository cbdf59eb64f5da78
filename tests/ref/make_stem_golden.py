"""Write the golden of the pretrained stem adapted to other channel counts.

The Python AnomalyMatch tool (v1.3 and later) builds its model with
timm.create_model(..., pretrained=True, in_chans=C): timm adapts the 3-channel
ImageNet stem with adapt_input_conv (C = 1: the sum over RGB; other C: RGB
repeated in turn, cut to C, times 3 / C). This applies that function to the
stem of weights/lite0.amw.

Output tests/golden/stem_adapt.bin: magic b'AMSA', u32 count, per case u32 C,
O, kh, kw, then float32 (O, kh, kw, C) (am's layout).

timm 1.0.31, torch 2.11.0 (tests/ref/requirements.txt):
  .venv-ref/bin/python tests/ref/make_stem_golden.py
"""

import os
import struct

import numpy as np
import torch
from timm.models._manipulate import adapt_input_conv

import amtf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    w = amtf.read(os.path.join(ROOT, "weights", "lite0.amw"))["tensors"]["stem.conv"]  # (O, kh, kw, 3)
    oihw = torch.from_numpy(np.ascontiguousarray(w.transpose(0, 3, 1, 2)))
    out = [b"AMSA"]
    cases = [1, 2, 4, 5, 7]
    out.append(struct.pack("<I", len(cases)))
    for c in cases:
        a = adapt_input_conv(c, oihw.clone()).numpy().transpose(0, 2, 3, 1)  # (O, kh, kw, C)
        out.append(struct.pack("<IIII", c, *a.shape[:3]))
        out.append(np.ascontiguousarray(a, dtype="<f4").tobytes())
    with open(os.path.join(ROOT, "tests", "golden", "stem_adapt.bin"), "wb") as f:
        f.write(b"".join(out))


if __name__ == "__main__":
    main()
