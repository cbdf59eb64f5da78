"""Write the Pillow goldens for image decoding and resizing.

Outputs
  tests/golden/resize.bin   cases of Pillow Image.resize((dw, dh), BILINEAR) on uint8
      images: magic b'AMRS', u32 count, then per case u32 sw, sh, C, dw, dh,
      the source bytes (sh, sw, C) and Pillow's result (dh, dw, C).
  tests/data/coffee_q90.jpg, tests/data/gray_q75.jpg   JPEGs written by Pillow,
  tests/golden/jpeg.bin     their RGB pixels as Pillow decodes them: magic b'AMJP',
      u32 count, per file u32 w, h and the (h, w, 3) bytes, in the order above.
  tests/data/png_{palette_trns,rgba,gray16}.png, tests/golden/png.bin   PNG
      variants and the RGB bytes expected from them: magic b'AMPN', u32 count, per
      file u32 w, h and (h, w, 3) bytes, in that order. 8-bit files: Pillow's
      convert("RGB") (palette expanded, alpha dropped, not composited); the 16-bit
      gray file: round(v / 257) replicated to RGB (Pillow itself clips 16-bit
      samples to 255 instead of scaling them).
  tests/data/png_*.png, tests/golden/png.bin   PNG variants (palette with
      transparency, RGBA, LA, 1- and 4-bit gray, interlaced RGB, 16-bit gray and
      RGB): magic b'AMPN', u32 count, per file a u32 name length and the name, u32 w,
      h, the expected RGB bytes and the expected gray bytes: Pillow's
      convert("RGB") / convert("L") for 8-bit files; for 16-bit files round(v / 257)
      per channel and Pillow's luma of that for gray (Pillow itself clips 16-bit
      samples to 255 instead of scaling them).

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
    base = smooth(rng, 13, 17, 3)
    pal = Image.fromarray(base, "RGB").quantize(16)
    pal.save(os.path.join(DATA, "png_palette_trns.png"), transparency=3)
    rgba = np.dstack([base, rng.integers(0, 256, (13, 17), dtype=np.uint8)])
    Image.fromarray(rgba, "RGBA").save(os.path.join(DATA, "png_rgba.png"))
    g16 = rng.integers(0, 65536, (9, 11)).astype(np.uint16)
    Image.fromarray(g16).save(os.path.join(DATA, "png_gray16.png"))
    out = [b"AMPN", struct.pack("<I", 3)]
    for name in ("png_palette_trns.png", "png_rgba.png"):
        px = np.asarray(Image.open(os.path.join(DATA, name)).convert("RGB"))
        out += [struct.pack("<2I", px.shape[1], px.shape[0]), px.tobytes()]
    back = np.asarray(Image.open(os.path.join(DATA, "png_gray16.png"))).astype(np.int64)
    assert (back == g16).all()
    g8 = np.floor(g16.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
    out += [struct.pack("<2I", 11, 9), np.repeat(g8[:, :, None], 3, axis=2).tobytes()]
    with open(os.path.join(GOLDEN, "png.bin"), "wb") as f:
        f.write(b"".join(out))
    print("wrote resize.bin (%d cases), jpeg.bin, 2 JPEGs, png.bin, 3 PNGs" % len(cases))


if __name__ == "__main__":
    main()
