cd /work/main/research/default_model
while kill -0 12444 2>/dev/null; do sleep 5; done
run() { echo "== $*"; nice /usr/bin/python3 prompt_tune.py "$@" 2>&1 | grep -E '^epoch|^zero|Error|error'; }
run --model ../../.cache/research/uni2.pt --head linear --layers bottom --lr 3e-3 --tag uni2-half
run --model ../../.cache/research/uni2.pt --head cospool --epochs 0 --tag uni2-zeroshot
run --model ../../.cache/research/uni2.pt --head linear --layers all --lr 3e-3 --n-train 16000 --epochs 1 --budget-min 3 --tag uni2-more-data
