#!/usr/bin/env bash
# results-reduced.sh - the REDUCED CPU protocol of docs/results-reduced.md: baseline
# and LACNN for each CelebA-HQ trait (and ethnicity on UTKFace), then
# `compare` (accuracies + McNemar) for each pair.  Models and logs go to
# $OUT (default /tmp/traitscope-results), never into the repository.
#
# usage: docs/results-reduced.sh [BUILD_DIR] [TRAITS...]
# The baseline and LACNN runs of a trait train at the same time, one CPU
# core each (--compute-threads 1).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
shift || true
CLI="$BUILD/src/cli/traitscope-cli"
DATA=${DATA:-../shared/data}
OUT=${OUT:-/tmp/traitscope-results}
LIMIT=${LIMIT:-2000}
EPOCHS=${EPOCHS:-2}
LRSTEP=${LRSTEP:-0}
TRAITS=("$@")
[ ${#TRAITS[@]} -gt 0 ] || TRAITS=(gender hair makeup age emotion attractive chubby ethnicity)
export OMP_WAIT_POLICY=passive
mkdir -p "$OUT"

common=(--arch docs/arch/lacnn-mini.arch --size 64 --epochs "$EPOCHS" --batch 50
        --lr 0.01 --momentum 0.9 --weight-decay 0.0005 --lr-step "$LRSTEP" --lr-gamma 0.1
        --limit "$LIMIT" --device cpu --compute-threads 1 --threads 1)

for t in "${TRAITS[@]}"; do
  if [ "$t" = ethnicity ]; then spec="utkface:$DATA/utkface"; else spec="celeba:$DATA/celebahq"; fi
  start=$(date +%s)
  for v in baseline lacnn; do
    "$CLI" train --data "$spec" --trait "$t" --variant "$v" "${common[@]}" \
      --out "$OUT/$t-$v.safetensors" > "$OUT/$t-$v.json" 2> "$OUT/$t-$v.log" &
  done
  wait
  end=$(date +%s)
  echo "$t: trained in $((end - start)) s"
  "$CLI" compare --baseline "$OUT/$t-baseline.safetensors" --lacnn "$OUT/$t-lacnn.safetensors" \
    --data "$spec" --json > "$OUT/$t-compare.json"
  "$CLI" compare --baseline "$OUT/$t-baseline.safetensors" --lacnn "$OUT/$t-lacnn.safetensors" \
    --data "$spec"
done
