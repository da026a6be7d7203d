# shellcheck shell=bash
# cmocka.sh — sourced by the shell tests (tests/shell/test_*.sh): `check NAME COMMAND...` runs one
# test case and prints cmocka's lines for it; `summary` prints cmocka's summary lines, which
# tests/run.sh counts, and returns 1 when a case failed (end a test with `summary`).
passed=0 failed=0
check() { # name, then the command
    local name=$1; shift
    echo "[ RUN      ] $name"
    if "$@"; then echo "[       OK ] $name"; passed=$((passed + 1))
    else echo "[  FAILED  ] $name"; failed=$((failed + 1)); fi
}
summary() {
    echo "[==========] $((passed + failed)) test(s) run."
    [ $passed -eq 0 ] || echo "[  PASSED  ] $passed test(s)."
    [ $failed -eq 0 ] || echo "[  FAILED  ] $failed test(s), listed above:"
    [ $failed -eq 0 ]
}
