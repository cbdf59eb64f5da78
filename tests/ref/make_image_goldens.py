"""Write the Pillow goldens for image decoding and resizing.

Outputs
  tests/golden/resize.bin   cases of Pillow Image.resize((dw, dh), BILINEAR) on uint8
      images: magic b'AMRS', u32 count, then per case u32 sw, sh, C, dw, dh,
      the source bytes (sh, sw, C) and Pillow's result (dh, dw, C).
  tests/data/coffee_q90.jpg, tests/data/gray_q75.jpg   JPEGs written by Pillow,
  tests/golden/jpeg.bin     their RGB pixels as Pillow decodes them: magic b'AMJP',
      u32 count, per file u32 w, h and the (h, w, 3) bytes, in the order above.

Pillow 13.0.0, numpy 2.4.6 (tests/ref/requirements.txt):
  .venv-ref/bin/python tests/ref/make_image_goldens.py
"""

import os
import struct

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "golden")
DATA = os.path.join(ROOT, "tests", "data")


def smooth(rng, h, w, c):
    y, x = np.mgrid[0:h, 0:w]
    base = 128 + 100 * np.sin(x / 5.0 + 0.3 * c) * np.cos(y / 7.0)
    img = np.stack([base + 20 * k for k in range(c)], axis=-1) + rng.normal(0, 15, (h, w, c))
    return np.clip(img, 0, 255).astype(np.uint8)


def main():
    rng = np.random.default_rng(7)
    photo = np.asarray(Image.open(os.path.join(ROOT, "data", "samples", "chelsea.png")).convert("RGB"))
    cases = [
        (rng.integers(0, 256, (28, 28, 1), dtype=np.uint8), 64, 64),
        (smooth(rng, 150, 150, 1), 64, 64),
        (smooth(rng, 37, 100, 3), 64, 64),
        (photo, 64, 64),
        (photo, 150, 150),
        (smooth(rng, 64, 64, 3), 224, 224),
        (rng.integers(0, 256, (5, 7, 3), dtype=np.uint8), 33, 33),
        (smooth(rng, 200, 300, 3), 224, 224),
        (rng.integers(0, 256, (1, 1, 3), dtype=np.uint8), 32, 32),
        (smooth(rng, 64, 64, 1), 64, 32),
        (smooth(rng, 64, 64, 1), 32, 64),
    ]
    out = [b"AMRS", struct.pack("<I", len(cases))]
    for src, dw, dh in cases:
        h, w, c = src.shape
        im = Image.fromarray(src[:, :, 0] if c == 1 else src, "L" if c == 1 else "RGB")
        dst = np.asarray(im.resize((dw, dh), Image.BILINEAR)).reshape(dh, dw, c)
        out += [struct.pack("<5I", w, h, c, dw, dh), src.tobytes(), dst.tobytes()]
    with open(os.path.join(GOLDEN, "resize.bin"), "wb") as f:
        f.write(b"".join(out))

    os.makedirs(DATA, exist_ok=True)
    coffee = Image.open(os.path.join(ROOT, "data", "samples", "coffee.png")).convert("RGB")
    coffee.save(os.path.join(DATA, "coffee_q90.jpg"), quality=90)
    Image.fromarray(smooth(rng, 48, 40, 1)[:, :, 0], "L").save(os.path.join(DATA, "gray_q75.jpg"), quality=75)
    out = [b"AMJP", struct.pack("<I", 2)]
    for name in ("coffee_q90.jpg", "gray_q75.jpg"):
        px = np.asarray(Image.open(os.path.join(DATA, name)).convert("RGB"))
        out += [struct.pack("<2I", px.shape[1], px.shape[0]), px.tobytes()]
    with open(os.path.join(GOLDEN, "jpeg.bin"), "wb") as f:
        f.write(b"".join(out))
    print("wrote resize.bin (%d cases), jpeg.bin, 2 JPEGs" % len(cases))


if __name__ == "__main__":
    main()
