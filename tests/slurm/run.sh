#!/usr/bin/env bash
# The Slurm test: a throw-away one-node Slurm cluster (tests/slurm/cluster.sh) runs
# examples/slurm/am_infer.sbatch as a 4-task array over a generated data set. One
# task is cancelled (scancel) while it writes its scores, then submitted again on
# its own (--array=2) and continues from its journal; `am_infer merge` of the four
# shards must give, byte for byte, what one single-process am_infer run gives.
#
#   tests/slurm/run.sh                 the whole check (after make: ./am_demo, ./am_train, ./am_infer)
#   tests/slurm/run.sh --cluster-only  the cluster alone: sbatch --wait, then the same array,
#                                      scancel and resubmission with a stand-in for am_infer
#
# Exit 0: passed; 77: skipped (slurm-wlm or munge not installed, or not root: the
# cluster runs as root); anything else: failed, with the tails of the logs. All
# files live in one temporary folder (under AM_SLURM_TMP, default /tmp), removed
# at the end; the daemons are stopped by PID and the test fails if any process of
# the cluster is left. AM_SLURM_N: images (default 800); AM_SLURM_KEEP=1 keeps the folder.
#
# The array runs with `--gres=none --cpus-per-task=1` (the test node has no GPU
# and 2 CPUs: two tasks at a time) and AM_SHARDS=4 in the environment, the way
# the example's comments tell users to run it without GPUs.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
mode=full
case ${1:-} in
    "") ;;
    --cluster-only) mode=cluster ;;
    *) echo "usage: tests/slurm/run.sh [--cluster-only]" >&2; exit 2 ;;
esac

. tests/slurm/cluster.sh
if ! cluster_have; then
    echo "slurm test: skipped (slurm-wlm/munge not installed: make setup)"
    exit 77
fi
if (($(id -u) != 0)); then
    echo "slurm test: skipped (the test cluster runs as root; this is uid $(id -u))"
    exit 77
fi
if [[ $mode == full ]]; then
    for b in am_demo am_train am_infer; do
        [[ -x ./$b ]] || { echo "slurm test: FAILED: ./$b is not built (make)"; exit 1; }
    done
    ./am_infer --help 2>/dev/null | grep -q 'am_infer merge' ||
        { echo "slurm test: FAILED: ./am_infer has no merge command"; exit 1; }
fi

now() { echo "${EPOCHREALTIME/./}"; }   # microseconds (bash 5)
N=${AM_SLURM_N:-800}
SHARDS=4
CANCEL=2                          # the task that is cancelled and resubmitted
BATCH=4                           # small batches: many journal records a shard
SBATCH_SCRIPT=$ROOT/examples/slurm/am_infer.sbatch
T0=$(now)
T=$(mktemp -d "${AM_SLURM_TMP:-/tmp}/am-slurm.XXXXXX") || exit 1
chmod 0755 "$T"                   # munged: its socket's folders must be searchable by all

rows=()                           # the summary table
mark=$T0
secs() { local d=$(($2 - $1)); printf '%d.%d' $((d / 1000000)) $((d / 100000 % 10)); }
row() {                           # row WHAT RESULT: one line of the table, timed since the last row
    local t; t=$(now)
    rows+=("$(printf '  %-66s %-4s %6s s' "$1" "$2" "$(secs "$mark" "$t")")")
    mark=$t
}
table() {
    echo "slurm test ($mode, $(nproc) CPUs, $(slurmctld -V 2>/dev/null), $(munged --version 2>/dev/null | cut -d' ' -f1)):"
    printf '%s\n' "${rows[@]}"
}

tails() {                         # the logs a failure needs
    local f
    for f in "$T"/*.log "$T"/logs/*.out; do
        [[ -s $f ]] || continue
        echo "---- tail -n 20 $f"; tail -n 20 "$f" | tr '\r' '\n' | tail -n 20
    done
    [[ -n ${SLURM_CONF:-} ]] && { echo "---- squeue"; squeue -t all 2>&1 | tail -n 20; }
    cluster_logs 20
}
failed=
fail() {
    failed=1
    row "$1" FAIL
    echo "slurm test: FAILED: $1" >&2
    shift; (($#)) && printf '  %s\n' "$@" >&2
    tails >&2
    exit 1
}

finish() {
    local rc=$?
    trap - EXIT
    if ! cluster_stop; then
        echo "slurm test: FAILED: the cluster did not stop cleanly" >&2
        ((rc == 0)) && rc=1
    fi
    if [[ ${AM_SLURM_KEEP:-0} == 1 ]]; then echo "slurm test: kept $T"; else rm -rf "$T"; fi
    ((rc == 0)) && [[ -z $failed ]] && { table; printf '  %-66s %-4s %6s s\n' "total" "ok" "$(secs "$T0" "$(now)")"; }
    ((rc != 0)) && ((${#rows[@]})) && table >&2
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---- Slurm helpers -------------------------------------------------------------------
# Waits until no task of job $1 is pending or running, at most $2 s.
job_wait() {
    local end=$((SECONDS + $2))
    while [[ -n $(squeue -h -j "$1" -t PD,CF,R,CG,S,RS,RQ,SO -o %i 2>/dev/null) ]]; do
        ((SECONDS < end)) || return 1
        sleep 0.2
    done
}
# "STATE EXIT" of array task $2 of job $1 (e.g. "COMPLETED 0:0", "CANCELLED 0:15").
task_state() {
    local line
    while read -r line; do
        [[ $line =~ (^|\ )ArrayTaskId=$2\  ]] || continue
        [[ $line =~ JobState=([A-Z_]+) ]] && printf '%s ' "${BASH_REMATCH[1]}"
        [[ $line =~ \ ExitCode=([0-9:]+) ]] && printf '%s' "${BASH_REMATCH[1]}"
        return 0
    done < <(scontrol -o show job "$1" 2>/dev/null)
    echo "UNKNOWN"
}
# "STATE EXIT" of (non-array) job $1.
job_state() {
    local line; line=$(scontrol -o show job "$1" 2>/dev/null)
    [[ $line =~ JobState=([A-Z_]+) ]] && printf '%s ' "${BASH_REMATCH[1]}" || printf 'UNKNOWN '
    [[ $line =~ \ ExitCode=([0-9:]+) ]] && printf '%s' "${BASH_REMATCH[1]}"
}
# Rows (lines after the header) of CSV $1, 0 if absent.
csv_rows() { [[ -f $1 ]] && echo $(($(wc -l < "$1") - 1)) || echo 0; }

# sbatch of the example, the way a CPU-only cluster runs it: $1 the array, then its arguments.
submit() {
    local array=$1; shift
    AM_SHARDS=$SHARDS AM_INFER=$INFER AM_INFER_ARGS=$INFER_ARGS \
        sbatch --parsable --array="$array" --gres=none --cpus-per-task=1 --job-name=am_slurm_test \
        --output="$T/logs/am_infer_%A_%a.out" "$SBATCH_SCRIPT" "$@"
}

# ---- the cluster ---------------------------------------------------------------------
mkdir -p "$T/logs"
if ! cluster_start "$T/cluster"; then fail "start munged, slurmctld, slurmd"; fi
row "cluster up (munged, slurmctld, slurmd; node idle)" ok

if [[ $mode == cluster ]]; then
    # A stand-in for am_infer: 20 rows a shard, 0.1 s each, continuing after the rows it finds.
    INFER=$T/fake_am_infer
    cat > "$INFER" <<'EOF'
#!/bin/bash
out= shard= args="$*"
while (($#)); do case $1 in --out) out=$2; shift ;; --shard) shard=$2; shift ;; esac; shift; done
mkdir -p "$out" && echo "$args" > "$out/args"
f=$out/scores.csv
[[ -f $f ]] || echo "Filename,Score" > "$f"
have=$(($(wc -l < "$f") - 1))
((have > 0)) && echo "continuing $out after image $have"
for ((k = have; k < 20; k++)); do echo "img_${shard%/*}_$k,0.5" >> "$f"; sleep 0.1; done
echo "{\"complete\": true, \"shard\": \"$shard\"}" > "$out/summary.json"
EOF
    chmod 0755 "$INFER"
    INFER_ARGS="--batch $BATCH"
    MODEL=$T/model.amw SOURCES=("$T/images")
    PER_SHARD=20
else
    INFER=$ROOT/am_infer
    INFER_ARGS="--batch $BATCH --sync-seconds 0"
    # ---- data and model: N generated images plus one unreadable, a quick model --------------
    ./am_demo --out "$T/demo" --n "$N" --size 64 --seed 7 --threads 1 --labeled-anomalies 4 --labeled-normals 8 \
        > "$T/demo.log" 2>&1 || fail "am_demo --n $N"
    head -c 200 "$T/demo/images/000100.png" > "$T/demo/images/000100b.png"   # truncated: a skipped row
    { tail -n +2 "$T/demo/labels.csv" | cut -d, -f1; ls "$T/demo/images" | head -n 20; } |
        sort -u | sed "s|^|$T/demo/images/|" > "$T/train_images.txt"
    ./am_train --images "$T/train_images.txt" --labels "$T/demo/labels.csv" --out "$T/run" --iters 2 --cycles 1 \
        --size 64 --threads 1 --batch 4 --mu 1 --checkpoint-every 1000 > "$T/train.log" 2>&1 ||
        fail "am_train (2 steps, 64 px)"
    MODEL=$T/run/model_ema.amw SOURCES=("$T/demo/images")
    row "am_demo $N images + am_train 2 steps (64 px)" ok
    # shellcheck disable=SC2086 # INFER_ARGS: a list of options, as the job script splits it
    ./am_infer --model "$MODEL" --images "${SOURCES[@]}" --out "$T/single" --threads 1 $INFER_ARGS \
        > "$T/single.log" 2>&1 || fail "single-process am_infer"
    PER_SHARD=$(((N + 1) / SHARDS))
    row "single-process am_infer ($((N + 1)) images, 1 thread)" ok
fi

# ---- the array: all shards; one cancelled while it writes ------------------------------
JOB=$(submit "0-$((SHARDS - 1))" "$MODEL" "$T/shards" "${SOURCES[@]}" 2> "$T/sbatch.log") ||
    fail "sbatch --array=0-$((SHARDS - 1)) $SBATCH_SCRIPT" "$(cat "$T/sbatch.log")"
JOB=${JOB%%;*}
# Cancelled once two batches are in scores.csv: with --sync-seconds 0 the first is then
# on disk in the journal too (am_infer writes a batch's rows, then its journal record),
# so there is something to continue from. (By default the journal reaches the disk
# once a second: a task killed sooner rightly starts over.)
part=$T/shards/shard_$CANCEL/scores.csv
end=$((SECONDS + 120))
polls=0
until (($(csv_rows "$part") >= 2 * BATCH)); do
    ((SECONDS < end)) || fail "task $CANCEL did not write $((2 * BATCH)) scores within 120 s"
    if ((++polls % 25 == 0)); then       # twice a second: has it ended already?
        st=$(task_state "$JOB" "$CANCEL")
        [[ $st == PENDING* || $st == RUNNING* || $st == CONFIGURING* || $st == UNKNOWN ]] ||
            fail "task $CANCEL ended ($st) before it could be cancelled with $(csv_rows "$part") rows"
    fi
    sleep 0.02
done
scancel "${JOB}_$CANCEL" || fail "scancel ${JOB}_$CANCEL"
at_cancel=$(csv_rows "$part")
row "array 0-$((SHARDS - 1)) submitted; scancel ${JOB}_$CANCEL at $at_cancel/$PER_SHARD rows" ok
job_wait "$JOB" 300 || fail "array job $JOB still running after 300 s"
for ((i = 0; i < SHARDS; i++)); do
    st=$(task_state "$JOB" "$i")
    if ((i == CANCEL)); then
        [[ $st == CANCELLED* ]] || fail "task $CANCEL: expected CANCELLED, got '$st'" \
            "(it may have finished before scancel took effect: raise AM_SLURM_N)"
    else
        [[ $st == "COMPLETED 0:0" ]] || fail "task $i: expected COMPLETED 0:0, got '$st'"
    fi
done
left=$(csv_rows "$part")
((left < PER_SHARD)) || fail "task $CANCEL was cancelled but has all its $left rows"
grep -qs '"complete": true' "$T/shards/shard_$CANCEL/summary.json" && fail "task $CANCEL cancelled, but summary.json says complete"
row "the other tasks COMPLETED; task $CANCEL CANCELLED with $left/$PER_SHARD rows" ok

if [[ $mode == full ]]; then
    if ./am_infer merge --out "$T/merged" "$T"/shards/shard_* > "$T/merge_early.log" 2>&1; then
        fail "am_infer merge accepted an incomplete shard"
    fi
    grep -q "not complete" "$T/merge_early.log" || fail "am_infer merge of an incomplete shard: unexpected message" \
        "$(tail -n 3 "$T/merge_early.log")"
    row "am_infer merge refuses the cancelled shard" ok
fi

# ---- the cancelled task again, on its own: the shard is still $CANCEL/$SHARDS ------------------
JOB2=$(submit "$CANCEL" "$MODEL" "$T/shards" "${SOURCES[@]}" 2> "$T/sbatch.log") ||
    fail "sbatch --array=$CANCEL" "$(cat "$T/sbatch.log")"
JOB2=${JOB2%%;*}
if [[ $mode == full ]]; then      # the merge as examples/slurm/README.md has it: a job waiting on the shards
    JOB3=$(sbatch --parsable --dependency="afterok:$JOB2" --output="$T/logs/merge_%j.out" \
           --wrap "$ROOT/am_infer merge --out $T/merged $T/shards/shard_*" 2> "$T/sbatch.log") ||
        fail "sbatch --dependency=afterok:$JOB2 --wrap 'am_infer merge ...'" "$(cat "$T/sbatch.log")"
    JOB3=${JOB3%%;*}
fi
job_wait "$JOB2" 300 || fail "job ${JOB2}_$CANCEL still running after 300 s"
st=$(task_state "$JOB2" "$CANCEL")
[[ $st == "COMPLETED 0:0" ]] || fail "resubmitted task ${JOB2}_$CANCEL: expected COMPLETED 0:0, got '$st'"
log2=$T/logs/am_infer_${JOB2}_$CANCEL.out
grep -q "continuing" "$log2" || fail "the resubmitted task did not continue from its journal" "$(tail -n 5 "$log2" | tr '\r' '\n' | tail -n 5)"
row "sbatch --array=$CANCEL again: COMPLETED, continued after its rows" ok

if [[ $mode == cluster ]]; then
    for ((i = 0; i < SHARDS; i++)); do
        d=$T/shards/shard_$i
        grep -q -- "--shard $i/$SHARDS --threads 1 --batch $BATCH" "$d/args" || fail "task $i ran with '$(cat "$d/args")'"
        [[ $(csv_rows "$d/scores.csv") == 20 && $(sort "$d/scores.csv" | uniq -d) == "" ]] ||
            fail "shard $i: expected 20 distinct rows" "$(wc -l < "$d/scores.csv") lines"
        grep -q '"complete": true' "$d/summary.json" || fail "shard $i: no summary.json"
    done
    row "every shard i ran as --shard i/$SHARDS, 20 rows once each" ok
    out=$(sbatch --wait --output="$T/logs/hostname.out" --wrap 'uname -n' 2>&1) ||
        fail "sbatch --wait --wrap 'uname -n'" "$out"
    [[ $(<"$T/logs/hostname.out") == "$(uname -n)" ]] || fail "sbatch --wait --wrap 'uname -n': its output" \
        "got '$(<"$T/logs/hostname.out")'"
    row "sbatch --wait --wrap 'uname -n'" ok
    exit 0
fi

# ---- merge, and the same bytes as the single run -----------------------------------------
grep -q "^shard = $CANCEL/$SHARDS\$" "$T/shards/shard_$CANCEL/manifest.txt" ||
    fail "shard_$CANCEL's manifest does not say shard = $CANCEL/$SHARDS" "$(grep shard "$T/shards/shard_$CANCEL/manifest.txt")"
job_wait "$JOB3" 120 || fail "merge job $JOB3 still running after 120 s"
st=$(job_state "$JOB3")
[[ $st == "COMPLETED 0:0" ]] || fail "merge job $JOB3 (--dependency=afterok:$JOB2): $st"
row "merge job (sbatch --dependency=afterok:$JOB2 --wrap ...): COMPLETED" ok
for f in scores.csv top_candidates.csv skipped.csv top_candidates.png; do
    cmp "$T/single/$f" "$T/merged/$f" > "$T/cmp.log" 2>&1 ||
        fail "merged $f differs from the single run's" "$(cat "$T/cmp.log")" "$(diff "$T/single/$f" "$T/merged/$f" 2>/dev/null | head -n 6)"
done
n_scored=$(csv_rows "$T/merged/scores.csv") n_skipped=$(csv_rows "$T/merged/skipped.csv")
((n_scored == N && n_skipped == 1)) || fail "merged: $n_scored scored and $n_skipped skipped; expected $N and 1"
row "scores/top_candidates/skipped .csv, top_candidates.png: cmp equal" ok
exit 0
