#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz and runs each for SECONDS
# (default 180), then prints a table: harness, runs, crashes.
#
#   tests/fuzz/run.sh [SECONDS] [HARNESS...]     (make fuzz FUZZ_SECONDS=...)
#
# HARNESS: png jpeg csv config tfile (default: all). FUZZ_JOBS=2 runs two at a
# time (default 1). Each harness is compiled from the few project sources it
# needs (no CUDA, no BLAS) with clang -fsanitize=fuzzer,address,undefined.
# Binaries, seeds, logs and crash artifacts go to build-fuzz/; the growing
# corpus stays in tests/fuzz/corpus/HARNESS/ between runs (both ignored by git).
# A crash: build-fuzz/artifacts/HARNESS/crash-*; replay it with
#   build-fuzz/fuzz_HARNESS build-fuzz/artifacts/HARNESS/crash-...
# and minimise it with -minimize_crash=1 -runs=10000.
set -u
cd "$(dirname "$0")/../.." || exit 1

SECS=${1:-180}
shift $(( $# > 0 ? 1 : 0 ))
HARNESSES=${*:-png jpeg csv config tfile}
# png and jpeg share one harness (am_image_read picks the decoder) with
# separate seed corpora.
source_of() { case $1 in png | jpeg) echo image ;; *) echo "$1" ;; esac; }
JOBS=${FUZZ_JOBS:-1}
CC=${FUZZ_CC:-clang}
OUT=build-fuzz
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror -Iinclude
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

if ! command -v "$CC" >/dev/null; then
    echo "fuzz: $CC not found (apt-get install -y clang libclang-rt-14-dev)" >&2
    exit 1
fi

sources() {
    case $1 in
    png | jpeg) echo "src/data/png.c src/data/jpeg.c src/data/image.c src/data/resize.c src/core/error.c" ;;
    csv) echo "src/data/dataset.c src/core/error.c src/core/log.c" ;;
    config) echo "src/train/config.c src/core/error.c" ;;
    tfile) echo "src/core/tfile.c src/train/checkpoint.c src/core/error.c" ;;
    *) return 1 ;;
    esac
}

seeds() {  # the repo's own files and tests/fuzz/seeds/HARNESS
    case $1 in
    png) ls data/samples/*.png ;;
    jpeg) ls tests/data/*.jpg ;;
    esac
    ls tests/fuzz/seeds/"$1"/* 2>/dev/null
}

maxlen() {
    case $1 in
    png | jpeg) echo 32768 ;;  # the sample images are cut there: more mutations per second
    *) echo 8192 ;;
    esac
}

mkdir -p "$OUT"
for h in $HARNESSES; do
    src=$(sources "$h") || { echo "fuzz: unknown harness '$h'" >&2; exit 1; }
    echo "fuzz: building $OUT/fuzz_$h"
    # shellcheck disable=SC2086
    $CC $CFLAGS "tests/fuzz/fuzz_$(source_of "$h").c" $src -o "$OUT/fuzz_$h" -lpng -ljpeg -lz -lm || exit 1
done

run_one() {
    local h=$1 seed=$OUT/seeds/$1 corpus=tests/fuzz/corpus/$1 art=$OUT/artifacts/$1/
    rm -rf "$seed"
    mkdir -p "$seed" "$corpus" "$art"
    touch "$OUT/fuzz_$h.start"
    seeds "$h" | while read -r f; do cp "$f" "$seed/"; done
    echo "fuzz: $h for ${SECS}s (log $OUT/fuzz_$h.log)"
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1 \
        "$OUT/fuzz_$h" "$corpus" "$seed" -max_total_time="$SECS" -max_len="$(maxlen "$h")" \
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

printf '\n%-8s %12s %8s %9s  %s\n' harness runs crashes corpus status
fail=0
for h in $HARNESSES; do
    log=$OUT/fuzz_$h.log
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$runs" ] || runs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    crashes=$(find "$OUT/artifacts/$h" -type f -newer "$OUT/fuzz_$h.start" \( -name 'crash-*' -o -name 'leak-*' \
              -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
    ncorpus=$(find "tests/fuzz/corpus/$h" -type f | wc -l)
    rc=$(cat "$OUT/fuzz_$h.rc" 2>/dev/null || echo '?')
    status=ok
    if [ "$rc" != 0 ]; then status="exit $rc: see $log"; fail=1; fi
    [ "$crashes" -gt 0 ] && fail=1
    printf '%-8s %12s %8s %9s  %s\n' "$h" "${runs:-?}" "$crashes" "$ncorpus" "$status"
done
exit $fail
