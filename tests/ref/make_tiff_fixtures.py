"""Write the TIFF fixtures of src/data/tiff.c's tests and their goldens.

Outputs
  tests/data/tiff/*.tif   small TIFFs written by tifffile (no ImageDescription):
      readable:
        u8_gray.tif      uint8 gray 13 x 9
        u8_rgb.tif       uint8 RGB 11 x 7
        u16_gray.tif     uint16 gray, the full range
        i16.tif          int16, negative values
        f32_nan.tif      float32 with NaN, +-Inf and -0.0
        f64.tif          float64
        f32_pages.tif    3 pages of float32 gray: 3 channels
        u8_u16_pages.tif a uint8 RGB page and a uint16 gray page: 4 channels, type U16
        sep2.tif         uint16, 2 samples, planar configuration separate
        tiled.tif        uint8 RGB 37 x 21 in 16 x 16 tiles (partial tiles at the edges)
        deflate_u32.tif  uint32 (type INT), deflate with the horizontal predictor, 3 rows per strip
        be_i32.tif       big-endian ("MM") int32, 2 samples contiguous, 4 rows per strip
      refused:
        mismatch.tif     2 pages of different sizes
        truncated.tif    f64.tif cut 100 bytes before its end
        palette.tif      a colour-mapped (palette) image
        bilevel.tif      1-bit
  tests/golden/tiff.bin   what every readable file holds, in the order above:
      magic b'AMTF', u32 count, then per file: u32 name length, the name (bytes,
      no NUL), u32 w, h, planes, type (0 U8, 1 U16, 2 INT, 3 FLOAT: 8-bit unsigned,
      16-bit unsigned, other integers, floats; the widest over the pages), then
      the float32 samples (h, w, planes), little-endian: tifffile's
      page.asarray() of each page as (h, w, samples), the pages concatenated
      along the channels.
  tests/fuzz/seeds/tiff/*.tif   tiny seeds of the fuzz harness (tests/fuzz/fuzz_tiff.c):
      tiled and separate, deflate with predictor, big-endian float pages.

tifffile 2026.3.3, numpy 2.4.6 (no imagecodecs: deflate is the only codec):
  .venv-ref/bin/python tests/ref/make_tiff_fixtures.py
"""

import os
import struct

import numpy as np
import tifffile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data", "tiff")
GOLDEN = os.path.join(ROOT, "tests", "golden")
SEEDS = os.path.join(ROOT, "tests", "fuzz", "seeds", "tiff")


def write(path, pages, byteorder="<"):
    """pages: (array, keyword arguments of TiffWriter.write) written one page each."""
    with tifffile.TiffWriter(path, byteorder=byteorder) as tw:
        for a, kw in pages:
            tw.write(a, metadata=None, **kw)


def type_code(dtype):
    if dtype == np.uint8:
        return 0
    if dtype == np.uint16:
        return 1
    if dtype.kind in "iu":
        return 2
    return 3


def expected(path):
    """(h, w, planes) float32 and the type code, as tifffile reads the file."""
    chans, code = [], 0
    with tifffile.TiffFile(path) as tf:
        for page in tf.pages:
            a = page.asarray()
            axes = page.axes
            if "S" not in axes:
                a, axes = a[..., None], axes + "S"
            a = np.transpose(a, [axes.index(c) for c in "YXS"])
            chans.append(a.astype(np.float32))
            code = max(code, type_code(a.dtype))
    return np.concatenate(chans, axis=-1), code


def main():
    rng = np.random.default_rng(11)
    os.makedirs(DATA, exist_ok=True)
    os.makedirs(SEEDS, exist_ok=True)
    gray = {"photometric": "minisblack"}
    f32 = rng.normal(0, 100, (8, 10)).astype(np.float32)
    f32[1, 2], f32[3, 4], f32[5, 6], f32[7, 0], f32[0, 9] = np.nan, np.inf, -np.inf, -0.0, np.nan
    readable = [
        ("u8_gray.tif", [(rng.integers(0, 256, (9, 13), dtype=np.uint8), gray)]),
        ("u8_rgb.tif", [(rng.integers(0, 256, (7, 11, 3), dtype=np.uint8), {"photometric": "rgb"})]),
        ("u16_gray.tif", [(np.concatenate([[0, 65535], rng.integers(0, 65536, 78)]).astype(np.uint16)
                           .reshape(8, 10), gray)]),
        ("i16.tif", [(rng.integers(-32768, 32768, (6, 9), dtype=np.int16), gray)]),
        ("f32_nan.tif", [(f32, gray)]),
        ("f64.tif", [(rng.normal(0, 1e5, (9, 12)), gray)]),
        ("f32_pages.tif", [(rng.normal(k, 1, (7, 6)).astype(np.float32), gray) for k in range(3)]),
        ("u8_u16_pages.tif", [(rng.integers(0, 256, (5, 8, 3), dtype=np.uint8), {"photometric": "rgb"}),
                              (rng.integers(0, 65536, (5, 8), dtype=np.uint16), gray)]),
        ("sep2.tif", [(rng.integers(0, 65536, (2, 6, 7), dtype=np.uint16),
                       {"photometric": "minisblack", "planarconfig": "separate"})]),
        ("tiled.tif", [(rng.integers(0, 256, (21, 37, 3), dtype=np.uint8),
                        {"photometric": "rgb", "tile": (16, 16)})]),
        ("deflate_u32.tif", [((np.arange(12 * 10).reshape(12, 10) * 1000 + rng.integers(0, 50, (12, 10)))
                              .astype(np.uint32),
                              {"photometric": "minisblack", "compression": "zlib", "predictor": True,
                               "rowsperstrip": 3})]),
    ]
    with_order = [(n, p, "<") for n, p in readable]
    with_order.append(("be_i32.tif", [(rng.integers(-2**31, 2**31, (9, 5, 2), dtype=np.int32),
                                       {"photometric": "minisblack", "planarconfig": "contig",
                                        "rowsperstrip": 4})], ">"))
    out = [b"AMTF", struct.pack("<I", len(with_order))]
    for name, pages, order in with_order:
        path = os.path.join(DATA, name)
        write(path, pages, order)
        a, code = expected(path)
        h, w, c = a.shape
        out += [struct.pack("<I", len(name)), name.encode(), struct.pack("<4I", w, h, c, code),
                a.astype("<f4").tobytes()]
    with open(os.path.join(GOLDEN, "tiff.bin"), "wb") as f:
        f.write(b"".join(out))

    write(os.path.join(DATA, "mismatch.tif"), [(np.zeros((6, 7), np.uint8), gray), (np.zeros((7, 6), np.uint8), gray)])
    with open(os.path.join(DATA, "f64.tif"), "rb") as f:
        whole = f.read()
    with open(os.path.join(DATA, "truncated.tif"), "wb") as f:
        f.write(whole[:-100])
    cmap = np.zeros((3, 256), np.uint16)
    cmap[0] = np.arange(256) * 257
    write(os.path.join(DATA, "palette.tif"), [(rng.integers(0, 4, (5, 6), dtype=np.uint8),
                                                 {"photometric": "palette", "colormap": cmap})])
    write(os.path.join(DATA, "bilevel.tif"), [(rng.integers(0, 2, (8, 8)).astype(bool), gray)])

    write(os.path.join(SEEDS, "tiled_sep.tif"), [(rng.integers(0, 256, (3, 20, 18), dtype=np.uint8),
                                                  {"photometric": "rgb", "planarconfig": "separate",
                                                   "tile": (16, 16)})])
    write(os.path.join(SEEDS, "deflate_pred.tif"), [(rng.integers(0, 65536, (6, 5, 2), dtype=np.uint16),
                                                     {"photometric": "minisblack", "planarconfig": "contig",
                                                      "compression": "zlib", "predictor": True,
                                                      "rowsperstrip": 2})])
    write(os.path.join(SEEDS, "be_f64_pages.tif"), [(rng.normal(0, 1, (4, 3)), gray) for _ in range(2)], ">")
    write(os.path.join(SEEDS, "i8_strips.tif"), [(rng.integers(-128, 128, (5, 4), dtype=np.int8),
                                                  {"photometric": "minisblack", "rowsperstrip": 2})])


if __name__ == "__main__":
    main()
