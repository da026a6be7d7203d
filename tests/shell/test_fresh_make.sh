#!/usr/bin/env bash
# test_fresh_make.sh — the first `make` on a machine without the -dev packages must build.
# A fake pkg-config answers nothing, and fake dpkg-query reports nothing installed, until a
# marker file exists; a fake apt-get creates it, as the real one installs the packages. A
# Makefile that reads pkg-config before setup has run links without the libraries and fails.
# Prints cmocka's summary lines so tests/run.sh counts it.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
real_pkg_config=$(command -v pkg-config)
cat >"$tmp/bin/pkg-config" <<EOS
#!/bin/sh
[ -e "$tmp/installed" ] || exit 1
exec "$real_pkg_config" "\$@"
EOS
cat >"$tmp/bin/dpkg-query" <<EOS
#!/bin/sh
[ -e "$tmp/installed" ] && printf 'install ok installed'
exit 0
EOS
cat >"$tmp/bin/apt-get" <<EOS
#!/bin/sh
touch "$tmp/installed"
EOS
printf '#!/bin/sh\nexec "$@"\n' >"$tmp/bin/sudo"
chmod +x "$tmp/bin/"*

# shellcheck source=tests/shell/cmocka.sh
. "$root/tests/shell/cmocka.sh"
first_make() {
    (cd "$root" && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS PATH="$tmp/bin:$PATH" \
        make -j2 BUILD="$tmp/build" "$tmp/build/release/fedpep") >"$tmp/make.log" 2>&1 ||
        { tail -20 "$tmp/make.log"; return 1; }
}
setup_ran_first() { [ -e "$tmp/installed" ] && grep -q 'setup: installing' "$tmp/make.log"; }
binary_runs() { "$tmp/build/release/fedpep" config >/dev/null; }
second_make_is_quiet() {
    (cd "$root" && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS PATH="$tmp/bin:$PATH" \
        make BUILD="$tmp/build" "$tmp/build/release/fedpep") >"$tmp/make2.log" 2>&1 &&
        ! grep -q '^  CC\|^  LD\|^setup:' "$tmp/make2.log" || { cat "$tmp/make2.log"; return 1; }
}
check first_make_builds_before_the_packages_exist first_make
check setup_installs_before_anything_compiles setup_ran_first
check the_binary_runs binary_runs
check a_second_make_does_nothing second_make_is_quiet
summary
