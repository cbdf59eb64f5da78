#!/usr/bin/env python3
"""Drive semilearn's (USB, PyPI semilearn==0.3.2) own FixMatch / FlexMatch /
FreeMatch / SoftMatch `train_step` + hooks over 3 recorded steps of fixed
random logits, without any dataset, network, GPU or the heavy optional deps
(aim, wandb, transformers, torchaudio, sklearn ...).

How: `import semilearn` runs semilearn/__init__.py, which pulls the whole
framework (torchaudio, transformers, ...).  We instead register *empty*
package objects for `semilearn`, `semilearn.core`, `semilearn.core.hooks`,
`semilearn.core.utils`, `semilearn.algorithms` whose __path__ points at the
installed package, so that the real leaf modules load unmodified:
  semilearn/core/hooks/hook.py           (Hook base class)
  semilearn/core/utils/registry.py       (ALGORITHMS registry)
  semilearn/core/criterions/*.py         (ce_loss, consistency_loss)
  semilearn/algorithms/utils/*.py        (SSL_Argument, str2bool, concat_all_gather)
  semilearn/algorithms/hooks/*.py        (PseudoLabelingHook, FixedThresholdingHook,
                                          DistAlignEMAHook, MaskingHook)
  semilearn/algorithms/{fixmatch,flexmatch,freematch,softmatch}/*.py
Only AlgorithmBase (semilearn/core/algorithmbase.py, which imports sklearn,
all logging hooks, datasets ...) is replaced by `StandInBase` below; it copies
the few AlgorithmBase members that train_step/hooks use (call_hook,
registered_hook, compute_prob, process_out_dict, process_log_dict, ce_loss,
consistency_loss, lambda_u, use_cat, amp_cm, distributed, world_size, args).
The "model" is the identity: model(x) -> {'logits': x, 'feat': x}, so the
inputs x_lb / x_ulb_w / x_ulb_s ARE the logits, and after backward()
x_ulb_s.grad is d(total_loss)/d(strong logits).

Usage:  python semilearn_steps.py [--f64]   (tests/ref/make_ssl_goldens.py imports it)
"""
import argparse
import contextlib
import importlib
import importlib.metadata
import importlib.util
import sys
import types
from collections import OrderedDict

import torch

# ---------------------------------------------------------------- import shim
spec = importlib.util.find_spec("semilearn")
ROOT = list(spec.submodule_search_locations)[0]


def _pkg(name, path):
    m = types.ModuleType(name)
    m.__path__ = [path]
    m.__package__ = name
    sys.modules[name] = m
    return m


sl = _pkg("semilearn", ROOT)
core = _pkg("semilearn.core", ROOT + "/core")
core_hooks = _pkg("semilearn.core.hooks", ROOT + "/core/hooks")
core_utils = _pkg("semilearn.core.utils", ROOT + "/core/utils")
algs = _pkg("semilearn.algorithms", ROOT + "/algorithms")

core_hooks.Hook = importlib.import_module("semilearn.core.hooks.hook").Hook
_reg = importlib.import_module("semilearn.core.utils.registry")
core_utils.ALGORITHMS = _reg.ALGORITHMS
core_utils.IMB_ALGORITHMS = _reg.IMB_ALGORITHMS
crit = importlib.import_module("semilearn.core.criterions")  # real CELoss / ConsistencyLoss


class StandInBase:
    """Minimal replacement of semilearn.core.algorithmbase.AlgorithmBase."""

    def __init__(self, args):
        self.args = args
        self.num_classes = args.num_classes
        self.lambda_u = args.ulb_loss_ratio
        self.use_cat = True          # USB configs: use_cat: True
        self.amp_cm = contextlib.nullcontext
        self.distributed = False
        self.world_size = 1
        self.it = 0
        self.model = lambda x: {"logits": x, "feat": x}
        self.ce_loss = crit.CELoss()
        self.consistency_loss = crit.ConsistencyLoss()
        self._hooks_dict = OrderedDict()

    # --- copied semantics of AlgorithmBase (semilearn/core/algorithmbase.py)
    @property
    def hooks_dict(self):
        return self._hooks_dict

    def register_hook(self, hook, name=None, priority="NORMAL"):
        hook.name = name if name is not None else type(hook).__name__
        self._hooks_dict[hook.name] = hook

    def set_hooks(self):  # the real one adds logging/ckpt/eval hooks only
        pass

    def call_hook(self, fn_name, hook_name=None, *args, **kwargs):
        if hook_name is not None:
            return getattr(self.hooks_dict[hook_name], fn_name)(self, *args, **kwargs)
        for hook in self.hooks_dict.values():
            if hasattr(hook, fn_name):
                getattr(hook, fn_name)(self, *args, **kwargs)

    def registered_hook(self, hook_name):
        return hook_name in self.hooks_dict

    def compute_prob(self, logits):
        return torch.softmax(logits, dim=-1)

    def process_out_dict(self, out_dict=None, **kwargs):
        out_dict = {} if out_dict is None else out_dict
        out_dict.update(kwargs)
        return out_dict

    def process_log_dict(self, log_dict=None, prefix="train", **kwargs):
        log_dict = {} if log_dict is None else log_dict
        for k, v in kwargs.items():
            log_dict[f"{prefix}/" + k] = v
        return log_dict


_ab = types.ModuleType("semilearn.core.algorithmbase")
_ab.AlgorithmBase = StandInBase
sys.modules["semilearn.core.algorithmbase"] = _ab
core.AlgorithmBase = StandInBase

FixMatch = importlib.import_module("semilearn.algorithms.fixmatch").FixMatch
FlexMatch = importlib.import_module("semilearn.algorithms.flexmatch").FlexMatch
freematch_mod = importlib.import_module("semilearn.algorithms.freematch.freematch")
FreeMatch = freematch_mod.FreeMatch
SoftMatch = importlib.import_module("semilearn.algorithms.softmatch").SoftMatch

# record FreeMatch's entropy (fairness) loss: wrap the module-level function
_ent_record = []
_orig_entropy_loss = freematch_mod.entropy_loss


def _rec_entropy_loss(*a, **k):
    out = _orig_entropy_loss(*a, **k)
    _ent_record.append(out[0].detach().clone())
    return out


freematch_mod.entropy_loss = _rec_entropy_loss

# ---------------------------------------------------------------- fixed data
C, NLB, NULB, STEPS, ULB_DEST_LEN = 2, 4, 8, 3, 16


def make_data(seed, classes=C):
    """STEPS steps of (x_lb, y_lb, idx_ulb, x_ulb_w, x_ulb_s) logits, float64."""
    g = torch.Generator().manual_seed(seed)
    data = []
    for s in range(STEPS):
        x_lb = torch.randn(NLB, classes, generator=g, dtype=torch.float64) * 2.0
        y_lb = torch.randint(0, classes, (NLB,), generator=g)
        x_w = torch.randn(NULB, classes, generator=g, dtype=torch.float64) * 3.0
        x_s = x_w + torch.randn(NULB, classes, generator=g, dtype=torch.float64) * 1.5
        idx = torch.arange(NULB) + (NULB * s) % ULB_DEST_LEN   # steps 0:0..7 1:8..15 2:0..7
        data.append((x_lb, y_lb, idx, x_w, x_s))
    return data




def fmt(t):
    t = t.detach().reshape(-1).tolist() if torch.is_tensor(t) else [t]
    return "[" + ", ".join("%.9g" % float(v) for v in t) + "]"


def make(cls, classes=C, **over):
    a = dict(num_classes=classes, ulb_loss_ratio=1.0, ulb_dest_len=ULB_DEST_LEN,
             # defaults from each algorithm's get_argument() == USB classic_cv yaml
             T=0.5, p_cutoff=0.95, hard_label=True, thresh_warmup=True,
             ema_p=0.999, ent_loss_ratio=0.01, use_quantile=False, clip_thresh=False,
             dist_align=True, dist_uniform=True, n_sigma=2, per_class=False)
    a.update(over)
    args = argparse.Namespace(**a)
    alg = cls.__new__(cls)
    StandInBase.__init__(alg, args)
    # body of the real subclass __init__ after super().__init__ :
    if cls is FixMatch:
        alg.init(T=args.T, p_cutoff=args.p_cutoff, hard_label=args.hard_label)
    elif cls is FlexMatch:
        alg.init(T=args.T, p_cutoff=args.p_cutoff, hard_label=args.hard_label,
                 thresh_warmup=args.thresh_warmup)
    elif cls is FreeMatch:
        alg.init(T=args.T, hard_label=args.hard_label, ema_p=args.ema_p,
                 use_quantile=args.use_quantile, clip_thresh=args.clip_thresh)
        alg.lambda_e = args.ent_loss_ratio
    elif cls is SoftMatch:
        alg.init(T=args.T, hard_label=args.hard_label, dist_align=args.dist_align,
                 dist_uniform=args.dist_uniform, ema_p=args.ema_p, n_sigma=args.n_sigma,
                 per_class=args.per_class)
    alg.set_hooks()
    return alg


def state(alg):
    h = alg.hooks_dict["MaskingHook"]
    n = type(alg).__name__
    if n == "FlexMatch":
        return {"selected_label": h.selected_label, "classwise_acc": h.classwise_acc}
    if n == "FreeMatch":
        return {"time_p": h.time_p, "p_model": h.p_model, "label_hist": h.label_hist}
    if n == "SoftMatch":
        d = alg.hooks_dict["DistAlignHook"]
        return {"DA.p_model": d.p_model, "DA.p_target": d.p_target,
                "prob_max_mu_t": h.prob_max_mu_t, "prob_max_var_t": h.prob_max_var_t}
    return {}


def run(title, cls, data, **over):
    DT = torch.get_default_dtype()
    print("=" * 78)
    print(title, "  overrides:", over if over else "(defaults)")
    alg = make(cls, **over)
    # capture the mask returned by the MaskingHook
    mh = alg.hooks_dict["MaskingHook"]
    orig_masking = mh.masking
    cap = {}

    def masking(*a, **k):
        m = orig_masking(*a, **k)
        cap["mask"] = m
        return m
    mh.masking = masking
    if "DistAlignHook" in alg.hooks_dict:
        dh = alg.hooks_dict["DistAlignHook"]
        orig_da = dh.dist_align

        def dist_align(*a, **k):
            p = orig_da(*a, **k)
            cap["aligned"] = p
            return p
        dh.dist_align = dist_align
    print("initial state:", {k: fmt(v) if torch.is_tensor(v) else v for k, v in state(alg).items()})
    for s, (x_lb, y_lb, idx, x_w, x_s) in enumerate(data):
        x_lb = x_lb.to(DT).clone().requires_grad_(True)
        x_w = x_w.to(DT).clone()
        x_s = x_s.to(DT).clone().requires_grad_(True)
        kw = dict(x_lb=x_lb, y_lb=y_lb, x_ulb_w=x_w, x_ulb_s=x_s)
        if cls is FlexMatch:
            kw["idx_ulb"] = idx
        _ent_record.clear()
        out, log = alg.train_step(**kw)
        out["loss"].backward()
        print("-- step %d" % s)
        if cls is FlexMatch:
            print("  idx_ulb      ", idx.tolist())
        print("  p_weak       ", fmt(torch.softmax(x_w, -1)[:, 1]), "(P(class1) of weak view)")
        if "aligned" in cap:
            print("  p_weak_align ", fmt(cap["aligned"][:, 1]), "(P(class1) after DistAlign)")
        print("  mask/weight  ", fmt(cap["mask"]))
        for k, v in state(alg).items():
            print("  %-13s" % k, fmt(v) if torch.is_tensor(v) else v)
        print("  sup_loss     ", "%.9g" % log["train/sup_loss"])
        print("  unsup_loss   ", "%.9g" % log["train/unsup_loss"])
        if cls is FreeMatch:
            print("  ent_loss     ", fmt(_ent_record[0]) if _ent_record else "0.0 (mask.sum()==0)",
                  " lambda_e=%g" % alg.lambda_e)
        print("  total_loss   ", "%.9g" % log["train/total_loss"])
        print("  util_ratio   ", "%.9g" % log["train/util_ratio"])
        print("  dL/dlogit_s  ", fmt(x_s.grad))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--f64", action="store_true", help="torch default dtype float64")
    ap.add_argument("--seed", type=int, default=0)
    cli = ap.parse_args()
    if cli.f64:
        torch.set_default_dtype(torch.float64)
    data = make_data(cli.seed)
    print("semilearn", importlib.metadata.version("semilearn"),
          "| torch", torch.__version__, "| dtype", torch.get_default_dtype(), "| seed", cli.seed)
    run("FixMatch (semilearn/algorithms/fixmatch/fixmatch.py)", FixMatch, data)
    run("FlexMatch (semilearn/algorithms/flexmatch)", FlexMatch, data)
    run("FlexMatch, thresh_warmup=False, p_cutoff=0.8", FlexMatch, data, thresh_warmup=False, p_cutoff=0.8)
    run("FreeMatch (semilearn/algorithms/freematch)  [ent_loss_ratio: get_argument default 0.01; USB yaml uses 0.001]",
        FreeMatch, data)
    run("FreeMatch, ema_p=0.5 (state moves visibly)", FreeMatch, data, ema_p=0.5)
    run("FreeMatch, ema_p=0.5, use_quantile=True, clip_thresh=True", FreeMatch, data, ema_p=0.5, use_quantile=True,
        clip_thresh=True)
    run("SoftMatch (semilearn/algorithms/softmatch)", SoftMatch, data)
    run("SoftMatch, ema_p=0.5", SoftMatch, data, ema_p=0.5)


if __name__ == "__main__":
    main()
