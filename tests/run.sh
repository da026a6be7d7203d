#!/usr/bin/env bash
# run.sh — runs every test program given, shows their output, and ends with one summary line
# "tests: N passed, N failed" counted from cmocka's per-program summaries. Exit 1 on any failure
# (a failed test, a crash, a sanitizer report, or a program that ran no test).
# Shell tests (tests/shell/test_*.sh) print the same summary lines as cmocka, so they count alike.
set -u
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
export FEDPEP_SHARED="${FEDPEP_SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}"
passed=0; failed=0; broken=()
log=$(mktemp)
for t in "$@"; do
    start=$(date +%s)
    "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(grep -E '^\[  PASSED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
    f=$(grep -E '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
    passed=$((passed + p)); failed=$((failed + f))
    if [ $rc -ne 0 ] || [ $((p + f)) -eq 0 ]; then
        [ "$f" -gt 0 ] || failed=$((failed + 1))
        broken+=("$(basename "$t") (exit $rc)")
    fi
    echo "-- $(basename "$t"): ${p} passed, ${f} failed, exit $rc, $(( $(date +%s) - start ))s"
done
rm -f "$log"
[ ${#broken[@]} -eq 0 ] || echo "failing programs: ${broken[*]}"
echo "tests: ${passed} passed, ${failed} failed"
[ ${#broken[@]} -eq 0 ]
