#!/usr/bin/env bash
# am_infer end to end on a GPU (tests/gpu/run.sh runs it): 150-px gray PNG
# cutouts from am_demo scored with --device cuda, bf16, --loader-threads
# (default 16) decoding, at model sizes 64 and 150 (models from a one-step
# am_train at each size: the speed does not depend on the weights). Prints
# each run's summary.json (images/s over the run) and where the loader stands:
# am_bench loader's images/s on the same files at the same thread count.
#
#   bench/infer_gpu.sh DIR [N] [LOADER_THREADS]     (defaults 20000 16)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: bench/infer_gpu.sh DIR [N] [LOADER_THREADS]}
n=${2:-20000}
lt=${3:-16}
rm -rf "$dir" && mkdir -p "$dir"
./am_demo --out "$dir/demo" --n "$n" --size 150 --seed 1 --labeled-anomalies 2 --labeled-normals 10 >/dev/null
for size in 64 150; do
    ./am_train --images "$dir/demo/images" --labels "$dir/demo/labels.csv" --out "$dir/train$size" --size "$size" \
        --iters 1 --cycles 1 --device cuda >/dev/null 2>&1
    ./am_infer --model "$dir/train$size/model_ema.amw" --images "$dir/demo/images" --out "$dir/infer$size" \
        --device cuda --precision bf16 --batch 512 --loader-threads "$lt" --top 100 >/dev/null 2>"$dir/infer$size.log"
    echo "am_infer size $size, $lt loader threads: $(cat "$dir/infer$size/summary.json")"
    ./am_bench loader --images "$dir/demo/images" --size "$size" --threads "$lt" --batch 512 --seconds 2 | tail -n 2
done
