#!/usr/bin/env bash
# test_eval_zeroshot.sh — `jaclip eval zeroshot` end to end on the real CIFAR-10 test split
# (Japanese class names and templates) with the engine's small random model (2 layers):
#  * acc1/acc5/mean_per_class_recall for "with templates" and "without" equal what the
#    independent reference tools/ref/eval_metrics.py (torch) computes from the same
#    features (written with --save-features); "both" reports the better acc1;
#  * a second run with other templates takes every image feature from the cache;
#  * bad layouts fail with the file and key named and leave no --out file.
set -euo pipefail
J=${JACLIP_BIN:-build/jaclip}
PY=/usr/bin/python3
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
M=tests/golden/model/small
TOK=../shared/tokenizer/rinna-japanese-sp.model
DS=../shared/datasets/cifar10
fail() { echo "FAIL: $*" >&2; exit 1; }

"$J" eval zeroshot --model $M --tokenizer $TOK --dataset $DS --templates both --limit 300 --threads 2 \
    --cache "$T/cache" --save-features "$T/f" --out "$T/both.json" --quiet > "$T/out.txt"
grep -q "best of the two" "$T/out.txt" || fail "summary lacks the best-of-two line"
grep -q "acc1" "$T/out.txt" || fail "summary lacks acc1"
$PY tools/ref/eval_metrics.py zeroshot "$T/f/images.npy" "$T/f/texts_templates.npy" 37 "$T/f/labels.npy" > "$T/ref_t.json"
$PY tools/ref/eval_metrics.py zeroshot "$T/f/images.npy" "$T/f/texts_none.npy" 1 "$T/f/labels.npy" > "$T/ref_n.json"
$PY - "$T" <<'PY'
import json, sys, numpy as np
t = sys.argv[1]
r = json.load(open(f"{t}/both.json"))
rt, rn = json.load(open(f"{t}/ref_t.json")), json.load(open(f"{t}/ref_n.json"))
assert r["n_images"] == 300 and r["n_classes"] == 10 and r["task"] == "zeroshot_classification", r
lab = np.load(f"{t}/f/labels.npy")
assert lab.shape == (300,) and set(lab.tolist()) <= set(range(10)) and len(set(lab.tolist())) == 10
for mine, ref in ((r["metrics_templates"], rt), (r["metrics_no_templates"], rn)):
    for k in ("acc1", "acc5", "mean_per_class_recall"):
        assert abs(mine[k] - ref[k]) < 1e-6, (k, mine[k], ref[k])
best = r["metrics_templates"] if r["metrics_templates"]["acc1"] >= r["metrics_no_templates"]["acc1"] else r["metrics_no_templates"]
assert r["metrics"] == best, (r["metrics"], best)
assert r["best"] == ("templates" if best is r["metrics_templates"] else "none")
print("zero-shot metrics match the reference:", r["metrics"])
PY

# second run, other templates: image features come from the cache, result equals the "none" half
"$J" eval zeroshot --model $M --tokenizer $TOK --dataset $DS --templates none --limit 300 --threads 2 \
    --cache "$T/cache" --out "$T/none.json" > "$T/out2.txt" 2> "$T/err2.txt"
grep -q "300 of 300 image features came from the cache" "$T/err2.txt" || { cat "$T/err2.txt"; fail "images were embedded again"; }
$PY -c "
import json,sys
a=json.load(open('$T/both.json'))['metrics_no_templates']; b=json.load(open('$T/none.json'))['metrics']
assert a==b,(a,b)"

# bad layouts: clear errors naming file and key, exit 1, no output file
mkdir -p "$T/bad/test"
cp $DS/classnames.txt $DS/zeroshot_classification_templates.txt "$T/bad/"
if "$J" eval zeroshot --model $M --tokenizer $TOK --dataset "$T/bad" --out "$T/bad.json" --no-cache 2> "$T/e1"; then fail "missing nshards accepted"; fi
grep -q "nshards.txt" "$T/e1" || { cat "$T/e1"; fail "error does not name nshards.txt"; }
echo 1 > "$T/bad/test/nshards.txt"
$PY - "$T/bad/test/0.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as tf:
    for name, data in (("s0.jpg", b"\xff\xd8x"), ("s0.cls", b"3"), ("s1.jpg", b"\xff\xd8y")):
        ti = tarfile.TarInfo(name); ti.size = len(data); tf.addfile(ti, io.BytesIO(data))
PY
if "$J" eval zeroshot --model $M --tokenizer $TOK --dataset "$T/bad" --out "$T/bad.json" --no-cache 2> "$T/e2"; then fail "missing .cls accepted"; fi
grep -q "0.tar" "$T/e2" && grep -q "'s1'" "$T/e2" && grep -q ".cls" "$T/e2" || { cat "$T/e2"; fail "error does not name shard and key"; }
rm "$T/bad/classnames.txt"
if "$J" eval zeroshot --model $M --tokenizer $TOK --dataset "$T/bad" --no-cache 2> "$T/e3"; then fail "missing classnames accepted"; fi
grep -q "classnames.txt" "$T/e3" || { cat "$T/e3"; fail "error does not name classnames.txt"; }
[ ! -e "$T/bad.json" ] || fail "an --out file was written for a failed run"
echo "ok"
