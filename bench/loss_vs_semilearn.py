#!/usr/bin/env python3
"""am's consistency losses (`am_bench loss`) against semilearn's own
train_step and hooks (PyPI semilearn 0.3.2, driven without a network by
tests/ref/semilearn_steps.py: the "model" is the identity, so the inputs are
the logits) on the same shapes: B labelled rows, U weak and U strong rows of
K = 2 logits; the loss, its state update and the gradient of the loss with
respect to the logits (backward). Rounds interleave am and semilearn; each
cell is the median of ITERS timed calls, then the median and range over the
rounds.

  bench/loss_vs_semilearn.py [--rows 80 4096 65536] [--iters 20] [--rounds 3] [--threads 2]

Needs .venv-ref (tests/ref/requirements.txt, semilearn with --no-deps) and
./am_bench.
"""
import argparse
import json
import os
import statistics as st
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
import semilearn_steps as sls  # noqa: E402

LOSSES = {"fixmatch": sls.FixMatch, "flexmatch": sls.FlexMatch, "freematch": sls.FreeMatch,
          "softmatch": sls.SoftMatch}
# am's defaults (am_train --help): T 0 means hard labels; FreeMatch's fairness weight 0.001 as USB's yaml.
OVERRIDES = {"fixmatch": {}, "flexmatch": {}, "freematch": {"ent_loss_ratio": 0.001}, "softmatch": {}}


def time_semilearn(name, B, U, K, iters):
    alg = sls.make(LOSSES[name], classes=K, ulb_dest_len=U, **OVERRIDES[name])
    g = torch.Generator().manual_seed(0)
    x_lb = (torch.rand(B, K, generator=g) - 0.5) * 4
    y_lb = torch.arange(B) % K
    x_w = (torch.rand(U, K, generator=g) - 0.5) * 4
    x_s = (torch.rand(U, K, generator=g) - 0.5) * 4
    idx = torch.arange(U)
    times = []
    for i in range(iters + 2):
        a = x_lb.clone().requires_grad_(True)
        s = x_s.clone().requires_grad_(True)
        kw = dict(x_lb=a, y_lb=y_lb, x_ulb_w=x_w, x_ulb_s=s)
        if name == "flexmatch":
            kw["idx_ulb"] = idx
        t0 = time.perf_counter()
        out, _ = alg.train_step(**kw)
        out["loss"].backward()
        t = time.perf_counter() - t0
        if i >= 2:
            times.append(t)
    return st.median(times)


def time_am(rows, iters, K, B):
    out = subprocess.run([os.path.join(ROOT, "am_bench"), "loss", "--rows", *map(str, rows), "--iters", str(iters),
                          "--classes", str(K), "--labelled", str(B), "--loss", *LOSSES, "--json"],
                         check=True, capture_output=True, text=True).stdout
    return {(r["kernel"], r["U"]): r["median_s"] for r in json.loads(out)}


def fmt(v):
    return f"{v * 1e6:.3g} µs" if v < 1e-3 else f"{v * 1e3:.3g} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[80, 4096, 65536])
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--labelled", type=int, default=16)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    K, B = 2, a.labelled
    am, sl = {}, {}
    for _ in range(a.rounds):
        for k, v in time_am(a.rows, a.iters, K, B).items():
            am.setdefault(k, []).append(v)
        for name in LOSSES:
            for U in a.rows:
                sl.setdefault((name, U), []).append(time_semilearn(name, B, U, K, a.iters))
    print(f"# am_bench loss vs semilearn {sls.importlib.metadata.version('semilearn')} (torch {torch.__version__}, "
          f"{a.threads} threads), B {B}, K {K}, median of {a.iters} calls, median (min-max) of {a.rounds} rounds\n")
    print("| loss | U | am | semilearn | semilearn / am |")
    print("|---|---|---|---|---|")
    for name in LOSSES:
        for U in a.rows:
            x, y = am[(name, U)], sl[(name, U)]
            print(f"| {name} | {U} | {fmt(st.median(x))} ({fmt(min(x))}-{fmt(max(x))}) | {fmt(st.median(y))} "
                  f"({fmt(min(y))}-{fmt(max(y))}) | {st.median(y) / st.median(x):.0f} |")


if __name__ == "__main__":
    main()
