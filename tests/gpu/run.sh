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

# stage NAME SECONDS CMD...: runs CMD with a time limit, log in $out/NAME.log.
stage() {
    local name=$1 limit=$2; shift 2
    local t0=$(date +%s)
    echo "== $name (limit ${limit}s): $*"
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

# ---- build -------------------------------------------------------------------
mk="make -j$(nproc) BUILD=$B GPU_ARCH=sm_90 CUDA_HOME=$CUDA_HOME CUDNN_H=$cudnn_h CUDNN_LIB=$libdir"
build() {
    $mk status "$B/libam.a" am_bench || return 1
    gcc -std=c11 -D_GNU_SOURCE -O2 -g -fopenmp -Wall -Wextra -Werror -Iinclude -I"$CUDA_HOME/include" \
        -I"$(dirname "$cudnn_h")" ${extra_inc:+-I$extra_inc} -DAM_HAVE_CUDA tests/gpu/test_gpu.c "$B/libam.a" \
        -o "$B/test_gpu" $($mk -s -f Makefile -f - print-ldlibs <<<'print-ldlibs: ; @echo $(LDLIBS)')
}
export B CUDA_HOME cudnn_h extra_inc mk
export -f build
stage build 170 bash -c build || { printf '%s\n' "| stage | result | time |" "|---|---|---|" "${rows[@]}"; exit 1; }

# ---- correctness ---------------------------------------------------------------
stage test_gpu 120 "$B/test_gpu"
if command -v compute-sanitizer >/dev/null; then
    stage sanitizer 75 compute-sanitizer --tool memcheck --error-exitcode 9 "$B/test_gpu" --quick
else
    rows+=("| sanitizer | skipped (no compute-sanitizer) | 0s |")
fi

# ---- benchmarks ----------------------------------------------------------------
stage am_infer_224 60 ./am_bench infer --device cuda --size 224 --batch 256 --precision fp32 bf16 --json
cp "$out/am_infer_224.log" "$out/am_infer_224.json"
stage am_infer_64 40 ./am_bench infer --device cuda --size 64 --batch 1024 --precision bf16 --json
cp "$out/am_infer_64.log" "$out/am_infer_64.json"
stage am_train 40 ./am_bench train --device cuda --size 224 --precision fp32 bf16 --iters 10 --json
cp "$out/am_train.log" "$out/am_train.json"
stage torch 110 env PYTHONUNBUFFERED=1 $py bench/torch_gpu_bench.py --device cuda --mode infer --size 224 \
    --batch 256 --precision bf16 --compile eager compile --iters 10 --json
cp "$out/torch.log" "$out/torch.json"
stage torch_train 50 env PYTHONUNBUFFERED=1 $py bench/torch_gpu_bench.py --device cuda --mode train --size 224 \
    --precision bf16 --compile eager --iters 10 --json
cp "$out/torch_train.log" "$out/torch_train.json"

# ---- summary (last) ------------------------------------------------------------
echo
echo "## GPU script summary ($(( $(date +%s) - t_start ))s)"
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
echo
echo "| stage | result | time |"
echo "|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $fail
