"""Goldens of the consistency losses from semilearn's own code (0.3.2, torch float64).

    python tests/ref/make_ssl_goldens.py      -> tests/golden/ssl_semilearn.amg

semilearn's train_step and hooks (tests/ref/semilearn_steps.py) run three
recorded steps of random logits (8 unlabelled images, 2 and 3 classes) for
each case below. Per case `c<i>`: `hp` = [loss id (include/am/ssl.h's
registry order), classes, ema_p, lambda_e, n_sigma, tau, T, warmup, images
(semilearn's ulb_dest_len)]; per step `c<i>.s<k>.`: `idx` (the step's
images), `zw`, `zs` (weak and strong logits), `w` (the mask or
weights), `loss_u` (semilearn's unsup_loss), `loss_e` (FreeMatch's entropy
loss, else 0), `dzs` (d total / d strong logits) and `state`: the hooks'
state after the step in am's layout of am_ssl_state (kernels/ssl_X.h):
  freematch [time_p, p_model[64], label_hist[64]]
  softmatch [started, mu, var, p_model[64]]
  flexmatch [started, unused, count[64], beta[64]] (counts of selected_label's
            values after the step; beta: the classwise_acc its mask used)
so that tests/test_ssl.c compares whole states with no per-loss code.
"""
import os
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amtf  # noqa: E402
import semilearn_steps as sl  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "ssl_semilearn.amg")
LOSSES = ["fixmatch", "freematch", "softmatch", "flexmatch", "relmatch"]  # include/am/ssl.h's AM_SSL_LOSSES order
MAXK, STATE = 64, 512
CASES = [  # (loss, classes, overrides)
    ("fixmatch", 2, {}),
    ("fixmatch", 3, {"p_cutoff": 0.7}),
    ("freematch", 2, {"ent_loss_ratio": 0.001}),
    ("freematch", 2, {"ema_p": 0.5, "ent_loss_ratio": 0.01}),
    ("freematch", 3, {"ema_p": 0.5, "ent_loss_ratio": 0.1}),
    ("softmatch", 2, {}),
    ("softmatch", 2, {"ema_p": 0.5}),
    ("softmatch", 3, {"ema_p": 0.5, "n_sigma": 3}),
    ("flexmatch", 2, {}),
    ("flexmatch", 2, {"p_cutoff": 0.8}),
    ("flexmatch", 3, {"p_cutoff": 0.8, "thresh_warmup": False}),
]
CLASS = {"fixmatch": sl.FixMatch, "freematch": sl.FreeMatch, "softmatch": sl.SoftMatch, "flexmatch": sl.FlexMatch}


def am_state(alg, name, acc_before):
    s = np.zeros(STATE)
    h = alg.hooks_dict["MaskingHook"]
    if name == "freematch":
        k = h.p_model.numel()
        s[0] = float(h.time_p)
        s[1:1 + k] = h.p_model.numpy()
        s[1 + MAXK:1 + MAXK + k] = h.label_hist.numpy()
    if name == "softmatch":
        d = alg.hooks_dict["DistAlignHook"]
        k = d.p_model.numel()
        s[0] = 1.0
        s[1] = float(h.prob_max_mu_t)
        s[2] = float(h.prob_max_var_t)
        s[3:3 + k] = d.p_model.numpy()
    if name == "flexmatch":
        sel = h.selected_label.numpy()
        k = h.classwise_acc.numel()
        s[0] = 1.0
        s[1] = float((sel == -1).sum())
        for c in range(k):
            s[2 + c] = float((sel == c).sum())
        s[2 + MAXK:2 + MAXK + k] = acc_before  # am keeps the status its step's mask used
    return s


def main():
    tensors = []
    for i, (name, classes, over) in enumerate(CASES):
        alg = sl.make(CLASS[name], classes=classes, **over)
        a = alg.args
        T = 0.0 if getattr(a, "hard_label", True) else a.T
        tensors.append(("c%d.hp" % i, np.array([LOSSES.index(name), classes, a.ema_p, a.ent_loss_ratio, a.n_sigma,
                                                a.p_cutoff, T, a.thresh_warmup, sl.ULB_DEST_LEN])))
        mh = alg.hooks_dict["MaskingHook"]
        cap = {}
        orig = mh.masking

        def masking(*args, _orig=orig, **kw):
            m = _orig(*args, **kw)
            cap["mask"] = m
            return m
        mh.masking = masking
        for k, (x_lb, y_lb, idx, x_w, x_s) in enumerate(sl.make_data(i, classes)):
            x_lb = x_lb.clone().requires_grad_(True)
            x_s = x_s.clone().requires_grad_(True)
            sl._ent_record.clear()
            kw = {"idx_ulb": idx} if name == "flexmatch" else {}
            acc = mh.classwise_acc.numpy().copy() if name == "flexmatch" else None
            out, log = alg.train_step(x_lb=x_lb, y_lb=y_lb, x_ulb_w=x_w.clone(), x_ulb_s=x_s, **kw)
            out["loss"].backward()
            ent = float(sl._ent_record[0]) * alg.lambda_e if name == "freematch" and sl._ent_record else 0.0
            p = "c%d.s%d." % (i, k)
            tensors += [(p + "idx", idx.numpy().astype(np.float64)), (p + "zw", x_w.numpy()), (p + "zs", x_s.detach().numpy()),
                        (p + "w", cap["mask"].detach().numpy()), (p + "loss_u", np.array([log["train/unsup_loss"]])),
                        (p + "loss_e", np.array([ent])), (p + "dzs", x_s.grad.numpy()),
                        (p + "state", am_state(alg, name, acc))]
    amtf.write(OUT, b"AMGD", "none", 0, 0, tensors)
    print("wrote", OUT, len(tensors), "tensors")


if __name__ == "__main__":
    main()
