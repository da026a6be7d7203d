#!/usr/bin/env bash
# test_results_jobs.sh — bench/results.sh with JOBS=2 (two workers over one plan, one database):
# a stub fedpep records each simulate call and inserts the run as finished, so the script's own
# logic is what is tested, in seconds. Every run of the plan is simulated exactly once; a second
# call skips them all; a run that fails stops the script with status 1 while the other worker
# finishes its runs.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/shell/cmocka.sh
. "$root/tests/shell/cmocka.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/runs.db
sqlite3 "$db" "PRAGMA journal_mode=WAL; CREATE TABLE runs(id INTEGER PRIMARY KEY, name TEXT UNIQUE,
    status TEXT); CREATE TABLE client_state(run INT); CREATE TABLE checkpoints(run INT);" >/dev/null
cat >"$tmp/fedpep" <<STUB
#!/bin/sh
[ "\$1" = simulate ] || exit 0
for a; do case \$a in run.name=*) n=\${a#run.name=} ;; esac; done
[ "\$n" = "\$(cat "$tmp/fail" 2>/dev/null)" ] && exit 3
echo "\$n" >>"$tmp/calls"
sleep 0.05
sqlite3 -cmd '.timeout 5000' "$db" "INSERT INTO runs(name, status) VALUES('\$n', 'finished')"
STUB
chmod +x "$tmp/fedpep"
results() { (cd "$root" && JOBS=2 FEDPEP="$tmp/fedpep" DB="$db" OUT="$tmp/out.md" \
    bench/results.sh ablations personal >"$tmp/log" 2>&1); }
planned() { (cd "$root" && FEDPEP="$tmp/fedpep" DB="$db" bench/results.sh --list ablations personal | grep -c .); }

each_run_once() {
    results || return 1
    local n
    n=$(planned)
    [ "$n" -eq 20 ] && [ "$(wc -l <"$tmp/calls")" -eq "$n" ] &&
        [ -z "$(sort "$tmp/calls" | uniq -d)" ] &&
        [ "$(sqlite3 "$db" "SELECT count(DISTINCT name) FROM runs")" -eq "$n" ] &&
        grep -q '^\[1/20\]' "$tmp/log" && grep -q '^\[2/20\]' "$tmp/log"
}
second_call_skips_all() {
    results && [ "$(wc -l <"$tmp/calls")" -eq 20 ] &&
        [ "$(grep -c 'finished, skipped' "$tmp/log")" -eq 20 ]
}
a_failing_run_stops_the_script() {
    sqlite3 "$db" "DELETE FROM runs WHERE name LIKE 'personal.trec.%'"
    echo personal.trec.s43 >"$tmp/fail" # run 12: worker 1; runs 11 and 13 are worker 0's
    if results; then return 1; fi
    grep -q 'a worker stopped on an error' "$tmp/log" &&
        [ "$(sqlite3 "$db" "SELECT count(*) FROM runs WHERE name IN
             ('personal.trec.s42', 'personal.trec.s44')")" -eq 2 ]
}
check each_run_once_over_two_workers each_run_once
check a_second_call_skips_every_finished_run second_call_skips_all
check a_failing_run_stops_the_script_with_status_1 a_failing_run_stops_the_script
summary
