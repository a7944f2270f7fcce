#!/usr/bin/env bash
# test_score_cli.sh — `jaclip score` / `jaclip filter` end to end against the independent
# float64 NumPy reference tools/ref/negclip_ref.py (which reimplements the documented batching):
# N = 100,000 random pairs (a third near-duplicates), B = 4096, K = 3, tau = 0.01, agreement
# to 1e-5; fp16 input; NormSim; JSONL export; the two-stage filter; clear errors on bad input.
set -euo pipefail
J=${JACLIP_BIN:-build/jaclip}
PY=/usr/bin/python3
REF=tools/ref/negclip_ref.py
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

$PY $REF gen --n 100000 --dim 64 --seed 11 --matched 0.33 --img $T/I.npy --txt $T/T.npy
$J score --image-emb $T/I.npy --text-emb $T/T.npy --method negclip --batch 4096 --repeats 3 \
    --temperature 0.01 --seed 2024 --out $T/neg.npy --quiet
$PY $REF negclip --img $T/I.npy --txt $T/T.npy --batch 4096 --repeats 3 --tau 0.01 --seed 2024 --out $T/neg_ref.npy
if $PY $REF compare $T/neg.npy $T/neg_ref.npy --tol 1e-5; then ok "negclip N=100000 B=4096 K=3 vs float64"; else bad "negclip vs float64 reference"; fi
# with another seed the batches differ: the comparison must then fail (the check can fail)
$J score --image-emb $T/I.npy --text-emb $T/T.npy --method negclip --batch 4096 --repeats 3 \
    --temperature 0.01 --seed 7 --out $T/neg7.npy --quiet
if $PY $REF compare $T/neg7.npy $T/neg_ref.npy --tol 1e-5 >/dev/null; then bad "a different seed agrees: the check is blind"; else ok "another seed's batching disagrees"; fi

# scores held in a mapped temp file instead of memory (what very large N uses): same bits, no temp left
JACLIP_SCORES_INMEM_MAX=0 $J score --image-emb $T/I.npy --text-emb $T/T.npy --method negclip --batch 4096 \
    --repeats 3 --temperature 0.01 --seed 2024 --out $T/negm.npy --quiet >/dev/null
if cmp -s $T/neg.npy $T/negm.npy && ! ls $T | grep -q scores-tmp; then ok "file-backed score buffer"; else bad "file-backed score buffer"; fi

# fp16 input, smaller N, tau = 0.07
$PY $REF gen --n 6000 --dim 32 --seed 3 --matched 0.2 --f16 --img $T/Ih.npy --txt $T/Th.npy
$J score --image-emb $T/Ih.npy --text-emb $T/Th.npy --method negclip --batch 2500 --repeats 2 \
    --temperature 0.07 --seed 1 --out $T/h.npy --quiet
$PY $REF negclip --img $T/Ih.npy --txt $T/Th.npy --batch 2500 --repeats 2 --tau 0.07 --seed 1 --out $T/h_ref.npy
if $PY $REF compare $T/h.npy $T/h_ref.npy --tol 1e-5; then ok "fp16 input"; else bad "fp16 input"; fi

# NormSim and CLIP score
$PY $REF gen --n 700 --dim 32 --seed 4 --img $T/G.npy --txt $T/G2.npy
for p in inf 2; do
  $J score --image-emb $T/Ih.npy --target-emb $T/G.npy --method normsim --norm $p --out $T/ns.npy --quiet
  $PY $REF normsim --img $T/Ih.npy --target $T/G.npy --norm $p --out $T/ns_ref.npy
  if $PY $REF compare $T/ns.npy $T/ns_ref.npy --tol 1e-5; then ok "normsim p=$p"; else bad "normsim p=$p"; fi
done
seq -f "key%06g" 0 5999 > $T/keys.txt
$J score --image-emb $T/Ih.npy --text-emb $T/Th.npy --method clipscore --keys $T/keys.txt --out $T/cs.npy
$PY $REF clipscore --img $T/Ih.npy --txt $T/Th.npy --out $T/cs_ref.npy
if $PY $REF compare $T/cs.npy $T/cs_ref.npy --tol 1e-6; then ok "clipscore"; else bad "clipscore"; fi
if $PY - "$T" <<'PYEOF'
import json, sys, numpy as np
t = sys.argv[1]
rows = [json.loads(l) for l in open(t + "/cs.jsonl")]
s = np.load(t + "/cs.npy")
assert len(rows) == len(s) and rows[5]["key"] == "key000005"
assert max(abs(r["score"] - float(v)) for r, v in zip(rows, s)) < 1e-6
PYEOF
then ok "JSONL export"; else bad "JSONL export"; fi

# two-stage filter against numpy (stable sort: ties by index)
$J filter --scores $T/neg.npy --keep-fraction 0.3 --second-scores $T/neg7.npy --second-fraction 0.2 --out $T/keep.npy
if $PY - "$T" <<'PYEOF'
import sys, numpy as np
t = sys.argv[1]
s = np.load(t + "/neg.npy"); s2 = np.load(t + "/neg7.npy").astype(np.float32)
n = len(s)
o1 = np.argsort(-s, kind="stable")[: int(n * 0.3)]
o1 = np.sort(o1)
o2 = o1[np.argsort(-s2[o1], kind="stable")[: int(n * 0.2)]]
k = np.load(t + "/keep.npy")
assert k.dtype == np.int64 and (k == np.sort(o2)).all(), (len(k), len(o2))
PYEOF
then ok "two-stage filter"; else bad "two-stage filter"; fi

# bad input: clear message naming the file, non-zero exit, no output left behind
expect_err() { # pattern, command...
  local pat=$1; shift
  rm -f $T/x.npy
  if "$@" 2>$T/err >/dev/null; then bad "succeeded: $*"; return; fi
  if ! grep -q -- "$pat" $T/err; then bad "message for '$*' lacks '$pat': $(cat $T/err)"; return; fi
  if [ -e $T/x.npy ]; then bad "left an output behind: $*"; return; fi
  ok "error: $(head -c 150 $T/err)"
}
expect_err "rows" $J score --image-emb $T/I.npy --text-emb $T/Th.npy --method negclip --out $T/x.npy
$PY -c "import numpy as np; np.save('$T/D.npy', np.ones((100000, 65), np.float32))"
expect_err "size" $J score --image-emb $T/I.npy --text-emb $T/D.npy --method clipscore --out $T/x.npy
$PY -c "import numpy as np; a=np.load('$T/I.npy')[:100]; a[42,3]=np.nan; np.save('$T/nan.npy', a); np.save('$T/i100.npy', np.load('$T/T.npy')[:100])"
expect_err "row 42 contains NaN" $J score --image-emb $T/nan.npy --text-emb $T/i100.npy --method negclip --out $T/x.npy
$PY -c "import numpy as np; np.save('$T/f64.npy', np.ones((100, 64)))"
expect_err "float32" $J score --image-emb $T/f64.npy --text-emb $T/i100.npy --method clipscore --out $T/x.npy
head -c 300 $T/I.npy > $T/trunc.npy
expect_err "trunc.npy" $J score --image-emb $T/trunc.npy --text-emb $T/i100.npy --method clipscore --out $T/x.npy
expect_err "keys" $J score --image-emb $T/i100.npy --text-emb $T/i100.npy --method clipscore --keys $T/keys.txt --jsonl $T/x.npy --out $T/y.npy
expect_err "exactly one" $J filter --scores $T/neg.npy --out $T/x.npy
expect_err "--method" $J score --image-emb $T/I.npy --text-emb $T/T.npy --out $T/x.npy
exit $fail
