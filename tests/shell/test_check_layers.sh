#!/usr/bin/env bash
# test_check_layers.sh — the source folders include only the folders below them
# (scripts/check-layers.sh), and the check can fail: a copy of one folder with a forbidden
# include added, and a folder the layer map does not know, are both reported; and every source
# folder has its README.md.
# Prints cmocka's summary lines so tests/run.sh counts it.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
check_layers="$root/scripts/check-layers.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Known violations, tolerated until they are fixed: a pattern of check-layers.sh's output (the
# line number left out), one a line. Each entry must still match, so a fixed one fails the test
# until it is deleted here.
# None left: simulate/ took train/simulate.c's database writes out of train/.
known=()

# shellcheck source=tests/shell/cmocka.sh
. "$root/tests/shell/cmocka.sh"
the_tree_keeps_its_layers() {
    local out line k ok=0
    local -A seen=()
    out=$(bash "$check_layers" "$root")
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        for k in "${known[@]}"; do
            # shellcheck disable=SC2053 # the entries are patterns
            [[ $line == $k ]] && { seen[$k]=1; continue 2; }
        done
        echo "$line"
        ok=1
    done <<<"$out"
    for k in "${known[@]}"; do
        [ -n "${seen[$k]+set}" ] || { echo "known violation '$k' is gone: delete it in $0"; ok=1; }
    done
    return $ok
}
# A tree of one folder: a copy of common/, the bottom layer, which may include nothing else.
copy_common() {
    rm -rf "$tmp/tree" && mkdir -p "$tmp/tree" && cp -r "$root/common" "$tmp/tree/common"
}
a_clean_copy_passes() {
    copy_common && bash "$check_layers" "$tmp/tree"
}
a_forbidden_include_fails() {
    copy_common || return 1
    printf '#include "storage/store_db.h"\n' >>"$tmp/tree/common/rng.c"
    local out rc
    out=$(bash "$check_layers" "$tmp/tree"); rc=$?
    echo "$out"
    [ $rc -eq 1 ] && [[ $out == "common/rng.c:"*": common/ must not include storage/store_db.h"* ]]
}
an_unknown_folder_fails() {
    copy_common && mkdir -p "$tmp/tree/newfolder" && touch "$tmp/tree/newfolder/x.c" || return 1
    local out rc
    out=$(bash "$check_layers" "$tmp/tree"); rc=$?
    echo "$out"
    [ $rc -eq 1 ] && [[ $out == "newfolder/: a folder of C sources that is not in the layer map"* ]]
}
# Each source folder says in its README.md what it owns and what it may include (README.md,
# "Layout"); tests/ and bench/ are not layers.
every_source_folder_has_a_readme() {
    local d ok=0
    for d in "$root"/*/; do
        d=${d%/}
        case "${d##*/}" in tests | bench) continue ;; esac
        compgen -G "$d/*.[ch]" >/dev/null || continue
        grep -q '^May include: ' "$d/README.md" 2>/dev/null ||
            { echo "${d##*/}/README.md is missing or has no 'May include:' line"; ok=1; }
    done
    return $ok
}
check the_tree_keeps_its_layers the_tree_keeps_its_layers
check every_source_folder_has_a_readme every_source_folder_has_a_readme
check a_clean_copy_passes a_clean_copy_passes
check a_forbidden_include_fails a_forbidden_include_fails
check an_unknown_folder_fails an_unknown_folder_fails
summary
