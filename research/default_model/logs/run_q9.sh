cd /work/main/research/default_model
while kill -0 27213 2>/dev/null; do sleep 5; done
run() { echo "== $*"; nice /usr/bin/python3 prompt_tune.py "$@" 2>&1 | grep -E '^epoch|^zero|Error|error'; }
run --model use --head linear --layers all --lr 3e-3 --init tokens --tag init-tokens
