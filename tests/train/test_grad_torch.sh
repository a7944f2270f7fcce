#!/usr/bin/env bash
# Whole-model gradients of `jaclip grad` against PyTorch autograd in float64
# (tools/ref/clyp_grad.py over the spec-written reference model tools/ref/clyp_ref.py),
# on the committed small model (2+2 layers, F16/BF16 tensors inside) and two batches:
# every parameter's gradient within relative error 1e-4, and the same loss.
set -euo pipefail
JACLIP_BIN=${JACLIP_BIN:-build/jaclip}
PY=/usr/bin/python3
TOK=../shared/tokenizer/rinna-japanese-sp.model
M=tests/golden/model/small
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for rows in 3,4,0,12,17 1,2,5,6,7,8,9,10,11,13,14,15; do
  d=$tmp/$rows
  $PY tools/ref/clyp_grad.py prep --rows "$rows" --out "$d"
  got=$("$JACLIP_BIN" grad --model $M --tokenizer $TOK --pixels $d/pixels.npy --ids $d/ids.npy \
        --lengths $d/lengths.npy --out $d/c.safetensors --threads 2)
  want=$($PY tools/ref/clyp_grad.py --model $M --pixels $d/pixels.npy --ids $d/ids.npy \
         --lengths $d/lengths.npy --out $d/t.safetensors)
  echo "jaclip: $got"
  echo "torch:  $want"
  $PY - "$got" "$want" <<'PYEOF'
import sys
a = float(sys.argv[1].split()[1]); b = float(sys.argv[2].split()[1])
assert abs(a - b) <= 1e-5 * abs(b), (a, b)
PYEOF
  $PY tools/ref/clyp_grad.py compare $d/c.safetensors $d/t.safetensors --tol 1e-4
done
echo "ok"
