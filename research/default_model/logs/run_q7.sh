cd /work/main/research/default_model
run() { echo "== $*"; nice /usr/bin/python3 prompt_tune.py "$@" 2>&1 | grep -E '^epoch|^zero|Error|error'; }
run --model use --head linear --layers all --lr 3e-3 --n-train 16000 --epochs 1 --budget-min 4 --tag more-data
run --model ../../.cache/research/uni2.pt --head cospool --epochs 0 --tag uni2-zeroshot
