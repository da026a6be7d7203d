#!/usr/bin/env bash
# run.sh — `make check-reference`: fedpep's model core against an independent PyTorch reference.
#  1. make_tiny.py writes tiny random RoBERTa and GPT-2 checkpoints in exact Hugging Face format,
#     fixed batches and prompts, and the float64 PyTorch outputs (logits, loss, dL/dE);
#  2. selfcheck.py checks the reference itself (finite differences, masks, positions);
#  3. reference_dump (C, built here against build/release/libfedpep.a) loads the same files
#     through fedpep's loaders and model and writes its outputs;
#  4. compare.py: relative error <= 1e-4 on every quantity, or exit 1;
#  5. on a CPU with bf16 instructions, steps 3-4 again with the weights' products in bf16
#     (reference_dump --bf16, [model] precision = bf16) against the same float64 outputs, with
#     tolerances REF_TOL_BF16 (default 3e-2; logits, losses, block outputs) and REF_GTOL_BF16
#     (default 1e-1; dE, dI) that docs/benchmarks.md derives, every case but the weight-gradient
#     ones (bf16 weights are frozen).
# Opt-in only (needs python3-torch); never part of `make test`.
# Env: PYTHON (default /usr/bin/python3, Debian's, which has torch), BUILD (default build),
#      REF_TOL (default 1e-4), REF_TOL_BF16 (3e-2), REF_GTOL_BF16 (1e-1), REF_SKIP_SELFCHECK=1
#      to skip step 2.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-/usr/bin/python3}"
BUILD="${BUILD:-build}"
TOL="${REF_TOL:-1e-4}"
TOL_BF16="${REF_TOL_BF16:-3e-2}"
GTOL_BF16="${REF_GTOL_BF16:-1e-1}"
OUT="$BUILD/reference"
HERE=tests/reference
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

rm -rf "$OUT" && mkdir -p "$OUT/got" "$OUT/got_bf16"
echo "reference: writing tiny checkpoints and PyTorch outputs into $OUT"
"$PYTHON" "$HERE/make_tiny.py" "$OUT"
if [ "${REF_SKIP_SELFCHECK:-0}" != 1 ]; then
    echo "reference: checking the reference itself"
    "$PYTHON" "$HERE/selfcheck.py" "$OUT"
fi

echo "reference: building the C side"
make -s "$BUILD/release/libfedpep.a"
# shellcheck disable=SC2046
${CC:-cc} -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -I. \
    $(pkg-config --cflags openblas jansson) "$HERE/reference_dump.c" \
    "$BUILD/release/libfedpep.a" \
    $(pkg-config --libs libczmq libzmq msgpack inih jansson sqlite3 openblas libutf8proc) \
    -ldnnl -lgomp -lm -lpthread -o "$OUT/reference_dump"

# run_c_side OUT_SUBDIR [--bf16]: every case through reference_dump (bf16: not the weight-gradient
# cases, which bf16 weights refuse)
run_c_side() {
    local dir=$1 flag=${2:-} ok=0
    for input in "$OUT"/cases/*.input.safetensors; do
        name=$(basename "$input" .input.safetensors)
        model=$("$PYTHON" -c "import sys; sys.path.insert(0, '$HERE'); import st_io; \
print(st_io.read(sys.argv[1])[1]['model'])" "$input")
        if [ -n "$flag" ] && [[ $name == *_full ]]; then
            continue
        fi
        # shellcheck disable=SC2086
        if ! "$OUT/reference_dump" $flag "$OUT/$model" "$input" "$OUT/$dir/$name.got.safetensors" \
                "$OUT/$dir/$name.grads.safetensors"; then
            ok=1
        fi
    done
    return $ok
}

echo "reference: running the C side"
status=0
run_c_side got || status=1

echo "reference: comparing (tolerance $TOL)"
"$PYTHON" "$HERE/compare.py" "$OUT/cases" "$OUT/got" "$TOL" || status=1

if grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then
    echo "reference: running the C side with bf16 products"
    run_c_side got_bf16 --bf16 || status=1
    echo "reference: comparing bf16 (tolerance $TOL_BF16, gradients $GTOL_BF16)"
    "$PYTHON" "$HERE/compare.py" "$OUT/cases" "$OUT/got_bf16" "$TOL_BF16" --no-weight-grads \
        --grad-tol "$GTOL_BF16" || status=1
else
    echo "reference: no bf16 instructions on this CPU: the bf16 case is not run"
fi
exit $status
