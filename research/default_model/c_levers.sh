#!/bin/bash
# The C lever runs of models/default/MODEL.md ("Levers measured"), each as overrides of
# configs/tune-default.ini. They were first run from /tmp configs equal to these overrides (same
# model bytes, seed 42); their logs are in research/default_model/c_logs/levers/NAME.log. This
# script reruns them into $OUT (default /tmp/fedpep-levers), one thread each, two at a time.
# Runs before length buckets existed carry client.length_buckets=0. Runs base..H predate the
# fixed label-description head: they carry $lin, the file's settings of then (a linear head
# trained with the prompt, lr 1e-3, 3 epochs). Runs I* are the head lever: model.head =
# descriptions, only the prompt trains; they were logged with the first spelling of that mode
# (`--describe-head --freeze-head`, the same computation: a rerun of one reproduced its figures
# to the last digit).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/fedpep-levers}
mkdir -p "$out"
k4="data.max_train_examples=4000 --epochs 2"
old="client.length_buckets=0 client.clip_norm=1" # the settings of the first runs
lin="model.head=linear client.lr=0.001 client.local_epochs=3"
runs=(
  "base $k4 $lin $old client.lr=0.003 model.dropout=0.1 model.prefix_dropout=0.1 --describe-head"
  "A $k4 $lin $old client.lr=0.003 model.dropout=0 model.prefix_dropout=0 client.lr_schedule=constant"
  "B $k4 $lin $old client.lr=0.003 model.dropout=0.1 model.prefix_dropout=0.1 client.lr_schedule=constant"
  "C $k4 $lin client.length_buckets=0 client.lr=0.003 client.lr_schedule=constant"
  "D $k4 $lin client.length_buckets=0 client.lr_schedule=constant"
  "E2 $lin data.max_train_examples=16000 --epochs 2 client.length_buckets=0"
  "E1 $lin --epochs 1 client.length_buckets=0"
  "F $k4 $lin"
  "G $lin --epochs 3"
  "H $lin --epochs 2 client.lr=0.003"
  "I1 $k4 client.lr=0.01"
  "I1-layer0 $k4 client.lr=0.01 --layers 0"
  "I1-layer1 $k4 client.lr=0.01 --layers 1"
  "I2 $k4 client.lr=0.03"
  "I3 $k4 client.lr=0.1"
  "I4 $k4 client.lr=0.3"
  "I5 $k4 client.lr=0.03 model.prompt_length=60"
  "I6 --epochs 2 client.lr=0.1"
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
