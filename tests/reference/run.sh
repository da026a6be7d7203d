#!/usr/bin/env bash
# run.sh — `make check-reference`: fedpep's model core against an independent PyTorch reference.
#  1. make_tiny.py writes tiny random RoBERTa and GPT-2 checkpoints in exact Hugging Face format,
#     fixed batches and prompts, and the float64 PyTorch outputs (logits, loss, dL/dE);
#  2. selfcheck.py checks the reference itself (finite differences, masks, positions);
#  3. reference_dump (C, built here against build/release/libfedpep.a) loads the same files
#     through fedpep's loaders and model and writes its outputs;
#  4. compare.py: relative error <= 1e-4 on every quantity, or exit 1.
# Opt-in only (needs python3-torch); never part of `make test`.
# Env: PYTHON (default /usr/bin/python3, Debian's, which has torch), BUILD (default build),
#      REF_TOL (default 1e-4), REF_SKIP_SELFCHECK=1 to skip step 2.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-/usr/bin/python3}"
BUILD="${BUILD:-build}"
TOL="${REF_TOL:-1e-4}"
OUT="$BUILD/reference"
HERE=tests/reference
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

rm -rf "$OUT" && mkdir -p "$OUT/got"
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
    -lm -lpthread -o "$OUT/reference_dump"

echo "reference: running the C side"
status=0
for input in "$OUT"/cases/*.input.safetensors; do
    name=$(basename "$input" .input.safetensors)
    model=$("$PYTHON" -c "import sys; sys.path.insert(0, '$HERE'); import st_io; \
print(st_io.read(sys.argv[1])[1]['model'])" "$input")
    if ! "$OUT/reference_dump" "$OUT/$model" "$input" "$OUT/got/$name.got.safetensors" \
            "$OUT/got/$name.grads.safetensors"; then
        status=1
    fi
done

echo "reference: comparing (tolerance $TOL)"
"$PYTHON" "$HERE/compare.py" "$OUT/cases" "$OUT/got" "$TOL" || status=1
exit $status
