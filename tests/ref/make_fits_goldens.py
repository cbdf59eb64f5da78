"""Write the FITS fixtures and the stretch goldens (astropy and fitsbolt).

Outputs
  tests/data/fits/*.fits, *.fits.fz   small FITS files written by astropy: every
      BITPIX, BSCALE/BZERO, NaN pixels, named extensions, a cube, a tile-
      compressed (RICE) HDU; and bad ones: a truncated data unit, a damaged
      header, BITPIX 12, an all-NaN image, bands of two sizes; obj_g.fits and obj_r.fits
      hold mef.fits's bands G and R one file each.
  tests/golden/fits_raw.bin   the pixels astropy reads: magic b'AMFR', u32 count,
      per case: str file, str ext, u32 w, h, planes, sample type (0 u8, 1 u16,
      2 other integer, 3 float), then float32 (h, w, planes) as astropy's .data
      (planes last; BLANK-free, so NaN only where the file has NaN).
  tests/golden/stretch.bin   the Python tool's preprocessing of those files:
      magic b'AMSG', u32 count, per case: str name, str file, str ext, u32 stretch
      (0 none, 1 linear, 2 percentile, 3 log, 4 asinh, 5 zscale), f32 asinh scale,
      clip, u32 clip samples (0 = all), f32 log a, u32 size, channels, bands,
      f32 combine (channels x bands), then the uint8 result (size, size, channels).
      none: fitsbolt's conversion at the file's size, then Pillow's BILINEAR resize
      (AnomalyMatch's load_and_process_wrapper); other stretches: fitsbolt's
      _process_image (cv2 resize, combination, normalisation). percentile (am's
      own): fitsbolt's resize and combination, then its percentile limits and a
      linear map, img_as_ubyte.
  tests/golden/zscale.bin   astropy's ZScaleInterval limits: magic b'AMZS', u32
      count, per case u32 n, u32 n_samples, f32 contrast, f64 vmin, vmax, float32 data.
  str = u32 length + bytes.

astropy 8.0.2, fitsbolt 0.3.1, opencv-python-headless 5.1.0.95, pillow 13.0.0,
numpy 2.4.6 (tests/ref/requirements.txt):
  .venv-ref/bin/python tests/ref/make_fits_goldens.py
"""

import os
import struct

import numpy as np
from astropy.io import fits
from astropy.visualization import ZScaleInterval
from PIL import Image

from fitsbolt.cfg.create_config import create_config
from fitsbolt.image_loader import _process_image
from fitsbolt.normalisation.NormalisationMethod import NormalisationMethod as NM
from fitsbolt.normalisation.normalisation import _percentile_clip_vmin_vmax
from fitsbolt.resize import _resize_image
from fitsbolt.channel_mixing import batch_channel_combination
from skimage.util import img_as_ubyte

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "golden")
DATA = os.path.join(ROOT, "tests", "data", "fits")

STRETCH = {"none": 0, "linear": 1, "percentile": 2, "log": 3, "asinh": 4, "zscale": 5}
METHOD = {"none": NM.CONVERSION_ONLY, "linear": NM.LINEAR, "log": NM.LOG, "asinh": NM.ASINH, "zscale": NM.ZSCALE}


def sky(rng, h, w, bands=1, nan=0):
    """Sky background, noise, a galaxy-like source and a star; nan bad pixels."""
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for b in range(bands):
        img = 100.0 + 3.0 * b + rng.normal(0, 4.0 + b, (h, w))
        r2 = ((x - w * 0.45) ** 2 + (y - h * 0.55) ** 2 * 1.6) / (w * 0.12) ** 2
        img += (400.0 - 120 * b) * np.exp(-r2)
        img += (2000.0 + 500 * b) * np.exp(-((x - w * 0.8) ** 2 + (y - h * 0.2) ** 2) / 2.0)
        out.append(img)
    a = np.stack(out, axis=-1).astype(np.float32)
    for _ in range(nan):
        a[rng.integers(0, h), rng.integers(0, w), :] = np.nan
    return a


def sample_type(data):
    if data.dtype == np.uint8:
        return 0
    if data.dtype == np.uint16:
        return 1
    if np.issubdtype(data.dtype, np.integer):
        return 2
    return 3


def s(b):
    b = b.encode()
    return struct.pack("<I", len(b)) + b


def write_fixtures(rng):
    os.makedirs(DATA, exist_ok=True)
    f = {}
    a = sky(rng, 40, 40, nan=6)[..., 0]
    fits.PrimaryHDU(a).writeto(os.path.join(DATA, "f32_nan.fits"), overwrite=True)
    fits.PrimaryHDU(a.astype(np.float64) * 1e-3).writeto(os.path.join(DATA, "f64.fits"), overwrite=True)
    b = sky(rng, 48, 36)[..., 0]
    fits.PrimaryHDU(np.clip(b, 0, 255).astype(np.uint8)).writeto(os.path.join(DATA, "u8.fits"), overwrite=True)
    fits.PrimaryHDU((b * 20).astype(np.uint16)).writeto(os.path.join(DATA, "u16.fits"), overwrite=True)
    fits.PrimaryHDU((b - 150).astype(np.int16)).writeto(os.path.join(DATA, "i16.fits"), overwrite=True)
    fits.PrimaryHDU((b * 1000).astype(np.int32)).writeto(os.path.join(DATA, "i32.fits"), overwrite=True)
    fits.PrimaryHDU((b * 100000).astype(np.int64)).writeto(os.path.join(DATA, "i64.fits"), overwrite=True)
    scaled = fits.PrimaryHDU(b.astype(np.float64))
    scaled.scale("int16", bscale=0.25, bzero=300.0)
    scaled.writeto(os.path.join(DATA, "i16_scaled.fits"), overwrite=True)
    # Named extensions: an empty primary, then two bands and a variance.
    g = sky(rng, 32, 32, bands=2, nan=3)
    hdus = [fits.PrimaryHDU(), fits.ImageHDU(g[..., 0], name="G"), fits.ImageHDU(g[..., 1], name="R"),
            fits.ImageHDU(np.abs(g[..., 0]) + 1, name="VAR")]
    fits.HDUList(hdus).writeto(os.path.join(DATA, "mef.fits"), overwrite=True)
    # The same two bands one file each (an object stored per band: obj_{band}.fits).
    fits.PrimaryHDU(g[..., 0]).writeto(os.path.join(DATA, "obj_g.fits"), overwrite=True)
    fits.PrimaryHDU(g[..., 1]).writeto(os.path.join(DATA, "obj_r.fits"), overwrite=True)
    # A cube of two planes (astropy's (planes, h, w)).
    c = sky(rng, 30, 30, bands=2)
    fits.PrimaryHDU(np.moveaxis(c, -1, 0)).writeto(os.path.join(DATA, "cube.fits"), overwrite=True)
    # Tile-compressed.
    z = sky(rng, 64, 64)[..., 0]
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(z, compression_type="RICE_1", quantize_level=16.0)]).writeto(
        os.path.join(DATA, "comp.fits.fz"), overwrite=True)
    # Bad files.
    raw = open(os.path.join(DATA, "f32_nan.fits"), "rb").read()
    open(os.path.join(DATA, "truncated.fits"), "wb").write(raw[: 2880 + 3000])
    open(os.path.join(DATA, "bad_header.fits"), "wb").write(b"SIMPLE  = T" + b"\x00\xff garbage " * 300)
    raw = open(os.path.join(DATA, "u8.fits"), "rb").read()
    bitpix = b"BITPIX  =                    8"
    assert bitpix in raw
    open(os.path.join(DATA, "bad_bitpix.fits"), "wb").write(raw.replace(bitpix, b"BITPIX  =                   12", 1))
    fits.PrimaryHDU(np.full((20, 20), np.nan, np.float32)).writeto(os.path.join(DATA, "all_nan.fits"), overwrite=True)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((20, 20), np.float32), name="A"),
                  fits.ImageHDU(np.ones((20, 24), np.float32), name="B")]).writeto(
        os.path.join(DATA, "sizes.fits"), overwrite=True)
    return f


def read(path, ext):
    """The pixels (h, w, planes) as astropy gives them, ext as am's --fits-ext."""
    with fits.open(path) as hdul:
        if not ext:
            for h in hdul:
                if h.data is not None and h.data.ndim in (2, 3):
                    d = h.data
                    break
            return np.moveaxis(d, 0, -1).copy() if d.ndim == 3 else d[..., None].copy()
        parts = [p if not p.isdigit() else int(p) for p in ext.split(",")]
        ds = [hdul[p].data for p in parts]
        return np.stack(ds, axis=-1).copy() if len(ds) > 1 else (
            np.moveaxis(ds[0], 0, -1).copy() if ds[0].ndim == 3 else ds[0][..., None].copy())


def process(raw, stretch, size, C, comb, clip, scale, samples):
    N = raw.shape[-1]
    kw = dict(normalisation_method=METHOD.get(stretch, NM.LINEAR), n_output_channels=C,
              channel_combination=comb, norm_asinh_scale=[scale], norm_asinh_clip=[clip],
              norm_asinh_n_samples=samples or None)
    if stretch == "none":
        cfg = create_config(size=None, **kw)
        cfg.n_expected_channels = [N]
        u = _process_image(raw.copy(), cfg)
        if u.ndim == 2:
            u = u[..., None]
        if u.shape[:2] != (size, size):
            im = Image.fromarray(u[..., 0] if C == 1 else u, "L" if C == 1 else "RGB")
            u = np.asarray(im.resize((size, size), Image.BILINEAR))
            u = u[..., None] if u.ndim == 2 else u
        return u
    cfg = create_config(size=[size, size], **kw)
    cfg.n_expected_channels = [N]
    if stretch == "percentile":
        img = _resize_image(raw.copy(), cfg, output_dtype=None, do_type_conversion=False)
        if img.ndim == 2:
            img = img[..., None]
        from fitsbolt.cfg.create_config import recompute_config_channel_combination
        if cfg.get("channel_combination") is None:
            recompute_config_channel_combination(cfg)
        img = batch_channel_combination(img[None], cfg.channel_combination)[0]
        img = np.nan_to_num(img, nan=0.0, posinf=0.0, neginf=0.0)
        lims = [_percentile_clip_vmin_vmax(img if C == 1 else img[..., c], clip, samples or None) for c in range(C)]
        lo, hi = min(l[0] for l in lims), max(l[1] for l in lims)
        v = np.clip((img.astype(np.float64) - lo) / (hi - lo), 0, 1)
        return img_as_ubyte(v)
    u = _process_image(raw.copy(), cfg)
    return u[..., None] if u.ndim == 2 else u


def main():
    rng = np.random.default_rng(12)
    write_fixtures(rng)
    # ---- the reader ----
    raw_cases = [("f32_nan.fits", ""), ("f64.fits", ""), ("u8.fits", ""), ("u16.fits", ""), ("i16.fits", ""),
                 ("i32.fits", ""), ("i64.fits", ""), ("i16_scaled.fits", ""), ("mef.fits", ""), ("mef.fits", "R"),
                 ("mef.fits", "2"), ("mef.fits", "G,R"), ("mef.fits", "1,2,3"), ("cube.fits", ""),
                 ("comp.fits.fz", ""), ("comp.fits.fz", "1")]
    out = [b"AMFR", struct.pack("<I", len(raw_cases))]
    for name, ext in raw_cases:
        d = read(os.path.join(DATA, name), ext)
        h, w, p = d.shape
        out += [s("data/fits/" + name), s(ext), struct.pack("<IIII", w, h, p, sample_type(d)),
                d.astype("<f4").tobytes()]
    open(os.path.join(GOLDEN, "fits_raw.bin"), "wb").write(b"".join(out))
    # ---- the preprocessing ----
    cases = []
    for name in ["f32_nan.fits", "u8.fits", "u16.fits", "i16.fits", "i16_scaled.fits", "f64.fits", "comp.fits.fz"]:
        for st in ["none", "linear", "percentile", "log", "asinh", "zscale"]:
            for size in ([24, 64] if name == "f32_nan.fits" else [32]):
                cases.append((name, "", st, size, 1, None, 99.8, 0.7, 2000))
    for st in ["none", "asinh", "zscale", "log"]:
        cases.append(("f32_nan.fits", "", st, 40, 3, None, 99.8, 0.7, 2000))  # same size, 1 -> 3
        cases.append(("mef.fits", "G,R", st, 24, 3, [[1, 0], [0.5, 0.5], [0, 1]], 99.8, 0.7, 2000))
        cases.append(("cube.fits", "", st, 48, 3, [[1, 0], [0.5, 0.5], [0, 1]], 99.8, 0.7, 2000))
        cases.append(("mef.fits", "1,2", st, 28, 1, [[0.5, 0.5]], 99.8, 0.7, 2000))
        cases.append(("mef.fits", "G,R", st, 20, 3, [[2, 0], [1, 1], [0, 3]], 99.8, 0.7, 2000))
    # asinh's parameters and the exact percentiles; a wide image (stride nudge).
    cases.append(("f32_nan.fits", "", "asinh", 32, 1, None, 99.0, 0.1, 0))
    cases.append(("f32_nan.fits", "", "asinh", 32, 1, None, 95.0, 2.0, 100))
    cases.append(("cube.fits", "", "asinh", 30, 3, [[1, 0], [0.5, 0.5], [0, 1]], 99.8, 0.7, 100))
    cases.append(("mef.fits", "G,R", "percentile", 24, 3, [[1, 0], [0.5, 0.5], [0, 1]], 90.0, 0.7, 300))
    out = [b"AMSG", struct.pack("<I", len(cases))]
    for name, ext, st, size, C, comb, clip, scale, samples in cases:
        raw = read(os.path.join(DATA, name), ext)
        cm = None if comb is None else np.array(comb, np.float64)
        if cm is not None:  # the Python tool divides rows that sum to more than 1
            sums = cm.sum(axis=1, keepdims=True)
            cm = np.where(sums > 1, cm / np.where(sums > 1, sums, 1), cm)
        u = process(raw, st, size, C, cm, clip, scale, samples)
        assert u.shape == (size, size, C) and u.dtype == np.uint8, (name, st, u.shape, u.dtype)
        bands = 0 if cm is None else cm.shape[1]
        label = f"{name}[{ext}] {st} {size}px C{C}" + (f" combine{comb}" if comb else "") + f" clip{clip} s{scale} n{samples}"
        out += [s(label), s("data/fits/" + name), s(ext),
                struct.pack("<I", STRETCH[st]),
                struct.pack("<ffIf", scale, clip, samples, 1000.0), struct.pack("<III", size, C, bands)]
        if bands:
            out.append(cm.astype("<f4").tobytes())
        out.append(u.tobytes())
    open(os.path.join(GOLDEN, "stretch.bin"), "wb").write(b"".join(out))
    # ---- astropy's zscale limits ----
    zs = []
    for n, ns, contrast in [(500, 1000, 0.25), (40 * 40, 1000, 0.25), (64 * 64, 1000, 0.25), (10000, 333, 0.5),
                            (3000, 1000, 0.1), (7, 1000, 0.25), (2000, 1000, 0.0)]:
        v = (rng.normal(100, 5, n) + (rng.random(n) < 0.05) * rng.exponential(300, n)).astype(np.float32)
        lo, hi = ZScaleInterval(n_samples=ns, contrast=contrast).get_limits(v)
        zs.append(struct.pack("<IIfdd", n, ns, contrast, float(lo), float(hi)) + v.astype("<f4").tobytes())
    for name in ["f32_nan.fits", "comp.fits.fz"]:
        v = np.nan_to_num(read(os.path.join(DATA, name), "").astype(np.float32), nan=0.0).ravel()
        lo, hi = ZScaleInterval().get_limits(v)
        zs.append(struct.pack("<IIfdd", v.size, 1000, 0.25, float(lo), float(hi)) + v.astype("<f4").tobytes())
    open(os.path.join(GOLDEN, "zscale.bin"), "wb").write(b"AMZS" + struct.pack("<I", len(zs)) + b"".join(zs))


if __name__ == "__main__":
    main()
