#!/usr/bin/env bash
# run.sh — builds and runs the prompt-tuning step benchmark (bench/bench_step.c, whose PyTorch
# side is bench/torch_step.py) with nice, from the repository root. Arguments go to bench_step,
# e.g. `bench/run.sh --quick` or `bench/run.sh --shapes roberta-base --T 128 --threads 1`.
# Needs Debian's python3-torch for the PyTorch columns (`bash scripts/setup.sh --reference`).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
make -s "$BUILD/release/bench/bench_step" >/dev/null  # errors still reach stderr
export FEDPEP_PYTHON="${FEDPEP_PYTHON:-/usr/bin/python3}"
exec nice "$BUILD/release/bench/bench_step" "$@"
