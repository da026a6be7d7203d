#!/usr/bin/env bash
# test_fuzz_seeds.sh — every fuzz target's seeds (tests/fuzz/seeds/TARGET, where crashing inputs
# found by fuzzing are kept as regression seeds) replayed through the target's own entry point
# under the sanitizer build (tests/fuzz/replay_main.c; `make test` builds the replayers), one
# case per target. Runs from the repository root (the tokenizer targets read .cache/).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/shell/cmocka.sh
. "$root/tests/shell/cmocka.sh"
cd "$root" || exit 1
for seeds in tests/fuzz/seeds/fuzz_*; do
    t=$(basename "$seeds")
    check "${t}_seeds_replay" "${BUILD:-build}/asan/fuzz-replay/$t" "$seeds"
done
summary
