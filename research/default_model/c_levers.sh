#!/bin/bash
# The C lever runs of models/default/MODEL.md ("Levers measured"), each as overrides of
# configs/tune-default.ini. They were first run from /tmp configs equal to these overrides (same
# model bytes, seed 42); their logs are in research/default_model/c_logs/levers/NAME.log. This
# script reruns them into $OUT (default /tmp/fedpep-levers), one thread each, two at a time.
# Runs before length buckets existed carry client.length_buckets=0.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/fedpep-levers}
mkdir -p "$out"
k4="data.max_train_examples=4000 --epochs 2"
old="client.length_buckets=0 client.clip_norm=1" # the settings of the first runs
runs=(
  "base $k4 $old client.lr=0.003 model.dropout=0.1 model.prefix_dropout=0.1 --describe-head"
  "A $k4 $old client.lr=0.003 model.dropout=0 model.prefix_dropout=0 client.lr_schedule=constant"
  "B $k4 $old client.lr=0.003 model.dropout=0.1 model.prefix_dropout=0.1 client.lr_schedule=constant"
  "C $k4 client.length_buckets=0 client.lr=0.003 client.lr_schedule=constant"
  "D $k4 client.length_buckets=0 client.lr_schedule=constant"
  "E2 data.max_train_examples=16000 --epochs 2 client.length_buckets=0"
  "E1 --epochs 1 client.length_buckets=0"
  "F $k4"
  "G --epochs 3"
  "H --epochs 2 client.lr=0.003"
)
one() {
    set -- $1
    local name=$1
    shift
    OPENBLAS_NUM_THREADS=1 build/release/fedpep tune configs/tune-default.ini "$@" \
        > "$out/$name.log" 2>&1
}
export -f one
export out
printf '%s\n' "${runs[@]}" | xargs -P "${JOBS:-2}" -I{} bash -c 'one "$@"' _ {}
grep -H "eval accuracy" "$out"/*.log
