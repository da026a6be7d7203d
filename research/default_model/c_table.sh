#!/bin/bash
# Every C figure of models/default/MODEL.md: `fedpep tune configs/tune-default.ini` on the
# shipped model and on a never-trained twin of the same shape (`fedpep init-model --like`), for
# SST-2, MR, Subj and TREC: zero-shot by label descriptions (epoch 0), both layers tuned, one
# layer tuned; the same with a trained linear head, and that head alone; and on SST-2 with 4,000
# training examples, both layers against each one alone, three seeds.
# One log per run in $OUT (default research/default_model/c_logs), then a markdown table.
#   research/default_model/c_table.sh            # one run at a time, OpenBLAS on every core
#   JOBS=2 research/default_model/c_table.sh     # two at a time, one thread each
#   ONLY="sst-2" research/default_model/c_table.sh
#   LIST=1 research/default_model/c_table.sh     # the runs (task, log name, arguments), no run
set -euo pipefail
cd "$(dirname "$0")/../.."
. research/lib/tune_runs.sh
fedpep=${FEDPEP:-build/release/fedpep}
out=${OUT:-research/default_model/c_logs}
jobs=${JOBS:-1}
tasks=${ONLY:-sst-2 mr subj trec}
never=.cache/research/never-trained
mkdir -p "$out" .cache/research
[ -x "$fedpep" ] || make -s build/release/fedpep >&2
[ -e "$never/config.json" ] || "$fedpep" init-model "$never" --like models/default > /dev/null

runs=()
# The recipe (configs/tune-default.ini: fixed label-description head, only the prompt trains)
# and, for comparison, a linear head trained with the prompt (P-tuning v2 style; the recipe of
# the previous session) and that head alone without any prompt (a linear probe).
linear="model.head=linear client.lr=0.001 --epochs 3"
fam() { # fam PREFIX OVERRIDES...: both layers, each layer alone
    local p=$1
    shift
    echo "$p-all $*"
    echo "$p-layer0 $* --layers 0"
    echo "$p-layer1 $* --layers 1"
}
for t in $tasks; do
    while read -r r; do runs+=("$t $r"); done < <(fam p)
    runs+=("$t never-all model.path=$never")
    runs+=("$t linear-probe $linear --layers none")
    while read -r r; do runs+=("$t $r"); done < <(fam linear $linear)
    runs+=("$t linear-never-all $linear model.path=$never")
done
# The recipe's spread over seeds (prompt init, order, prompt dropout), whole SST-2 split.
if [[ " $tasks " == *" sst-2 "* ]]; then
    for seed in 1 2; do runs+=("sst-2 p-all-seed$seed run.seed=$seed"); done
fi
# Layer choice where federated clients live: few examples (4,000 × 2 epochs), three seeds.
if [[ " $tasks " == *" sst-2 "* ]]; then
    for seed in 1 2 3; do
        while read -r r; do runs+=("sst-2 $r"); done < <(
            fam 4k data.max_train_examples=4000 --epochs 2 run.seed=$seed | sed "s/^4k-\([a-z0-9]*\)/4k-\1-seed$seed/"
            fam linear-4k $linear data.max_train_examples=4000 --epochs 2 run.seed=$seed | sed "s/^linear-4k-\([a-z0-9]*\)/linear-4k-\1-seed$seed/")
    done
fi

if [ -n "${LIST:-}" ]; then
    printf '%s\n' "${runs[@]}"
    exit 0
fi

if [ "$jobs" -gt 1 ]; then
    export OPENBLAS_NUM_THREADS=1
fi
tune_all "$jobs" "${runs[@]}"

echo "| task (eval set) | zero-shot | prompt, both layers | layer 0 only | layer 1 only | never trained: zero-shot | never trained: prompt | trained head, no prompt | trained head + prompt |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for t in $tasks; do
    echo "| $t | $(zs $t-p-all) | $(fig $t-p-all) ($(wall $t-p-all)) | $(fig $t-p-layer0) | $(fig $t-p-layer1) | $(zs $t-never-all) | $(fig $t-never-all) | $(fig $t-linear-probe) | $(fig $t-linear-all) |"
done
if [[ " $tasks " == *" sst-2 "* ]]; then
    echo
    echo "| SST-2, 4,000 examples × 2 epochs | prompt, both layers | layer 0 only | layer 1 only | trained head + prompt, both | layer 0 only | layer 1 only |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    for seed in 1 2 3; do
        row="| seed $seed"
        for p in 4k linear-4k; do
            for l in all layer0 layer1; do row="$row | $(fig sst-2-$p-$l-seed$seed)"; done
        done
        echo "$row |"
    done
fi
if [[ " $tasks " == *" sst-2 "* ]]; then
    echo
    echo "SST-2 recipe, other seeds: seed 1 $(fig sst-2-p-all-seed1), seed 2 $(fig sst-2-p-all-seed2) (seed 42: $(fig sst-2-p-all))"
fi
