"""Write tests/golden/metrics.txt: scikit-learn's answers for am_metrics (src/train/metrics.c).

Generated with scikit-learn 1.9.1 and numpy 2.4.6 (tests/ref/requirements.txt), Python 3.11:
  .venv-ref/bin/python tests/ref/make_metric_goldens.py

Per case: roc_auc_score; AUPRC = auc(recall, precision) of precision_recall_curve
(AnomalyMatch's definition); average_precision_score; precision and recall in the
top 0.1% and 1% (k = max(1, int(n * pct / 100)) as AnomalyMatch's benchmark; ties at
the cut counted by the tied group's anomaly fraction, see include/am/metrics.h);
for small cases also roc_curve(drop_intermediate=False) and precision_recall_curve.

Inputs are either listed (`list`) or made by a hash rule that tests/test_metrics.c
repeats exactly (`gen KIND SEED PPM`): with 32-bit unsigned arithmetic
  mix(x) = x ^= x >> 16; x *= 0x85EBCA6B; x ^= x >> 13; x *= 0xC2B2AE35; x ^= x >> 16
  h(s, i) = mix(i * 0x9E3779B9 + SEED * 0x632BE5AB + s * 0x5851F42D)
  y = h(1, i) % 1000000 < PPM          (label, 1 = anomaly)
  u = h(2, i) >> 8, w = h(3, i) >> 9   (24 and 23 random bits)
and the score, a float32 that is exact in every step:
  random   u / 2^24                         (no signal)
  signal   ((u >> 1) + y * 2^22) / 2^24
  ties     float32(u % 8 + 2 * y) / float32(10)   (one decimal: heavy ties)
  perfect  ((u >> 1) + y * 2^23) / 2^24
  inverted ((u >> 1) + (1 - y) * 2^23) / 2^24
  partial  ((u >> 1) + y * w) / 2^24
  const    0.5
File format: `case NAME N list|gen KIND SEED PPM`, then for lists `scores ...` and
`labels ...`, then `expect auroc auprc ap k01 prec01 rec01 k1 prec1 rec1`, optional
`roc X Y X Y ...` and `pr R P R P ...` point pairs, and `end`.
"""

import os

import numpy as np
import sklearn
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

M32 = 0xFFFFFFFF


def mix(x):
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & M32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & M32
    x ^= x >> 16
    return x


def h(seed, s, i):
    return mix((i * 0x9E3779B9 + seed * 0x632BE5AB + s * 0x5851F42D) & M32)


def generate(kind, n, seed, ppm):
    y = np.array([1 if h(seed, 1, i) % 1000000 < ppm else 0 for i in range(n)], dtype=np.int64)
    u = np.array([h(seed, 2, i) >> 8 for i in range(n)], dtype=np.int64)
    w = np.array([h(seed, 3, i) >> 9 for i in range(n)], dtype=np.int64)
    d = np.float32(16777216.0)
    if kind == "random":
        s = u.astype(np.float32) / d
    elif kind == "signal":
        s = ((u >> 1) + y * (1 << 22)).astype(np.float32) / d
    elif kind == "ties":
        s = (u % 8 + 2 * y).astype(np.float32) / np.float32(10)
    elif kind == "perfect":
        s = ((u >> 1) + y * (1 << 23)).astype(np.float32) / d
    elif kind == "inverted":
        s = ((u >> 1) + (1 - y) * (1 << 23)).astype(np.float32) / d
    elif kind == "partial":
        s = ((u >> 1) + y * w).astype(np.float32) / d
    elif kind == "const":
        s = np.full(n, 0.5, dtype=np.float32)
    else:
        raise ValueError(kind)
    return s.astype(np.float32), y


def top(s, y, pct):
    n = len(s)
    k = max(1, int(n * pct / 100))
    order = np.argsort(-s.astype(np.float64), kind="stable")
    ss, ys = s[order], y[order]
    cut = ss[k - 1]
    above = ss > cut
    tied = ss == cut
    hits = ys[above].sum() + ys[tied].sum() * (k - above.sum()) / tied.sum()
    if above.sum() + tied.sum() == k or tied.sum() == 1:
        assert hits == ys[:k].sum()  # no tie straddles the cut: the plain count
    return k, hits / k, hits / y.sum()


def fmt(v):
    return repr(float(v))


def emit(out, name, s, y, spec, curves):
    assert 0 < y.sum() < len(y)
    p, r, _ = precision_recall_curve(y, s)
    vals = [roc_auc_score(y, s), auc(r, p), average_precision_score(y, s)]
    k01, p01, r01 = top(s, y, 0.1)
    k1, p1, r1 = top(s, y, 1.0)
    out.append(f"case {name} {len(s)} {spec}")
    if spec == "list":
        out.append("scores " + " ".join(repr(float(v)) for v in s))
        out.append("labels " + " ".join(str(int(v)) for v in y))
    out.append("expect " + " ".join(fmt(v) for v in vals) +
               f" {k01} {fmt(p01)} {fmt(r01)} {k1} {fmt(p1)} {fmt(r1)}")
    if curves:
        fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
        out.append("roc " + " ".join(f"{fmt(a)} {fmt(b)}" for a, b in zip(fpr, tpr)))
        out.append("pr " + " ".join(f"{fmt(a)} {fmt(b)}" for a, b in zip(r, p)))
    out.append("end")


def main():
    out = [f"# am metric goldens: scikit-learn {sklearn.__version__}, numpy {np.__version__};"
           " written by tests/ref/make_metric_goldens.py (format and generator rules there)"]
    lists = [
        ("two", [0.1, 0.9], [0, 1]),
        ("two_wrong", [0.9, 0.1], [0, 1]),
        ("sklearn_doc", [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]),
        ("tiny_ties", [0.5, 0.5, 0.2, 0.9, 0.1, 0.5], [1, 0, 0, 1, 0, 0]),
        ("all_tied", [0.3, 0.3, 0.3, 0.3, 0.3], [0, 1, 0, 0, 1]),
        ("neg_scores", [-2.5, 3.0, -0.0, 0.0, 1e-30, -1e30, 7.25], [0, 1, 1, 0, 0, 0, 1]),
    ]
    for name, s, y in lists:
        emit(out, name, np.array(s, dtype=np.float32), np.array(y, dtype=np.int64), "list", True)
    gens = [
        ("random_50", "random", 50, 1, 300000, True),
        ("signal_1000", "signal", 1000, 2, 100000, False),
        ("ties_40", "ties", 40, 3, 250000, True),
        ("ties_3000", "ties", 3000, 4, 50000, False),
        ("perfect_500", "perfect", 500, 5, 100000, False),
        ("inverted_500", "inverted", 500, 6, 100000, False),
        ("const_2000", "const", 2000, 7, 10000, False),
        ("rare_10000", "partial", 10000, 8, 10000, False),
        ("rare_ties_10000", "ties", 10000, 9, 10000, False),
        ("random_10000", "random", 10000, 10, 20000, False),
    ]
    for name, kind, n, seed, ppm, curves in gens:
        s, y = generate(kind, n, seed, ppm)
        emit(out, name, s, y, f"gen {kind} {seed} {ppm}", curves)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "metrics.txt")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {os.path.normpath(path)}: {sum(1 for l in out if l.startswith('case'))} cases")


if __name__ == "__main__":
    main()
