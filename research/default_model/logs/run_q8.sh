cd /work/main/research/default_model
run() { echo "== $*"; nice /usr/bin/python3 prompt_tune.py "$@" 2>&1 | grep -E '^epoch|^zero|Error|error'; }
run --model use --head linear --layers bottom --lr 3e-3 --tag half
run --model use --head linear --layers all --lr 3e-3 --n-train 8000 --epochs 2 --budget-min 8 --tag more-data
