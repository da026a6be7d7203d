# research/lib/tune_runs.sh — sourced by the research/*/c_table.sh scripts: runs of
# `fedpep tune configs/tune-default.ini`, one log each in $out, resumable, and the figures read
# back from the logs. The caller sets fedpep (the binary) and out (the log folder).

# tune_one "TASK NAME ARGS...": one run into $out/TASK-NAME.log; a finished log is kept, so a
# script stopped half-way resumes where it stopped.
tune_one() {
    set -- $1
    local task=$1 name=$2
    shift 2
    local log="$out/$task-$name.log"
    if [ -s "$log" ] && grep -q '^best ' "$log" && grep -q '^wall ' "$log"; then
        return 0
    fi
    local TIMEFORMAT='wall %R s  cpu %U+%S s'
    { time "$fedpep" tune configs/tune-default.ini data.task="$task" "$@"; } > "$log.tmp" 2>&1
    mv "$log.tmp" "$log"
}

# tune_all JOBS RUN...: every run, JOBS at a time
tune_all() {
    local jobs=$1
    shift
    export -f tune_one
    export fedpep out
    printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'tune_one "$@"' _ {}
}

# the metric after each epoch of one log, as percentages ("80.4 → 82.1%")
fig() {
    local log="$out/$1.log"
    [ -s "$log" ] || { echo "–"; return; }
    sed -n 's/^epoch [1-9].*  eval [a-z+]* \([0-9.]*\)  eval loss.*/\1/p' "$log" |
        awk '{ s = s (NR > 1 ? " → " : "") sprintf("%.1f", 100 * $1) } END { printf "%s%%", s }'
}
# the zero-shot figure: the fixed head before any training (epoch 0)
zs() {
    local z
    z=$(sed -n 's/.*(zero-shot)  eval [a-z+]* \([0-9.]*\).*/\1/p' "$out/$1.log" 2>/dev/null)
    [ -n "$z" ] && awk -v z="$z" 'BEGIN { printf "%.1f%%", 100 * z }' || echo "–"
}
# the last epoch's metric (a fraction)
last() {
    sed -n 's/^epoch [1-9].*  eval [a-z+]* \([0-9.]*\)  eval loss.*/\1/p' "$out/$1.log" 2>/dev/null | tail -1
}
wall() { sed -n 's/^wall \([0-9]*\).*/\1 s/p' "$out/$1.log" 2>/dev/null; }
