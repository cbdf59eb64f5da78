#!/usr/bin/env bash
# FITS decode + resize + stretch per core: am's inputs module (`am_bench
# inputs`: am_input_load on one thread) against the Python tool's path
# (fitsbolt.load_and_process_images, num_workers=1) and a lean astropy + cv2 +
# numpy path (bench/fits_vs_python.py), one thread each, on the same files.
# Prints a markdown table for bench/RESULTS.md.
#
#   bench/fits_vs_python.sh [ROUNDS] [IMAGES] [SOURCES]     (defaults 5 1000 "150 300 64")
#
# The files: `am_demo --format fits` (float32, HDUs G and R, sky, noise, NaN
# bad pixels), IMAGES of them at each source size of SOURCES; the output is
# 150 px (64 px for 64-px sources). Cases: 1 band (--fits-ext G, 1 channel)
# and 2 bands -> 3 channels (--fits-ext G,R --combine "1,0;0.5,0.5;0,1"),
# stretches asinh and zscale (zscale at the 150-px source only).
# Each case: a round 0 not counted, in which am writes its 8-bit images
# (--dump) and both Python paths compare theirs with them (max |diff| and the
# bytes that differ, over every image); then ROUNDS rounds of am, fitsbolt,
# astropy, the first of the three rotating. Every run is a fresh process that
# reads all files once untimed (page cache, first calls) and then times one
# pass over them; its img/s leaves out the process start and the imports.
# The ratios am / fitsbolt and am / astropy are taken round by round;
# median (min–max). Last, `am_bench inputs --phases` for each case: where am's
# time goes (cfitsio read, resize, combination, stretch, and the stretch's
# limits apart).
#
# AM_BENCH, AM_DEMO and PYTHON override ./am_bench, ./am_demo and
# .venv-ref/bin/python (then nothing is built). Takes about 10 minutes with the
# defaults on the 2-core development VM.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
n=${2:-1000}
sources=${3:-150 300 64}
python=${PYTHON:-.venv-ref/bin/python}
am_bench=${AM_BENCH:-./am_bench}
am_demo=${AM_DEMO:-./am_demo}
[ -x "$python" ] || { echo "fits_vs_python: no interpreter at $python (see bench/fits_vs_python.py)" >&2; exit 1; }
[ -n "${AM_BENCH:-}${AM_DEMO:-}" ] || make -s am_bench am_demo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for src in $sources; do
    "$am_demo" --out "$tmp/d$src" --format fits --n "$n" --size "$src" --seed 1 --labeled-anomalies 1 \
        --labeled-normals 1 >/dev/null
done

res="$tmp/results.tsv"
: > "$res"
comb="1,0;0.5,0.5;0,1"

# case name, source, size, then the options shared by am_bench inputs and fits_vs_python.py
cases=()
for src in $sources; do
    size=$(( src == 64 ? 64 : 150 ))
    cases+=("$src|$size|asinh|G|1|")
    cases+=("$src|$size|asinh|G,R|3|$comb")
    if [ "$src" = 150 ]; then
        cases+=("$src|$size|zscale|G|1|")
        cases+=("$src|$size|zscale|G,R|3|$comb")
    fi
done

run() {  # impl case round [extra]
    local impl=$1 c=$2 r=$3 src size st ext ch cb js
    shift 3
    IFS='|' read -r src size st ext ch cb <<< "$c"
    local opts=(--images "$tmp/d$src/images" --size "$size" --channels "$ch" --stretch "$st" --fits-ext "$ext")
    [ -z "$cb" ] || opts+=(--combine "$cb")
    if [ "$impl" = am ]; then
        js=$("$am_bench" inputs "${opts[@]}" --passes 1 --json "$@")
    else
        js=$("$python" bench/fits_vs_python.py --impl "$impl" "${opts[@]}" --passes 1 --json "$@")
    fi
    printf '%s\t%s\t%s\t%s\n' "$impl" "$c" "$r" "$js" >> "$res"
}

impls=(am fitsbolt astropy)
for c in "${cases[@]}"; do
    echo "fits_vs_python: $c" >&2
    run am "$c" 0 --dump "$tmp/am.bin"
    run fitsbolt "$c" 0 --compare "$tmp/am.bin"
    run astropy "$c" 0 --compare "$tmp/am.bin"
    for r in $(seq 1 "$rounds"); do
        for k in 0 1 2; do run "${impls[$(( (r + k) % 3 ))]}" "$c" "$r"; done
    done
    run am "$c" phases --phases
done

"$python" - "$res" "$n" "$rounds" <<'PY'
import datetime, json, os, platform, statistics, subprocess, sys
path, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs, cmp, phases, order = {}, {}, {}, []
for line in open(path):
    impl, case, rnd, js = line.rstrip("\n").split("\t", 3)
    js = json.loads(js)
    if case not in order:
        order.append(case)
    if rnd == "0":
        if impl != "am":
            cmp[(impl, case)] = js
    elif rnd == "phases":
        phases[case] = js
    else:
        runs.setdefault((impl, case), {})[rnd] = js["img_s"]
def mmm(v, d=0):
    return f"{statistics.median(v):.{d}f} ({min(v):.{d}f}–{max(v):.{d}f})"
sh = lambda c: subprocess.run(["sh", "-c", c], capture_output=True, text=True).stdout.strip()
import astropy, cv2, fitsbolt, numpy
print(f"- Date: {datetime.date.today()}; commit {sh('git rev-parse --short HEAD')} (+ working tree)")
mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
print(f"- Machine: {cpu}, {os.cpu_count()} cores, "
      f"{mem:.0f} GiB; one thread per implementation")
print(f"- Command: `bench/fits_vs_python.sh {rounds} {n}`: {n} `am_demo --format fits` files per source size "
      f"(float32, HDUs G and R), {rounds} rounds after an uncounted one")
print(f"- Python {platform.python_version()}: fitsbolt {getattr(fitsbolt, '__version__', '?')}, "
      f"astropy {astropy.__version__}, opencv {cv2.__version__}, numpy {numpy.__version__}")
print()
print("| source → size | bands → C | stretch | am img/s | fitsbolt img/s | astropy img/s | am / fitsbolt | "
      "am / astropy | am vs fitsbolt: max diff, bytes | am vs astropy: max diff, bytes |")
print("|---|---|---|---|---|---|---|---|---|---|")
for case in order:
    src, size, st, ext, ch, cb = case.split("|")
    a, f, p = (runs.get((i, case), {}) for i in ("am", "fitsbolt", "astropy"))
    if not a or not f or not p:
        continue
    rf = [a[r] / f[r] for r in a if r in f]
    rp = [a[r] / p[r] for r in a if r in p]
    def c(impl):
        j = cmp.get((impl, case), {})
        if "max_abs_diff" not in j:
            return j.get("compare_error", "—")
        return f"{j['max_abs_diff']}, {j['bytes_differ']} of {j['bytes']:,}"
    bands = f"{len(ext.split(','))} ({ext}) → {ch}"
    print(f"| {src}² → {size}² | {bands} | {st} | {mmm(list(a.values()))} | {mmm(list(f.values()))} | "
          f"{mmm(list(p.values()))} | {mmm(rf, 2)} | {mmm(rp, 2)} | {c('fitsbolt')} | {c('astropy')} |")
print()
print("am's time per image by phase (`am_bench inputs --phases`, one pass, µs per image; "
      "limits: the stretch's percentiles or zscale fit alone, part of stretch):")
print()
print("| source → size | bands → C | stretch | total µs | read (cfitsio) | resize | combine | stretch | of it, limits |")
print("|---|---|---|---|---|---|---|---|---|")
for case in order:
    if case not in phases or "phases_us" not in phases[case]:
        continue
    src, size, st, ext, ch, cb = case.split("|")
    ph = phases[case]["phases_us"]
    tot = sum(ph[k] for k in ("read", "resize", "combine", "stretch"))
    cells = " | ".join(f"{ph[k]:.0f} ({100 * ph[k] / tot:.0f}%)" for k in ("read", "resize", "combine", "stretch"))
    print(f"| {src}² → {size}² | {len(ext.split(','))} → {ch} | {st} | {tot:.0f} | {cells} | {ph['limits']:.0f} |")
PY
