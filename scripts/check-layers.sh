#!/usr/bin/env bash
# check-layers.sh — fails when a source file includes a header of a layer it must not depend on.
# The layers, bottom up (docs/architecture.md): a folder may include its own headers and those
# of the folders listed for it, nothing else, so dependencies only point down and no cycle can
# form. System headers (<...>) are not checked: which libraries a layer may use is said in each
# folder's README line and in DESIGN.md, and the linker of the tests enforces that separately.
# Prints every forbidden include as FILE:LINE: FOLDER must not include HEADER, and every folder
# of C sources the map below does not know; exit 1 if any.
# Usage: scripts/check-layers.sh [ROOT] — ROOT is the source tree to check (default: this
# checkout); tests/shell/test_check_layers.sh points it at a copy with a forbidden include.
set -u
cd "${1:-$(dirname "$0")/..}" || exit 2
declare -A allowed=(
    [common]=""
    [messages]="common"
    [model]="common"
    [fl]="common"
    [data]="common"
    [train]="common model fl data"
    [storage]="common"
    [actors]="common messages model fl data train storage"
    [broker]="common messages"
    [simulate]="common messages model fl data train storage actors"
    [launch]="common messages model fl data train storage actors broker simulate"
    [cli]="common messages model fl data train storage actors broker simulate launch"
)
# Folders that are not layers: tests and benchmarks may include any header.
unlayered=" tests bench "
bad=0
for dir in */; do
    dir=${dir%/}
    [ -n "${allowed[$dir]+set}" ] && continue
    case "$unlayered" in *" $dir "*) continue ;; esac
    compgen -G "$dir/*.[ch]" >/dev/null || continue
    echo "$dir/: a folder of C sources that is not in the layer map of $0"
    bad=1
done
for dir in "${!allowed[@]}"; do
    [ -d "$dir" ] || continue
    for f in "$dir"/*.c "$dir"/*.h; do
        [ -e "$f" ] || continue
        while IFS=: read -r line inc; do
            target=${inc%%/*}
            [ "$inc" = "$target" ] && continue # a bare "x.h": the file's own folder
            [ "$target" = "$dir" ] && continue
            case " ${allowed[$dir]} " in *" $target "*) continue ;; esac
            echo "$f:$line: $dir/ must not include $inc (allowed: ${allowed[$dir]:-nothing})"
            bad=1
        done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
                 sed -E 's/^([0-9]+):[^"]*"([^"]+)".*/\1:\2/')
    done
done
exit $bad
