#!/usr/bin/env bash
# The browser test of am_review: Debian's headless Chromium, driven by
# Selenium (tests/review/browser.py), opens the page of a tiny demo run,
# labels three images with the keyboard, undoes one, retrains, and checks
# labeled_data.csv and the refreshed order against the run's files; it
# saves screenshots of the gallery and the single view.
#
#   tests/review/run.sh [SHOTS_DIR [RUN_DIR]]   (after make: ./am_demo, ./am_train, ./am_review)
#
# SHOTS_DIR (default: the temporary folder) receives review_gallery.png and
# review_single.png; with RUN_DIR the test works on a copy of that run
# instead (docs/ holds the README's copies, taken on a copy of `make demo`'s
# demo/run: tests/review/run.sh docs demo/run). Exit 0: passed; 77:
# skipped (chromium, chromium-driver or python3-selenium missing: make setup),
# which fails instead when CI is set; anything else: failed, with the logs.
# Everything lives in one temporary folder, removed at the end; am_review is
# stopped by PID. AM_REVIEW_KEEP=1 keeps the folder.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
PY=/usr/bin/python3  # Debian's, which has python3-selenium

missing=""
command -v chromium >/dev/null || missing="$missing chromium"
command -v chromedriver >/dev/null || missing="$missing chromium-driver"
[ -x $PY ] && $PY -c "import selenium" 2>/dev/null || missing="$missing python3-selenium"
if [ -n "$missing" ]; then
    echo "review browser test: skipped (missing:$missing; make setup installs them)"
    [ -n "${CI:-}" ] && { echo "review browser test: CI is set, so this is a failure"; exit 1; }
    exit 77
fi
for p in am_demo am_train am_review; do
    [ -x "$ROOT/$p" ] || { echo "review browser test: ./$p is not built (make)"; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/am_review_browser.XXXXXX")
SHOTS=${1:-$TMP}
mkdir -p "$SHOTS"
pid=""
finish() {
    rc=$?
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    if [ $rc -ne 0 ]; then
        for f in "$TMP"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -30 "$f"; }; done
    fi
    [ -n "${AM_REVIEW_KEEP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
    exit $rc
}
trap finish EXIT

if [ -n "${2:-}" ]; then
    cp -a "$2" "$TMP/run" || exit 1
    rm -f "$TMP/run"/labels.log "$TMP/run"/labels_base.csv "$TMP/run"/remember.csv
else  # the run: 300 demo cutouts, one short cycle on the CPU
    "$ROOT/am_demo" --out "$TMP/data" --n 300 --anomaly-rate 0.04 --labeled-anomalies 4 --labeled-normals 8 \
        --seed 9 >"$TMP/demo.log" 2>&1 || exit 1
    "$ROOT/am_train" --images "$TMP/data/images" --labels "$TMP/data/labels.csv" --truth "$TMP/data/truth.csv" \
        --out "$TMP/run" --size 32 --batch 4 --mu 1 --iters 4 --threads 2 --device cpu --seed 9 \
        >"$TMP/train.log" 2>&1 || exit 1
fi

"$ROOT/am_review" "$TMP/run" >"$TMP/review.log" 2>&1 &
pid=$!
url=""
for _ in $(seq 100); do
    url=$(grep -o 'http://[^ ]*' "$TMP/review.log" 2>/dev/null | head -1)
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "am_review exited"; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "am_review printed no URL"; exit 1; }

$PY tests/review/browser.py "$url" "$TMP/run" "$SHOTS" 2>&1 | tee "$TMP/browser.log"
rc=${PIPESTATUS[0]}
[ $rc -eq 0 ] && echo "review browser test: passed"
exit $rc
