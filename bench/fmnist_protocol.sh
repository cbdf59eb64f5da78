#!/usr/bin/env bash
# The paper's simulated-oracle protocol on Fashion-MNIST (Debian package
# dataset-fashion-mnist): one class is the anomaly at 1% prevalence, 5 labelled
# anomalies + 495 labelled normal images, 3 active-learning cycles of ITERS
# steps, the oracle labelling the 10 top-scored true anomalies and 10 top-scored
# false positives after each cycle; RUNS runs (seeds 1..RUNS). Prints the final
# AUROC, AUPRC, AP and top-1%/0.1% precision as mean ± std, and CPU seconds per
# step. LOSS: the consistency loss (am_train --loss; docs/LOSS.md).
#
#   bench/fmnist_protocol.sh [RUNS=3] [ITERS=100] [N=5000] [SIZE=64] [THREADS=nproc] [CLASS=0] [LOSS=fixmatch]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}; iters=${2:-100}; n=${3:-5000}; size=${4:-64}; threads=${5:-$(nproc)}; cls=${6:-0}; loss=${7:-fixmatch}
make -s am_train bench/fmnist_export
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for seed in $(seq 1 "$runs"); do
    bench/fmnist_export "$work/data$seed" --anomaly-class "$cls" --n "$n" --seed "$seed" >/dev/null
    start=$(date +%s.%N)
    ./am_train --images "$work/data$seed/images" --labels "$work/data$seed/labels.csv" \
        --truth "$work/data$seed/truth.csv" --out "$work/out$seed" --size "$size" --iters "$iters" \
        --cycles 3 --oracle 10 --seed "$seed" --threads "$threads" --checkpoint-every 0 --loss "$loss" 2>/dev/null |
        grep '^cycle'
    end=$(date +%s.%N)
    echo "run $seed: $(echo "$end - $start" | bc) s wall"
    cp "$work/out$seed/metrics_cycles.csv" "$work/m$seed.csv"
    cp "$work/out$seed/train_log.jsonl" "$work/l$seed.jsonl"
done
python3 - "$work" "$runs" "$iters" "$n" "$size" "$threads" "$cls" "$loss" <<'PY'
import csv, json, statistics as st, sys
work, runs = sys.argv[1], int(sys.argv[2])
rows = [list(csv.DictReader(open(f"{work}/m{s}.csv")))[-1] for s in range(1, runs + 1)]
rate = [st.median(json.loads(l)["img_s"] for l in open(f"{work}/l{s}.jsonl")) for s in range(1, runs + 1)]
def ms(key):
    v = [float(r[key]) for r in rows]
    return f"{st.mean(v):.3f} ± {st.stdev(v) if len(v) > 1 else 0:.3f}"
print(f"\nFashion-MNIST class {sys.argv[7]} as anomaly, n={sys.argv[4]}, {sys.argv[5]} px, 3 cycles x {sys.argv[3]} steps, "
      f"{runs} runs, {sys.argv[6]} threads, --loss {sys.argv[8]}")
print("| loss | AUROC | AUPRC | AP | top-1% precision | top-1% recall | top-0.1% precision | s/step (median) |")
print("|---|---|---|---|---|---|---|---|")
steps = [176 / r for r in rate]
print(f"| {sys.argv[8]} | {ms('auroc')} | {ms('auprc')} | {ms('ap')} | {ms('top1_precision')} | {ms('top1_recall')} | "
      f"{ms('top01_precision')} | {st.mean(steps):.2f} |")
PY
