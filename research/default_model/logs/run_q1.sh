cd /work/main/research/default_model
for args in "--layers all --lr 3e-3 --tag lr" "--layers none --tag probe" "--layers all --lr 1e-3 --head-lr 3e-3 --tag lr"; do
  echo "== $args"; nice /usr/bin/python3 prompt_tune.py --model use --head linear $args 2>&1 | grep -E 'epoch|Error|error'
done
