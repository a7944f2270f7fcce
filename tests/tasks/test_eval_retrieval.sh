#!/usr/bin/env bash
# test_eval_retrieval.sh — `jaclip eval retrieval` end to end with the engine's small model on
# 40 CIFAR-10 test images with 2-4 distinct Japanese captions each, given both as COCO/STAIR
# caption JSON + image folder and as a CLIP_benchmark WebDataset layout (KEY.jpg + KEY.txt):
#  * R@1/5/10 both ways equal tools/ref/eval_metrics.py (torch.topk counting as in
#    CLIP_benchmark) on the same features, and both layouts give the same numbers;
#  * --image-list keeps a subset (by file name or COCO id);
#  * a caption JSON naming an unknown image id fails, naming the file and the id.
set -euo pipefail
J=${JACLIP_BIN:-build/jaclip}
PY=/usr/bin/python3
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
M=tests/golden/model/small
TOK=../shared/tokenizer/rinna-japanese-sp.model
fail() { echo "FAIL: $*" >&2; exit 1; }

$PY - "$T" ../shared/datasets/cifar10 <<'PY'
import io, json, os, sys, tarfile
t, ds = sys.argv[1], sys.argv[2]
names = open(f"{ds}/classnames.txt", encoding="utf-8").read().split()
os.makedirs(f"{t}/imgs"); os.makedirs(f"{t}/wds/test")
src = tarfile.open(f"{ds}/test/0.tar")
members, labels = {}, {}
for m in src:
    key, ext = m.name.split(".", 1)
    if len(labels) >= 40 and key not in members: break
    data = src.extractfile(m).read()
    if ext == "jpg": members[key] = data
    else: labels[key] = int(data)
keys = sorted(k for k in members if k in labels)[:40]
images, anns = [], []
out = tarfile.open(f"{t}/wds/test/0.tar", "w")
def add(name, data):
    ti = tarfile.TarInfo(name); ti.size = len(data); out.addfile(ti, io.BytesIO(data))
aid = 0
for i, k in enumerate(keys):
    open(f"{t}/imgs/{k}.jpg", "wb").write(members[k])
    images.append({"id": 1000 + i, "file_name": f"{k}.jpg"})
    c = names[labels[k]]
    caps = [f"{c}の写真 {i}", f"{i}番目の{c}", f"小さな{c}の画像です {i}", f"{c} {i}"][: 2 + i % 3]
    for cap in caps:
        anns.append({"id": aid, "image_id": 1000 + i, "caption": cap}); aid += 1
    add(f"{k}.jpg", members[k]); add(f"{k}.txt", "\n".join(caps).encode())
out.close()
open(f"{t}/wds/test/nshards.txt", "w").write("1\n")
json.dump({"images": images, "annotations": anns}, open(f"{t}/caps.json", "w"), ensure_ascii=False)
bad = {"images": images, "annotations": anns + [{"id": 999, "image_id": 4242, "caption": "x"}]}
json.dump(bad, open(f"{t}/bad.json", "w"), ensure_ascii=False)
PY

"$J" eval retrieval --model $M --tokenizer $TOK --images "$T/imgs" --captions "$T/caps.json" --threads 2 \
    --no-cache --save-features "$T/f" --out "$T/coco.json" --quiet > "$T/out.txt"
grep -q "STAIR score" "$T/out.txt" || fail "summary lacks the STAIR score"
"$J" eval retrieval --model $M --tokenizer $TOK --dataset "$T/wds" --threads 2 --no-cache --out "$T/wds.json" --quiet > /dev/null
$PY tools/ref/eval_metrics.py retrieval "$T/f/images.npy" "$T/f/texts.npy" "$T/f/text_image.npy" 1 5 10 > "$T/ref.json"
$PY - "$T" <<'PY'
import json, sys, numpy as np
t = sys.argv[1]
a, b, ref = (json.load(open(f"{t}/{n}.json")) for n in ("coco", "wds", "ref"))
assert a["n_images"] == 40 and a["n_captions"] == sum(2 + i % 3 for i in range(40)), a
ti = np.load(f"{t}/f/text_image.npy")
assert ti.tolist() == sorted(ti.tolist()) and ti.max() == 39
for k, v in ref.items():
    assert abs(a["metrics"][k] - v) < 1e-6, (k, a["metrics"][k], v)
    assert abs(b["metrics"][k] - v) < 1e-6, ("wds", k, b["metrics"][k], v)
m = a["metrics"]
assert abs(m["mean_recall@1"] - 0.5 * (m["image_retrieval_recall@1"] + m["text_retrieval_recall@1"])) < 1e-12
assert m["image_retrieval_recall@10"] < 1.0 or m["image_retrieval_recall@1"] < 1.0
print("retrieval metrics match the reference:", m)
PY
# a subset (Karpathy-style list: paths by basename, and ids)
{ ls "$T/imgs" | sort | head -6 | sed 's|^|val2014/|'; echo 1010; echo 1011; } > "$T/list.txt"
"$J" eval retrieval --model $M --tokenizer $TOK --images "$T/imgs" --captions "$T/caps.json" --image-list "$T/list.txt" \
    --no-cache --out "$T/sub.json" --quiet > /dev/null
$PY -c "import json; r=json.load(open('$T/sub.json')); assert r['n_images']==8, r['n_images']"
if "$J" eval retrieval --model $M --tokenizer $TOK --images "$T/imgs" --captions "$T/bad.json" --no-cache --out "$T/x.json" 2> "$T/e"; then
  fail "unknown image id accepted"; fi
grep -q "bad.json" "$T/e" && grep -q "image_id 4242" "$T/e" || { cat "$T/e"; fail "error does not name file and id"; }
[ ! -e "$T/x.json" ] || fail "--out written on failure"
# a classification dataset given to retrieval: named, with the right command
if "$J" eval retrieval --model $M --tokenizer $TOK --dataset ../shared/datasets/cifar10 --no-cache 2> "$T/e"; then fail "classification set accepted"; fi
grep -q "dataset_type.txt says 'classification'" "$T/e" && grep -q "eval zeroshot" "$T/e" || { cat "$T/e"; fail "dataset type message"; }
echo ok
