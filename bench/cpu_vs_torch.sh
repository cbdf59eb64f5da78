#!/usr/bin/env bash
# Lite0 forward and forward+backward images/s: am's CPU path against PyTorch
# (timm tf_efficientnet_lite0, channels_last, fp32) with the same thread count,
# measured in one run. Prints a markdown table for bench/RESULTS.md.
#
#   bench/cpu_vs_torch.sh [THREADS] [BATCH]
# PyTorch comes from a venv made with tests/ref/requirements.txt:
#   python3 -m venv .venv-ref && .venv-ref/bin/pip install -r tests/ref/requirements.txt
# (PYTHON=... overrides the interpreter).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
batch=${2:-32}
python=${PYTHON:-.venv-ref/bin/python}
[ -x "$python" ] || { echo "cpu_vs_torch: no PyTorch interpreter at $python (see the header of this script)" >&2; exit 1; }
make -s am_bench
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
./am_bench model --arch lite0 --size 64 224 --batch "$batch" --threads "$threads" --json > "$tmp/am.json"
"$python" bench/torch_bench.py --size 64 224 --batch "$batch" --threads "$threads" --json > "$tmp/torch.json"
python3 - "$tmp/am.json" "$tmp/torch.json" <<'PY'
import json, platform, subprocess, sys
am = {(r["size"], r["mode"]): r for r in json.load(open(sys.argv[1]))}
th = {(r["size"], r["mode"]): r for r in json.load(open(sys.argv[2]))}
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
any_t = next(iter(th.values()))
print(f"CPU: {cpu}; threads {any_t['threads']}; torch {any_t['torch']}, timm {any_t['timm']}")
print()
print("| size | mode | batch | am img/s | torch img/s | am / torch |")
print("|---|---|---|---|---|---|")
for key in sorted(am):
    a, t = am[key], th[key]
    print(f"| {key[0]} | {key[1]} | {a['batch']} | {a['img_s']:.1f} | {t['img_s']:.1f} | {a['img_s'] / t['img_s']:.2f} |")
PY
