"""Write tests/golden/fixmatch_step.amg: one FixMatch training step of the Python
tool (AnomalyMatch, SPEC.md sections 1 and 3) reproduced in PyTorch, float64.

Model: EfficientNet-Lite0 from PyPI efficientnet-lite-pytorch 0.1.0,
EfficientNet.from_name('efficientnet-lite0', image_size=32, num_classes=2,
dropout_rate=0, drop_connect_rate=0), every parameter and BN running statistic
filled by the `init:` hash rule of weights/FORMAT.md with the scales of
make_goldens.py.

Batch: B=2 labelled, mu=2 -> U=4 unlabelled images in a weak and a strong view.
The views are fixed random tensors (augmentation is fed in as data): x
[10,32,32,3] NHWC, uniform [0,1) from numpy default_rng(X_SEED), rows 0-1
labelled (y=[0,1]), rows 2-5 weak, rows 6-9 strong (strong row 6+i is the
other view of weak row 2+i). One training-mode forward over all 10 rows.

Choice of X_SEED. At 32 px with batch-statistics BN over 10 images the last
stages see 40 or 10 values per channel, and a float32 forward drifts from the
float64 one by ~1e-5 (block 10) to ~2e-4 (head). A ReLU6 input that close to 0
or 6 takes the other branch in float32, which changes the gradient of its whole
channel by a few percent: then no float32 engine (PyTorch's included) can match
the float64 gradients to 2e-4. X_SEED is a seed whose inputs keep every ReLU6
input of the layers with <= 160 values per channel away from the kinks: no
branch differs between a float32 and the float64 PyTorch forward, and the
closest one is more than KINK_MARGIN times the layer's float32 RMS error away.
The script checks this (kink_margin) and stops otherwise; `--scan N` lists
the seeds below N with their margins.

Loss: Lx = mean CE(labelled); q = softmax(weak logits) without gradient;
mask = max q >= tau; Lu = mean over U of mask * CE(strong, argmax q);
L = Lx + lambda_u * Lu. tau is the midpoint of the widest gap between the
sorted max-probabilities of the weak rows, so the mask keeps some rows and
drops the others.

Step: torch.optim.SGD, two parameter groups (weight decay on our names ending
`.conv` and `.w`, none on BN gamma/beta and biases), lr 0.0075, momentum 0.9,
nesterov=True, coupled weight decay 7.5e-4. The momentum buffers exist before
the step (state['momentum_buffer'] set to the vinit: fill), so the step is
v <- m v + g + wd theta; theta <- theta - lr (g + wd theta + m v).
Then EMA, decay 0.99: ema <- 0.99 ema + 0.01 theta (params only; the EMA
model's BN statistics are copied from the live model, so they equal after:).
Hyper-parameters are rounded to float32 first (they are stored as float32
and the C trainer uses float32 values).

Hash fills (FORMAT.md rule: value = float32(centre + half * (2u - 1)), u from
h(name, i)); the tensor `<prefix>:<param>` [2] stores (centre, half) and the
string hashed is:
  init:<param>     hashes "<param>"        (params and BN statistics; the
                                             scales of make_goldens.py)
  vinit:<param>    hashes "v:<param>"      centre 0, half-width 0.01
                                             (SGD momentum buffer before the step)
  emainit:<param>  hashes "ema:<param>"    same (centre, half) as init:<param>
                                             (EMA parameters before the step)
e.g. the momentum buffer of stem.conv is golden_fill(..., "v:stem.conv", 0, 0.01).

Tensors stored: tau, lambda_u, lr, momentum, wd, ema_decay [1]; x; y [2];
init:*, vinit:*, emainit:*; logits [10,2]; loss, loss_x, loss_u, mask_rate [1];
grad:<param> for every trainable parameter (our names and layouts, every 32nd
element like the after-step tensors below: the full gradients are checked by
the model goldens of make_goldens.py);
after:<bn>.mean/.var (full running statistics after the forward); and, every
32nd element (flat row-major index % 32 == 0, stored 1-D [ceil(n/32)]) of
after:<param> (params after the step), vafter:<param> (momentum buffers after
the step) and emaafter:<param> (EMA parameters after the step).

Generated with torch 2.11.0, numpy 2.4.6 (tests/ref/requirements.txt), Python
3.11, on CPU. From the repo root:
  .venv-ref/bin/python tests/ref/make_step_golden.py
"""

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import amtf  # noqa: E402
import make_goldens as mg  # noqa: E402

OUT = os.path.join(mg.GOLDEN, "fixmatch_step.amg")
SIZE = 32
B, MU = 2, 2
U = MU * B
CLASSES = 2
SUB = 32  # gradients and after-step tensors keep every SUB-th element
X_SEED = 77
KINK_MARGIN = 1.5
SMALL_M = 160  # layers with at most this many values per channel are checked


def f32(v):
    return float(np.float32(v))


LAMBDA_U = f32(1.0)
LR = f32(0.0075)
MOMENTUM = f32(0.9)
WD = f32(7.5e-4)
EMA = f32(0.99)
V_HALF = 0.01


def decays(name):
    return name.endswith(".conv") or name.endswith(".w")


def make_model(dtype=torch.float64):
    model = mg.build_lite0(image_size=SIZE, num_classes=CLASSES, dropout_rate=0.0,
                           drop_connect_rate=0.0).double()
    entries, init_tensors = mg.fill_init(model)
    return model.to(dtype), entries, init_tensors


def make_x(seed):
    return np.random.default_rng(seed).random((B + 2 * U, SIZE, SIZE, 3)).astype(np.float32)


def kink_margin(seed, models=None):
    """(flips, margin) over the ReLU6 inputs (outputs of every BN but the
    projection's) of layers with <= SMALL_M values per channel: how many take
    another branch in a float32 forward than in the float64 one, and the
    smallest distance to 0 or 6 in units of the layer's float32 RMS error."""
    if models is None:
        models = [make_model(dt)[0].train() for dt in (torch.float64, torch.float32)]
    recs = []
    handles = []
    for model in models:
        rec = []
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d) and not name.endswith("_bn2"):
                handles.append(m.register_forward_hook(
                    lambda mod, i, o, rec=rec: rec.append(o.detach().double())))
        recs.append(rec)
    x = make_x(seed)
    with torch.no_grad():
        for model in models:
            xt = torch.from_numpy(x).to(next(model.parameters()).dtype)
            model(xt.permute(0, 3, 1, 2).contiguous())
    for h in handles:
        h.remove()
    flips, margin = 0, float("inf")
    for a, b in zip(*recs):
        if a.shape[0] * a.shape[2] * a.shape[3] > SMALL_M:
            continue
        rms = ((a - b) ** 2).mean().sqrt().item()
        flips += int(((a > 0) != (b > 0)).sum() + ((a > 6) != (b > 6)).sum())
        gap = torch.minimum(a.abs(), (a - 6).abs()).min().item()
        margin = min(margin, gap / rms)
    return flips, margin


def scan(n):
    models = [make_model(dt)[0].train() for dt in (torch.float64, torch.float32)]
    for seed in range(n):
        flips, margin = kink_margin(seed, models)
        print(f"seed {seed:4d}: {flips} branch flips, margin {margin:.3g}"
              f"{'  ok' if flips == 0 and margin > KINK_MARGIN else ''}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scan", type=int, metavar="N", help="list the input seeds below N and stop")
    args = ap.parse_args()
    if torch.__version__.split("+")[0] != "2.11.0":
        print(f"note: goldens were made with torch 2.11.0, this is {torch.__version__}")
    torch.manual_seed(0)
    if args.scan:
        scan(args.scan)
        return
    flips, margin = kink_margin(X_SEED)
    print(f"x seed {X_SEED}: {flips} ReLU6 branch flips float32 vs float64, margin {margin:.3g}")
    assert flips == 0 and margin > KINK_MARGIN, "pick another X_SEED (--scan)"
    model, entries, init_tensors = make_model()
    mg.check_model(model, SIZE)
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    trainable = [(name, kind, key) for name, kind, key in entries if key in params]
    stats = [(name, kind, key) for name, kind, key in entries if key in buffers]
    assert len(trainable) + len(stats) == len(entries)
    assert len(trainable) == len(params), "a trainable parameter has no engine name"
    init_of = {n[len("init:"):]: a for n, a in init_tensors}

    # Inputs: labelled, weak, strong views.
    x = make_x(X_SEED)
    y = np.array([0, 1])
    xt = torch.from_numpy(x.astype(np.float64)).permute(0, 3, 1, 2).contiguous()
    yt = torch.from_numpy(y).long()

    # Momentum buffers and EMA parameters before the step.
    vinit, emainit, v0, ema = [], [], {}, {}
    for name, kind, key in trainable:
        shape = amtf.our_shape(kind, params[key].shape)
        v0[name] = amtf.init_fill(f"v:{name}", shape, 0.0, V_HALF)
        vinit.append((f"vinit:{name}", np.array([0.0, V_HALF])))
        centre, half = init_of[name]
        ema[name] = amtf.init_fill(f"ema:{name}", shape, centre, half).astype(np.float64)
        emainit.append((f"emainit:{name}", np.array([centre, half])))

    decay_p = [params[key] for name, _, key in trainable if decays(name)]
    plain_p = [params[key] for name, _, key in trainable if not decays(name)]
    opt = torch.optim.SGD([{"params": decay_p, "weight_decay": WD},
                           {"params": plain_p, "weight_decay": 0.0}],
                          lr=LR, momentum=MOMENTUM, nesterov=True)
    for name, kind, key in trainable:
        p = params[key]
        opt.state[p]["momentum_buffer"] = torch.from_numpy(
            amtf.to_torch(kind, v0[name], p.shape).astype(np.float64))

    # One training-mode forward over [labelled, weak, strong].
    model.train()
    opt.zero_grad(set_to_none=True)
    logits = model(xt)
    lx_logits, uw_logits, us_logits = logits[:B], logits[B:B + U], logits[B + U:]
    q = torch.softmax(uw_logits.detach(), dim=1)
    pmax, target = q.max(dim=1)
    srt = np.sort(pmax.numpy())
    gaps = np.diff(srt)
    j = int(np.argmax(gaps))
    tau = f32(0.5 * (srt[j] + srt[j + 1]))
    assert gaps[j] > 1e-3, f"max-probabilities too close to split: {srt}"
    mask = (pmax >= tau).double()
    assert 0 < mask.sum().item() < U, (srt, tau)
    loss_x = F.cross_entropy(lx_logits, yt)
    loss_u = (F.cross_entropy(us_logits, target, reduction="none") * mask).mean()
    loss = loss_x + LAMBDA_U * loss_u
    loss.backward()

    def sub(a):
        return np.ascontiguousarray(a.reshape(-1)[::SUB])

    grads, after_stats = [], []
    for name, kind, key in trainable:
        grads.append((f"grad:{name}", sub(amtf.to_ours(kind, params[key].grad.numpy()))))
    for name, kind, key in stats:
        after_stats.append((f"after:{name}", buffers[key].numpy().copy()))

    opt.step()

    after_p, after_v, after_e = [], [], []
    with torch.no_grad():
        for name, kind, key in trainable:
            p = params[key]
            theta = amtf.to_ours(kind, p.numpy())
            vbuf = amtf.to_ours(kind, opt.state[p]["momentum_buffer"].numpy())
            e = EMA * ema[name] + (1.0 - EMA) * theta
            after_p.append((f"after:{name}", sub(theta)))
            after_v.append((f"vafter:{name}", sub(vbuf)))
            after_e.append((f"emaafter:{name}", sub(e)))

    def one(v):
        return np.array([v], dtype=np.float64)

    tensors = [("tau", one(tau)), ("lambda_u", one(LAMBDA_U)), ("lr", one(LR)),
               ("momentum", one(MOMENTUM)), ("wd", one(WD)), ("ema_decay", one(EMA)),
               ("x", x), ("y", y.astype(np.float32))]
    tensors += init_tensors + vinit + emainit
    tensors += [("logits", logits.detach().numpy()), ("loss", one(loss.item())),
                ("loss_x", one(loss_x.item())), ("loss_u", one(loss_u.item())),
                ("mask_rate", one(mask.mean().item()))]
    tensors += grads + after_stats + after_p + after_v + after_e
    amtf.write(OUT, b"AMGD", "lite0", 3, CLASSES, tensors)
    n_par = sum(a.size for _, a in grads)
    print(f"wrote {os.path.relpath(OUT, mg.ROOT)}: {len(tensors)} tensors, {n_par:,} trainable, "
          f"{os.path.getsize(OUT):,} bytes")
    print(f"  weak max-probabilities {pmax.numpy()} targets {target.numpy()}")
    print(f"  tau {tau:.9g}  mask {mask.numpy()}  loss {loss.item():.9g} "
          f"(x {loss_x.item():.9g}, u {loss_u.item():.9g})")


if __name__ == "__main__":
    main()
