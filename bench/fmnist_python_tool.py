#!/usr/bin/env python3
"""The Python AnomalyMatch (v1.0.0, unmodified) on one run of the Fashion-MNIST
protocol of bench/fmnist_protocol.sh: the same exported split (DATA/images,
DATA/labels.csv, DATA/truth.csv), the same cycles, steps and oracle.

Driven through the tool's own paper_scripts functions: setup_pipeline builds
the session, session.train trains, find_mislabeled is the oracle, and the
session's label_image/save_labels take its answer, as paper_benchmark.py does.
Pool images are scored as the tool's own loader reads them (imageio, gray to
RGB, skimage's anti-aliased resize) with its evaluation transform and EMA
model. --weak am (a bisection experiment, not the tool as shipped) replaces
the tool's weak view (flip, then a vertical-only shift up to 12.5% with zero
fill) by am's (a reflect-padded shift up to 12.5% on both axes, then the
flip), for the labelled, the weak and, under RandAugment, the strong views.
Writes OUT/metrics_cycles.csv with am_train's columns and definitions
(those of tests/ref/make_metric_goldens.py, am's metric goldens).

  fmnist_python_tool.py ANOMALYMATCH_DIR DATA OUT [--size 32] [--iters 100]
      [--cycles 3] [--oracle 10] [--seed 1] [--threads 2] [--weak tool|am]
"""
import argparse
import csv
import os
import sys
import time
import types


def metrics(y, s):
    """am_train's metrics_cycles.csv figures, by the definitions of
    tests/ref/make_metric_goldens.py (sklearn, and its top-k with ties shared)."""
    import numpy as np
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
    from make_metric_goldens import top
    p, r, _ = precision_recall_curve(y, s)
    m = {"n": len(y), "anomalies": sum(y), "auroc": roc_auc_score(y, s), "auprc": auc(r, p),
         "ap": average_precision_score(y, s)}
    for name, pct in (("top1", 1.0), ("top01", 0.1)):
        _, m[name + "_precision"], m[name + "_recall"] = top(np.asarray(s), np.asarray(y), pct)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tool"), ap.add_argument("data"), ap.add_argument("out")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--oracle", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weak", choices=["tool", "am"], default="tool")
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(a.tool, "anomaly_match", "pipeline", "session.py")):
        sys.exit(f"fmnist_python_tool: {a.tool} is not an AnomalyMatch checkout "
                 "(git clone https://github.com/esa/AnomalyMatch; git checkout v1.0.0)")
    sys.path[:0] = [os.path.abspath(a.tool), os.path.join(os.path.abspath(a.tool), "paper_scripts")]
    import numpy as np
    import pandas as pd
    import torch
    from torchvision import transforms
    from loguru import logger
    import paper_utils
    from anomaly_match.utils.set_seeds import set_seeds

    if a.weak == "am":
        import anomaly_match.datasets.SSL_Dataset as ssl_dataset
        tool_transform = ssl_dataset.get_transform

        def am_weak(train=True):
            if not train:
                return tool_transform(train)
            return transforms.Compose([
                transforms.RandomCrop(a.size, padding=int(a.size * 0.125), padding_mode="reflect"),
                transforms.RandomHorizontalFlip(), transforms.ToTensor()])
        ssl_dataset.get_transform = am_weak
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    torch.set_num_threads(a.threads)
    set_seeds(a.seed)
    os.makedirs(os.path.join(a.out, "models"), exist_ok=True)
    labels_path = os.path.join(a.out, "labeled_data.csv")
    pd.read_csv(os.path.join(a.data, "labels.csv")).to_csv(labels_path, index=False)
    truth = pd.read_csv(os.path.join(a.data, "truth.csv"))
    truth["label_idx"] = (truth["label"] == "anomaly").astype(int)
    truth = truth[["filename", "label_idx"]]

    args = types.SimpleNamespace(dataset="fashion-mnist", anomaly_classes=[1], size=a.size,
                                 n_to_load=len(truth), train_iterations=a.iters, skip_mock_ui=True)
    session, cfg = paper_utils.setup_pipeline(args, os.path.join(a.data, "images"), labels_path,
                                              a.out, None, None)
    cfg.save_path = os.path.join(a.out, "models")
    cfg.log_level = "WARNING"
    loader = session.train_dset.dset
    to_tensor = transforms.Compose([transforms.ToTensor()])

    rows = []
    for cycle in range(1, a.cycles + 1):
        t0 = time.time()
        session.train(cfg)
        t_train = time.time() - t0
        labelled = set(pd.read_csv(labels_path)["filename"])
        labelled |= set(session.active_learning_df["filename"])
        pool = [f for f in truth["filename"] if f not in labelled]
        model = session.model.eval_model
        model.eval()
        scores = []
        with torch.no_grad():
            for i in range(0, len(pool), 500):
                x = torch.stack([to_tensor(loader._read_and_resize_image(os.path.join(a.data, "images", f)))
                                 for f in pool[i:i + 500]])
                scores.extend(torch.softmax(model(x), dim=1)[:, 1].tolist())
        y = truth.set_index("filename").loc[pool, "label_idx"].tolist()
        m = metrics(y, scores)
        rows.append({"cycle": cycle, "step": cycle * a.iters, **m})
        print(f"cycle {cycle}: {m['n']} pool images ({m['anomalies']} anomalies): AUROC {m['auroc']:.4f}  "
              f"AUPRC {m['auprc']:.4f}  AP {m['ap']:.4f}  top 1%: precision {m['top1_precision']:.3f}  "
              f"top 0.1%: precision {m['top01_precision']:.3f}  ({t_train / a.iters:.2f} s/step)", flush=True)
        if cycle == a.cycles:
            break
        picks = paper_utils.find_mislabeled(np.array(scores), pool, truth, 1, 2 * a.oracle)
        session.filenames = np.array(pool)
        for _, r in picks.iterrows():
            session.label_image(pool.index(r["filename"]), r["label"])
        session.save_labels()

    cols = ["cycle", "step", "n", "anomalies", "auroc", "auprc", "ap", "top1_precision", "top1_recall",
            "top01_precision", "top01_recall"]
    tmp = os.path.join(a.out, "metrics_cycles.csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, os.path.join(a.out, "metrics_cycles.csv"))


if __name__ == "__main__":
    main()
