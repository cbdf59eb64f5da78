#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (make fuzz-build) and runs each
# for SECONDS (default 180), then prints a table: harness, runs, execs/s,
# crashes. Exits non-zero when a harness does not build, crashes, leaks or
# exits with an error.
#
#   tests/fuzz/run.sh [SECONDS] [HARNESS...]     (make fuzz FUZZ_SECONDS=...)
#
# HARNESS: png jpeg csv config tfile tar h5 tiff fits labels (default: all). FUZZ_JOBS=2 runs two at a
# time (default 1). The Makefile compiles each harness from the few project
# sources it needs (no CUDA, no BLAS) with clang -fsanitize=fuzzer,address,
# undefined. Binaries, seeds, logs and crash artifacts go to FUZZ_OUT (default
# build-fuzz/, make test's); the growing corpus stays in
# tests/fuzz/corpus/HARNESS/ between runs (both ignored by git).
# A crash: FUZZ_OUT/artifacts/HARNESS/crash-*; replay it with
#   build-fuzz/fuzz_tfile build-fuzz/artifacts/tfile/crash-...
# (png and jpeg: build-fuzz/fuzz_image) and minimise it with
# -minimize_crash=1 -runs=10000.
set -u
cd "$(dirname "$0")/../.." || exit 1

SECS=${1:-180}
shift $(( $# > 0 ? 1 : 0 ))
HARNESSES=${*:-png jpeg csv config tfile tar h5 tiff fits labels}
# png and jpeg share one harness (am_image_read picks the decoder) with
# separate seed corpora.
binary_of() { case $1 in png | jpeg) echo image ;; csv | config | tfile | tar | h5 | tiff | fits | labels) echo "$1" ;; *) return 1 ;; esac; }
JOBS=${FUZZ_JOBS:-1}
OUT=${FUZZ_OUT:-build-fuzz}

for h in $HARNESSES; do
    binary_of "$h" >/dev/null || { echo "fuzz: unknown harness '$h' (png jpeg csv config tfile tar h5 tiff fits labels)" >&2; exit 1; }
done
make --no-print-directory FUZZ_OUT="$OUT" fuzz-build || exit 1
for h in $HARNESSES; do
    bin=$OUT/fuzz_$(binary_of "$h")
    [ -x "$bin" ] || { echo "fuzz: $bin was not built (is clang installed? make setup)" >&2; exit 1; }
done

seeds() {  # the repo's own files and tests/fuzz/seeds/HARNESS
    # tar: shards plain, pax (UTF-8 name), GNU long name, gzip/bzip2/xz/zstd,
    # truncated; h5: recipes fuzz_h5.c turns into HDF5 files (its header).
    case $1 in
    png) ls data/samples/*.png ;;
    jpeg) ls tests/data/*.jpg ;;
    tiff) ls tests/data/tiff/*.tif ;;
    fits) ls tests/data/fits/*.fits ;;
    esac
    ls tests/fuzz/seeds/"$1"/* 2>/dev/null
}

maxlen() {
    case $1 in
    png | jpeg) echo 32768 ;;  # the sample images are cut there: more mutations per second
    tar) echo 8192 ;;          # the seeds are written with 512-byte records to fit
    h5) echo 8192 ;;           # a recipe of 80 items and 160 reads fits
    fits) echo 32768 ;;        # a FITS file is 2880-byte blocks: the seeds fit whole
    *) echo 8192 ;;
    esac
}

run_one() {
    local h=$1 seed=$OUT/seeds/$1 corpus=tests/fuzz/corpus/$1 art=$OUT/artifacts/$1/
    rm -rf "$seed"
    mkdir -p "$seed" "$corpus" "$art"
    touch "$OUT/fuzz_$h.start"
    seeds "$h" | while read -r f; do cp "$f" "$seed/"; done
    echo "fuzz: $h for ${SECS}s (log $OUT/fuzz_$h.log)"
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1 \
        "$OUT/fuzz_$(binary_of "$h")" "$corpus" "$seed" -max_total_time="$SECS" -max_len="$(maxlen "$h")" \
        -timeout=25 -rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 -artifact_prefix="$art" \
        >"$OUT/fuzz_$h.log" 2>&1
    echo $? >"$OUT/fuzz_$h.rc"
}

running=0
for h in $HARNESSES; do
    run_one "$h" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
done
wait

printf '\n%-8s %12s %9s %8s %9s  %s\n' harness runs execs/s crashes corpus status
fail=0
for h in $HARNESSES; do
    log=$OUT/fuzz_$h.log
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$runs" ] || runs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    crashes=$(find "$OUT/artifacts/$h" -type f -newer "$OUT/fuzz_$h.start" \( -name 'crash-*' -o -name 'leak-*' \
              -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
    ncorpus=$(find "tests/fuzz/corpus/$h" -type f | wc -l)
    rc=$(cat "$OUT/fuzz_$h.rc" 2>/dev/null || echo '?')
    status=ok
    if [ "$rc" != 0 ]; then status="exit $rc: see $log"; fail=1; fi
    [ "$crashes" -gt 0 ] && fail=1
    printf '%-8s %12s %9s %8s %9s  %s\n' "$h" "${runs:-?}" "${rate:-?}" "$crashes" "$ncorpus" "$status"
done
exit $fail
