cd /work/main/research/default_model
while kill -0 5334 2>/dev/null; do sleep 5; done
run() { echo "== $*"; nice /usr/bin/python3 prompt_tune.py "$@" 2>&1 | grep -E '^epoch|Error|error'; }
run --model random-use --head linear --layers all --lr 3e-3 --tag control
run --model use --head linear --layers top --lr 3e-3 --tag half
run --model use --head linear --layers bottom --lr 3e-3 --tag half
nice /usr/bin/python3 pretrain.py --name stack4 --init stack --layers 4 --minutes 20 > /dev/null 2>&1
run --model ../../.cache/research/stack4.pt --head linear --layers all --lr 3e-3 --tag stack4
run --model ../../.cache/research/stack4.pt --head linear --layers bottom --lr 3e-3 --tag stack4
