#!/usr/bin/env bash
# The GPU script: on a machine with an NVIDIA GPU, one command builds the CUDA
# backend for sm_90, checks every kernel and the whole model against the CPU
# reference (tests/gpu/test_gpu.c), runs the kernel checks under
# compute-sanitizer where it works, times am_bench infer/train and the same
# model in PyTorch, and prints one summary table last. Each stage has a time
# limit; the whole script stays under 8 minutes (and the device tool's 10).
#
#   tests/gpu/run.sh [OUTDIR]        (logs and JSON go to OUTDIR, default $OUT or build-cuda/gpu-out)
#
# cuDNN and cuBLAS: the toolkit's own (CUDA_HOME) or the system's when present,
# else the ones inside PyTorch's nvidia wheels (site-packages/nvidia/*), found
# through python3. NVIDIA_TF32_OVERRIDE=0 keeps fp32 exact.
#
# OpenBLAS (OpenMP build), libpng, libjpeg, zlib: the system's development
# packages when a test program compiles, links and runs against them; else the
# .deb files in tests/gpu/debs (made by tests/gpu/fetch_debs.sh on a machine
# with apt, carried to the GPU machine), unpacked into build-cuda/sysroot and
# used from there: OpenBLAS linked shared with an rpath, libpng, libjpeg and
# zlib linked statically. Nothing is installed. See tests/gpu/README.md.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=build-cuda
out=${1:-${OUT:-$B/gpu-out}}
mkdir -p "$out" "$B"
export PATH="/usr/local/cuda/bin:$PATH"
export NVIDIA_TF32_OVERRIDE=0
py=${PYTHON:-python3}
t_start=$(date +%s)
rows=()
fail=0

# The whole script's budget: a stage gets at most what is left of it, and is
# skipped when under 10 s are left, so that the summary always comes.
budget=${AM_GPU_BUDGET:-470}

# stage NAME SECONDS CMD...: runs CMD with a time limit, log in $out/NAME.log.
stage() {
    local name=$1 limit=$2; shift 2
    local left=$(( budget - ($(date +%s) - t_start) ))
    if [ "$left" -lt 10 ]; then
        echo "== $name: skipped (the ${budget}s budget is spent)"
        rows+=("| $name | skipped (time budget) | 0s |")
        return 1
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    local t0=$(date +%s) shown=("$@")
    # The command as shown: without a leading `env VAR=...` (amenv's paths are printed once above).
    while [ ${#shown[@]} -gt 1 ] && [[ ${shown[0]} == env || ${shown[0]} == [A-Z_]*=* ]]; do shown=("${shown[@]:1}"); done
    echo "== $name (limit ${limit}s): ${shown[*]}"
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    local rc=$? dt=$(( $(date +%s) - t0 )) res=ok
    if [ $rc -eq 124 ]; then res="TIMEOUT"; elif [ $rc -ne 0 ]; then res="FAIL (rc $rc)"; fi
    tail -n 25 "$out/$name.log"
    rows+=("| $name | $res | ${dt}s |")
    [ "$res" = ok ] || fail=1
    return $rc
}

# ---- locate CUDA, cuDNN, cuBLAS ----------------------------------------------
nvcc_path=$(command -v nvcc || true)
[ -n "$nvcc_path" ] || { echo "run.sh: nvcc not found"; exit 1; }
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$nvcc_path")")}
nvroot=$($py -c 'import nvidia, os; print(list(nvidia.__path__)[0])' 2>/dev/null || true)
findf() { for d in "$@"; do [ -e "$d" ] && { echo "$d"; return; }; done; }
cudnn_h=$(findf "$CUDA_HOME/include/cudnn.h" /usr/include/cudnn.h /usr/include/x86_64-linux-gnu/cudnn.h)
libdir=$PWD/$B/gpulibs
mkdir -p "$libdir"
extra_inc=""
if [ -z "$cudnn_h" ] && [ -n "$nvroot" ]; then
    cudnn_h=$(find "$nvroot" -name cudnn.h 2>/dev/null | head -1)
fi
[ -n "$cudnn_h" ] || { echo "run.sh: cudnn.h not found (toolkit, system or PyTorch's nvidia wheels)"; exit 1; }
# Unversioned names for the linker where only libX.so.N exists.
for lib in cudnn cublas cublasLt; do
    if ! ls "$CUDA_HOME/lib64/lib$lib.so" /usr/lib/x86_64-linux-gnu/lib$lib.so >/dev/null 2>&1; then
        f=$( { [ -n "$nvroot" ] && find "$nvroot" -name "lib$lib.so*" 2>/dev/null; } | sort | head -1)
        [ -n "$f" ] && ln -sf "$f" "$libdir/lib$lib.so" && export LD_LIBRARY_PATH="$(dirname "$f"):${LD_LIBRARY_PATH:-}"
    fi
done
if [ ! -e "$CUDA_HOME/include/cublas_v2.h" ] && [ -n "$nvroot" ]; then
    h=$(find "$nvroot" -name cublas_v2.h 2>/dev/null | head -1)
    [ -n "$h" ] && extra_inc=$(dirname "$h")
fi
export CPATH="${extra_inc:+$extra_inc:}${CPATH:-}"
export LD_LIBRARY_PATH="$libdir:$CUDA_HOME/lib64:${LD_LIBRARY_PATH:-}"
echo "nvcc: $nvcc_path; cuDNN header: $cudnn_h; nvidia wheels: ${nvroot:-none}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv 2>&1 | tee "$out/gpu.txt"

# ---- host libraries: OpenBLAS, libpng, libjpeg, zlib ---------------------------
# amenv: the environment of the build and of our own binaries (not of PyTorch):
# plain `env` with the system packages, the sysroot's paths with the carried .debs.
cc=${CC:-gcc}
amenv=(env)
probe_c=$B/libs_probe.c
cat > "$probe_c" <<'EOF'
#include <stdio.h>
#include <cblas.h>
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>
int main(void) {
    float a = 2, b = 3, c = 0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);
    struct jpeg_error_mgr jerr;
    jpeg_std_error(&jerr);
    printf("OpenBLAS %s (parallel %d), libpng %s, libjpeg %d, zlib %s\n", openblas_get_config(),
           openblas_get_parallel(), png_get_libpng_ver(NULL), JPEG_LIB_VERSION, zlibVersion());
    return c == 6 ? 0 : 1;
}
EOF
# probe_libs OPENBLAS_DIR LDFLAGS: compiles, links (as the Makefile does) and runs the probe under amenv.
probe_libs() {
    "${amenv[@]}" "$cc" -std=c11 -D_GNU_SOURCE -fopenmp -Wall -Werror $2 "$probe_c" -o "$B/libs_probe" \
        ${1:+-L$1 -Wl,-rpath,$1} -lopenblas -lpng -ljpeg -lz -lm && "${amenv[@]}" "$B/libs_probe"
}
# extract_deb DEB DIR: dpkg -x, else ar + tar (a .deb is an ar archive holding data.tar.*).
extract_deb() {
    if command -v dpkg >/dev/null; then dpkg -x "$1" "$2"; return; fi
    local t rc deb
    deb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    t=$(mktemp -d) || return 1
    (cd "$t" && ar x "$deb") &&
    { tar -xf "$t"/data.tar.* -C "$2" 2>/dev/null ||
      $py -c 'import sys, tarfile as T; T.open(sys.argv[1]).extractall(sys.argv[2], **({"filter": "tar"} if hasattr(T, "tar_filter") else {}))' "$t"/data.tar.* "$2"; }
    rc=$?; rm -rf "$t"; return $rc
}
sys_ob=${OPENBLAS_DIR:-$(ls -d "/usr/lib/$("$cc" -dumpmachine 2>/dev/null)/openblas-openmp" 2>/dev/null)}
if libs=$(probe_libs "$sys_ob" "" 2>&1); then
    libs="system packages: $libs"
    echo "libraries: $libs"
    rows+=("| libraries | ok (system packages) | 0s |")
else
    echo "libraries: the system packages fail the probe (compile, link, run):"
    printf '%s\n' "$libs" | tail -n 4 | sed 's/^/    /'
    debs=(tests/gpu/debs/*.deb)
    if [ ! -e "${debs[0]}" ]; then
        echo "run.sh: OpenBLAS (OpenMP build), libpng, libjpeg or zlib development files are missing here"
        echo "        and tests/gpu/debs/ holds no .deb files. Run tests/gpu/fetch_debs.sh on a machine with"
        echo "        apt, then carry the folder: run(command=\"tests/gpu/run.sh \$OUT\", carry=[\"tests/gpu/debs\"])."
        rows+=("| libraries | FAIL (no system packages, no tests/gpu/debs) | 0s |")
        printf '%s\n' "| stage | result | time |" "|---|---|---|" "${rows[@]}"
        exit 1
    fi
    sr=$PWD/$B/sysroot
    how=$(command -v dpkg >/dev/null && echo "dpkg -x" || echo "ar + tar, no dpkg")
    rm -rf "$sr" && mkdir -p "$sr" || exit 1
    for f in "${debs[@]}"; do
        extract_deb "$f" "$sr" || { echo "run.sh: could not unpack $f ($how)"; exit 1; }
    done
    ob=$(ls -d "$sr"/usr/lib/*/openblas-openmp 2>/dev/null | head -n 1)
    [ -n "$ob" ] || { echo "run.sh: no usr/lib/*/openblas-openmp in the unpacked .debs (rerun tests/gpu/fetch_debs.sh)"; exit 1; }
    trip=$(basename "$(dirname "$ob")")
    sl=$sr/usr/lib/$trip
    # No libX.so for these in the sysroot, so the linker takes libX.a: no runtime .so needed.
    rm -f "$sl"/libpng.so "$sl"/libpng16.so "$sl"/libjpeg.so "$sl"/libz.so
    # DT_RPATH (not RUNPATH), so that libopenblas.so.0 finds libgfortran.so.5 there too.
    ldx="-L$sl -Wl,-rpath,$sl -Wl,--disable-new-dtags"
    amenv=(env "C_INCLUDE_PATH=$sr/usr/include/$trip/openblas-openmp:$sr/usr/include/$trip:$sr/usr/include${C_INCLUDE_PATH:+:$C_INCLUDE_PATH}"
           "LIBRARY_PATH=$ob:$sl${LIBRARY_PATH:+:$LIBRARY_PATH}" "LD_LIBRARY_PATH=$ob:$sl:$LD_LIBRARY_PATH"
           "LDFLAGS=$ldx${LDFLAGS:+ $LDFLAGS}")
    libs=$(probe_libs "$ob" "$ldx" 2>&1) || {
        printf '%s\n' "$libs" | tail -n 8
        echo "run.sh: the probe fails against the carried .debs too (unpacked into $sr)"; exit 1; }
    libs="carried .debs (${#debs[@]} unpacked with $how into $sr): $libs"
    echo "libraries: $libs"
    mkob="OPENBLAS_DIR=$ob"
    printf '    %s\n' "${amenv[@]:1}" "make $mkob"
    rows+=("| libraries | ok (carried .debs, $how) | 0s |")
fi

# ---- build -------------------------------------------------------------------
# Under amenv: with the carried .debs, LDFLAGS (-L, rpath) reaches make through the environment.
mk="make -j$(nproc) BUILD=$B GPU_ARCH=sm_90 CUDA_HOME=$CUDA_HOME CUDNN_H=$cudnn_h CUDNN_LIB=$libdir ${mkob:-}"
build() {
    # one ./am_bench and bench/augment_bench for every BUILD dir: relink them against $B (CUDA)
    rm -f am_bench bench/augment_bench
    $mk status am_bench bench/augment_bench "$B/test_gpu"
}
export B CUDA_HOME cudnn_h extra_inc mk
export -f build
stage build 170 "${amenv[@]}" bash -c build || { printf '%s\n' "| stage | result | time |" "|---|---|---|" "${rows[@]}"; exit 1; }

# ---- correctness ---------------------------------------------------------------
stage test_gpu 150 "${amenv[@]}" "$B/test_gpu"

# ---- benchmarks (the targets first), the sanitizer, more benchmarks -----------
stage am_infer_224 60 "${amenv[@]}" ./am_bench infer --device cuda --size 224 --batch 256 --precision fp32 bf16 --json
cp "$out/am_infer_224.log" "$out/am_infer_224.json"
stage torch 110 env PYTHONUNBUFFERED=1 $py bench/torch_gpu_bench.py --device cuda --mode infer --size 224 \
    --batch 256 --precision bf16 --compile eager compile --iters 10 --json
cp "$out/torch.log" "$out/torch.json"
stage am_infer_64 40 "${amenv[@]}" ./am_bench infer --device cuda --size 64 --batch 1024 --precision bf16 --json
cp "$out/am_infer_64.log" "$out/am_infer_64.json"
stage am_train 60 "${amenv[@]}" ./am_bench train --device cuda --size 224 --precision fp32 bf16 --iters 10 --trainer --json
cp "$out/am_train.log" "$out/am_train.json"
stage torch_train 50 env PYTHONUNBUFFERED=1 $py bench/torch_gpu_bench.py --device cuda --mode train --size 224 \
    --precision bf16 --compile eager --iters 10 --json
cp "$out/torch_train.log" "$out/torch_train.json"
# The kernel checks under compute-sanitizer memcheck.
if command -v compute-sanitizer >/dev/null; then
    stage sanitizer 75 "${amenv[@]}" compute-sanitizer --tool memcheck --error-exitcode 9 "$B/test_gpu" --quick
else
    rows+=("| sanitizer | skipped (no compute-sanitizer) | 0s |")
fi
# Where the time goes: per-layer profiles of the eval forward and the training step.
stage am_layers 30 "${amenv[@]}" ./am_bench layers --device cuda --size 224 --batch 256 --precision bf16
stage am_layers_train 30 "${amenv[@]}" ./am_bench layers --device cuda --size 224 --batch 176 --precision bf16 --train
# Scoring a folder end to end: the loader on 15 threads feeding the GPU.
stage am_e2e 30 "${amenv[@]}" ./am_bench e2e --device cuda --n 2048 --src 64 --size 64 --batch 512 --loader-threads 15 \
    --passes 25
# Augmentation: the batched kernel, then PIL/torchvision against am's CPU
# pipelines on this machine's cores (tables in their logs, copied below).
stage augment_gpu 30 "${amenv[@]}" bench/augment_bench --device cuda --size 64 224 --seconds 1
stage augment_pil 60 env PYTHONUNBUFFERED=1 $py bench/augment_vs_pil.py --size 64 224 --workers 1 \
    --seconds 1 --am bench/augment_bench
# Depthwise convolution, ours vs cuDNN's grouped: JSON in am_dwconv.log only (its
# rows are not img/s rows; the summary prints them in a table of their own).
stage am_dwconv 40 "${amenv[@]}" ./am_bench dwconv --device cuda --size 224 --batch 256 --precision fp32 bf16 --json

# ---- summary (last) ------------------------------------------------------------
# Also written to OUTDIR/summary.md; the logs and JSON are then packed into
# OUTDIR/logs.tar.gz (the device tool brings back at most 8 files from $OUT).
{
echo
echo "## GPU script summary ($(( $(date +%s) - t_start ))s)"
cat "$out/gpu.txt"
echo "nvcc: $("$nvcc_path" --version | grep -o 'release [0-9.]*' | head -n 1); cuDNN header: $cudnn_h"
echo "libraries: $libs"
grep -E "^(test_gpu:|FAIL)" "$out/test_gpu.log" 2>/dev/null | tail -n 15
$py - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    try:
        txt = open(f).read()
        rows += json.loads(txt[txt.index("["):])
    except Exception:
        pass
torch_best = {}
for r in rows:
    if r["impl"] == "torch":
        k = (r["mode"], r["size"], r["precision"])
        torch_best.setdefault(k, {})[r.get("compile", "eager")] = r
print("| impl | mode | size | batch | precision | img/s | ms | GPU MiB | am / torch eager | am / torch.compile |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    name = r["impl"] + (" " + r["compile"] if r["impl"] == "torch" else "")
    ratio = ["", ""]
    if r["impl"] == "am":
        t = torch_best.get((r["mode"], r["size"], r["precision"]), {})
        for i, c in enumerate(("eager", "compile")):
            if c in t and t[c]["batch"] == r["batch"]:
                ratio[i] = f"{r['img_s'] / t[c]['img_s']:.2f}"
    print(f"| {name} | {r['mode']} | {r['size']} | {r['batch']} | {r['precision']} | {r['img_s']:.0f} | "
          f"{r['median_ms']:.3f} | {r.get('gpu_mib', 0):.0f} | {ratio[0]} | {ratio[1]} |")
PY
$py - "$out/am_dwconv.log" <<'PY'
import json, re, sys
# Row by row (flat objects), so that a run cut short or a stderr line in between loses nothing else.
rows = []
try:
    for m in re.findall(r"\{[^{}]*\}", open(sys.argv[1]).read()):
        try:
            rows.append(json.loads(m))
        except ValueError:
            pass
except OSError:
    pass
if rows:
    r0 = rows[0]
    print(f"\nDepthwise convolutions of {r0['model']} at {r0['size']} px, batch {r0['batch']}: median ms, ours vs cuDNN grouped")
    print("| precision | H | C | k | s | blocks | fwd ours | fwd cuDNN | kept | bwd ours | bwd cuDNN | kept |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    ms = lambda v: "n/a" if v is None else f"{v:.3f}"
    tot = {}
    for r in rows:
        print(f"| {r['precision']} | {r['H']} | {r['C']} | {r['k']} | {r['stride']} | {r['blocks']} | "
              f"{ms(r['fwd_ours_ms'])} | {ms(r['fwd_cudnn_ms'])} | {r['fwd_kept']} | "
              f"{ms(r['bwd_ours_ms'])} | {ms(r['bwd_cudnn_ms'])} | {r['bwd_kept']} |")
        t = tot.setdefault(r["precision"], [0.0, 0.0])
        for m in ("fwd", "bwd"):
            o, c = r[m + "_ours_ms"], r[m + "_cudnn_ms"]
            if o is None:
                continue
            t[0] += r["blocks"] * o
            t[1] += r["blocks"] * (c if r[m + "_kept"] == "cudnn" and c is not None else o)
    for p, (o, k) in tot.items():
        print(f"{p}: every depthwise layer, forward + backward: ours {o:.2f} ms, as kept {k:.2f} ms")
PY
for f in am_layers am_layers_train am_e2e augment_gpu augment_pil; do
    [ -s "$out/$f.log" ] && { echo; grep -E "^(am|\||PIL|Pillow|torch|forward:|backward:)" "$out/$f.log"; }
done
echo
echo "| stage | result | time |"
echo "|---|---|---|"
printf '%s\n' "${rows[@]}"
} 2>&1 | tee "$out/summary.md"
(cd "$out" && tar -czf logs.tar.gz gpu.txt ./*.log ./*.json 2>/dev/null && rm -f gpu.txt ./*.log ./*.json) ||
    echo "run.sh: could not pack the logs in $out"
exit $fail
