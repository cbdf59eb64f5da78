#!/usr/bin/env bash
# End-to-end scoring of a directory of cutouts, images/s: am_infer against the
# Python AnomalyMatch v1.0 prediction path (bench/infer_vs_python.py: TurboJPEG /
# PIL decode, skimage resize, efficientnet_lite_pytorch Lite0 fp32 forward in
# batches of 1000, its CSV/npy/npz outputs) on the same machine, threads and
# files. 150-px grayscale PNG and JPEG (quality 90) cutouts from am_demo, scored
# at model sizes 64 and 150, in interleaved repetitions (am, Python, then
# Python, am, ...). Prints a markdown table for bench/RESULTS.md.
#
#   bench/infer_vs_python.sh [THREADS] [REPS] [IMAGES]      (defaults 2 3 1000)
#
# Each figure: IMAGES / seconds, median over REPS runs with min and max.
# - am: whole process, wall clock (start, model load, decode, resize, forward,
#   scores.csv, top_candidates.csv/.png); fresh --out each run, as am_infer
#   resumes from an existing one. "own" is the images/s its summary.json reports.
# - Python: the script's own timer, which leaves out the Python start, the
#   imports and the model build and load (listing, decode, resize, forward,
#   softmax and the tool's output files are in); "process" is the whole process.
# - am / Python: pair by pair, am whole process against Python's timed part,
#   the ratio least favourable to am.
# - max |diff|: the largest score difference over all images, last repetition.
#   At 64 px both models pad alike and the difference is the resize (skimage's
#   Gaussian + bilinear vs Pillow's antialiased bilinear); at 150 px nothing is
#   resized, the tool's model pads for 224 px: the "SAME" column reruns the
#   Python side once with true TF SAME pads (--true-same), as am pads.
# Last line: the GUI's one-process-per-file way on 10 files, for scale.
# Not measured here: the loader alone against libpng decoding per core, which
# am_bench loader prints (its "libpng decode alone" rows).
#
# The Python side needs the venv of tests/ref/requirements.txt plus the packages
# in the header of bench/infer_vs_python.py (PYTHON=... overrides the
# interpreter). Takes about 10 minutes on the 2-core development VM.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
reps=${2:-3}
n=${3:-1000}
python=${PYTHON:-.venv-ref/bin/python}
[ -x "$python" ] || { echo "infer_vs_python: no interpreter at $python (see bench/infer_vs_python.py)" >&2; exit 1; }
make -s am_infer am_demo am_train
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

./am_demo --out "$tmp/demo" --n "$n" --size 150 --seed 1 --labeled-anomalies 2 --labeled-normals 10 \
    --threads "$threads" >/dev/null
"$python" bench/make_cutouts.py "$tmp/demo" "$tmp/cuts" >/dev/null
for size in 64 150; do
    ./am_train --images "$tmp/demo/images" --labels "$tmp/demo/labels.csv" --out "$tmp/train$size" \
        --iters 2 --cycles 1 --size "$size" --threads "$threads" >/dev/null 2>&1
done

now() { date +%s.%N; }
res="$tmp/results.tsv"
: > "$res"

run_am() {  # fmt size rep
    local out="$tmp/am_$1_$2" t0 t1
    rm -rf "$out"
    t0=$(now)
    ./am_infer --model "$tmp/train$2/model_ema.amw" --images "$tmp/cuts/$1" --out "$out" \
        --threads "$threads" --size "$2" --channels 3 >/dev/null 2>&1
    t1=$(now)
    own=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["images_per_second"])' "$out/summary.json")
    printf 'am\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$own" >> "$res"
}

run_py() {  # fmt size rep [extra args]
    local fmt=$1 size=$2 rep=$3 out="$tmp/py_$1_$2" t0 t1 js
    shift 3
    rm -rf "$out"
    t0=$(now)
    js=$("$python" bench/infer_vs_python.py --model "$tmp/train$size/model_ema.amw" --images "$tmp/cuts/$fmt" \
        --size "$size" --threads "$threads" --out "$out" --json --compare "$tmp/am_${fmt}_$size/scores.csv" "$@")
    t1=$(now)
    printf 'py%s\t%s\t%s\t%s\t%s\t%s\n' "${1:+-same}" "$fmt" "$size" "$rep" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$js" >> "$res"
}

# warm-up (not counted): libraries and files into the page cache
run_am png 64 0
run_py png 64 0
for rep in $(seq 1 "$reps"); do
    for cfg in "png 64" "jpeg 64" "png 150" "jpeg 150"; do
        # shellcheck disable=SC2086
        if [ $((rep % 2)) -eq 1 ]; then run_am $cfg "$rep"; run_py $cfg "$rep"
        else run_py $cfg "$rep"; run_am $cfg "$rep"; fi
    done
done
run_py png 150 x --true-same --writes csv
run_py jpeg 150 x --true-same --writes csv

"$python" - "$res" "$n" "$threads" "$reps" <<'PY'
import json, os, platform, statistics, subprocess, sys, datetime
path, n, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
am, py, same = {}, {}, {}
for line in open(path):
    f = line.rstrip("\n").split("\t")
    key, rep = (f[1], f[2]), f[3]
    if rep == "0":
        continue
    if f[0] == "am":
        am.setdefault(key, []).append((n / float(f[4]), float(f[5])))
    elif f[0] == "py":
        js = json.loads(f[5])
        py.setdefault(key, []).append((js["img_s"], n / float(f[4]), js))
    else:
        same[key] = json.loads(f[5])
def mmm(v, d=1):
    return f"{statistics.median(v):.{d}f} ({min(v):.{d}f}–{max(v):.{d}f})"
sh = lambda c: subprocess.run(["sh", "-c", c], capture_output=True, text=True).stdout.strip()
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
js0 = next(iter(py.values()))[0][2]
print(f"- Date: {datetime.date.today()}; commit {sh('git rev-parse --short HEAD')} (+ working tree)")
mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
print(f"- Machine: {cpu}, {os.cpu_count()} cores, {mem:.0f} GiB; threads {threads}")
print(f"- Command: `bench/infer_vs_python.sh {threads} {reps} {n}`: {n} am_demo cutouts 150x150 gray "
      f"(PNG; JPEG = Pillow quality 90), {reps} interleaved repetitions after a warm-up")
print(f"- Python: {platform.python_version()}, torch {js0['torch']}, the tool's path as in bench/infer_vs_python.py")
print()
print("| input | size | am_infer img/s (process) | am_infer img/s (own) | Python img/s (timed) | Python img/s (process) | am / Python | max abs diff | max abs diff, true SAME |")
print("|---|---|---|---|---|---|---|---|---|")
for key in [("png", "64"), ("jpeg", "64"), ("png", "150"), ("jpeg", "150")]:
    if key not in am or key not in py:
        continue
    a, p = am[key], py[key]
    ratios = [x[0] / y[0] for x, y in zip(a, p)]
    diff = p[-1][2].get("max_abs_diff")
    sd = same.get(key, {}).get("max_abs_diff")
    print(f"| {key[0].upper()} | {key[1]} | {mmm([x[0] for x in a])} | {mmm([x[1] for x in a])} | "
          f"{mmm([y[0] for y in p])} | {mmm([y[1] for y in p])} | {mmm(ratios, 2)} | "
          f"{diff:.2g} | {'—' if sd is None else f'{sd:.2g}'} |")
print()
print("Loader alone against libpng decoding per core: am_bench loader (its \"libpng decode alone\" rows).")
PY
# The GUI's own way for a directory of image files (session.py:424-433): one
# whole prediction process per file, start-up and model load included.
gui=$("$python" bench/infer_vs_python.py --model "$tmp/train64/model_ema.amw" --images "$tmp/cuts/png" \
    --size 64 --threads "$threads" --out "$tmp/gui" --gui-files 10 --json)
"$python" - "$gui" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"The Python GUI way (one prediction process per file, PNG, 64 px, {r['images']} files): "
      f"{r['img_s']:.2f} img/s; {r['failed_runs']} of those processes exited with the tool's "
      "IndexError (prediction_process.py:182), after scoring and writing, as the tool's do.")
PY
