#!/usr/bin/env bash
# tests/gpu/run.sh rehearsed on a machine without a GPU (or with its GPU hidden
# by CUDA_VISIBLE_DEVICES=): run.sh runs in a copy of the tree (what the device
# tool carries: tracked and untracked-but-not-ignored files, tests/gpu/debs)
# in the situations the GPU machine may be in, and its output is checked:
#
#   wheels     cuDNN and cuBLAS only in PyTorch's nvidia wheels: a toolkit
#              without them (links to the real one's other files) and a fake
#              site-packages/nvidia on PYTHONPATH holding the real files under
#              versioned names only (cudnn/, cu13/) beside a decoy cuBLAS 12
#              (cu12/). The whole script: headers and libraries from the wheels
#              (the make dependency files, RUNPATH, ldd), the build, test_gpu
#              finding no GPU, the summary and its stage table, exit status 1.
#   groups     build-cuda/test_gpu --quick under a fake CUDA runtime
#              (LD_PRELOAD): a group that runs, a segfault, a hang, a fatal
#              error, then a lost GPU; each costs one group, the tallies reach
#              the parent, the parent never calls CUDA.
#   toolkit    the installed toolkit, no python3 on PATH: cuDNN and cuBLAS from
#              the toolkit (or system), the PyTorch stages skipped, the summary without its tables.
#   mixed      the toolkit has cudnn.h but no libcudnn: run.sh stops and says so.
#   none       no cuDNN anywhere: run.sh stops and names where it looked.
#   no-make    make missing from PATH: run.sh stops and names it.
#   no-dev     libpng's header hidden (unshare -rm; skipped where not permitted):
#              the library probe fails; then the carried .debs (where
#              tests/gpu/fetch_debs.sh has made them) are unpacked and the
#              programs link against them, or run.sh names fetch_debs.sh.
#
#   tests/gpu/dryrun.sh [--keep]     (--keep: leave the temporary folder)
#
# Needs git, gcc, make and the CUDA toolkit with cuDNN (nvcc on PATH or in
# /usr/local/cuda/bin); no network, no GPU, no root. About 2 minutes on 2
# cores (two builds: the wheels' and the toolkit's, sm_90). Exit status: 0
# when every expectation holds, 1 when one fails, 77 when this machine
# cannot run it.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
keep=0
[ "${1:-}" = --keep ] && keep=1

command -v nvcc >/dev/null || PATH="/usr/local/cuda/bin:$PATH"
for t in git gcc make nvcc; do
    command -v "$t" >/dev/null || { echo "dryrun.sh: $t not found: this rehearsal needs git, gcc, make and the CUDA toolkit"; exit 77; }
done
cuda=$(dirname "$(dirname "$(command -v nvcc)")")
if [ ! -e "$cuda/include/cudnn.h" ] || [ ! -e "$cuda/include/cublas_v2.h" ]; then
    echo "dryrun.sh: $cuda/include has no cudnn.h or cublas_v2.h: the fake wheels are made from the toolkit's cuDNN and cuBLAS"
    exit 77
fi
cudnn9=("$cuda"/lib64/libcudnn*.so.9)
cublas=("$cuda"/lib64/libcublas.so.[0-9]*)
if [ ! -e "${cudnn9[0]}" ] || [ ! -e "${cublas[0]}" ]; then
    echo "dryrun.sh: no libcudnn*.so.9 or libcublas.so.N in $cuda/lib64"
    exit 77
fi
cublas_major=$(basename "${cublas[0]}"); cublas_major=${cublas_major#libcublas.so.}; cublas_major=${cublas_major%%.*}

T=$(mktemp -d "${TMPDIR:-/tmp}/am-dryrun.XXXXXX") || exit 1
if [ $keep -eq 1 ]; then echo "dryrun.sh: working in $T (kept)"; else trap 'rm -rf "$T"' EXIT; fi
nfail=0

# ---- the tree, as the device tool carries it ---------------------------------------
tree=$T/tree
mkdir -p "$tree"
{ git ls-files -co --exclude-standard -z; if [ -d tests/gpu/debs ]; then find tests/gpu/debs -type f -print0; fi; } |
    tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$tree" || { echo "dryrun.sh: cannot copy the tree"; exit 1; }

# ---- fake layouts, from the toolkit's files ------------------------------------------
# tk NAME SKIP...: a toolkit in $T/NAME linking to every file of the real one
# but those whose names match the patterns SKIP in include/ and lib64/.
tk() {
    local d=$T/$1 e f n pat; shift
    mkdir -p "$d/include" "$d/lib64"
    for e in "$cuda"/*; do
        case ${e##*/} in include|lib64) ;; *) ln -s "$e" "$d/${e##*/}" ;; esac
    done
    for f in "$cuda"/include/* "$cuda"/lib64/*; do
        n=${f##*/}
        # shellcheck disable=SC2053  # pat: a glob
        for pat in "$@"; do [[ $n == $pat ]] && continue 2; done
        ln -s "$f" "$d/$(basename "$(dirname "$f")")/$n"
    done
}
tk cuda-bare 'cudnn*' 'libcudnn*' 'cublas*' 'libcublas*'
tk cuda-nolib 'libcudnn*'
# The wheels: nvidia/cudnn and nvidia/cu13 as the CUDA 13 wheels lay them
# out, versioned library names only; nvidia/cu12, a decoy cuBLAS 12 that
# must lose against nvcc's major version.
w=$T/site/nvidia
mkdir -p "$w"/cudnn/{include,lib} "$w/cu$cublas_major"/{include,lib} "$w"/cu12/{include,lib}
ln -s "$cuda"/include/cudnn*.h "$w/cudnn/include/"
ln -s "${cudnn9[@]}" "$w/cudnn/lib/"
ln -s "$cuda"/include/cublas*.h "$w/cu$cublas_major/include/"
ln -s "$cuda"/lib64/libcublas.so.[0-9]* "$cuda"/lib64/libcublasLt.so.[0-9]* "$w/cu$cublas_major/lib/"
printf '#define CUBLAS_VER_MAJOR 12\n' > "$w/cu12/include/cublas_api.h"
: > "$w/cu12/include/cublas_v2.h"
: > "$w/cu12/lib/libcublas.so.12"

# path_without NAME PATTERN...: a folder of links to every program on PATH but
# those matching PATTERN (and nvcc: the toolkit's bin/ follows it on the PATH made from it).
path_without() {
    local d=$T/path-$1 p f n pat dirs; shift
    mkdir -p "$d"
    IFS=: read -ra dirs <<< "$PATH"
    for p in "${dirs[@]}"; do
        for f in "$p"/*; do
            n=${f##*/}
            if [ ! -x "$f" ] || [ -d "$f" ] || [ -e "$d/$n" ] || [ "$n" = nvcc ]; then continue; fi
            # shellcheck disable=SC2053  # pat: a glob
            for pat in "$@"; do [[ $n == $pat ]] && continue 2; done
            ln -s "$f" "$d/$n"
        done
    done
    echo "$d:$cuda/bin"
}

# ---- running and checking ----------------------------------------------------------
# sc NAME [VAR=VALUE...] [-- CMD...]: tests/gpu/run.sh $T/NAME in the copy under
# env VAR=VALUE (no GPU visible), output in $T/NAME.out, exit status in rc.
sc() {
    local name=$1 t0=$SECONDS vars=(); shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    echo "-- $name: ${vars[*]} ${*:+$* }tests/gpu/run.sh"
    (cd "$tree" && env -u OUT -u CUDA_HOME -u GPU_ARCH -u PYTHONPATH CUDA_VISIBLE_DEVICES= "${vars[@]}" \
        "$@" tests/gpu/run.sh "$T/$name") > "$T/$name.out" 2>&1
    rc=$?
    echo "   exit status $rc, $((SECONDS - t0)) s; output in $T/$name.out"
}
# result NAME OK WHAT: one expectation's line.
result() {
    if [ "$2" -eq 0 ]; then echo "ok   $1: $3"; else echo "FAIL $1: $3"; nfail=$((nfail + 1)); fi
}
# has NAME WHAT TEXT...: every TEXT is in a line of $T/NAME.out (fixed strings).
has() {
    local name=$1 what=$2 s miss=(); shift 2
    for s; do grep -qF -- "$s" "$T/$name.out" || miss+=("$s"); done
    result "$name" ${#miss[@]} "$what${miss[*]:+ (missing: ${miss[*]})}"
}
status_is() { result "$1" $(( rc != $2 )) "exit status $2 (got $rc)"; }

# ---- wheels: the whole script, cuDNN and cuBLAS from the wheels ------------------------
sc wheels PATH="$T/cuda-bare/bin:$PATH" PYTHONPATH="$T/site"
gw=$tree/build-cuda
has wheels "cuDNN: headers and library from the wheels, through an unversioned link" \
    "from PyTorch's nvidia wheels: headers $w/cudnn/include, library $w/cudnn/lib/libcudnn.so.9 (linked through build-cuda/gpulibs)"
has wheels "cuBLAS: CUDA $cublas_major's wheel, not the cuBLAS 12 decoy" \
    "from PyTorch's nvidia wheels: headers $w/cu$cublas_major/include, library $w/cu$cublas_major/lib/libcublas.so.$cublas_major"
has wheels "GPU_ARCH chosen, warnings do not stop the build" "GPU_ARCH=" "WERROR= (warnings do not stop the build)"
has wheels "the build passes" "| build | ok |"
grep -qF "$w/cudnn/include/cudnn.h" "$gw/src/cuda/cudnn.d" 2>/dev/null &&
    ! grep -qF "$cuda/include/cudnn.h" "$gw/src/cuda/cudnn.d"
result wheels $? "src/cuda/cudnn.c compiled against the wheel's cudnn.h (build-cuda/src/cuda/cudnn.d)"
grep -qF "$w/cu$cublas_major/include/cublas_v2.h" "$gw/src/cuda/context.d" 2>/dev/null
result wheels $? "src/cuda/context.c compiled against the wheel's cublas_v2.h (build-cuda/src/cuda/context.d)"
ldd_out=$(env -u LD_LIBRARY_PATH ldd "$gw/test_gpu" 2>&1)
grep -qF "libcudnn.so.9 => $w/cudnn/lib/libcudnn.so.9" <<< "$ldd_out" &&
    grep -qF "libcublas.so.$cublas_major => $w/cu$cublas_major/lib/libcublas.so.$cublas_major" <<< "$ldd_out"
result wheels $? "build-cuda/test_gpu loads cuDNN and cuBLAS from the wheels through its RUNPATH (ldd, no LD_LIBRARY_PATH)"
has wheels "test_gpu finds no GPU, each group would fail alike: none run" "not run (no CUDA context)" "| test_gpu | FAIL (rc 1) |"
has wheels "the summary and its stage table come last" "## GPU script summary" "| stage | result | time |" "| am_dwconv |" \
    "| sanitizer |" "| test_gpu_async |"
[ -s "$T/wheels/summary.md" ] && [ -s "$T/wheels/logs.tar.gz" ]
result wheels $? "summary.md and logs.tar.gz written"
status_is wheels 1

# ---- groups: test_gpu's isolation under a fake CUDA runtime ----------------------------
# Modes by child, in order: the n-th child to call cudaGetDeviceCount takes
# the n-th word of FAKE_CUDA_MODES; MODE@N acts at the N-th device-to-host copy.
cat > "$T/fake_cuda.c" <<'FAKE_CUDA_C'
// A fake CUDA runtime (LD_PRELOAD): host memory for device memory, launches
// that do nothing, and per child process a mode: run, segv@N, hang@N,
// fatal@N (at the N-th device-to-host copy), nogpu (no device). Aborts when
// the process that loaded it (test_gpu's parent) calls it.
#define _GNU_SOURCE
#include <cuda_runtime_api.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pid_t parent;
static char mode[16];
static int at = 1, copies;

__attribute__((constructor)) static void loaded(void) { parent = getpid(); }

static void enter(void) {
    if (getpid() == parent) {
        fprintf(stderr, "fake CUDA: called in test_gpu's parent process\n");
        abort();
    }
    if (mode[0]) return;
    const char *path = getenv("FAKE_CUDA_COUNTER"), *modes = getenv("FAKE_CUDA_MODES");
    int n = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%d", &n) != 1) n = 0;
        fclose(f);
    }
    f = fopen(path, "w");
    if (f) {
        fprintf(f, "%d\n", n + 1);
        fclose(f);
    }
    strcpy(mode, "run");
    for (const char *p = modes; p && *p; n--) {
        size_t len = strcspn(p, " ");
        if (n == 0 && len < sizeof mode) {
            memcpy(mode, p, len);
            mode[len] = 0;
            char *a = strchr(mode, '@');
            if (a) { *a = 0; at = atoi(a + 1); }
            break;
        }
        p += len + (p[len] == ' ');
    }
}

cudaError_t cudaGetDeviceCount(int *n) {
    enter();
    *n = 1;
    return strcmp(mode, "nogpu") ? cudaSuccess : cudaErrorNoDevice;
}
cudaError_t cudaSetDevice(int d) { (void)d; enter(); return cudaSuccess; }
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int d) {
    (void)d;
    enter();
    memset(p, 0, sizeof *p);
    strcpy(p->name, "fake GPU (tests/gpu/dryrun.sh)");
    p->major = 9;
    p->multiProcessorCount = 1;
    return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned f) { (void)f; enter(); *s = (cudaStream_t)&parent; return cudaSuccess; }
cudaError_t cudaStreamDestroy(cudaStream_t s) { (void)s; enter(); return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t s) { (void)s; enter(); return cudaSuccess; }
cudaError_t cudaDeviceSynchronize(void) { enter(); return cudaSuccess; }
cudaError_t cudaGetLastError(void) { enter(); return cudaSuccess; }
cudaError_t cudaStreamIsCapturing(cudaStream_t s, enum cudaStreamCaptureStatus *c) {
    (void)s;
    enter();
    *c = cudaStreamCaptureStatusNone;
    return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t *fr, size_t *tot) { enter(); *fr = *tot = (size_t)1 << 34; return cudaSuccess; }
cudaError_t cudaMalloc(void **p, size_t n) { enter(); *p = malloc(n); return *p ? cudaSuccess : cudaErrorMemoryAllocation; }
cudaError_t cudaFree(void *p) { enter(); free(p); return cudaSuccess; }
cudaError_t cudaMemset(void *p, int v, size_t n) { enter(); memset(p, v, n); return cudaSuccess; }
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s) { (void)s; return cudaMemset(p, v, n); }
cudaError_t cudaMemcpy(void *d, const void *s, size_t n, enum cudaMemcpyKind k) {
    enter();
    if (k == cudaMemcpyDeviceToHost && ++copies == at) {
        if (!strcmp(mode, "segv")) raise(SIGSEGV);
        if (!strcmp(mode, "hang")) for (;;) pause();
        if (!strcmp(mode, "fatal")) return cudaErrorIllegalAddress;
    }
    memcpy(d, s, n);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, enum cudaMemcpyKind k, cudaStream_t st) {
    (void)st;
    return cudaMemcpy(d, s, n, k);
}
// Kernel launches (nvcc's stubs) do nothing.
unsigned __cudaPushCallConfiguration(dim3 g, dim3 b, size_t shm, void *s) { (void)g; (void)b; (void)shm; (void)s; return 0; }
cudaError_t __cudaPopCallConfiguration(dim3 *g, dim3 *b, size_t *shm, void *s) {
    (void)g; (void)b; (void)shm; (void)s;
    return cudaSuccess;
}
cudaError_t __cudaGetKernel(void **k, const void *f) { *k = (void *)f; return cudaSuccess; }
cudaError_t __cudaLaunchKernel(void *k, dim3 g, dim3 b, void **a, size_t shm, cudaStream_t s) {
    (void)k; (void)g; (void)b; (void)a; (void)shm; (void)s;
    return cudaSuccess;
}
// Handles of cuBLAS and cuDNN.
int cublasCreate_v2(void **h) { enter(); *h = &parent; return 0; }
int cublasDestroy_v2(void *h) { (void)h; return 0; }
int cublasSetStream_v2(void *h, void *s) { (void)h; (void)s; return 0; }
int cublasSetMathMode(void *h, int m) { (void)h; (void)m; return 0; }
int cublasSetWorkspace_v2(void *h, void *w, size_t n) { (void)h; (void)w; (void)n; return 0; }
int cudnnCreate(void **h) { enter(); *h = &parent; return 0; }
int cudnnDestroy(void *h) { (void)h; return 0; }
int cudnnSetStream(void *h, void *s) { (void)h; (void)s; return 0; }
FAKE_CUDA_C
if [ ! -x "$gw/test_gpu" ]; then
    result groups 1 "no build-cuda/test_gpu from the wheels run: not checked"
elif ! gcc -std=c11 -shared -fPIC -Wall -Werror -I"$cuda/include" "$T/fake_cuda.c" -o "$T/fake_cuda.so" > "$T/groups.cc" 2>&1; then
    result groups 1 "the fake CUDA runtime does not compile ($T/groups.cc)"
else
    echo "-- groups: LD_PRELOAD=fake_cuda.so build-cuda/test_gpu --quick --timeout 3"
    (cd "$tree" && env LD_PRELOAD="$T/fake_cuda.so" FAKE_CUDA_COUNTER="$T/groups.count" \
        FAKE_CUDA_MODES="run segv@2 hang@1 fatal@1 nogpu" timeout 60 build-cuda/test_gpu --quick --timeout 3) \
        > "$T/groups.out" 2>&1
    rc=$?
    echo "   exit status $rc; output in $T/groups.out"
    # Per group: the ok/FAIL check lines it printed, against the tally its parent reports.
    tallies=$(awk '
        /^== / { g = $2; sub(/:$/, "", g); n[g] = 0; next }
        /^(ok|FAIL) / && !/^FAIL group / { n[g]++ }
        /^-- / { g2 = $2; sub(/:$/, "", g2); print g2, n[g2], $3 }
        /^FAIL group / { g2 = $3; sub(/:$/, "", g2); for (i = 1; i < NF; i++) if ($i == "after") k = $(i + 1); print g2, n[g2], k }
    ' "$T/groups.out")
    [ "$(awk '$2 == $3' <<< "$tallies" | wc -l)" -eq 4 ] && grep -q "^convert [1-9]" <<< "$tallies" &&
        grep -q "^optim [1-9]" <<< "$tallies"
    result groups $? "each group's tally in the parent equals the check lines it printed, convert's and optim's not 0 (group, lines, tally: ${tallies//$'\n'/; })"
    has groups "a group that runs to its end" "-- convert: "
    has groups "a segfault costs one group, its checks before it counted" "FAIL group optim: crashed: signal 11 (Segmentation fault), after"
    has groups "a hang is killed at --timeout" "FAIL group losses: killed after the 3 s limit (--timeout)"
    has groups "a fatal error (am_fatal's exit 1) costs one group" "FAIL group augment: stopped by a fatal error: exit status 1"
    has groups "a lost GPU stops the run: the rest not run" "test_gpu: dwconv: no CUDA context" "3 groups crashed, 6 not run (no CUDA context) (quick)"
    ! grep -qF "called in test_gpu's parent process" "$T/groups.out"
    result groups $? "the parent never calls CUDA (the fake aborts if it does)"
    status_is groups 1
fi

# ---- toolkit, no python3 -------------------------------------------------------------
sc toolkit PATH="$(path_without toolkit 'python*')"
has toolkit "no python3 found" "python3: none"
grep -qE "^cuDNN .* from the (toolkit|system): " "$T/toolkit.out" && grep -qE "^cuBLAS .* from the (toolkit|system): " "$T/toolkit.out"
result toolkit $? "cuDNN and cuBLAS from the toolkit (or the system)"
has toolkit "the build passes (incremental, after the wheels run)" "| build | ok |"
has toolkit "the PyTorch stages skipped, the summary without its tables" "| torch | skipped (no python3) |" \
    "| augment_pil | skipped (no python3) |" "(no python3: the img/s and depthwise tables are not made" "| stage | result | time |"
status_is toolkit 1

# ---- mixed: the toolkit's cudnn.h without its library -----------------------------------
sc mixed PATH="$T/cuda-nolib/bin:$PATH" PYTHONPATH="$T/site"
has mixed "stops at the toolkit's header without its library, though the wheels have both" \
    "run.sh: cuDNN: $T/cuda-nolib/include/cudnn.h is there but no libcudnn.so* in $T/cuda-nolib/lib64" "| setup | FAIL: cuDNN:"
status_is mixed 1

# ---- none: no cuDNN anywhere ---------------------------------------------------------------
sc none PATH="$T/cuda-bare/bin:$PATH"
if grep -qE "^cuDNN .* from the system: " "$T/none.out"; then
    result none 0 "this machine's system cuDNN is found (not checked: no cuDNN anywhere)"
else
    has none "stops and names where it looked" "run.sh: cuDNN: no place holds both cudnn.h and libcudnn.so*" \
        "$T/cuda-bare/{include,lib64}" "python3 finds no 'nvidia' package"
    status_is none 1
fi

# ---- no-make ---------------------------------------------------------------------------
sc no-make PATH="$(path_without no-make make)"
has no-make "stops and names make" "run.sh: not found on PATH: make" "| setup | FAIL: not found on PATH: make |"
status_is no-make 1

# ---- no-dev: the system's libpng header hidden ---------------------------------------------
png_h=$(printf '#include <png.h>\n' | gcc -M -x c - 2>/dev/null | grep -o '/[^ ]*/png\.h' | head -n 1)
printf '#error png.h hidden by tests/gpu/dryrun.sh\n' > "$T/png.h"
if [ -z "$png_h" ]; then
    result no-dev 1 "no png.h on this machine to hide (apt-get install libpng-dev)"
elif ! unshare -rm true 2>/dev/null; then
    echo "-- no-dev: skipped: unshare -rm (a user and mount namespace) is not permitted here"
else
    # shellcheck disable=SC2016  # expanded by the inner bash
    sc no-dev -- unshare -rm bash -c 'mount --bind "$0" "$1" && shift && exec "$@"' "$T/png.h" "$(readlink -f "$png_h")"
    has no-dev "the library probe fails without libpng's header" "libraries: the system packages fail the probe" \
        "png.h hidden by tests/gpu/dryrun.sh"
    if [ -d "$tree/tests/gpu/debs" ]; then
        has no-dev "the carried .debs are unpacked, pass the probe, and the programs link against them" \
            "libraries: carried .debs" "| build | ok |"
        ldd_out=$(env -u LD_LIBRARY_PATH ldd "$tree/am_bench" 2>&1)
        grep -qE "libopenblas.so.0 => $tree/build-cuda/sysroot/" <<< "$ldd_out" && ! grep -q "libpng" <<< "$ldd_out"
        result no-dev $? "./am_bench: OpenBLAS from the sysroot through its rpath, libpng linked statically (ldd)"
    else
        has no-dev "no .debs here: run.sh names fetch_debs.sh" "tests/gpu/debs/ holds no .deb files" "tests/gpu/fetch_debs.sh"
    fi
    status_is no-dev 1
fi

echo
if [ $nfail -eq 0 ]; then echo "dryrun.sh: every expectation holds"; else echo "dryrun.sh: $nfail expectations failed"; fi
[ $keep -eq 1 ] || echo "(rerun with --keep to look at the outputs)"
[ $nfail -eq 0 ]
