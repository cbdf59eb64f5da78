#!/usr/bin/env bash
# The GPU script: on a machine with an NVIDIA GPU, one command builds the CUDA
# backend for that GPU, checks every kernel and the whole model against the
# CPU reference (tests/gpu/test_gpu.c, each check group in a process of its
# own: first with AM_SYNC=1, so that a device fault names its kernel, later
# without), runs the kernel checks under compute-sanitizer where it works,
# times am_bench infer/train and the same model in PyTorch, and prints one
# summary table last. Each stage has a time limit; the whole script stays
# under 8 minutes (and the device tool's 10).
#
#   tests/gpu/run.sh [OUTDIR]        (logs and JSON go to OUTDIR, default $OUT or build-cuda/gpu-out)
#
# Build: GPU_ARCH=native where nvcc finds the GPU, else sm_90 (GPU_ARCH in the
# environment wins); WERROR= so that a compiler we have not met cannot stop it.
#
# cuDNN and cuBLAS: each with its header and its library from one place, the
# first of: the toolkit (CUDA_HOME), the system (/usr/include, /usr/lib/<triplet>,
# /usr/local), PyTorch's nvidia wheels (site-packages/nvidia/*/{include,lib},
# found through python3; for cuBLAS, nvcc's major version first). Where a place
# has only versioned libraries (libcudnn.so.9), build-cuda/gpulibs gets the
# unversioned links the linker needs. NVIDIA_TF32_OVERRIDE=0 keeps fp32 exact.
#
# OpenBLAS (OpenMP build), libpng, libjpeg, zlib: the system's development
# packages when a test program compiles, links and runs against them; else the
# .deb files in tests/gpu/debs (made by tests/gpu/fetch_debs.sh on a machine
# with apt, carried to the GPU machine), unpacked into build-cuda/sysroot and
# used from there: OpenBLAS linked shared with an rpath, libpng, libjpeg and
# zlib linked statically. Nothing is installed. See tests/gpu/README.md.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
B=build-cuda
out=${1:-${OUT:-$B/gpu-out}}
mkdir -p "$out" "$B" || exit 1
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
export NVIDIA_TF32_OVERRIDE=0
py=${PYTHON:-python3}
cc=${CC:-gcc}
t_start=$(date +%s)
rows=()
fail=0
amenv=(env)

# The whole script's budget: a stage gets at most what is left of it, and is
# skipped when under 10 s are left, so that the summary always comes.
budget=${AM_GPU_BUDGET:-470}

table() { printf '%s\n' "| stage | result | time |" "|---|---|---|" "${rows[@]}"; }

# die LINE...: the lines (the first also as the setup row), then the stage
# table (also into OUTDIR/summary.md); exit 1.
die() {
    printf 'run.sh: %s\n' "$1"
    [ $# -gt 1 ] && printf '        %s\n' "${@:2}"
    rows+=("| setup | FAIL: $1 | 0s |")
    table | tee "$out/summary.md"
    exit 1
}

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
    local t0 shown=("$@")
    t0=$(date +%s)
    # The command as shown: without amenv's `env VAR=...` (printed once above).
    [ "${*:1:${#amenv[@]}}" = "${amenv[*]}" ] && shown=("${@:${#amenv[@]}+1}")
    echo "== $name (limit ${limit}s): ${shown[*]}"
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    local rc=$? dt res=ok
    dt=$(( $(date +%s) - t0 ))
    if [ $rc -eq 124 ]; then res="TIMEOUT"; elif [ $rc -ne 0 ]; then res="FAIL (rc $rc)"; fi
    tail -n 25 "$out/$name.log"
    rows+=("| $name | $res | ${dt}s |")
    [ "$res" = ok ] || fail=1
    return $rc
}

# pystage NAME SECONDS ARGS...: stage NAME running python3 ARGS, or a skipped row without python3.
pystage() {
    if [ -n "$have_py" ]; then
        stage "$1" "$2" env PYTHONUNBUFFERED=1 "$py" "${@:3}"
    else
        rows+=("| $1 | skipped (no $py) | 0s |")
    fi
}

# ---- tools -------------------------------------------------------------------
missing=()
for t in make ar "$cc" nvcc timeout; do command -v "$t" >/dev/null || missing+=("$t"); done
[ ${#missing[@]} -eq 0 ] || die "not found on PATH: ${missing[*]}" \
    "make, ar, gcc: Debian's build-essential; nvcc: the CUDA toolkit's bin/ on PATH (or in /usr/local/cuda/bin);" \
    "timeout: coreutils. PATH=$PATH"
nvcc_path=$(command -v nvcc)
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$nvcc_path")")}
[ -e "$CUDA_HOME/lib64/libcudart.so" ] || die "no $CUDA_HOME/lib64/libcudart.so: the Makefile links the CUDA runtime from there" \
    "(CUDA_HOME comes from nvcc's path, $nvcc_path; set CUDA_HOME to the toolkit's root)"
cuda_major=$("$nvcc_path" --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p' | head -n 1)
trip=$("$cc" -dumpmachine)
have_py=$(command -v "$py" || true)
nvroots=()
[ -n "$have_py" ] && mapfile -t nvroots < <("$py" -c 'import nvidia; print("\n".join(nvidia.__path__))' 2>/dev/null)
echo "nvcc: $nvcc_path (CUDA $cuda_major; CUDA_HOME $CUDA_HOME); python3: ${have_py:-none}; nvidia wheels: ${nvroots[*]:-none}"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv 2>&1 | tee "$out/gpu.txt"
else
    echo "nvidia-smi not found (no NVIDIA driver here?)" | tee "$out/gpu.txt"
fi

# ---- cuDNN and cuBLAS: header and library from one place ---------------------------
# "label|include dir|library dir", in order. The Makefile puts
# -I$CUDA_HOME/include first, so a header there is the one compiled against
# whatever else is found: the toolkit's library must then go with it.
places=("the toolkit|$CUDA_HOME/include|$CUDA_HOME/lib64" "the system|/usr/include|/usr/lib/$trip"
        "the system|/usr/include/$trip|/usr/lib/$trip" "the system|/usr/local/include|/usr/local/lib")
for r in "${nvroots[@]}"; do
    for d in "$r"/*/; do places+=("PyTorch's nvidia wheels|${d%/}/include|${d%/}/lib"); done
done
gl=$PWD/$B/gpulibs
rm -rf "$gl" && mkdir -p "$gl" || exit 1

# lib_in DIR NAME: DIR/libNAME.so, else the first versioned DIR/libNAME.so.N..., else nothing.
lib_in() {
    if [ -e "$1/lib$2.so" ]; then echo "$1/lib$2.so"; return; fi
    local v=("$1/lib$2.so".[0-9]*)
    [ -e "${v[0]}" ] && printf '%s\n' "${v[@]}" | sort -V | head -n 1
}
# major FILE: the major version of the file FILE resolves to (libcublas.so.13.1.0.3: 13), or nothing.
major() {
    local b
    b=$(basename "$(readlink -f "$1")")
    case $b in *.so.*) b=${b#*.so.}; echo "${b%%.*}" ;; esac
}

# locate NAME HEADER [MAJOR]: the place of libNAME and HEADER, a library of
# major version MAJOR first. Sets loc_label, loc_inc, loc_lib (the library
# file) and loc_dirs (the -L and rpath directories: $gl first where the place
# has only versioned files); else returns 1 with loc_why.
locate() {
    local name=$1 hdr=$2 want=${3:-} p label inc dir f
    loc_label="" loc_why=""
    for p in "${places[@]}"; do
        IFS='|' read -r label inc dir <<< "$p"
        [ -e "$inc/$hdr" ] || continue
        f=$(lib_in "$dir" "$name")
        if [ -z "$f" ] && [ "$label" = "the toolkit" ]; then
            loc_why="$inc/$hdr is there but no lib$name.so* in $dir: the build compiles against that header, so its library must come from the toolkit too (install it, or remove the header)"
            return 1
        fi
        [ -n "$f" ] || continue
        if [ -z "$loc_label" ] || { [ -n "$want" ] && [ "$(major "$loc_lib")" != "$want" ] && [ "$(major "$f")" = "$want" ]; }; then
            loc_label=$label loc_inc=$inc loc_lib=$f loc_dirs=("$dir")
        fi
        [ "$label" = "the toolkit" ] && break
    done
    if [ -z "$loc_label" ]; then
        loc_why="no place holds both $hdr and lib$name.so*: looked in $CUDA_HOME/{include,lib64}, /usr/include, /usr/include/$trip, /usr/local/include (libraries in /usr/lib/$trip, /usr/local/lib) and PyTorch's nvidia wheels (${nvroots[*]:-none: $py finds no 'nvidia' package})"
        return 1
    fi
    if [ "${loc_lib%.so}" = "$loc_lib" ]; then
        ln -sf "$loc_lib" "$gl/lib$name.so" || { loc_why="cannot make the link $gl/lib$name.so"; return 1; }
        loc_dirs=("$gl" "${loc_dirs[@]}")
    fi
}
# version FILE MACRO...: "MAJOR.MINOR.PATCH" from a header's #defines.
version() {
    local f=$1 v=() m; shift
    [ -e "$f" ] || { echo "(no $(basename "$f"))"; return; }
    for m; do v+=("$(sed -n "s/^#define $m  *\([0-9][0-9]*\).*/\1/p" "$f" | head -n 1)"); done
    (IFS=.; echo "${v[*]}")
}
# found WHAT: the line saying where a library and its header come from.
found() {
    local s="$1 from $loc_label: headers $loc_inc, library $loc_lib"
    [ "${loc_dirs[0]}" = "$gl" ] && s+=" (linked through $B/gpulibs)"
    echo "$s"
}

locate cudnn cudnn.h || die "cuDNN: $loc_why"
cudnn_h=$loc_inc/cudnn.h cudnn_dirs=("${loc_dirs[@]}")
cudnn_line=$(found "cuDNN $(version "$loc_inc/cudnn_version.h" CUDNN_MAJOR CUDNN_MINOR CUDNN_PATCHLEVEL)")
locate cublas cublas_v2.h "$cuda_major" || die "cuBLAS: $loc_why"
cublas_inc=$loc_inc cublas_dirs=("${loc_dirs[@]}")
cublas_line=$(found "cuBLAS $(version "$loc_inc/cublas_api.h" CUBLAS_VER_MAJOR CUBLAS_VER_MINOR CUBLAS_VER_PATCH)")
m=$(major "$loc_lib")
[ -z "$m" ] || [ "$m" = "$cuda_major" ] || cublas_line+=" (cuBLAS $m with CUDA $cuda_major)"
echo "$cudnn_line"
echo "$cublas_line"
# cublas_own: cuBLAS's directories that are not cuDNN's; rundirs: the library
# directories at run time ($gl holds only unversioned names, for the linker).
cublas_own=() rundirs=()
for d in "${cublas_dirs[@]}"; do [[ " ${cudnn_dirs[*]} " == *" $d "* ]] || cublas_own+=("$d"); done
for d in "${cudnn_dirs[@]}" "${cublas_own[@]}" "$CUDA_HOME/lib64"; do
    [ "$d" = "$gl" ] || [[ " ${rundirs[*]} " == *" $d "* ]] || rundirs+=("$d")
done
# amvars: the environment of the build and of our own programs (not of
# PyTorch): the library directories (cuDNN opens its engine libraries at run
# time) and, where they are not the toolkit's, cuBLAS's headers.
am_ld=$(IFS=:; echo "${rundirs[*]}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
amvars=("LD_LIBRARY_PATH=$am_ld")
[ "$cublas_inc" = "$CUDA_HOME/include" ] || amvars+=("CPATH=$cublas_inc${CPATH:+:$CPATH}")
amenv=(env "${amvars[@]}")

# ---- GPU architecture ----------------------------------------------------------
# nvcc -arch=native warns and takes its default where it finds no GPU.
if [ -n "${GPU_ARCH:-}" ]; then
    arch=$GPU_ARCH arch_why="GPU_ARCH from the environment"
else
    printf '__global__ void k() {}\n' > "$B/arch_probe.cu"
    if msg=$("$nvcc_path" -arch=native -c "$B/arch_probe.cu" -o "$B/arch_probe.o" 2>&1) && [ -z "$msg" ]; then
        arch=native arch_why="nvcc -arch=native finds the GPU"
    else
        arch=sm_90 arch_why="nvcc -arch=native: $(printf '%s\n' "${msg:-no output}" | head -n 1)"
    fi
fi
echo "GPU_ARCH=$arch ($arch_why); WERROR= (warnings do not stop the build)"

# ---- host libraries: OpenBLAS, libpng, libjpeg, zlib ---------------------------
probe_c=$B/libs_probe.c
printf '%s\n' '#include <stdio.h>' '#include <cblas.h>' '#include <jpeglib.h>' '#include <png.h>' '#include <zlib.h>' \
    'int main(void) {' \
    '    float a = 2, b = 3, c = 0;' \
    '    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);' \
    '    struct jpeg_error_mgr jerr;' \
    '    jpeg_std_error(&jerr);' \
    '    printf("OpenBLAS %s (parallel %d), libpng %s, libjpeg %d, zlib %s\n", openblas_get_config(),' \
    '           openblas_get_parallel(), png_get_libpng_ver(NULL), JPEG_LIB_VERSION, zlibVersion());' \
    '    return c == 6 ? 0 : 1;' \
    '}' > "$probe_c"
# probe_libs OPENBLAS_DIR [FLAGS...]: compiles, links (as the Makefile does) and runs the probe under amenv.
probe_libs() {
    local ob=$1; shift
    "${amenv[@]}" "$cc" -std=c11 -D_GNU_SOURCE -fopenmp -Wall "$@" "$probe_c" -o "$B/libs_probe" \
        ${ob:+"-L$ob" "-Wl,-rpath,$ob"} -lopenblas -lpng -ljpeg -lz -lm && "${amenv[@]}" "$B/libs_probe"
}
# extract_deb DEB DIR: dpkg -x, else ar + tar (a .deb is an ar archive holding data.tar.*).
extract_deb() {
    if command -v dpkg >/dev/null; then dpkg -x "$1" "$2"; return; fi
    local t rc deb
    deb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    t=$(mktemp -d) || return 1
    (cd "$t" && ar x "$deb") &&
    { tar -xf "$t"/data.tar.* -C "$2" 2>/dev/null ||
      "$py" -c 'import sys, tarfile as T; T.open(sys.argv[1]).extractall(sys.argv[2], **({"filter": "tar"} if hasattr(T, "tar_filter") else {}))' "$t"/data.tar.* "$2"; }
    rc=$?; rm -rf "$t"; return $rc
}
sys_ob=${OPENBLAS_DIR:-}
[ -n "$sys_ob" ] || [ ! -d "/usr/lib/$trip/openblas-openmp" ] || sys_ob=/usr/lib/$trip/openblas-openmp
mkob=()
if libs=$(probe_libs "$sys_ob" 2>&1); then
    libs="system packages: $libs"
    echo "libraries: $libs"
    rows+=("| libraries | ok (system packages) | 0s |")
else
    echo "libraries: the system packages fail the probe (compile, link, run):"
    { grep -m 4 -iE "error|cannot|not found" <<< "$libs" || tail -n 4 <<< "$libs"; } | sed 's/^/    /'
    debs=(tests/gpu/debs/*.deb)
    [ -e "${debs[0]}" ] || die "OpenBLAS (OpenMP build), libpng, libjpeg or zlib development files are missing here" \
        "and tests/gpu/debs/ holds no .deb files. Run tests/gpu/fetch_debs.sh on a machine with" \
        "apt, then carry the folder: run(command=\"tests/gpu/run.sh \$OUT\", carry=[\"tests/gpu/debs\"])."
    sr=$PWD/$B/sysroot
    how=$(command -v dpkg >/dev/null && echo "dpkg -x" || echo "ar + tar, no dpkg")
    rm -rf "$sr" && mkdir -p "$sr" || exit 1
    for f in "${debs[@]}"; do
        extract_deb "$f" "$sr" || die "could not unpack $f ($how)"
    done
    obs=("$sr"/usr/lib/*/openblas-openmp)
    ob=${obs[0]}
    [ -d "$ob" ] || die "no usr/lib/*/openblas-openmp in the unpacked .debs (rerun tests/gpu/fetch_debs.sh)"
    dtrip=$(basename "$(dirname "$ob")")
    sl=$sr/usr/lib/$dtrip
    # No libX.so for these in the sysroot, so the linker takes libX.a: no runtime .so needed.
    rm -f "$sl"/libpng.so "$sl"/libpng16.so "$sl"/libjpeg.so "$sl"/libz.so
    # DT_RPATH (not RUNPATH), so that libopenblas.so.0 finds libgfortran.so.5 there too.
    ldx=("-L$sl" "-Wl,-rpath,$sl" "-Wl,--disable-new-dtags")
    amvars=("LD_LIBRARY_PATH=$ob:$sl:$am_ld" "${amvars[@]:1}"
            "C_INCLUDE_PATH=$sr/usr/include/$dtrip/openblas-openmp:$sr/usr/include/$dtrip:$sr/usr/include${C_INCLUDE_PATH:+:$C_INCLUDE_PATH}"
            "LIBRARY_PATH=$ob:$sl${LIBRARY_PATH:+:$LIBRARY_PATH}" "LDFLAGS=${ldx[*]}${LDFLAGS:+ $LDFLAGS}")
    amenv=(env "${amvars[@]}")
    libs=$(probe_libs "$ob" "${ldx[@]}" 2>&1) || {
        printf '%s\n' "$libs" | tail -n 8
        die "the probe fails against the carried .debs too (unpacked into $sr)"; }
    libs="carried .debs (${#debs[@]} unpacked with $how into $sr): $libs"
    echo "libraries: $libs"
    mkob=("OPENBLAS_DIR=$ob")
    rows+=("| libraries | ok (carried .debs, $how) | 0s |")
fi
echo "environment of the build and of am's programs:"
printf '    %s\n' "${amvars[@]}"

# ---- build -------------------------------------------------------------------
# make under amenv: with the carried .debs, LDFLAGS (-L, rpath) reaches it through the environment.
mkargs=(-j"$(nproc)" "BUILD=$B" "GPU_ARCH=$arch" "WERROR=" "CUDA_HOME=$CUDA_HOME" "CUDNN_H=$cudnn_h"
        "CUDNN_LIB=${cudnn_dirs[*]}" "CUBLAS_LIB=${cublas_own[*]}" "${mkob[@]}")
# One set of programs (./am_bench, ./am_infer, ...) serves every BUILD dir: relink them against $B (CUDA).
rm -f am_bench am_demo am_train am_infer bench/augment_bench
stage build 170 "${amenv[@]}" make "${mkargs[@]}" status am_bench am_demo am_train am_infer bench/augment_bench "$B/test_gpu" ||
    die "the build did not pass: the end of $out/build.log is above"

# ---- correctness ---------------------------------------------------------------
# Every check group in a process of its own (a fatal error costs one group),
# synchronising after every launch so that a device fault names its kernel.
stage test_gpu 150 "${amenv[@]}" AM_SYNC=1 "$B/test_gpu" --timeout 60

# ---- benchmarks (the targets first), the checks as the programs run them, the sanitizer, more benchmarks
stage am_infer_224 60 "${amenv[@]}" ./am_bench infer --device cuda --size 224 --batch 256 --precision fp32 bf16 --json
pystage torch 110 bench/torch_gpu_bench.py --device cuda --mode infer --size 224 \
    --batch 256 --precision bf16 --compile eager compile --iters 10 --json
stage am_infer_64 40 "${amenv[@]}" ./am_bench infer --device cuda --size 64 --batch 1024 --precision bf16 --json
stage am_train 60 "${amenv[@]}" ./am_bench train --device cuda --size 224 --precision fp32 bf16 --iters 10 --trainer --json
pystage torch_train 50 bench/torch_gpu_bench.py --device cuda --mode train --size 224 \
    --precision bf16 --compile eager --iters 10 --json
# The checks again without AM_SYNC, launches queued as in am_train: what synchronising hid.
stage test_gpu_async 90 "${amenv[@]}" "$B/test_gpu" --timeout 60
# The kernel checks under compute-sanitizer memcheck, the groups' child processes included.
if command -v compute-sanitizer >/dev/null; then
    stage sanitizer 75 "${amenv[@]}" compute-sanitizer --tool memcheck --target-processes all --error-exitcode 9 \
        "$B/test_gpu" --quick --timeout 60
else
    rows+=("| sanitizer | skipped (no compute-sanitizer) | 0s |")
fi
# Where the time goes: per-layer profiles of the eval forward and the training step.
stage am_layers 30 "${amenv[@]}" ./am_bench layers --device cuda --size 224 --batch 256 --precision bf16
stage am_layers_train 30 "${amenv[@]}" ./am_bench layers --device cuda --size 224 --batch 176 --precision bf16 --train
# Scoring a folder end to end: the loader on 15 threads feeding the GPU.
stage am_e2e 30 "${amenv[@]}" ./am_bench e2e --device cuda --n 2048 --src 64 --size 64 --batch 512 --loader-threads 15 \
    --passes 25
# am_infer end to end: 20000 150-px cutouts at model sizes 64 and 150, 16 loader threads.
stage am_infer_e2e 90 "${amenv[@]}" bench/infer_gpu.sh "$B/infer-e2e" 20000 16
# Augmentation: the batched kernel, then PIL/torchvision against am's CPU
# pipelines on this machine's cores (tables in their logs, copied below).
stage augment_gpu 30 "${amenv[@]}" bench/augment_bench --device cuda --size 64 224 --seconds 1
pystage augment_pil 60 bench/augment_vs_pil.py --size 64 224 --workers 1 --seconds 1 --am bench/augment_bench
# Depthwise convolution, ours vs cuDNN's grouped: JSON in am_dwconv.log only (its
# rows are not img/s rows; the summary prints them in a table of their own).
stage am_dwconv 40 "${amenv[@]}" ./am_bench dwconv --device cuda --size 224 --batch 256 --precision fp32 bf16 --json
# The img/s rows, for the summary's table.
for f in am_infer_224 torch am_infer_64 am_train torch_train; do
    [ -e "$out/$f.log" ] && cp "$out/$f.log" "$out/$f.json"
done

# ---- summary (last) ------------------------------------------------------------
# Also written to OUTDIR/summary.md; the logs and JSON are then packed into
# OUTDIR/logs.tar.gz (the device tool brings back at most 8 files from $OUT).
{
echo
echo "## GPU script summary ($(( $(date +%s) - t_start ))s)"
cat "$out/gpu.txt"
echo "nvcc: $("$nvcc_path" --version | grep -o 'release [0-9.]*' | head -n 1); GPU_ARCH=$arch ($arch_why)"
echo "$cudnn_line"
echo "$cublas_line"
echo "libraries: $libs"
for f in test_gpu test_gpu_async; do
    [ -e "$out/$f.log" ] || continue
    echo "$f$([ $f = test_gpu ] && echo " (AM_SYNC=1)"):"
    grep -E "^(test_gpu:|FAIL|skip)" "$out/$f.log" | tail -n 15 | sed 's/^/    /'
done
if [ -z "$have_py" ]; then
    echo "(no $py: the img/s and depthwise tables are not made; their JSON is in logs.tar.gz)"
else
"$py" - "$out" <<'PY'
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
"$py" - "$out/am_dwconv.log" <<'PY'
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
fi
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
