#!/usr/bin/env bash
# test_bench_int8.sh — `jaclip bench` end to end on the small golden model (JSON fields present
# and sane, errors for bad options), and the reduced-precision modes: `jaclip embed --dtype int8`
# features stay close to fp32 (cosine >= 0.99 per image on the small random model), `--dtype
# fp16` (fp16-stored weights, fp32 math) within the parity bar (cosine >= 0.99999), and bad
# --dtype values are refused with a clear message.
set -u
BIN=${JACLIP_BIN:-build/jaclip}
M=tests/golden/model/small
TOK=../shared/tokenizer/rinna-japanese-sp.model
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }

out=$("$BIN" bench --model "$M" --tokenizer "$TOK" --threads 2 --runs 1 --batches 1,2 --json)
check "bench exits 0" "[ $? = 0 ]"
check "bench json has 4 results with positive times" \
  "echo '$out' | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); r=d[\"results\"]; assert len(r)==4 and all(x[\"best_ms\"]>0 and x[\"median_ms\"]>=x[\"best_ms\"] for x in r); assert d[\"peak_gflops\"]>0 and d[\"threads\"]==2'"
out8=$("$BIN" bench --model "$M" --tokenizer "$TOK" --threads 1 --runs 1 --batches 1 --only image --dtype int8 --profile)
check "bench int8 --profile prints int8 GEMM rows" "echo \"\$out8\" | grep -q 'gemm int8 K='"
"$BIN" bench --model "$M" --dtype int4 > /dev/null 2> "$T/err"
check "bench refuses --dtype int4" "[ $? != 0 ] && grep -q 'fp32, fp16 or int8' '$T/err'"
"$BIN" embed --model "$M" --tokenizer "$TOK" --dtype bf16 --text a --out "$T/x.npy" 2> "$T/err"
check "embed refuses --dtype bf16 (names it)" "[ $? != 0 ] && grep -q 'bf16' '$T/err' && [ ! -e '$T/x.npy' ]"

ls ../shared/images/photos/*.jpg | head -4 > "$T/imgs.txt"
"$BIN" embed --model "$M" --tokenizer "$TOK" --images-from "$T/imgs.txt" --out "$T/f32.npy" --quiet --threads 2
"$BIN" embed --model "$M" --tokenizer "$TOK" --images-from "$T/imgs.txt" --out "$T/i8.npy" --quiet --threads 2 --dtype int8
"$BIN" embed --model "$M" --tokenizer "$TOK" --text 犬の写真 猫 --out "$T/t32.npy" --quiet
"$BIN" embed --model "$M" --tokenizer "$TOK" --text 犬の写真 猫 --out "$T/t8.npy" --quiet --dtype int8
"$BIN" embed --model "$M" --tokenizer "$TOK" --images-from "$T/imgs.txt" --out "$T/h16.npy" --quiet --threads 2 --dtype fp16
"$BIN" embed --model "$M" --tokenizer "$TOK" --text 犬の写真 猫 --out "$T/th16.npy" --quiet --dtype fp16
check "fp16-weight features within the parity bar of fp32 (cosine >= 0.99999), not identical" "/usr/bin/python3 - '$T' <<'PY'
import sys, numpy as np
t = sys.argv[1]
for a, b in (('f32', 'h16'), ('t32', 'th16')):
    x, y = np.load(t + '/' + a + '.npy').astype(np.float64), np.load(t + '/' + b + '.npy').astype(np.float64)
    c = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
    print(a, b, 1 - c)
    assert c.min() >= 0.99999, c
    assert np.abs(x - y).max() > 0, 'fp16 gave bit-identical features: weights not rounded?'
PY"
check "int8 features close to fp32 (images and texts), not identical" "/usr/bin/python3 - '$T' <<'PY'
import sys, numpy as np
t = sys.argv[1]
for a, b in (('f32', 'i8'), ('t32', 't8')):
    x, y = np.load(t + '/' + a + '.npy'), np.load(t + '/' + b + '.npy')
    c = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
    print(a, b, c)
    assert c.min() >= 0.99, c
    assert np.abs(x - y).max() > 0, 'int8 gave bit-identical features: not quantized?'
PY"
exit $fail
