#!/usr/bin/env bash
# test_blas_kernel.sh — fedpep runs OpenBLAS's AVX-512 kernels on a CPU that has AVX-512 but that
# Debian's OpenBLAS detects as Haswell or Zen (model/blas_kernel.h), keeps a user's own
# OPENBLAS_CORETYPE, and can be told not to choose (FEDPEP_BLAS_NATIVE=0).
# Prints cmocka's summary lines so tests/run.sh counts it.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
fedpep="$root/${BUILD:-build}/release/fedpep"
# shellcheck source=tests/shell/cmocka.sh
. "$root/tests/shell/cmocka.sh"

kernel() { # the kernel `fedpep version` reports, in the environment given
    env -u OPENBLAS_CORETYPE -u FEDPEP_BLAS_NATIVE "$@" "$fedpep" version | sed -n 's/^blas: OpenBLAS, \(.*\) kernels$/\1/p'
}
has() { grep -qw "$1" /proc/cpuinfo; }
avx512=false
has avx512f && has avx512bw && has avx512vl && has avx512dq && avx512=true

detected=$(kernel FEDPEP_BLAS_NATIVE=0)
chosen=$(kernel)

the_detected_kernel_is_named() { [ -n "$detected" ]; }
avx512_cpus_run_avx512_kernels() {
    case $detected in
    Haswell | Zen)
        if $avx512; then
            local want=SkylakeX
            has avx512_bf16 && want=Cooperlake
            [ "$chosen" = "$want" ] || { echo "detected $detected, chose '$chosen', want $want"; return 1; }
        else
            [ "$chosen" = "$detected" ] || { echo "no AVX-512, yet '$chosen'"; return 1; }
        fi ;;
    *) [ "$chosen" = "$detected" ] || { echo "detected $detected, yet '$chosen'"; return 1; } ;;
    esac
}
a_users_choice_is_kept() {
    local k
    k=$(env OPENBLAS_CORETYPE=Prescott "$fedpep" version | sed -n 's/^blas: OpenBLAS, \(.*\) kernels$/\1/p')
    [ "$k" = Prescott ] || { echo "OPENBLAS_CORETYPE=Prescott gave '$k'"; return 1; }
}
check the_detected_kernel_is_named the_detected_kernel_is_named
check avx512_cpus_run_avx512_kernels avx512_cpus_run_avx512_kernels
check a_users_choice_is_kept a_users_choice_is_kept
summary
