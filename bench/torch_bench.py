"""PyTorch CPU baseline for am: throughput of timm's tf_efficientnet_lite0.

Model code: timm `tf_efficientnet_lite0` (pretrained=False, num_classes=2, timm's
default head dropout), fp32, channels_last, on CPU with torch.set_num_threads(T).
For each size: forward (eval, no_grad) and forward+backward (train mode, mean
cross-entropy, backward; no optimiser step, grads cleared outside the timing).
Warm-up runs, then the median over --iters timed runs; img/s = batch / median.
Writes nothing; prints one line per (size, mode), or a JSON list with --json.

  .venv-ref/bin/python bench/torch_bench.py [--threads T] [--size 64 224]
      [--batch 32] [--iters 5] [--warmup 2] [--json]
"""

import argparse
import json
import os
import statistics
import time

import timm
import torch
import torch.nn.functional as F


def bench(model, size, batch, mode, iters, warmup):
    x = torch.rand(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,))
    if mode == "fwd":
        model.eval()
    else:
        model.train()

    def step():
        if mode == "fwd":
            with torch.no_grad():
                model(x)
        else:
            F.cross_entropy(model(x), y).backward()

    times = []
    for i in range(warmup + iters):
        model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        step()
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
    med = statistics.median(times)
    return med, batch / med


def main():
    ap = argparse.ArgumentParser(description="timm tf_efficientnet_lite0 CPU throughput")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--size", type=int, nargs="+", default=[64, 224])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print a JSON list instead of lines")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=2)
    model = model.float().to(memory_format=torch.channels_last)

    rows = []
    for size in args.size:
        for mode in ("fwd", "fwdbwd"):
            med, ips = bench(model, size, args.batch, mode, args.iters, args.warmup)
            row = dict(impl="torch", model="lite0", size=size, batch=args.batch,
                       threads=args.threads, mode=mode, img_s=round(ips, 2),
                       median_s=round(med, 6), iters=args.iters,
                       torch=torch.__version__, timm=timm.__version__)
            rows.append(row)
            if not args.json:
                print(f"torch lite0 size={size} batch={args.batch} threads={args.threads} "
                      f"{mode} {ips:.1f} img/s", flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
