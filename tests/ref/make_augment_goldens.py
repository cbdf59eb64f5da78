"""Write tests/golden/augment.bin: Pillow's output for every augmentation op of
include/am/augment.h at several magnitudes and the edge cases, plus op chains
and the weak view (numpy's np.pad mode='reflect' crop and a flip).

Each case is an op list in the engine's representation (op id, m[4] as
float32) applied to one input image; the expected output is what Pillow 13.0.0
(ImageOps, ImageEnhance, Image.rotate/transform, ImageDraw.rectangle) gives for
the same parameters, exactly as USB/TorchSSL's RandAugment calls them
(SPEC §4). Parameters are float32 values, so the C side sees the same numbers.

File format (little-endian):
  8 bytes  magic "AMAUG001"
  u32      number of images; per image: u32 H, u32 W, u32 C, H*W*C bytes (H,W,C)
  u32      number of cases; per case:
           u8 name length, name (ASCII), u32 image index, u32 number of ops,
           per op: i32 op id, 4 x f32 m, then H*W*C bytes: the expected output

Generated with pillow 13.0.0, numpy 2.4.6 (tests/ref/requirements.txt), Python
3.11. From the repo root:
  .venv-ref/bin/python tests/ref/make_augment_goldens.py
"""

import os
import struct
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "golden", "augment.bin")

# Op ids of include/am/augment.h (am_aug_op_id).
(IDENTITY, AUTOCONTRAST, EQUALIZE, ROTATE, SOLARIZE, COLOR, CONTRAST, BRIGHTNESS,
 SHARPNESS, SHEAR_X, SHEAR_Y, TRANSLATE_X, TRANSLATE_Y, POSTERIZE, CUTOUT,
 CROP_REFLECT, FLIP_X) = range(17)
NAMES = ["identity", "autocontrast", "equalize", "rotate", "solarize", "color", "contrast",
         "brightness", "sharpness", "shearx", "sheary", "translatex", "translatey",
         "posterize", "cutout", "cropreflect", "flipx"]


def f32(v):
    return float(np.float32(v))


def to_pil(a):
    return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a, "L" if a.shape[2] == 1 else "RGB")


def from_pil(im, c):
    a = np.asarray(im, dtype=np.uint8)
    return a.reshape(a.shape[0], a.shape[1], c).copy()


def apply_op(a, op, m):
    """One op on an (H,W,C) uint8 array, by Pillow (numpy for the weak view)."""
    h, w, c = a.shape
    m = [f32(v) for v in m]
    if op == IDENTITY:
        return a.copy()
    if op == CROP_REFLECT:
        ox, oy = int(m[0]), int(m[1])
        px, py = max(abs(ox), 1), max(abs(oy), 1)
        p = np.pad(a, ((py, py), (px, px), (0, 0)), mode="reflect")
        return p[py + oy:py + oy + h, px + ox:px + ox + w].copy()
    if op == FLIP_X:
        return a[:, ::-1].copy()
    im = to_pil(a)
    if op == AUTOCONTRAST:
        im = ImageOps.autocontrast(im)
    elif op == EQUALIZE:
        im = ImageOps.equalize(im)
    elif op == ROTATE:
        im = im.rotate(m[0])
    elif op == SOLARIZE:
        im = ImageOps.solarize(im, m[0])
    elif op == COLOR:
        im = ImageEnhance.Color(im).enhance(m[0])
    elif op == CONTRAST:
        im = ImageEnhance.Contrast(im).enhance(m[0])
    elif op == BRIGHTNESS:
        im = ImageEnhance.Brightness(im).enhance(m[0])
    elif op == SHARPNESS:
        im = ImageEnhance.Sharpness(im).enhance(m[0])
    elif op == SHEAR_X:
        im = im.transform(im.size, Image.AFFINE, (1, m[0], 0, 0, 1, 0))
    elif op == SHEAR_Y:
        im = im.transform(im.size, Image.AFFINE, (1, 0, 0, m[0], 1, 0))
    elif op == TRANSLATE_X:
        im = im.transform(im.size, Image.AFFINE, (1, 0, m[0] * im.size[0] + m[1], 0, 1, 0))
    elif op == TRANSLATE_Y:
        im = im.transform(im.size, Image.AFFINE, (1, 0, 0, 0, 1, m[0] * im.size[1] + m[1]))
    elif op == POSTERIZE:
        im = ImageOps.posterize(im, max(1, min(8, int(m[0]))))
    elif op == CUTOUT:
        # USB's CutoutAbs with the centre given (m1, m2) instead of drawn.
        v = m[0] * im.size[0]
        if v > 0:
            x0 = int(max(0, m[1] - v / 2.0))
            y0 = int(max(0, m[2] - v / 2.0))
            x1 = min(w, x0 + v)
            y1 = min(h, y0 + v)
            if m[3] >= 0:
                color = (int(min(m[3], 255)),) * 3
            else:
                color = (125, 123, 114)
            if c == 1:  # Pillow refuses an RGB colour on "L": use its luma
                color = color[0] if m[3] >= 0 else 123
            im = im.copy()
            ImageDraw.Draw(im).rectangle((x0, y0, x1, y1), color)
    else:
        raise ValueError(op)
    return from_pil(im, c)


def make_images():
    rng = np.random.default_rng(20261129)
    imgs = {}

    def grad_noise(h, w, c, amp=60):
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)),
                         ((x + y) * 255 // max(w + h - 2, 1))], axis=-1)[:, :, :c]
        n = rng.integers(-amp, amp + 1, size=(h, w, c))
        return np.clip(base + n, 0, 255).astype(np.uint8)

    imgs["rgb32x24"] = grad_noise(24, 32, 3)
    imgs["rgb17x13"] = grad_noise(13, 17, 3)
    imgs["rgb32sq"] = grad_noise(32, 32, 3)
    imgs["gray23x19"] = grad_noise(19, 23, 1)
    imgs["gray16sq"] = grad_noise(16, 16, 1)
    imgs["rgbnoise9x11"] = rng.integers(0, 256, size=(11, 9, 3), dtype=np.uint8)
    for (h, w) in [(1, 1), (2, 2), (3, 3), (1, 5), (5, 1), (2, 7)]:
        imgs[f"rgb{w}x{h}"] = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        imgs[f"gray{w}x{h}"] = rng.integers(0, 256, size=(h, w, 1), dtype=np.uint8)
    imgs["rgbuniform"] = np.full((6, 8, 3), (77, 200, 13), dtype=np.uint8)
    imgs["grayuniform"] = np.full((6, 8, 1), 140, dtype=np.uint8)
    two = np.where(rng.random((7, 9, 1)) < 0.3, 40, 90).astype(np.uint8)
    imgs["graytwo"] = two
    imgs["rgblowcontrast"] = rng.integers(100, 141, size=(10, 12, 3), dtype=np.uint8)
    # Equalize where the LUT exceeds 255 before Image.point clips it:
    # 509 pixels below 255 and 20 at 255 -> step 1.
    e = np.concatenate([rng.integers(0, 255, size=509), np.full(20, 255)]).astype(np.uint8)
    imgs["grayeqclip"] = rng.permutation(e).reshape(23, 23, 1)
    # Beyond the 16.16 fixed-point range: Pillow's double-precision path.
    imgs["graywide"] = rng.integers(0, 256, size=(1, 33000, 1), dtype=np.uint8)
    imgs["graytall"] = rng.integers(0, 256, size=(33000, 1, 1), dtype=np.uint8)
    # A real photo: a crop of data/samples/chelsea.png, downscaled.
    photo = Image.open(os.path.join(ROOT, "data", "samples", "chelsea.png")).convert("RGB")
    photo = photo.crop((40, 20, 190, 145)).resize((36, 30), Image.LANCZOS)
    imgs["photo36x30"] = np.asarray(photo, dtype=np.uint8).copy()
    imgs["photogray36x30"] = np.asarray(photo.convert("L"), dtype=np.uint8)[:, :, None].copy()
    return imgs


def single(op, *m):
    return [(op, list(m) + [0.0] * (4 - len(m)))]


def cases_for(name, a):
    h, w, c = a.shape
    out = []
    out.append(("identity", single(IDENTITY)))
    out.append(("autocontrast", single(AUTOCONTRAST)))
    out.append(("equalize", single(EQUALIZE)))
    for ang in [0.0, 90.0, 180.0, 270.0, -90.0, 360.0, -360.0, 450.0, 30.0, -30.0, 17.3,
                -23.7, 45.0, 0.5, 1e-6, 179.99, 359.9, 12.0, -27.0]:
        out.append((f"rotate {ang}", single(ROTATE, ang)))
    for t in [0.0, 1.0, 77.25, 128.0, 200.5, 255.0, 256.0]:
        out.append((f"solarize {t}", single(SOLARIZE, t)))
    for op in [COLOR, CONTRAST, BRIGHTNESS, SHARPNESS]:
        for f in [0.0, 0.05, 0.37, 0.5, 0.95, 1.0, 1.28, 1.72, -0.4]:
            out.append((f"{NAMES[op]} {f}", single(op, f)))
    for op in [SHEAR_X, SHEAR_Y]:
        for v in [-0.3, -0.17, 0.0, 0.05, 0.2934, 0.3]:
            out.append((f"{NAMES[op]} {v}", single(op, v)))
    for op in [TRANSLATE_X, TRANSLATE_Y]:
        for v in [-0.3, -0.11, 0.0, 0.2, 0.3, 0.0417]:
            out.append((f"{NAMES[op]} {v}", single(op, v)))
        for px in [-3.0, 2.0, 9.0]:
            out.append((f"{NAMES[op]} {px}px", single(op, 0.0, px)))
    for b in [1, 2, 4, 5, 7, 8]:
        out.append((f"posterize {b}", single(POSTERIZE, float(b))))
    for frac, cx, cy, fill in [(0.0, 5.0, 5.0, -1.0), (0.25, w * 0.5, h * 0.5, -1.0),
                               (0.49, float(w), float(h), -1.0), (0.001, 1.5, 2.25, -1.0),
                               (0.4, 1.2, float(h) - 0.3, -1.0), (0.5, w * 0.7, h * 0.2, 127.0),
                               (0.13, w * 0.33, h * 0.9, 127.0)]:
        out.append((f"cutout {frac} {cx} {cy} {fill}", single(CUTOUT, frac, cx, cy, fill)))
    px, py = w // 8, h // 8
    for ox, oy in [(px, py), (-px, -py), (px, -py), (0, py), (-px, 0), (1, -1)]:
        if abs(ox) <= max(px, 0) and abs(oy) <= max(py, 0) and (abs(ox) < w and abs(oy) < h):
            out.append((f"cropreflect {ox} {oy}", single(CROP_REFLECT, float(ox), float(oy))))
            out.append((f"weak {ox} {oy} flip", [(CROP_REFLECT, [float(ox), float(oy), 0, 0]),
                                                 (FLIP_X, [0.0] * 4)]))
    out.append(("flipx", single(FLIP_X)))
    return [(f"{name}: {n}", ops) for n, ops in out]


def edge_cases(name, a):
    """A lighter set for tiny and special images."""
    h, w, c = a.shape
    out = [("autocontrast", single(AUTOCONTRAST)), ("equalize", single(EQUALIZE))]
    for ang in [90.0, 180.0, 270.0, 33.3, -61.0]:
        out.append((f"rotate {ang}", single(ROTATE, ang)))
    for op in [COLOR, CONTRAST, BRIGHTNESS, SHARPNESS]:
        for f in [0.3, 1.72]:
            out.append((f"{NAMES[op]} {f}", single(op, f)))
    out += [("shearx 0.3", single(SHEAR_X, 0.3)), ("sheary -0.25", single(SHEAR_Y, -0.25)),
            ("translatex 0.3", single(TRANSLATE_X, 0.3)),
            ("translatey -0.3", single(TRANSLATE_Y, -0.3)),
            ("solarize 100", single(SOLARIZE, 100.0)), ("posterize 3", single(POSTERIZE, 3.0)),
            ("cutout", single(CUTOUT, 0.4, w * 0.6, h * 0.4, -1.0)), ("flipx", single(FLIP_X))]
    return [(f"{name}: {n}", ops) for n, ops in out]


def chains(name, a, rng, count):
    """Random USB-style chains: weak view, 3 ops with USB magnitudes, Cutout."""
    h, w, c = a.shape
    ranges = {COLOR: (0.05, 0.95), CONTRAST: (0.05, 0.95), BRIGHTNESS: (0.05, 0.95),
              SHARPNESS: (0.05, 0.95), ROTATE: (-30, 30), SHEAR_X: (-0.3, 0.3),
              SHEAR_Y: (-0.3, 0.3), TRANSLATE_X: (-0.3, 0.3), TRANSLATE_Y: (-0.3, 0.3),
              SOLARIZE: (0, 256)}
    out = []
    for k in range(count):
        ops = []
        px, py = w // 8, h // 8
        ops.append((CROP_REFLECT, [float(rng.integers(-px, px + 1)), float(rng.integers(-py, py + 1)), 0, 0]))
        if rng.random() < 0.5:
            ops.append((FLIP_X, [0.0] * 4))
        for _ in range(3):
            op = int(rng.integers(0, 14))
            if op == POSTERIZE:
                m0 = float(4 + int(rng.integers(0, 4)))
            elif op in ranges:
                lo, hi = ranges[op]
                m0 = f32(lo + (hi - lo) * rng.random())
            else:
                m0 = 0.0
            ops.append((op, [m0, 0.0, 0.0, 0.0]))
        ops.append((CUTOUT, [f32(0.5 * rng.random()), f32(w + (1 - w) * rng.random()),
                             f32(h + (1 - h) * rng.random()), -1.0]))
        out.append((f"{name}: chain {k} " + "+".join(NAMES[o] for o, _ in ops), ops))
    return out


def main():
    imgs = make_images()
    names = list(imgs)
    index = {n: i for i, n in enumerate(names)}
    rng = np.random.default_rng(7)
    cases = []
    for n in ["rgb32x24", "rgb17x13", "gray23x19", "photo36x30"]:
        cases += [(index[n], cn, ops) for cn, ops in cases_for(n, imgs[n])]
    for n in ["rgb32sq", "gray16sq"]:  # square: the transposes of rotate
        cases += [(index[n], cn, ops) for cn, ops in cases_for(n, imgs[n])
                  if ": rotate" in cn]
    for n in ["rgb32sq", "gray16sq", "rgbnoise9x11", "photogray36x30", "rgblowcontrast"]:
        cases += [(index[n], cn, ops) for cn, ops in edge_cases(n, imgs[n])]
    for n in names:
        if any(n.startswith(p) for p in ("rgb1x", "rgb2x", "rgb3x", "rgb5x", "rgb7x",
                                          "gray1x", "gray2x", "gray3x", "gray5x", "gray7x")):
            cases += [(index[n], cn, ops) for cn, ops in edge_cases(n, imgs[n])]
    for n in ["rgbuniform", "grayuniform", "graytwo"]:
        for cn, ops in [("autocontrast", single(AUTOCONTRAST)), ("equalize", single(EQUALIZE)),
                        ("contrast 0.3", single(CONTRAST, 0.3)),
                        ("contrast 1.72", single(CONTRAST, 1.72)),
                        ("sharpness 1.72", single(SHARPNESS, 1.72)),
                        ("color 0.3", single(COLOR, 0.3))]:
            cases.append((index[n], f"{n}: {cn}", ops))
    cases.append((index["grayeqclip"], "grayeqclip: equalize", single(EQUALIZE)))
    cases.append((index["grayeqclip"], "grayeqclip: autocontrast", single(AUTOCONTRAST)))
    for n, op, v in [("graywide", SHEAR_X, 0.2), ("graywide", ROTATE, 0.01),
                     ("graytall", SHEAR_Y, -0.2), ("graytall", ROTATE, -0.01)]:
        cases.append((index[n], f"{n}: {NAMES[op]} {v}", single(op, v)))
    for n in ["rgb32x24", "gray23x19", "photo36x30", "rgb17x13"]:
        cases += [(index[n], cn, ops) for cn, ops in chains(n, imgs[n], rng, 12)]

    blob = bytearray(b"AMAUG001")
    blob += struct.pack("<I", len(names))
    for n in names:
        a = imgs[n]
        blob += struct.pack("<III", *a.shape) + a.tobytes()
    blob += struct.pack("<I", len(cases))
    per_op = {}
    for ii, cn, ops in cases:
        a = imgs[names[ii]]
        r = a
        for op, m in ops:
            r = apply_op(r, op, m)
        assert r.shape == a.shape and r.dtype == np.uint8, cn
        nm = cn.encode("ascii")
        assert len(nm) < 256
        blob += struct.pack("<B", len(nm)) + nm + struct.pack("<II", ii, len(ops))
        for op, m in ops:
            blob += struct.pack("<i4f", op, *[f32(v) for v in m])
        blob += r.tobytes()
        key = NAMES[ops[0][0]] if len(ops) == 1 else ("weak" if len(ops) == 2 else "chain")
        per_op[key] = per_op.get(key, 0) + 1
    with open(OUT, "wb") as f:
        f.write(blob)
    print(f"wrote {OUT}: {len(names)} images, {len(cases)} cases, {len(blob)} bytes")
    print("cases per op:", ", ".join(f"{k} {v}" for k, v in sorted(per_op.items())))


if __name__ == "__main__":
    sys.exit(main())
