#!/usr/bin/env bash
# packages-mk.sh OUT PKG... — writes the pkg-config flags of the packages as a make fragment
# (PKG_CFLAGS, PKG_LIBS) that the Makefile includes. Run after setup.sh has installed them.
# A PKG written LIB:HEADER is a library Debian ships without a pkg-config file (libdnnl-dev):
# it is linked as -lLIB once the compiler finds HEADER.
# The file is replaced only when its text changes, so make re-reads itself only then.
# Fails, naming the packages pkg-config cannot find, rather than writing empty flags.
set -euo pipefail
out=$1; shift
pc=() plain=()
for p in "$@"; do
    case $p in
    *:*)
        if ! printf '#include <%s>\n' "${p#*:}" | "${CC:-cc}" -E -x c - >/dev/null 2>&1; then
            echo "packages-mk: no header ${p#*:} for -l${p%%:*}" >&2
            echo "packages-mk: run 'bash scripts/setup.sh' (installs it with apt-get)" >&2
            exit 1
        fi
        plain+=("-l${p%%:*}") ;;
    *) pc+=("$p") ;;
    esac
done
set -- "${pc[@]}"
if ! cflags=$(pkg-config --cflags "$@" 2>/tmp/pkgconfig.$$) ||
   ! libs=$(pkg-config --libs "$@" 2>>/tmp/pkgconfig.$$); then
    echo "packages-mk: pkg-config cannot find every package of: $*" >&2
    sed 's/^/packages-mk: /' /tmp/pkgconfig.$$ >&2
    rm -f /tmp/pkgconfig.$$
    echo "packages-mk: run 'bash scripts/setup.sh' (installs them with apt-get)" >&2
    exit 1
fi
rm -f /tmp/pkgconfig.$$
mkdir -p "$(dirname "$out")"
tmp=$(mktemp "$out.XXXXXX")
printf '# written by scripts/packages-mk.sh from pkg-config; do not edit\nPKG_CFLAGS := %s\nPKG_LIBS := %s -lm -lpthread\n' \
    "$cflags" "$libs ${plain[*]}" >"$tmp"
if cmp -s "$tmp" "$out"; then rm -f "$tmp"; else mv "$tmp" "$out"; fi
