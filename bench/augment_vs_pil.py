"""Throughput of the torchvision/PIL augmentation pipelines that am's replace
(USB / TorchSSL / AnomalyMatch), on the same synthetic images as
bench/augment_bench.c, in images/s.

  weak   = RandomCrop(S, padding=int(S * 0.125), padding_mode='reflect'),
           RandomHorizontalFlip(), ToTensor()
  strong = the same + RandAugment(3 ops with replacement, always applied,
           continuous magnitudes, then Cutout) written here from SPEC §4 with
           Pillow calls, as USB's randaugment.py does it

Inputs are PIL RGB images already decoded at size S (no Resize on either
side). --workers W runs W processes (a DataLoader with W workers, each
torch.set_num_threads(1)); the figure is the total images/s.

With --am bench/augment_bench (make bench/augment_bench first) each row also
runs am's pipelines right after PIL's, with as many threads as PIL workers,
and prints both and their ratio: the comparison in the same run.

  .venv-ref/bin/python bench/augment_vs_pil.py [--size S ...] [--workers W ...] [--seconds s]
      [--am bench/augment_bench]
  (torch 2.11.0, torchvision 0.26.0, pillow 13.0.0: tests/ref/requirements.txt)
"""

import argparse
import multiprocessing as mp
import random
import subprocess
import time

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageEnhance, ImageOps
from torchvision import transforms


def synth(i, s):
    """Image i at size s: bench/augment_bench.c's formula."""
    y, x, c = np.mgrid[0:s, 0:s, 0:3]
    v = (x * 7 + y * 13 + c * 50 + ((x * y + i * 17) % 31) * 3 + i * 11) & 255
    return Image.fromarray(v.astype(np.uint8), "RGB")


def affine(img, m):
    return img.transform(img.size, Image.AFFINE, m)


OPS = [
    ("AutoContrast", 0, 1, lambda img, v: ImageOps.autocontrast(img)),
    ("Brightness", 0.05, 0.95, lambda img, v: ImageEnhance.Brightness(img).enhance(v)),
    ("Color", 0.05, 0.95, lambda img, v: ImageEnhance.Color(img).enhance(v)),
    ("Contrast", 0.05, 0.95, lambda img, v: ImageEnhance.Contrast(img).enhance(v)),
    ("Equalize", 0, 1, lambda img, v: ImageOps.equalize(img)),
    ("Identity", 0, 1, lambda img, v: img),
    ("Posterize", 4, 8, lambda img, v: ImageOps.posterize(img, max(1, int(v)))),
    ("Rotate", -30, 30, lambda img, v: img.rotate(v)),
    ("Sharpness", 0.05, 0.95, lambda img, v: ImageEnhance.Sharpness(img).enhance(v)),
    ("ShearX", -0.3, 0.3, lambda img, v: affine(img, (1, v, 0, 0, 1, 0))),
    ("ShearY", -0.3, 0.3, lambda img, v: affine(img, (1, 0, 0, v, 1, 0))),
    ("Solarize", 0, 256, lambda img, v: ImageOps.solarize(img, v)),
    ("TranslateX", -0.3, 0.3, lambda img, v: affine(img, (1, 0, v * img.size[0], 0, 1, 0))),
    ("TranslateY", -0.3, 0.3, lambda img, v: affine(img, (1, 0, 0, 0, 1, v * img.size[1]))),
]


def cutout(img, v):
    if v <= 0:
        return img
    v = v * img.size[0]
    w, h = img.size
    x0 = int(max(0, np.random.uniform(w) - v / 2.0))
    y0 = int(max(0, np.random.uniform(h) - v / 2.0))
    img = img.copy()
    ImageDraw.Draw(img).rectangle((x0, y0, min(w, x0 + v), min(h, y0 + v)), (125, 123, 114))
    return img


class RandAugment:
    def __init__(self, n):
        self.n = n

    def __call__(self, img):
        for _, lo, hi, fn in random.choices(OPS, k=self.n):
            img = fn(img, lo + float(hi - lo) * random.random())
        return cutout(img, random.random() * 0.5)


def pipelines(s):
    geo = [transforms.RandomCrop(s, padding=int(s * 0.125), padding_mode="reflect"),
           transforms.RandomHorizontalFlip()]
    return (transforms.Compose(geo + [transforms.ToTensor()]),
            transforms.Compose(geo + [RandAugment(3), transforms.ToTensor()]))


def worker(args):
    s, kind, seconds, seed = args
    torch.set_num_threads(1)
    random.seed(seed)
    np.random.seed(seed)
    imgs = [synth(i, s) for i in range(64)]
    tf = pipelines(s)[kind]
    for im in imgs[:8]:
        tf(im)
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        for im in imgs:
            tf(im)
        n += len(imgs)
        t = time.perf_counter() - t0
        if t >= seconds:
            return n, t, time.process_time() - c0


def measure(s, kind, workers, seconds):
    """(images per wall second, images per CPU-second) over all workers."""
    if workers == 1:
        res = [worker((s, kind, seconds, 1))]
    else:
        with mp.get_context("fork").Pool(workers) as pool:
            res = pool.map(worker, [(s, kind, seconds, 1 + k) for k in range(workers)])
    return sum(n / t for n, t, _ in res), sum(n for n, _, _ in res) / sum(c for _, _, c in res)


def run_am(exe, s, threads, seconds):
    """am's weak and strong img/s and img/cpu-s from bench/augment_bench's table row."""
    out = subprocess.run([exe, "--size", str(s), "--threads", str(threads), "--seconds", str(seconds)],
                         check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(f) == 7 and f[0] == str(s) and f[1] == str(threads):
            return (float(f[3]), float(f[5])), (float(f[4]), float(f[6]))
    raise RuntimeError("no result row from " + exe + ":\n" + out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs="+", default=[64, 224])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--am", help="path of bench/augment_bench: compare in the same run")
    a = ap.parse_args()
    print("RGB, including the float tensor (ToTensor / am_augment_to_input); "
          "img/s per wall-clock second, and per CPU-second (= per core) in brackets")
    if a.am:
        print("| size | threads | PIL weak | am weak | am/PIL | PIL strong | am strong | am/PIL |")
        print("|---|---|---|---|---|---|---|---|")
    else:
        print("| size | workers | PIL weak | PIL strong |\n|---|---|---|---|")

    def fmt(v):
        return f"{v[0]:.0f} ({v[1]:.0f})"

    def ratio(x, y):
        return f"{x[0] / y[0]:.1f} ({x[1] / y[1]:.1f})"

    for s in a.size:
        for w in a.workers:
            wk = measure(s, 0, w, a.seconds)
            st = measure(s, 1, w, a.seconds)
            if a.am:
                awk, ast = run_am(a.am, s, w, a.seconds)
                print(f"| {s} | {w} | {fmt(wk)} | {fmt(awk)} | {ratio(awk, wk)} | {fmt(st)} | "
                      f"{fmt(ast)} | {ratio(ast, st)} |", flush=True)
            else:
                print(f"| {s} | {w} | {fmt(wk)} | {fmt(st)} |", flush=True)


if __name__ == "__main__":
    main()
