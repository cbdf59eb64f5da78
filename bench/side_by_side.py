#!/usr/bin/env python3
"""am against a PyTorch model of exactly am's recipe, step by step on am's own
batches: the side-by-side harness of issue 14.

am_train --trace DIR records each step's network input (labelled, weak and
strong rows, after am's augmentation), labels and losses, and its whole state
(live and EMA models, BN statistics, momentum) after the --trace-states steps.
This script rebuilds the recipe in PyTorch (efficientnet-lite-pytorch's Lite0,
hard-label FixMatch, SGD with Nesterov and coupled weight decay on conv and FC
weights, BN momentum 0.01, EMA of the parameters with the live BN statistics)
and measures where am and PyTorch part:

  teacher-forced steps  for each traced pair (state k-1, state k): PyTorch in
                        float64 takes step k from am's state k-1 on am's batch
                        k; am's state k is compared tensor by tensor (update,
                        momentum, EMA, BN statistics) and the losses and mask
                        rate too. The same step in PyTorch float32 gives the
                        spread a correct float32 engine shows.
  free run              PyTorch float32 from am's state 0 over all traced
                        batches: per-step loss, mask rate, gradient norm
                        beside am's (the trajectories part as float rounding
                        flips pseudo-labels; compare with --free64).
  scores                the EMA model of am's last traced state scores the
                        pool in PyTorch (images read as am reads a PNG:
                        Pillow, RGB, bilinear to the training size) against
                        am's scores.csv; with --free also the free run's EMA
                        model: both score distributions and AUROCs.

Needs --dropout 0 --drop-connect 0 in the traced run (their random masks are
not recorded) and --loss fixmatch with hard labels.

  bench/side_by_side.py RUN_OUT TRACE_DIR [--images DIR] [--truth CSV]
      [--free N] [--free64] [--threads 2]
"""
import argparse
import glob
import os
import re
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "ref"))
import amtf  # noqa: E402
import make_goldens as mg  # noqa: E402


def read_config(path):
    c = {}
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            k, v = (s.strip() for s in line.split("=", 1))
            c[k] = v
    return c


class Recipe:
    """am's training step in PyTorch, in a given dtype."""

    def __init__(self, cfg, dtype):
        self.size, self.dtype = int(cfg["size"]), dtype
        self.B = int(cfg["batch"])
        self.U = int(cfg["mu"]) * self.B
        f32 = lambda k: float(np.float32(float(cfg[k])))  # noqa: E731
        self.tau, self.lambda_u, self.lr0 = f32("tau"), f32("lambda_u"), f32("lr")
        self.momentum, self.wd, self.ema_d = f32("momentum"), f32("wd"), f32("ema")
        self.nesterov = cfg["nesterov"] == "1"
        self.model = mg.build_lite0(image_size=self.size, num_classes=2, dropout_rate=0.0,
                                    drop_connect_rate=0.0).to(dtype)
        self.keys = {}
        for key in self.model.state_dict():
            m = amtf.torch_name(key)
            if m:
                self.keys[key] = m
        self.params = dict(self.model.named_parameters())
        self.buffers = dict(self.model.named_buffers())
        decay = [p for k, p in self.params.items() if self.keys[k][0].endswith((".conv", ".w"))]
        plain = [p for k, p in self.params.items() if not self.keys[k][0].endswith((".conv", ".w"))]
        self.opt = torch.optim.SGD([{"params": decay, "weight_decay": self.wd},
                                    {"params": plain, "weight_decay": 0.0}],
                                   lr=self.lr0, momentum=self.momentum, nesterov=self.nesterov)
        self.ema = {}

    def load(self, t):
        """Takes am's state (amtf tensors of a checkpoint)."""
        with torch.no_grad():
            for key, (name, kind) in self.keys.items():
                tgt = self.params.get(key, self.buffers.get(key))
                tgt.copy_(torch.from_numpy(amtf.to_torch(kind, t[name], tgt.shape)))
                if key in self.params:
                    # copies: the optimiser and the EMA update them in place
                    v = torch.tensor(amtf.to_torch(kind, t["v:" + name], tgt.shape), dtype=self.dtype)
                    self.opt.state[tgt]["momentum_buffer"] = v
                    self.ema[key] = torch.tensor(amtf.to_torch(kind, t["ema:" + name], tgt.shape), dtype=self.dtype)

    def state(self):
        """The state in am's names and layouts (float64 numpy)."""
        out = {}
        for key, (name, kind) in self.keys.items():
            src = self.params.get(key, self.buffers.get(key))
            out[name] = amtf.to_ours(kind, src.detach().double().numpy())
            if key in self.params:
                out["v:" + name] = amtf.to_ours(kind, self.opt.state[src]["momentum_buffer"].double().numpy())
                out["ema:" + name] = amtf.to_ours(kind, self.ema[key].double().numpy())
            else:
                out["ema:" + name] = out[name]
        return out

    def step(self, x, labels, lr):
        """One step on x [B+2U,S,S,C] (NHWC) and labels [B]: returns loss,
        loss_x, loss_u, mask rate and the gradient's L2 norm."""
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.model.train()
        self.opt.zero_grad(set_to_none=True)
        xt = torch.from_numpy(x).to(self.dtype).permute(0, 3, 1, 2).contiguous()
        z = self.model(xt)
        B, U = self.B, self.U
        q = torch.softmax(z[B:B + U].detach(), dim=1)
        pmax, target = q.max(dim=1)
        mask = (pmax >= self.tau).to(self.dtype)
        lx = F.cross_entropy(z[:B], torch.from_numpy(labels).long())
        lu = (F.cross_entropy(z[B + U:], target, reduction="none") * mask).mean()
        loss = lx + self.lambda_u * lu
        loss.backward()
        gnorm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in self.params.values())).item()
        self.opt.step()
        with torch.no_grad():
            for key, p in self.params.items():
                self.ema[key].mul_(self.ema_d).add_(p.detach(), alpha=1.0 - self.ema_d)
        return loss.item(), lx.item(), lu.item(), mask.mean().item(), gnorm

    def scores(self, x, ema=True):
        """softmax(z)[1] of the EMA (or live) model in eval mode on x [N,S,S,C]."""
        saved = {}
        with torch.no_grad():
            if ema:
                for key, p in self.params.items():
                    saved[key] = p.detach().clone()
                    p.copy_(self.ema[key])
            self.model.eval()
            out = []
            for i in range(0, len(x), 256):
                xt = torch.from_numpy(x[i:i + 256]).to(self.dtype).permute(0, 3, 1, 2).contiguous()
                out.append(torch.softmax(self.model(xt), dim=1)[:, 1].double().numpy())
            for key, p in saved.items():
                p.copy_(saved[key])
        return np.concatenate(out)


def family(name):
    if name.startswith("v:"):
        return "momentum"
    if name.startswith("ema:"):
        return "EMA"
    if name.endswith((".mean", ".var")):
        return "BN statistics"
    return "update"


def teacher_forced(cfg, steps, states):
    pairs = [k for k in sorted(states) if k - 1 in states and k in steps]
    if not pairs:
        print("teacher-forced: no traced pair of states k-1, k (--trace-states 0,1,...)")
        return
    print(f"\n## Teacher-forced steps ({len(pairs)}): PyTorch from am's state k-1 on am's batch k")
    print("per tensor: |engine - PyTorch float64| / |float64's change| (update: the step's change of the "
          "parameters; the others: their values); median / worst over the family's tensors, for am and for "
          "PyTorch float32 (the spread of a correct float32 engine); and the tensor where am's error is the "
          "most times float32's. Tensors whose float64 change is under 1e-4 of the family's 90th percentile "
          "(rounding only) are left out.\n")
    print("| step | loss am / f64 | mask am / f64 | family | am: median / worst | f32: median / worst | "
          "worst am / f32 |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    for k in pairs:
        before, after = amtf.read(states[k - 1])["tensors"], amtf.read(states[k])["tensors"]
        st = amtf.read(steps[k])["tensors"]
        x, labels, stats = st["x"], st["labels"].astype(np.int64), st["stats"].astype(np.float64)
        ref = {}
        for dt in (torch.float64, torch.float32):
            r = Recipe(cfg, dt)
            r.load(before)
            out = r.step(x, labels, float(stats[5]))
            ref[dt] = (out, r.state())
        (loss64, _, _, mask64, _), s64 = ref[torch.float64]
        s32 = ref[torch.float32][1]
        # Per tensor: |am - f64| / |f64 change| (update: the step's change of
        # the parameters; the others: their values), and the same for
        # PyTorch float32; per family the median and worst of each, and the
        # tensor where am's error is the most times float32's.
        errs, scales = {}, {}
        for name, want in s64.items():
            base = before[name].astype(np.float64) if family(name) == "update" else 0.0
            scales[name] = np.linalg.norm((want - base).ravel())
        for name, want in s64.items():
            # Tensors whose float64 change is nothing but rounding (a BN beta
            # that feeds only another BN has a zero gradient) are left out.
            fam = family(name)
            big = np.quantile([scales[n] for n in s64 if family(n) == fam], 0.9)
            if scales[name] <= 1e-4 * big:
                continue
            base = before[name].astype(np.float64) if fam == "update" else 0.0
            e_am = np.linalg.norm((after[name] - want).ravel()) / scales[name]
            e_32 = np.linalg.norm((s32[name] - want).ravel()) / scales[name]
            errs.setdefault(fam, []).append((e_am / max(e_32, 1e-12), name, e_am, e_32))
            if fam == "update":
                ratios.append(e_am / max(e_32, 1e-12))
        first = True
        for fam in ("update", "momentum", "EMA", "BN statistics"):
            rows = errs[fam]
            ratio, name, _, _ = max(rows)
            am_e, f32_e = [r[2] for r in rows], [r[3] for r in rows]
            lead = f"| {k} | {stats[0]:.6f} / {loss64:.6f} | {stats[4]:.4f} / {mask64:.4f} " if first else "| | | "
            print(f"{lead}| {fam} | {np.median(am_e):.1e} / {max(am_e):.1e} | {np.median(f32_e):.1e} / "
                  f"{max(f32_e):.1e} | {ratio:.1f} ({name}) |")
            first = False
    q = np.quantile(ratios, [0.1, 0.5, 0.9])
    print(f"\nam's error over PyTorch float32's, per parameter tensor and step ({len(ratios)}): 10th percentile "
          f"{q[0]:.2f}, median {q[1]:.2f}, 90th percentile {q[2]:.2f}")


def free_run(cfg, steps, state0, n, dtype):
    r = Recipe(cfg, dtype)
    r.load(state0)
    rows = []
    for k in sorted(steps)[:n]:
        st = amtf.read(steps[k])["tensors"]
        out = r.step(st["x"], st["labels"].astype(np.int64), float(st["stats"][5]))
        rows.append((k, st["stats"].astype(np.float64), out))
    return r, rows


def load_pool(images, scores_csv, size):
    from PIL import Image
    names, am_scores = [], []
    for line in open(scores_csv).read().splitlines()[1:]:
        name, s = line.rsplit(",", 1)
        names.append(name)
        am_scores.append(float(s))
    x = np.zeros((len(names), size, size, 3), np.float32)
    for i, name in enumerate(names):
        im = Image.open(os.path.join(images, name)).convert("RGB").resize((size, size), Image.BILINEAR)
        x[i] = np.asarray(im, np.float32) / 255.0
    return names, np.array(am_scores), x


def auroc(y, s):
    from sklearn.metrics import roc_auc_score
    return roc_auc_score(y, s)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run"), ap.add_argument("trace")
    ap.add_argument("--images", help="the run's image directory (scores); default: config.txt's")
    ap.add_argument("--truth", help="ground-truth CSV (AUROCs); default: config.txt's")
    ap.add_argument("--free", type=int, default=0, help="steps of the free run (0: none)")
    ap.add_argument("--free64", action="store_true", help="also a float64 free run")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = read_config(os.path.join(a.run, "config.txt"))
    bad = [f"--{k.replace('_', '-')} {cfg[k]}" for k, want in (("dropout", 0), ("drop_connect", 0), ("T", 0))
           if float(cfg[k]) != want]
    bad += [f"--{k} {cfg[k]}" for k, want in (("loss", "fixmatch"), ("optimizer", "sgd"), ("schedule", "constant"))
            if cfg[k] != want]
    if bad:
        sys.exit(f"side_by_side: the traced run has {', '.join(bad)}: trace with --dropout 0 --drop-connect 0 "
                 "--loss fixmatch --T 0 --optimizer sgd --schedule constant")
    steps = {int(re.search(r"(\d+)\.amg$", p).group(1)): p for p in glob.glob(os.path.join(a.trace, "step_*.amg"))}
    states = {int(re.search(r"(\d+)\.amck$", p).group(1)): p for p in glob.glob(os.path.join(a.trace, "state_*.amck"))}
    print(f"# am vs PyTorch ({torch.__version__}), {cfg['size']} px, B {cfg['batch']}, mu {cfg['mu']}: "
          f"{len(steps)} traced steps, states after {sorted(states)}")
    teacher_forced(cfg, steps, states)

    runs = {}
    if a.free and 0 in states:
        state0 = amtf.read(states[0])["tensors"]
        for dt in (torch.float32,) + ((torch.float64,) if a.free64 else ()):
            runs[dt] = free_run(cfg, steps, state0, a.free, dt)
        print(f"\n## Free run: PyTorch from am's state 0 over am's batches {min(steps)}..{min(steps) + a.free - 1}")
        names = ["float32"] + (["float64"] if a.free64 else [])
        print("| step | loss am | loss " + " | loss ".join(names) + " | mask am | mask " +
              " | mask ".join(names) + " | grad norm " + " | grad norm ".join(names) + " |")
        print("|---" * (3 + 3 * len(names)) + "|")
        rows = list(zip(*[runs[dt][1] for dt in runs]))
        every = max(1, len(rows) // 20)
        for i, row in enumerate(rows):
            if i % every and i != len(rows) - 1:
                continue
            k, am_st = row[0][0], row[0][1]
            print(f"| {k} | {am_st[0]:.4f} | " + " | ".join(f"{o[2][0]:.4f}" for o in row) +
                  f" | {am_st[4]:.3f} | " + " | ".join(f"{o[2][3]:.3f}" for o in row) + " | " +
                  " | ".join(f"{o[2][4]:.3f}" for o in row) + " |")
        for dt, (_, rr) in runs.items():
            am_l = np.array([s[0] for _, s, _ in rr])
            pt_l = np.array([o[0] for _, _, o in rr])
            am_m = np.array([s[4] for _, s, _ in rr])
            pt_m = np.array([o[3] for _, _, o in rr])
            print(f"\n{str(dt)[6:]}: mean loss am {am_l.mean():.4f}, PyTorch {pt_l.mean():.4f}; "
                  f"mean mask rate am {am_m.mean():.3f}, PyTorch {pt_m.mean():.3f}; "
                  f"|loss difference| median {np.median(np.abs(am_l - pt_l)):.2e}, first step over 1e-3: "
                  f"{next((k for (k, s, o) in rr if abs(s[0] - o[0]) > 1e-3), 'none')}")

    last = max(states)
    images = a.images or cfg["images"]
    scores_csv = os.path.join(a.run, "scores.csv")
    if not os.path.isfile(scores_csv) or not os.path.isdir(images):
        return
    names, am_s, x = load_pool(images, scores_csv, int(cfg["size"]))
    ck = amtf.read(os.path.join(a.run, "checkpoint.amck"))["tensors"]
    r = Recipe(cfg, torch.float64)
    r.load(ck)
    pt_s = r.scores(x)
    print(f"\n## Scores of the {len(names)} pool images by am's final EMA model (checkpoint step "
          f"{int(ck['step'][0])}; the trace's last state: {last})")
    d = np.abs(pt_s - am_s)
    print(f"am's scores.csv against PyTorch float64 on the same weights: max |difference| {d.max():.2e}, "
          f"median {np.median(d):.2e} (am writes 6 decimals)")
    truth_path = a.truth or cfg.get("truth", "")
    cols = [("am (scores.csv)", am_s), ("PyTorch, am's weights", pt_s)]
    for dt, (rr, _) in runs.items():
        cols.append((f"PyTorch {str(dt)[6:]} free run ({a.free} steps)", rr.scores(x)))
    qs = [0.01, 0.1, 0.5, 0.9, 0.99, 0.999]
    print("\n| model | " + " | ".join(f"q{q}" for q in qs) + " | AUROC |")
    print("|---" * (len(qs) + 2) + "|")
    y = None
    if truth_path and os.path.isfile(truth_path):
        lab = dict(line.split(",")[:2] for line in open(truth_path).read().splitlines()[1:])
        y = np.array([lab.get(n) == "anomaly" for n in names])
    for name, s in cols:
        au = f"{auroc(y, s):.4f}" if y is not None and 0 < y.sum() < len(y) else "-"
        print(f"| {name} | " + " | ".join(f"{np.quantile(s, q):.4f}" for q in qs) + f" | {au} |")


if __name__ == "__main__":
    main()
