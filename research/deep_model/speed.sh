#!/bin/bash
# The deeper model's prompt-tuning speed against USE-lite's with the same command (issue 15,
# item 3; models/deep/MODEL.md "Speed"): 4,000 SST-2 examples, 1 epoch, one thread, all layers,
# FedPepTAO's selected half and the lowest-scored half (the backward stops at the lowest tuned
# block), the USE-lite / deep pair twice. Pause other jobs first: the figures are timings.
#   research/deep_model/speed.sh [DEEP_MODEL]      # default models/deep
set -euo pipefail
cd "$(dirname "$0")/../.."
fedpep=${FEDPEP:-build/release/fedpep}
deep=${1:-models/deep}
export OPENBLAS_NUM_THREADS=1
for spec in "models/default|" "$deep|" "$deep|--select 0.5" "$deep|--select-lowest 0.5" \
    "models/default|" "$deep|"; do
    m=${spec%%|*} a=${spec#*|}
    # shellcheck disable=SC2086 # the flags are words
    r=$("$fedpep" tune configs/tune-default.ini model.path="$m" data.max_train_examples=4000 \
        --epochs 1 $a 2>&1 | grep -E '^epoch 1|layers' |
        sed 's/.*layers \([0-9,]*\) .*/layers \1/' | tr '\n' ' ')
    echo "$m $a: $r"
done
