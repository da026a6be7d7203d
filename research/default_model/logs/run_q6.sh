cd /work/main/research/default_model
while kill -0 23486 2>/dev/null; do sleep 5; done
run() { echo "== $*"; nice /usr/bin/python3 prompt_tune.py "$@" 2>&1 | grep -E '^epoch|^zero|Error|error'; }
nice /usr/bin/python3 distil_l0.py --src uni2 --dst uni2d --minutes 3 2>&1 | grep -E 'start|end|Error'
run --model ../../.cache/research/uni2d.pt --head linear --layers all --lr 3e-3 --tag uni2d
run --model use --head linear --layers all --lr 3e-3 --n-train 16000 --epochs 1 --budget-min 4 --tag more-data
run --model ../../.cache/research/uni2d.pt --head cospool --epochs 0 --tag uni2d-zeroshot
