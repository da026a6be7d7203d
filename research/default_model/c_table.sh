#!/bin/bash
# Every C figure of models/default/MODEL.md: `fedpep tune configs/tune-default.ini` on the
# shipped model and on a never-trained twin of the same shape (`fedpep init-model --like`), for
# SST-2, MR, Subj and TREC: zero-shot by label descriptions, both layers tuned, one layer tuned.
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

echo "| task | run | zero-shot | eval per epoch | wall |"
echo "| --- | --- | --- | --- | --- |"
for r in "${runs[@]}"; do
    set -- $r
    log="$out/$1-$2.log"
    zs=$(sed -n 's/.*(zero-shot)  eval [a-z+]* \([0-9.]*\).*/\1/p' "$log")
    ep=$(sed -n 's/^epoch [1-9].*eval [a-z+]* \([0-9.]*\).*/\1/p' "$log" | paste -sd' ')
    wall=$(sed -n 's/^wall \([0-9.]*\) s.*/\1/p' "$log")
    echo "| $1 | $2 | ${zs:--} | ${ep:--} | ${wall}s |"
done
