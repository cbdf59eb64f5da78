#!/usr/bin/env bash
# The paper's simulated-oracle protocol on Fashion-MNIST (Debian package
# dataset-fashion-mnist): one class is the anomaly at 1% prevalence, 5 labelled
# anomalies + 495 labelled normal images, 3 active-learning cycles of ITERS
# steps, the oracle labelling the 10 top-scored true anomalies and 10 top-scored
# false positives after each cycle; RUNS runs (seeds 1..RUNS), every row of a
# seed on the same exported split. Prints the final AUROC, AUPRC, AP and
# top-1%/0.1% precision as mean ± std per row, the median wall time of a run,
# and each row's AUROC per seed.
#
# LOSSES: comma-separated rows; each is an am_train --loss (docs/LOSS.md) or
# `anomalymatch`: the Python AnomalyMatch v1.0.0 itself, driven by
# bench/fmnist_python_tool.py from a checkout named by AM_TOOL (git clone
# https://github.com/esa/AnomalyMatch && git -C AnomalyMatch checkout v1.0.0;
# its packages: tests/ref/requirements.txt; PYTHON names the interpreter,
# default .venv-ref/bin/python). KEEP=DIR keeps every run's outputs there,
# and a second call with the same KEEP skips the runs it finished.
#
# A row anomalymatch+amweak is the Python tool with am's weak view instead of
# its own (a bisection experiment: bench/fmnist_python_tool.py --weak am).
# A row LOSS/POLICY trains am with --policy POLICY (usb, fixmatch or
# anomalymatch: the views; am_train --help); a row LOSS alone, with usb.
# A row LOSS+toolresize trains am on the images resized beforehand by the
# Python tool's own loader (bench/tool_resize.py; needs AM_TOOL).
#
# DATA=faint runs the same protocol on am_demo's small faint sources instead
# (gray 150 px cutouts, --scale 0.4 --brightness 0.3, N images, 2% anomalies,
# 10 + 40 labelled; CLASS is then unused).
#
#   bench/fmnist_protocol.sh [RUNS=3] [ITERS=100] [N=5000] [SIZE=64] [THREADS=nproc] [CLASS=0] [LOSSES=fixmatch]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}; iters=${2:-100}; n=${3:-5000}; size=${4:-64}; threads=${5:-$(nproc)}; cls=${6:-0}; losses=${7:-fixmatch}
python=${PYTHON:-.venv-ref/bin/python}
make -s am_train am_demo bench/fmnist_export
if [[ ",$losses," =~ ,anomalymatch|\+toolresize, && ! -f "${AM_TOOL:-}/anomaly_match/pipeline/session.py" ]]; then
    echo "fmnist_protocol: the rows anomalymatch and *+toolresize need AM_TOOL=<AnomalyMatch v1.0.0 checkout>" >&2; exit 1
fi
work=${KEEP:-$(mktemp -d)}
mkdir -p "$work"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
IFS=, read -ra rows <<< "$losses"
for seed in $(seq 1 "$runs"); do
    for row in "${rows[@]}"; do
        d="$work/$row/$seed"
        [ -f "$d/wall_s" ] && [ -f "$d/out/metrics_cycles.csv" ] && continue
        rm -rf "$d" && mkdir -p "$d"
        if [ "${DATA:-fmnist}" = faint ]; then
            ./am_demo --out "$d/data" --n "$n" --size 150 --scale 0.4 --brightness 0.3 --seed "$seed" >/dev/null
        else
            bench/fmnist_export "$d/data" --anomaly-class "$cls" --n "$n" --seed "$seed" >/dev/null
        fi
        start=$(date +%s.%N)
        if [[ "$row" == anomalymatch* ]]; then
            "$python" bench/fmnist_python_tool.py "$AM_TOOL" "$d/data" "$d/out" --size "$size" --iters "$iters" \
                --cycles 3 --oracle 10 --seed "$seed" --threads "$threads" \
                --weak "$([ "$row" = anomalymatch+amweak ] && echo am || echo tool)" 2>/dev/null | grep '^cycle 3'
        else
            loss=${row%+toolresize}
            policy=$([[ "$loss" == */* ]] && echo "${loss#*/}" || echo usb)
            loss=${loss%/*}
            if [[ "$row" == *+toolresize ]]; then
                "$python" bench/tool_resize.py "$AM_TOOL" "$d/data" "$d/resized" "$size"
                rm -rf "$d/data" && mv "$d/resized" "$d/data"
            fi
            ./am_train --images "$d/data/images" --labels "$d/data/labels.csv" --truth "$d/data/truth.csv" \
                --out "$d/out" --size "$size" --iters "$iters" --cycles 3 --oracle 10 --seed "$seed" \
                --threads "$threads" --checkpoint-every 0 --loss "$loss" --policy "$policy" 2>/dev/null | grep '^cycle 3'
        fi
        end=$(date +%s.%N)
        echo "$row run $seed: $(echo "$end - $start" | bc) s wall"
        echo "$end - $start" | bc > "$d/wall_s"
        rm -rf "$d/data"
    done
done
python3 - "$work" "$runs" "$iters" "$n" "$size" "$threads" "$cls" "$losses" "${DATA:-fmnist}" <<'PY'
import csv, statistics as st, sys
work, runs, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
keys = ["auroc", "auprc", "ap", "top1_precision", "top1_recall", "top01_precision"]
data = (f"Fashion-MNIST class {sys.argv[7]} as anomaly" if sys.argv[9] == "fmnist" else
        "am_demo small faint sources (150 px, --scale 0.4 --brightness 0.3)")
print(f"\n{data}, n={sys.argv[4]}, {sys.argv[5]} px, 3 cycles x {iters} steps, "
      f"seeds 1..{runs}, {sys.argv[6]} threads; final cycle, over the unlabelled pool")
print("| row | AUROC | AUPRC | AP | top-1% precision | top-1% recall | top-0.1% precision | wall s/run (median) |")
print("|---|---|---|---|---|---|---|---|")
per_run = []
def am_args(row):
    loss, _, policy = row.partition("/")
    return f"{loss} --policy {policy or 'usb'}"
for row in sys.argv[8].split(","):
    finals = [list(csv.DictReader(open(f"{work}/{row}/{s}/out/metrics_cycles.csv")))[-1] for s in range(1, runs + 1)]
    wall = [float(open(f"{work}/{row}/{s}/wall_s").read()) for s in range(1, runs + 1)]
    def ms(k):
        v = [float(r[k]) for r in finals]
        return f"{st.mean(v):.3f} ± {st.stdev(v) if len(v) > 1 else 0:.3f}"
    name = ("AnomalyMatch v1.0.0 (Python)" if row == "anomalymatch" else
            "AnomalyMatch v1.0.0 with am's weak view" if row == "anomalymatch+amweak" else
            f"am --loss {am_args(row[:-len('+toolresize')])}, images resized by the tool's loader"
            if row.endswith("+toolresize") else f"am --loss {am_args(row)}")
    print(f"| {name} | " + " | ".join(ms(k) for k in keys) + f" | {st.median(wall):.0f} |")
    per_run.append((name, " ".join(f"{float(r['auroc']):.3f}" for r in finals)))
print("\nAUROC per seed:")
for name, v in per_run:
    print(f"  {name}: {v}")
PY
