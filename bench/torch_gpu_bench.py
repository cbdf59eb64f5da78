"""PyTorch GPU baseline for am_bench infer/train: timm tf_efficientnet_lite0.

Same model and shapes as `am_bench infer|train`: timm `tf_efficientnet_lite0`
(pretrained=False, num_classes=2), channels_last, fp32 (TF32 off) or bf16
autocast, eager or torch.compile. infer: eval forward under no_grad, img/s by
batch size. train: a FixMatch-shaped step over B + 2*mu*B images (one training
forward, the FixMatch loss with tau 0.95, backward, SGD Nesterov lr 0.0075
wd 7.5e-4, EMA 0.99), with the peak of torch.cuda.max_memory_allocated.
Times with CUDA events, median over --iters after --warmup. Also runs on the
CPU (--device cpu; fp32 only), where it is slow.

  python3 bench/torch_gpu_bench.py [--device cuda] [--mode infer train]
      [--size 224] [--batch 256] [--precision fp32 bf16] [--compile eager compile]
      [--labelled 16] [--mu 5] [--iters 20] [--warmup 3] [--json]
"""

import argparse
import json
import statistics
import time

import timm
import torch
import torch.nn.functional as F


def fixmatch_loss(logits, y, B, U, tau=0.95):
    lx = F.cross_entropy(logits[:B], y)
    with torch.no_grad():
        p = torch.softmax(logits[B:B + U].float(), dim=1)
        conf, target = p.max(dim=1)
        mask = (conf >= tau).float()
    lu = (F.cross_entropy(logits[B + U:].float(), target, reduction="none") * mask).mean()
    return lx + lu


def timed(fn, iters, warmup, device):
    times = []
    for i in range(warmup + iters):
        if device == "cuda":
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            fn()
            e1.record()
            e1.synchronize()
            dt = e0.elapsed_time(e1) / 1e3
        else:
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description="timm tf_efficientnet_lite0 GPU throughput")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--mode", nargs="+", default=["infer", "train"], choices=["infer", "train"])
    ap.add_argument("--size", type=int, nargs="+", default=[224])
    ap.add_argument("--batch", type=int, nargs="+", default=[256])
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    ap.add_argument("--compile", nargs="+", default=["eager", "compile"], choices=["eager", "compile"])
    ap.add_argument("--labelled", type=int, default=16)
    ap.add_argument("--mu", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    dev = args.device
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    rows = []
    for mode in args.mode:
        for size in args.size:
            for batch in (args.batch if mode == "infer" else [args.labelled * (1 + 2 * args.mu)]):
                for prec in args.precision:
                    if dev == "cpu" and prec == "bf16":
                        continue
                    for comp in args.compile:
                        model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=2)
                        model = model.to(dev).to(memory_format=torch.channels_last)
                        run_model = torch.compile(model) if comp == "compile" else model
                        x = torch.rand(batch, 3, size, size, device=dev).contiguous(memory_format=torch.channels_last)
                        amp = torch.autocast(dev, dtype=torch.bfloat16, enabled=(prec == "bf16"))
                        if mode == "infer":
                            model.eval()

                            def step():
                                with torch.no_grad(), amp:
                                    run_model(x)
                        else:
                            model.train()
                            B, U = args.labelled, args.labelled * args.mu
                            y = torch.randint(0, 2, (B,), device=dev)
                            opt = torch.optim.SGD(model.parameters(), lr=0.0075, momentum=0.9, nesterov=True,
                                                  weight_decay=7.5e-4)
                            ema = [p.detach().clone() for p in model.parameters()]

                            def step():
                                opt.zero_grad(set_to_none=True)
                                with amp:
                                    logits = run_model(x)
                                fixmatch_loss(logits.float(), y, B, U).backward()
                                opt.step()
                                with torch.no_grad():
                                    torch._foreach_lerp_(ema, [p.detach() for p in model.parameters()], 0.01)
                        if dev == "cuda":
                            torch.cuda.synchronize()
                            torch.cuda.reset_peak_memory_stats()
                        med = timed(step, args.iters, args.warmup, dev)
                        mib = torch.cuda.max_memory_allocated() / 2**20 if dev == "cuda" else 0.0
                        row = dict(impl="torch", device=dev, model="lite0", mode=mode, size=size, batch=batch,
                                   precision=prec, compile=comp, img_s=round(batch / med, 2),
                                   median_ms=round(med * 1e3, 4), gpu_mib=round(mib, 1), iters=args.iters,
                                   torch=torch.__version__, timm=timm.__version__)
                        rows.append(row)
                        if not args.json:
                            print(f"torch {dev} lite0 {mode} size={size} batch={batch} {prec} {comp} "
                                  f"{row['img_s']:.1f} img/s ({row['median_ms']:.3f} ms, peak {mib:.0f} MiB)", flush=True)
                        del model, run_model
                        if dev == "cuda":
                            torch.cuda.empty_cache()
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
