#!/bin/sh
# bench/results.sh — the comparison of issue #16: every strategy on every task, plus seeds,
# ablations and robustness, each run through `fedpep simulate` (byte-identical to the actor
# system) into ONE database, then `fedpep report` writes docs/results.md and its figures.
#
#   bench/results.sh [GROUP ...]     GROUP: main seeds ablations robustness personal deep deep-seeds
#                                    report
#                                    (default: all)
#   FEDPEP=build/release/fedpep  DB=bench/results.db  OUT=docs/results.md  (environment)
#   bench/results.sh --list [GROUP ...]   print the runs and their state, run nothing
#   JOBS=2 bench/results.sh ...      two runs at a time (two workers over the plan, one core each)
#   Run it from the repository root (the configuration's paths are relative to it).
#
# Protocol (bench/results.ini, the same for every strategy): 100 clients, 10 per round, client
# sizes Dir(5), class priors Dir(alpha = 1.0), seed 42 (same partition and sampling for every
# strategy), a seeded subset of 2,000 training and 400 evaluation examples per task, at most
# 10 local steps of batch 8, 30 rounds, evaluation every 5 rounds and after the last.
#
# Groups:
#   main        10 strategies x 9 tasks (QNLI, SST-2, CoLA, MRPC, RTE, MPQA, Subj, TREC, MR;
#               BoolQ is not available here, ASSETS.md)                            90 runs
#   seeds       the 10 strategies on SST-2 and TREC at seeds 43 and 44 (seed 42 is main's)
#                                                                                  40 runs
#   ablations   FedPepTAO on SST-2: no server momentum (server.momentum=0), no control
#               variates (server.control_variates=false), random layers, all layers,
#               rho = 0.25 / 0.75 (0.5 is main's), the Hessian rho                 7 runs
#   robustness  FedPepTAO and FedPrompt on SST-2 with 30% client dropout and 20% stragglers
#               (faults.dropout=0.3, faults.straggler_prob=0.2, seeded; a straggler's update is
#               held 60 s against a 30 s round deadline, faults.straggler_delay_s=60
#               federation.round_deadline_s=30, so it trains but is late), and from an
#               availability trace (bench/availability.csv, written by this script) 4 runs
#   personal    the personalised FedPrompt baseline (run.strategy = fedprompt-personal: FedAvg of
#               FedPepTAO's scored layers, the rest private, scored pooled like FedPepTAO) on the
#               9 tasks at seed 42 and on SST-2 and TREC at seeds 43 and 44      13 runs
#   deep        the deeper model (models/deep, issue 15): the 10 strategies and the personalised
#               FedPrompt on SST-2, MR and TREC, and FedPepTAO on SST-2 with rho = 0.25 / 0.75,
#               all layers and the Hessian rho (on 6 blocks these differ), without server
#               momentum and without control variates; the report shows them beside the
#               default model's rows. Skipped, with a message, if models/deep/config.json
#               is missing (it is committed)                                       39 runs
#   deep-seeds  the deep group's 10 strategies and the personalised FedPrompt on SST-2 and TREC
#               at seeds 43 and 44, so the deeper model's gaps are judged against its own
#               seeds' spread (skipped like deep)                                  44 runs
#   report      fedpep report DB --out OUT (also run after every other group)
#
# Budget, measured with smoke runs of the full protocol (`nice`, one OpenBLAS thread, the
# machine's other core busy with another job; user + sys CPU of the whole simulate process):
#   SST-2 fedpeptao   89.8 s   SST-2 fedprompt 88.2 s   SST-2 fedpeptao, Hessian rho 96.5 s
#   RTE fedpeptao    280.2 s   (sentence pairs: inputs 2-3x longer)
# The strategy barely matters (client training is about 2 s a round on SST-2, the two
# evaluations of 400 examples every 5th round most of the rest); the task does. Taking
# ~100 s for the six single-sentence tasks and ~280 s for the three pair tasks (QNLI, MRPC,
# RTE): main 60 x 100 + 30 x 280 = 14,400 s; seeds 40 x 95 = 3,800 s; ablations 7 x 95 =
# 665 s; robustness 4 x 80 = 320 s: about 19,200 CPU-seconds = 5.3 CPU-hours; personal
# 10 x 100 + 3 x 280 = 1,840 s more: 21,000 CPU-seconds = 5.8 CPU-hours, inside the 6 of the
# issue, on one core: runs are sequential (one writer at a time) and the other core stays free. docs/results.md shows each setting's client CPU per round.
# The database stays small enough to commit: simulate keeps only the last checkpoint of a
# running run, and a finished run's checkpoint and client states are deleted (its rounds,
# client rows and layers, all the report reads, are a few kB).
#
# Faults in simulate (docs/report.md, "Stragglers"): dropout, a trace's unavailable clients and
# stragglers whose delay alone passes the round deadline (late: trained, not aggregated) come
# from the clients' own draws (actors/faults.h), as in the actor system; a slowdown without such
# a delay, and a trace's speeds, only change timing there and nothing here. On the 2-layer
# default model rho = 0.25 / 0.5 / 0.75 all
# send one layer (K is clamped to 1..L-1), so those ablations coincide until a deeper model.
#
# Resumable: a run already finished in the database is skipped; a run that was killed resumes
# from its last committed round (simulate resumes by run name). Progress: one line per run
# ("[k/N] group task strategy seed", elapsed and ETA over the runs done so far), and simulate's
# own line per round on stderr.
set -eu

FEDPEP=${FEDPEP:-build/release/fedpep}
DB=${DB:-bench/results.db}
OUT=${OUT:-docs/results.md}
INI=${INI:-bench/results.ini}
TRACE=${TRACE:-bench/availability.csv}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
JOBS=${JOBS:-1} # runs at a time (one OpenBLAS thread each); they share the database (WAL)

STRATEGIES="fedpeptao fedprompt fedavg-input fedprox scaffold fedavgm fedadam fedyogi fedadagrad random-layers"
TASKS="sst-2 qnli cola mrpc rte mpqa subj trec mr"

LIST=0
if [ "${1:-}" = "--list" ]; then
    LIST=1
    shift
fi
GROUPS_WANTED=${*:-main seeds ablations robustness personal deep deep-seeds report}
DEEP=models/deep

# Every run of a group as "name|override override ..." lines.
runs_of() {
    case $1 in
    main)
        for t in $TASKS; do
            for s in $STRATEGIES; do
                echo "main.$t.$s.s42|data.task=$t run.strategy=$s"
            done
        done
        ;;
    seeds)
        for t in sst-2 trec; do
            for seed in 43 44; do
                for s in $STRATEGIES; do
                    echo "main.$t.$s.s$seed|data.task=$t run.strategy=$s run.seed=$seed"
                done
            done
        done
        ;;
    ablations)
        a="data.task=sst-2 run.strategy=fedpeptao"
        echo "ablation.sst-2.no-momentum.s42|$a server.momentum=0"
        echo "ablation.sst-2.no-control-variates.s42|$a server.control_variates=false"
        echo "ablation.sst-2.random-layers.s42|$a federation.layer_selection=random"
        echo "ablation.sst-2.all-layers.s42|$a federation.layer_selection=all"
        echo "ablation.sst-2.rho-0.25.s42|$a federation.layer_fraction=0.25"
        echo "ablation.sst-2.rho-0.75.s42|$a federation.layer_fraction=0.75"
        echo "ablation.sst-2.hessian.s42|$a federation.layer_selection=hessian federation.hessian_rounds=5 federation.lanczos_steps=20"
        ;;
    robustness)
        for s in fedpeptao fedprompt; do
            echo "robust.sst-2.$s.s42|data.task=sst-2 run.strategy=$s faults.dropout=0.3 faults.straggler_prob=0.2 faults.straggler_delay_s=60 federation.round_deadline_s=30"
        done
        for s in fedpeptao fedprompt; do
            echo "trace.sst-2.$s.s42|data.task=sst-2 run.strategy=$s faults.trace=$TRACE"
        done
        ;;
    personal)
        # The personalised FedPrompt: its own setting (strategy), seeds as main's and seeds'.
        for t in $TASKS; do
            echo "personal.$t.s42|data.task=$t run.strategy=fedprompt-personal"
        done
        for t in sst-2 trec; do
            for seed in 43 44; do
                echo "personal.$t.s$seed|data.task=$t run.strategy=fedprompt-personal run.seed=$seed"
            done
        done
        ;;
    deep | deep-seeds)
        if [ ! -f "$DEEP/config.json" ]; then
            echo "bench/results.sh: group $1 skipped: no $DEEP/config.json (the committed model; make model-deep DEEP_OUT=$DEEP rebuilds it)" >&2
            return
        fi
        d="model.path=$DEEP"
        if [ "$1" = deep-seeds ]; then
            for t in sst-2 trec; do
                for seed in 43 44; do
                    for s in $STRATEGIES fedprompt-personal; do
                        echo "deep.$t.$s.s$seed|data.task=$t run.strategy=$s run.seed=$seed $d"
                    done
                done
            done
            return
        fi
        for t in sst-2 mr trec; do
            for s in $STRATEGIES fedprompt-personal; do
                echo "deep.$t.$s.s42|data.task=$t run.strategy=$s $d"
            done
        done
        a="data.task=sst-2 run.strategy=fedpeptao $d"
        echo "deep.ablation.sst-2.rho-0.25.s42|$a federation.layer_fraction=0.25"
        echo "deep.ablation.sst-2.rho-0.75.s42|$a federation.layer_fraction=0.75"
        echo "deep.ablation.sst-2.all-layers.s42|$a federation.layer_selection=all"
        echo "deep.ablation.sst-2.no-momentum.s42|$a server.momentum=0"
        echo "deep.ablation.sst-2.no-control-variates.s42|$a server.control_variates=false"
        echo "deep.ablation.sst-2.hessian.s42|$a federation.layer_selection=hessian federation.hessian_rounds=5 federation.lanczos_steps=20"
        ;;
    report) ;;
    *)
        echo "bench/results.sh: unknown group '$1' (main seeds ablations robustness personal deep deep-seeds report)" >&2
        exit 2
        ;;
    esac
}

# The availability trace of the robustness group (format: actors/trace.h), made here so that
# nothing of it is typed by hand: for the configuration's clients and rounds, client k is unavailable in rounds r with (r + 3k) mod 10 < 3,
# i.e. 30% of the rounds in bursts of three, the clients' bursts staggered; every client runs
# at full speed (speed only delays answers, which simulate does not model).
write_trace() {
    cfg=$("$FEDPEP" config "$INI")
    n=$(printf '%s\n' "$cfg" | awk -F' = ' '$1 == "clients" { print $2; exit }')
    rounds=$(printf '%s\n' "$cfg" | awk -F' = ' '$1 == "rounds" { print $2; exit }')
    awk -v n="$n" -v rounds="$rounds" 'BEGIN { print "client,round,available,speed";
                 for (k = 0; k < n; k++) for (r = 0; r < rounds; r++)
                     if ((r + 3 * k) % 10 < 3) printf "%d,%d,0,1\n", k, r }' >"$TRACE.tmp"
    mv "$TRACE.tmp" "$TRACE"
}

# The run's status in the database: finished, running, failed, or absent.
# A query that fails (the database busy past the timeout, damaged) stops the script: read as
# "absent", it once sent a finished run to simulate again.
status_of() {
    [ -f "$DB" ] || { echo absent; return; }
    if ! s=$(sqlite3 -readonly -cmd '.timeout 60000' "$DB" \
                 "SELECT status FROM runs WHERE name = '$1'"); then
        echo "results.sh: cannot read the status of $1 in $DB" >&2
        exit 1
    fi
    echo "${s:-absent}"
}

case " $GROUPS_WANTED " in
*" robustness "*) [ $LIST = 1 ] || write_trace ;;
esac
plan=$(for g in $GROUPS_WANTED; do runs_of "$g" | sed "s/^/$g|/"; done)
total=$(printf '%s\n' "$plan" | grep -c . || true)
start=$(date +%s)
[ $LIST = 1 ] && JOBS=1

# work W: worker W of JOBS takes the plan's runs k with (k - 1) mod JOBS = W, so no two workers
# ever touch one run; each prints its own progress and ETA.
work() {
    k=0
    done_runs=0
    spent=0
    printf '%s\n' "$plan" | while IFS='|' read -r group name over; do
        [ -n "$name" ] || continue
        k=$((k + 1))
        [ $(((k - 1) % JOBS)) -eq "$1" ] || continue
        state=$(status_of "$name")
        if [ $LIST = 1 ]; then
            echo "[$k/$total] $group $name: $state"
            continue
        fi
        if [ "$state" = finished ]; then
            echo "[$k/$total] $group $name: finished, skipped"
            continue
        fi
        now=$(date +%s)
        eta="?"
        [ $done_runs -gt 0 ] && eta="$(((total - k + 1) * spent / done_runs / JOBS / 60)) min"
        verb=starting
        [ "$state" = absent ] || verb="resuming ($state)"
        echo "[$k/$total] $group $name ($over): $verb, $(((now - start) / 60)) min so far, ETA $eta"
        t0=$(date +%s)
        # shellcheck disable=SC2086 # the overrides are words
        "$FEDPEP" simulate "$INI" --keep-checkpoints 1 run.name="$name" run.db="$DB" $over
        # A finished run is never resumed (this script skips it), and the report reads only runs,
        # rounds, client rows and layers: its clients' private states (100 prompts with their Adam
        # moments, ~45 MB) and its last checkpoint (FedPepTAO's holds 100 clients' control
        # variates, 8.6 MB) go, so the database stays small enough to commit.
        sqlite3 -cmd '.timeout 60000' "$DB" "DELETE FROM client_state WHERE run IN
                           (SELECT id FROM runs WHERE name = '$name' AND status = 'finished');
                       DELETE FROM checkpoints WHERE run IN
                           (SELECT id FROM runs WHERE name = '$name' AND status = 'finished');"
        done_runs=$((done_runs + 1))
        spent=$((spent + $(date +%s) - t0))
    done
}

w=0
pids=
while [ $w -lt "$JOBS" ]; do
    work $w &
    pids="$pids $!"
    w=$((w + 1))
done
failed=0
for pid in $pids; do wait "$pid" || failed=1; done
[ $failed = 0 ] || { echo "results.sh: a worker stopped on an error (above)" >&2; exit 1; }
[ $LIST = 1 ] && exit 0
case " $GROUPS_WANTED " in
*" report "*) ;;
*) [ -f "$DB" ] || exit 0 ;;
esac
mkdir -p "$(dirname "$OUT")"
sqlite3 -cmd '.timeout 60000' "$DB" "VACUUM" # give the deleted states' pages back: the database is committed
"$FEDPEP" report "$DB" --out "$OUT"
