"""FITS decode + resize + stretch in Python, one process, one thread: the
Python side of bench/fits_vs_python.sh (am's side: `am_bench inputs`).

Versions: the venv of tests/ref/requirements.txt (astropy 8.0.2, fitsbolt
0.3.1, opencv-python-headless 5.1.0.95, numpy 2.4.6, scikit-image).

Two implementations of the same work on the same files (every .fits file of
--images, sorted by path as am_dataset_list sorts them):
  fitsbolt  the Python tool's path (AnomalyMatch v1.3+ reads FITS through it):
            fitsbolt.load_and_process_images(paths, size=[S, S],
            normalisation_method=ASINH|ZSCALE, n_output_channels=C,
            num_workers=1, show_progress=False, norm_asinh_scale=[0.7],
            norm_asinh_clip=[99.8], norm_percentile_samples=2000,
            fits_extension=EXT or [EXT, ...], channel_combination=M).
            (fitsbolt 0.3.1's load_and_process_images has no
            norm_asinh_n_samples; norm_percentile_samples is the same setting
            in its create_config.) num_workers=1 still runs one worker thread
            of a ThreadPoolExecutor; the main thread only waits.
  astropy   the lean path a Python user could write (the same bytes as
            fitsbolt's, within 1 DN): astropy.io.fits.open
            (memmap=False) and the HDUs' .data, np.stack of the bands into
            float32 (h, w, N), cv2.resize (INTER_AREA when shrinking,
            INTER_LINEAR when growing, none at the same size), the
            combination as one matrix product, NaN/Inf to 0, then the stretch
            in numpy: asinh with fitsbolt's strided 2000-sample percentile
            limits (np.partition), or astropy's ZScaleInterval limits and a
            linear map; np.rint(255 v) to uint8.
Threads: OMP/OPENBLAS/MKL/NUMEXPR threads 1 (set before numpy is imported)
and cv2.setNumThreads(1).

Timing: one untimed pass first (imports' first calls, files into the page
cache), then --passes timed passes over all files; img/s per pass, and the
median, min and max. The interpreter start and the imports are not timed.
--dump FILE writes the warm-up pass's uint8 images (S, S, C each, in listing
order); --compare FILE compares them with another such dump (am_bench inputs
--dump) and reports the largest difference and how many bytes differ.

  .venv-ref/bin/python bench/fits_vs_python.py --impl fitsbolt --images DIR \\
      --size 150 --channels 1 --stretch asinh --fits-ext G --passes 3 --json
"""

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from astropy.io import fits  # noqa: E402
from astropy.visualization import ZScaleInterval  # noqa: E402

cv2.setNumThreads(1)


def parse_combine(text):
    if not text:
        return None
    m = np.array([[float(w) for w in row.split(",")] for row in text.split(";")], np.float64)
    sums = m.sum(axis=1, keepdims=True)  # the Python tool divides rows that sum to more than 1
    return np.where(sums > 1, m / np.where(sums > 1, sums, 1), m)


def exts_of(text):
    parts = [int(p) if p.isdigit() else p for p in text.split(",")] if text else []
    return parts


# ---- fitsbolt: the tool's own call ------------------------------------------


def make_fitsbolt(a):
    import fitsbolt
    from fitsbolt.normalisation.NormalisationMethod import NormalisationMethod as NM

    method = {"asinh": NM.ASINH, "zscale": NM.ZSCALE, "linear": NM.LINEAR, "log": NM.LOG}[a.stretch]
    exts = exts_of(a.fits_ext)
    ext = None if not exts else (exts[0] if len(exts) == 1 else exts)
    comb = parse_combine(a.combine)

    def run(paths):
        return fitsbolt.load_and_process_images(
            paths, size=[a.size, a.size], normalisation_method=method, n_output_channels=a.channels,
            num_workers=1, show_progress=False, norm_asinh_scale=[0.7], norm_asinh_clip=[99.8],
            norm_percentile_samples=2000, fits_extension=ext, channel_combination=comb)

    return run


# ---- astropy + cv2 + numpy: the lean path -------------------------------------


def percentile_limits(ch, clip=99.8, n_samples=2000):
    """fitsbolt's strided subsample (step coprime with the row) and order statistics."""
    flat = ch.reshape(-1)
    if flat.size > n_samples:
        row = ch.shape[-1]
        step = max(1, flat.size // n_samples)
        tries = 0
        while row > 1 and np.gcd(step, row) != 1 and tries < row:
            step += 1
            tries += 1
        sample = flat[::step].copy()
    else:
        sample = flat.copy()
    lower = (100.0 - clip) / 2.0
    k1 = int(lower / 100 * (sample.size - 1))
    k2 = int((100.0 - lower) / 100 * (sample.size - 1))
    sample.partition((k1, k2))
    return sample[k1], sample[k2]


def make_astropy(a):
    exts = exts_of(a.fits_ext)
    comb = parse_combine(a.combine)
    S, C = a.size, a.channels
    zs = ZScaleInterval(n_samples=1000, contrast=0.25, max_reject=0.5, min_npixels=5, krej=2.5, max_iterations=5)
    scale = 0.7
    norm = np.arcsinh(1.0 / scale)

    def one(path):
        with fits.open(path, memmap=False) as h:
            if exts:
                bands = [h[e].data for e in exts]
            else:
                bands = [next(x.data for x in h if x.data is not None)]
            x = np.stack(bands, axis=-1).astype(np.float32, copy=False) if len(bands) > 1 else \
                bands[0].astype(np.float32, copy=False)[..., None]
        hh, ww, N = x.shape
        if (hh, ww) != (S, S):
            x = cv2.resize(x, (S, S), interpolation=cv2.INTER_AREA if S < hh or S < ww else cv2.INTER_LINEAR)
            if x.ndim == 2:
                x = x[..., None]
        if comb is not None:
            x = (x.reshape(-1, N) @ comb.T.astype(np.float32)).reshape(S, S, C)
        elif N == 1 and C > 1:
            x = np.repeat(x, C, axis=-1)
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        if a.stretch == "asinh":
            # fitsbolt passes one channel as (h, w, 1): rows of length 1, no stride nudge
            lims = [percentile_limits(x[..., c]) for c in range(C)] if C > 1 else [percentile_limits(x)]
            lo, hi = min(l[0] for l in lims), max(l[1] for l in lims)
            np.clip(x, lo, hi, out=x)
            x -= lo
            x *= 1.0 / ((hi - lo) * scale)
            np.arcsinh(x, out=x)
            x *= 1.0 / norm
        elif a.stretch == "zscale":
            lo, hi = zs.get_limits(x)
            x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
        else:
            raise SystemExit(f"fits_vs_python: --impl astropy does asinh and zscale, not {a.stretch}")
        out = np.rint(x * 255.0).astype(np.uint8)
        return out[..., 0] if C == 1 else out

    def run(paths):
        return [one(p) for p in paths]

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--impl", choices=["fitsbolt", "astropy"], required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--size", type=int, default=150)
    ap.add_argument("--channels", type=int, default=1, choices=[1, 3])
    ap.add_argument("--stretch", default="asinh")
    ap.add_argument("--fits-ext", default="")
    ap.add_argument("--combine", default="")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--dump")
    ap.add_argument("--compare")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    paths = sorted(os.path.join(a.images, f) for f in os.listdir(a.images) if f.lower().endswith(".fits"))
    if not paths:
        raise SystemExit(f"fits_vs_python: no .fits file in {a.images}")
    run = make_fitsbolt(a) if a.impl == "fitsbolt" else make_astropy(a)
    warnings.simplefilter("ignore")
    imgs = run(paths)  # warm-up, untimed
    got = np.stack([np.asarray(i, np.uint8).reshape(a.size, a.size, a.channels) for i in imgs])
    rates = []
    for _ in range(a.passes):
        t0 = time.perf_counter()
        run(paths)
        rates.append(len(paths) / (time.perf_counter() - t0))
    r = {"impl": a.impl, "bench": "inputs", "images": len(paths), "size": a.size, "channels": a.channels,
         "stretch": a.stretch, "fits_ext": a.fits_ext, "combine": a.combine, "threads": 1, "passes": a.passes,
         "img_s": statistics.median(rates), "img_s_min": min(rates), "img_s_max": max(rates),
         "us_per_img": 1e6 / statistics.median(rates), "pass_img_s": [round(x, 2) for x in rates]}
    if a.dump:
        got.tofile(a.dump)
    if a.compare:
        ref = np.fromfile(a.compare, np.uint8)
        if ref.size != got.size:
            r["compare_error"] = f"{a.compare} holds {ref.size} bytes, expected {got.size}"
        else:
            d = np.abs(ref.reshape(got.shape).astype(np.int16) - got.astype(np.int16))
            per = d.reshape(len(paths), -1).max(axis=1)
            r.update(max_abs_diff=int(d.max()), bytes_differ=int((d > 0).sum()), bytes=int(d.size),
                     images_over_1=int((per > 1).sum()))
    if a.json:
        print(json.dumps(r))
    else:
        print(f"{a.impl}: {len(paths)} images, {r['img_s']:.1f} img/s (min {r['img_s_min']:.1f}, max "
              f"{r['img_s_max']:.1f}), {r['us_per_img']:.1f} us/img"
              + (f"; vs {a.compare}: max |diff| {r['max_abs_diff']}, {r['bytes_differ']} of {r['bytes']} bytes differ"
                 if "max_abs_diff" in r else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
