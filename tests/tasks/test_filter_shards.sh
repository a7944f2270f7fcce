#!/usr/bin/env bash
# test_filter_shards.sh — `jaclip filter-shards` on two small WebDataset shards with the small
# random model (tests/golden/model/small): the scores in <key>.json equal `jaclip embed` +
# `jaclip score` run separately, the kept set is the top int(N*F), kept samples keep every
# field byte for byte, bad samples are skipped, and the run resumes after a deleted shard, a
# deleted score file and a kill -9, always ending with the same shards.
set -euo pipefail
J=${JACLIP_BIN:-build/jaclip}
PY=/usr/bin/python3
SHARED=${JACLIP_SHARED:-../shared}
TOK=$SHARED/tokenizer/rinna-japanese-sp.model
MODEL=tests/golden/model/small
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

mkdir -p $T/in
$PY - "$T" <<'PY'
import io, json, sys, tarfile, random
from PIL import Image
t = sys.argv[1]
random.seed(5)
caps = ["犬が走っている", "赤い車", "海の写真", "猫と子供", "山の上の雪", "古い家", "青い空と雲", "夜の東京",
        "花が咲いている", "電車の窓", "料理の写真", "川で泳ぐ魚", "公園のベンチ", "黄色い傘", "本を読む人",
        "白い鳥", "雨の道", "緑の森", "赤いりんご", "橋の上"]
def add(tf, name, data):
    ti = tarfile.TarInfo(name); ti.size = len(data); ti.mtime = 0
    tf.addfile(ti, io.BytesIO(data))
k = 0
for shard, n in (("0.tar", 11), ("1.tar", 10)):
    with tarfile.open(f"{t}/in/{shard}", "w", format=tarfile.USTAR_FORMAT) as tf:
        for i in range(n):
            key = f"s{k:04d}"; k += 1
            im = Image.new("RGB", (random.randint(20, 60), random.randint(20, 60)),
                           tuple(random.randint(0, 255) for _ in range(3)))
            for _ in range(30):
                x, y = random.randrange(im.width), random.randrange(im.height)
                im.putpixel((x, y), tuple(random.randint(0, 255) for _ in range(3)))
            b = io.BytesIO(); fmt = "PNG" if i % 2 else "JPEG"; im.save(b, fmt)
            ext = "png" if fmt == "PNG" else "jpg"
            data = b.getvalue()
            if key == "s0003": data = b"this is not an image"          # undecodable: skipped
            add(tf, f"{key}.{ext}", data)
            if key != "s0015": add(tf, f"{key}.txt", caps[k % len(caps)].encode())  # no caption: skipped
            if i % 3 == 0: add(tf, f"{key}.json", json.dumps({"url": f"http://x/{key}", "score": 99}).encode())
            add(tf, f"{key}.cls", str(i % 4).encode())
PY

run() { $J filter-shards --model $MODEL --tokenizer $TOK --in $T/in --keep-fraction 0.5 --batch 8 --repeats 3 --seed 3 --threads 2 --quiet "$@"; }
run --out $T/out1 > $T/log1 2>$T/err1 || { cat $T/err1; bad "first run failed"; exit 1; }
cat $T/log1
grep -q "19 pairs (2 samples skipped)" $T/log1 && ok "19 pairs, 2 bad samples skipped" || bad "pair count: $(cat $T/log1)"
grep -q "s0003" $T/err1 && grep -q "s0015" $T/err1 && ok "skips are reported" || bad "skips not reported: $(cat $T/err1)"

# independent path: jaclip embed + jaclip score on the same samples
$PY - "$T" <<'PY'
import sys, tarfile
t = sys.argv[1]
imgs, txts, keys = [], [], []
for shard in ("0.tar", "1.tar"):
    tf = tarfile.open(f"{t}/in/{shard}")
    m = {}
    for ti in tf.getmembers():
        key, ext = ti.name.split(".", 1)
        m.setdefault(key, {})[ext] = tf.extractfile(ti).read()
    for key, f in m.items():
        if key in ("s0003", "s0015"): continue
        ext = "png" if "png" in f else "jpg"
        p = f"{t}/{key}.{ext}"; open(p, "wb").write(f[ext])
        imgs.append(p); txts.append(f["txt"].decode()); keys.append(key)
open(f"{t}/imgs.txt", "w").write("\n".join(imgs) + "\n")
open(f"{t}/txts.txt", "w").write("\n".join(txts) + "\n")
open(f"{t}/keys.txt", "w").write("\n".join(keys) + "\n")
PY
tau=$($PY -c "import json; print(json.load(open('$T/out1/.jaclip-filter/params.json'))['temperature'])")
$J embed --model $MODEL --tokenizer $TOK --images-from $T/imgs.txt --out $T/I.npy >/dev/null
$J embed --model $MODEL --tokenizer $TOK --texts-from $T/txts.txt --out $T/Tx.npy >/dev/null
$J score --image-emb $T/I.npy --text-emb $T/Tx.npy --method negclip --batch 8 --repeats 3 --seed 3 \
    --temperature $tau --out $T/s.npy --quiet >/dev/null

check_out() { # dir
$PY - "$T" "$1" <<'PY'
import json, sys, tarfile, numpy as np
t, out = sys.argv[1], sys.argv[2]
s = np.load(f"{t}/s.npy"); keys = open(f"{t}/keys.txt").read().split()
n = len(keys); k = int(n * 0.5)
order = np.argsort(-s, kind="stable")[:k]
want = {keys[i]: float(s[i]) for i in order}
orig = {}
for shard in ("0.tar", "1.tar"):
    for ti in tarfile.open(f"{t}/in/{shard}").getmembers():
        orig[ti.name] = (shard, tarfile.open(f"{t}/in/{shard}").extractfile(ti).read())
got = {}
for shard in ("0.tar", "1.tar"):
    for ti in tarfile.open(f"{out}/{shard}").getmembers():
        data = tarfile.open(f"{out}/{shard}").extractfile(ti).read()
        key, ext = ti.name.split(".", 1)
        if ext == "json":
            j = json.loads(data)
            got[key] = j["score"]
            assert j["method"] == "negclip" and j["key"] == key and -1 <= j["clipscore"] <= 1
            if ti.name in orig:
                assert j["url"] == f"http://x/{key}", j       # the sample's own JSON is kept
        else:
            assert orig[ti.name] == (shard, data), ti.name    # every field unchanged, same shard
assert set(got) == set(want), (sorted(got), sorted(want))
d = max(abs(got[x] - want[x]) for x in want)
assert d < 1e-5, d
for key in want:
    for name, (sh, data) in orig.items():
        if name.startswith(key + ".") and not name.endswith(".json"):
            assert name in [ti.name for ti in tarfile.open(f"{out}/{sh}").getmembers()], name
print(f"{len(got)} kept, max |score - separate embed+score| = {d:.2g}")
PY
}
check_out $T/out1 && ok "kept set, scores, fields" || bad "output shards differ from the separate pipeline"

# resume: nothing to do
run --out $T/out1 > $T/log2
grep -q "0 embedded, 2 from a previous run" $T/log2 && grep -q "0 shards written, 2 already there" $T/log2 \
  && ok "rerun reuses everything" || bad "rerun: $(cat $T/log2)"
# resume after losing a shard and the scores
rm $T/out1/1.tar $T/out1/.jaclip-filter/scores.npy
run --out $T/out1 > $T/log3
grep -q "1 shards written, 1 already there" $T/log3 && check_out $T/out1 >/dev/null \
  && ok "lost shard and scores rebuilt" || bad "resume after deletion: $(cat $T/log3)"
# kill -9 at several moments, then finish: always the same result
for d in 0.1 0.2 0.35; do
  rm -rf $T/out2
  (timeout -s KILL $d $J filter-shards --model $MODEL --tokenizer $TOK --in $T/in --keep-fraction 0.5 --batch 8 \
      --repeats 3 --seed 3 --threads 2 --quiet --out $T/out2 >/dev/null 2>&1 || true) 2>/dev/null
  run --out $T/out2 > $T/log4 2>/dev/null
  check_out $T/out2 >/dev/null && ok "killed after ${d}s, resumed: same shards" || bad "resume after kill at ${d}s"
done
# resuming with other settings is refused
if run --out $T/out1 --seed 4 >/dev/null 2>$T/err5; then bad "other seed accepted"; else
  grep -q "other inputs or settings" $T/err5 && ok "other settings refused: $(cat $T/err5 | head -1)" || bad "message: $(cat $T/err5)"; fi
exit $fail
