#!/bin/bash
# Every C figure of models/default/MODEL.md: `fedpep tune configs/tune-default.ini` on the
# shipped model and on a never-trained twin of the same shape (`fedpep init-model --like`), for
# SST-2, MR, Subj and TREC: zero-shot by label descriptions, both layers tuned, one layer tuned;
# and on SST-2 with 4,000 training examples, both layers against each one alone, three seeds.
# One log per run in $OUT (default research/default_model/c_logs), then a markdown table.
#   research/default_model/c_table.sh            # one run at a time, OpenBLAS on every core
#   JOBS=2 research/default_model/c_table.sh     # two at a time, one thread each
#   ONLY="sst-2" research/default_model/c_table.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
fedpep=build/release/fedpep
out=${OUT:-research/default_model/c_logs}
jobs=${JOBS:-1}
tasks=${ONLY:-sst-2 mr subj trec}
never=.cache/research/never-trained
mkdir -p "$out" .cache/research
[ -x "$fedpep" ] || make -s build/release/fedpep
[ -e "$never/config.json" ] || "$fedpep" init-model "$never" --like models/default

runs=()
# Layer choice where federated clients live: few examples (4,000 × 2 epochs), three seeds.
if [[ " $tasks " == *" sst-2 "* ]]; then
    for seed in 1 2 3; do
        for l in all "layer0 --layers 0" "layer1 --layers 1"; do
            set -- $l
            runs+=("sst-2 4k-$1-seed$seed ${*:2} data.max_train_examples=4000 --epochs 2 run.seed=$seed")
        done
    done
fi
for t in $tasks; do
    runs+=("$t zero-shot --zero-shot")
    runs+=("$t all")
    runs+=("$t layer0 --layers 0")
    runs+=("$t layer1 --layers 1")
    runs+=("$t never-zero-shot --zero-shot model.path=$never")
    runs+=("$t never-all model.path=$never")
done

one() {
    set -- $1
    local task=$1 name=$2
    shift 2
    local log="$out/$task-$name.log"
    if [ -s "$log" ] && grep -q '^best ' "$log" && grep -q '^wall ' "$log"; then
        return 0 # finished before: the script resumes where it stopped
    fi
    local TIMEFORMAT='wall %R s  cpu %U+%S s'
    { time "$fedpep" tune configs/tune-default.ini data.task="$task" "$@"; } > "$log.tmp" 2>&1
    mv "$log.tmp" "$log"
}
export -f one
export fedpep out
if [ "$jobs" -gt 1 ]; then
    export OPENBLAS_NUM_THREADS=1
fi
printf '%s\n' "${runs[@]}" | xargs -P "$jobs" -I{} bash -c 'one "$@"' _ {}

# metric after each epoch (or the zero-shot figure) of one log, as percentages
fig() {
    local log="$out/$1.log"
    [ -s "$log" ] || { echo "–"; return; }
    local zs ep
    zs=$(sed -n 's/.*(zero-shot)  eval [a-z+]* \([0-9.]*\).*/\1/p' "$log")
    ep=$(sed -n 's/^epoch [1-9].*  eval [a-z+]* \([0-9.]*\)  eval loss.*/\1/p' "$log")
    awk -v z="$zs" -v e="$ep" 'BEGIN {
        if (z != "") { printf "%.1f%%", 100 * z; exit }
        n = split(e, v, "\n"); s = ""
        for (i = 1; i <= n; i++) s = s (i > 1 ? " → " : "") sprintf("%.1f", 100 * v[i])
        printf "%s%%", s }'
}
wall() { sed -n 's/^wall \([0-9]*\).*/\1 s/p' "$out/$1.log" 2>/dev/null; }

echo "| task (eval set) | zero-shot | both layers | layer 0 only | layer 1 only | never trained: zero-shot | never trained: both layers |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for t in $tasks; do
    echo "| $t | $(fig $t-zero-shot) | $(fig $t-all) ($(wall $t-all)) | $(fig $t-layer0) | $(fig $t-layer1) | $(fig $t-never-zero-shot) | $(fig $t-never-all) |"
done
if [[ " $tasks " == *" sst-2 "* ]]; then
    echo
    echo "| SST-2, 4,000 examples × 2 epochs | both layers | layer 0 only | layer 1 only |"
    echo "| --- | --- | --- | --- |"
    for seed in 1 2 3; do
        echo "| seed $seed | $(fig sst-2-4k-all-seed$seed) | $(fig sst-2-4k-layer0-seed$seed) | $(fig sst-2-4k-layer1-seed$seed) |"
    done
fi
