#!/usr/bin/env bash
# Training smoke test (CI, well under 3 minutes under ASan): a tiny CLYP model
# (tests/train/tiny: 1-block EVA02 32px/patch 8, 1-layer BERT) trained from scratch on 64
# cifar10 pairs with Japanese template captions.
#  1. the loss must fall: the mean of the last 5 steps at least 0.5 below the first 5
#     (it starts near ln(16) = 2.77);
#  2. --resume continues exactly: 12 steps in one go == 6 steps, stop, resume 6 more
#     (identical per-step losses in log.jsonl and identical model.safetensors); --batch 8
#     --accum 2 gives step 1 the loss and gradient norm of --batch 16, and resumes exactly too;
#  3. the checkpoint is a model directory `jaclip embed` loads;
#  4. a NaN in the weights stops training with a message naming step 1;
#  5. captions from key.txt train too, and bad arguments fail with a clear message;
#  6. `jaclip grad` on image files and texts writes every parameter's gradient.
set -euo pipefail
JACLIP_BIN=${JACLIP_BIN:-build/jaclip}
PY=/usr/bin/python3
TOK=../shared/tokenizer/rinna-japanese-sp.model
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$PY tests/train/make_tiny_data.py ../shared/datasets/cifar10 "$tmp/data" 64
common=(--model tests/train/tiny --scratch --tokenizer $TOK --data "$tmp/data" --batch 16 --threads 2
        --lr 3e-3 --warmup 5 --weight-decay 0.01 --seed 7 --log-every 10)

# 1. the loss falls
"$JACLIP_BIN" train "${common[@]}" --steps 60 --out "$tmp/run" --eval-data "$tmp/data" --eval-every 30 | tee "$tmp/out.txt"
$PY - "$tmp/run/log.jsonl" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
loss = [r["loss"] for r in rows if "loss" in r]
assert len(loss) == 60, len(loss)
first, last = sum(loss[:5]) / 5, sum(loss[-5:]) / 5
print("loss: first 5 steps %.3f, last 5 steps %.3f" % (first, last))
assert last < first - 0.5, "the loss did not fall by 0.5"
assert any("zeroshot_top1" in r for r in rows), "no zero-shot evaluation logged"
PYEOF
grep -q "zero-shot top-1" "$tmp/out.txt"

# 2. resume is exact
"$JACLIP_BIN" train "${common[@]}" --steps 12 --out "$tmp/a" > /dev/null
"$JACLIP_BIN" train "${common[@]}" --steps 12 --out "$tmp/b" --stop-after 6 > /dev/null
grep -q '"step": 6' "$tmp/b/trainer_state.json"
"$JACLIP_BIN" train "${common[@]}" --steps 12 --out "$tmp/b" --resume "$tmp/b" > "$tmp/resume.txt"
grep -q "continuing at step 6" "$tmp/resume.txt"
diff <(grep '"loss"' "$tmp/a/log.jsonl") <(grep '"loss"' "$tmp/b/log.jsonl")
cmp "$tmp/a/model.safetensors" "$tmp/b/model.safetensors"
cmp "$tmp/a/optimizer.v.safetensors" "$tmp/b/optimizer.v.safetensors"
echo "resume: identical losses and weights"

# 2b. --accum is one large contrastive batch: step 1 of --batch 8 --accum 2 sees the same 16
#     pairs as step 1 of --batch 16 (the loader's order is per sample), so its loss and gradient
#     norm must match (the old mean of two 8-pair losses was near ln 8, not ln 16); and resume
#     with --accum 2 is exact too: 6 steps in one go == 3, stop, resume 3 more
"$JACLIP_BIN" train "${common[@]}" --batch 8 --accum 2 --steps 6 --out "$tmp/acc" > "$tmp/accum.txt"
grep -q "6 steps of 2 x 8 pairs (contrastive batch 16" "$tmp/accum.txt"
$PY - "$tmp/a/log.jsonl" "$tmp/acc/log.jsonl" <<'PYEOF'
import json, sys
one = json.loads(open(sys.argv[1]).readline()); acc = json.loads(open(sys.argv[2]).readline())
print("step 1: batch 16 loss %.9g |g| %.9g; batch 8 x accum 2 loss %.9g |g| %.9g"
      % (one["loss"], one["grad_norm"], acc["loss"], acc["grad_norm"]))
assert abs(one["loss"] - acc["loss"]) <= 1e-5 * one["loss"], "accum loss differs"
assert abs(one["grad_norm"] - acc["grad_norm"]) <= 1e-5 * one["grad_norm"], "accum gradient norm differs"
PYEOF
"$JACLIP_BIN" train "${common[@]}" --batch 8 --accum 2 --steps 6 --out "$tmp/acc2" --stop-after 3 > /dev/null
grep -q '"accum": 2' "$tmp/acc2/trainer_state.json"
"$JACLIP_BIN" train "${common[@]}" --batch 8 --accum 2 --steps 6 --out "$tmp/acc2" --resume "$tmp/acc2" > /dev/null
diff <(grep '"loss"' "$tmp/acc/log.jsonl") <(grep '"loss"' "$tmp/acc2/log.jsonl")
cmp "$tmp/acc/model.safetensors" "$tmp/acc2/model.safetensors"
cmp "$tmp/acc/optimizer.m.safetensors" "$tmp/acc2/optimizer.m.safetensors"
echo "accum: one contrastive batch of 16; resume with --accum 2 identical"

# 3. the checkpoint is a model directory
"$JACLIP_BIN" embed --model "$tmp/a" --text 猫の写真 犬の写真 --out "$tmp/t.npy" --quiet
test -s "$tmp/t.npy"

# 4. NaN stops training, naming the step
$PY - "$tmp/a" "$tmp/nan" <<'PYEOF'
import os, shutil, sys
sys.path.insert(0, "tools/ref")
import clyp_ref
import numpy as np
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst)
for f in ("config.json", "preprocessor_config.json"):
    shutil.copy(os.path.join(src, f), dst)
W = {k: v.numpy().copy() for k, v in clyp_ref.st_read(os.path.join(src, "model.safetensors")).items()}
W["vision_encoder.neck.linear.weight"][0, 0] = np.nan
clyp_ref.st_write(os.path.join(dst, "model.safetensors"), W)
PYEOF
if "$JACLIP_BIN" train --model "$tmp/nan" --tokenizer $TOK --data "$tmp/data" --batch 16 --steps 3 \
     --out "$tmp/nanrun" 2> "$tmp/nan.err"; then
  echo "training with NaN weights succeeded"; exit 1
fi
cat "$tmp/nan.err"
grep -q "step 1: the loss is NaN" "$tmp/nan.err"

# 5. key.txt captions; errors
$PY tests/train/make_tiny_data.py ../shared/datasets/cifar10 "$tmp/txtdata" 32 --txt
"$JACLIP_BIN" train "${common[@]}" --data "$tmp/txtdata" --steps 4 --out "$tmp/txtrun" > /dev/null
test "$(grep -c '"loss"' "$tmp/txtrun/log.jsonl")" = 4
if "$JACLIP_BIN" train "${common[@]}" --data "$tmp/nowhere" --steps 2 --out "$tmp/x" 2> "$tmp/e1"; then exit 1; fi
grep -q "nowhere" "$tmp/e1"
if "$JACLIP_BIN" train "${common[@]}" --steps 2 2> "$tmp/e2"; then exit 1; fi
grep -q -- "--out DIR" "$tmp/e2"
echo '{"batch": 16, "no_such_option": 1}' > "$tmp/bad.json"
if "$JACLIP_BIN" train --config "$tmp/bad.json" 2> "$tmp/e3"; then exit 1; fi
grep -q 'unknown option "no_such_option"' "$tmp/e3"
cat "$tmp/e1" "$tmp/e2" "$tmp/e3"

# 6. jaclip grad from files
I=../shared/images/photos
"$JACLIP_BIN" grad --model tests/golden/model/small --tokenizer $TOK --image $I/chelsea.png $I/coffee.png \
  --text 猫の写真 コーヒーの写真 --out "$tmp/g.safetensors" > "$tmp/g.txt"
grep -q "^loss [0-9.]* temperature 0.0142999999 pairs 2$" "$tmp/g.txt"
$PY - "$tmp/g.safetensors" <<'PYEOF'
import sys
sys.path.insert(0, "tools/ref")
import clyp_ref
import numpy as np
g = clyp_ref.st_read(sys.argv[1])
w = clyp_ref.st_read("tests/golden/model/small/model.safetensors")
want = {k for k, v in w.items() if v.is_floating_point()}
assert set(g) == want, set(g) ^ want
assert all(g[k].shape == w[k].shape for k in want)
assert all(np.isfinite(g[k].numpy()).all() for k in want)
print("grad: %d tensors" % len(g))
PYEOF
if "$JACLIP_BIN" grad --model tests/golden/model/small --tokenizer $TOK --image $I/chelsea.png \
     --text a b --out "$tmp/g2.safetensors" 2> "$tmp/e4"; then exit 1; fi
grep -q "as many texts as images" "$tmp/e4"
test ! -e "$tmp/g2.safetensors"
echo "ok"
