#!/bin/bash
# bench/round_breakdown.sh RUN_DIR — where each round's time went, from a launched run's logs
# (issue 17, "Round overhead"; docs/benchmarks.md "Rounds and bytes").
#
# The coordinator's round line gives the round (first TRAIN to SAVED), its evaluation and its
# overhead as issue 17 defines it (round − slowest client's compute − evaluation). Each client's
# log says, per round it trained, its slot wait, compute and injected hold. The round's critical
# client is the one whose UPDATE came last (the longest TRAIN-to-UPDATE); what is left of the
# round after the evaluation and that client's slot wait, compute and hold is coordination
# proper: messages, storing the client states, aggregation, building and committing the SAVE.
set -euo pipefail
dir=${1:?usage: bench/round_breakdown.sh RUN_DIR}
awk '
FNR == 1 { coord = (FILENAME ~ /coordinator\.log$/) }
coord && /^round [0-9]/ {
    r = $2
    for (i = 1; i <= NF; i++) {
        if ($i == "round" && $(i + 1) ~ /^[0-9]+$/ && $(i + 2) == "ms,") round[r] = $(i + 1)
        if ($i == "eval" && $(i + 1) ~ /^[0-9]+,$/) { v = $(i + 1); sub(",", "", v); ev[r] = v }
        if ($i == "overhead") over[r] = $(i + 1)
        if ($i == "slowest") slow[r] = $(i + 1)
    }
    n = r + 1 > n ? r + 1 : n
}
!coord && / UPDATE [0-9]+ ms after TRAIN/ {
    r = $3; sub(":", "", r)
    for (i = 1; i <= NF; i++) {
        if ($i == "UPDATE") w = $(i + 1)
        if ($i == "wait") { s = $(i + 1); sub(",", "", s) }
        if ($i == "compute") { c = $(i + 1); sub(",", "", c) }
        if ($i == "held") h = $(i + 1)
    }
    if (!(r in crit) || w + 0 > crit[r]) { crit[r] = w + 0; cs[r] = s; cc[r] = c; ch[r] = h }
}
END {
    printf "%5s %8s %8s %9s %9s %8s %8s %8s %7s %6s\n", "round", "round_ms", "eval_ms",
           "overhead", "slowest", "cr_wait", "cr_comp", "cr_held", "coord", "coord%"
    for (r = 0; r < n; r++) {
        if (!(r in round)) continue
        co = round[r] - ev[r] - cs[r] - cc[r] - ch[r]
        printf "%5d %8d %8d %9d %9d %8d %8d %8d %7d %5.1f%%\n", r, round[r], ev[r], over[r],
               slow[r], cs[r], cc[r], ch[r], co, 100 * co / round[r]
    }
}' "$dir/logs/coordinator.log" "$dir"/logs/client.*.log
