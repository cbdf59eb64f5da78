#!/usr/bin/env bash
# Plants defects in the GPU code one at a time, in a copy of the tree, and
# checks that the emulated GPU check (build-emu/test_gpu) catches each one:
# the proof that `make test-emu` can fail. `make mutate` runs it.
#
#   tests/emu/mutate.sh [NAME...]     (default: every mutation below)
#
# Each mutation: a name, a file, a perl substitution that must change the
# file, and the check group of test_gpu that must then fail.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/am-mutate.XXXXXX")
trap 'rm -rf "$work"' EXIT

# name | file | perl -0 substitution | test_gpu group
# shellcheck disable=SC2016  # the substitutions are perl's, not the shell's
mutations=(
  'missing-barrier|kernels/se.cu|s/(red\[threadIdx\.y\]\[threadIdx\.x\] = acc;\n)\s*__syncthreads\(\);\n/$1/|se'
  'off-by-one|kernels/se.cu|s/for \(int c = 0; c < C; c\+\+\) acc \+= am_act/for (int c = 0; c < C - 1; c++) acc += am_act/|se'
  'wrong-stream|kernels/se.cu|s/(se_scale<T><<<grid_for\(n, 256\), 256, 0, )s>>>/${1}0>>>/|model'
  'skipped-graph-update|src/train/trainer_gpu.c|s/(\n\s*)(am_gpu_upload\(&m->ctx, g->args, &h, sizeof h\);)/${1}{ static int once; if (!once++) ${2} }/|train'
  'misaligned-pointer|include/am/model.h|s/#define AM_TENSOR_ALIGN 128/#define AM_TENSOR_ALIGN 2/|model'
  'wrong-stream-host|src/cuda/gpu_model.c|s/(cudaMemsetAsync\(g->grads, 0, sizeof\(float\) \* g->host->nparams, )\(cudaStream_t\)g->ctx\.stream\)/${1}0)/|train'
)

want=("$@")
selected() {
    [ ${#want[@]} -eq 0 ] && return 0
    local w
    for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
    return 1
}

echo "mutate: copying the tree to $work"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - 2>/dev/null) | (cd "$work" && tar -xf -)
build() { make -C "$work" --no-print-directory -j2 EMU=build-emu build-emu/test_gpu > "$work/build.log" 2>&1; }
echo "mutate: building the unmutated emulator build"
build || { tail -20 "$work/build.log"; echo "mutate: the unmutated tree does not build"; exit 2; }

rows=()
missed=0
for m in "${mutations[@]}"; do
    IFS='|' read -r name file expr group <<< "$m"
    selected "$name" || continue
    cp "$work/$file" "$work/$file.orig"
    perl -0pi -e "$expr" "$work/$file"
    if cmp -s "$work/$file" "$work/$file.orig"; then
        rows+=("| $name | $file | the substitution no longer matches: update tests/emu/mutate.sh |")
        missed=1
        rm "$work/$file.orig"
        continue
    fi
    if ! build; then
        tail -5 "$work/build.log" | sed 's/^/    /'
        rows+=("| $name | $file | does not compile (not a useful mutation) |")
        missed=1
    else
        (cd "$work" && timeout 600 build-emu/test_gpu --group "$group") > "$work/$name.log" 2>&1
        rc=$?
        fails=$(grep -c '^FAIL' "$work/$name.log")
        if [ $rc -ne 0 ]; then
            rows+=("| $name | $file | caught by group $group (exit $rc, $fails failed checks) |")
        else
            rows+=("| $name | $file | MISSED: group $group passed |")
            missed=1
        fi
        grep -m3 -E '^FAIL|^emu:|fatal' "$work/$name.log" | sed 's/^/    /'
    fi
    mv "$work/$file.orig" "$work/$file"
    touch "$work/$file"  # newer than what make made from the mutant
done
build || { tail -20 "$work/build.log"; echo "mutate: the tree does not build after restoring"; exit 2; }
echo
echo "| mutation | file | result |"
echo "|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $missed
