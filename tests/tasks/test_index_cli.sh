#!/usr/bin/env bash
# test_index_cli.sh — `jaclip index` and `jaclip search` through the CLI:
#  * precomputed features (add-features) + search --vector: the ranking equals numpy's
#    brute force, --json is well-formed, appending a second batch makes its rows findable;
#  * with the small model: index build from image files, add (skipping keys already there,
#    adding new ones from --images-from, skipping an undecodable file with a warning naming it),
#    search --image finds the image itself first with
#    cosine ~1, search --text returns K results ordered by score; an int8 index (from
#    precomputed features) gives the same top-1;
#  * four concurrent appends all land (the append lock);
#  * errors: wrong query size, key/row count mismatch, no index, bad option.
set -euo pipefail
J=${JACLIP_BIN:-build/jaclip}
PY=/usr/bin/python3
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
M=tests/golden/model/small
TOK=../shared/tokenizer/rinna-japanese-sp.model
fail() { echo "FAIL: $*" >&2; exit 1; }

$PY - "$T" <<'PY'
import numpy as np, sys
t = sys.argv[1]
r = np.random.default_rng(1)
a = r.standard_normal((3000, 24)).astype(np.float32); b = r.standard_normal((500, 24)).astype(np.float32)
np.save(f"{t}/a.npy", a); np.save(f"{t}/b.npy", b)
open(f"{t}/a.txt", "w").write("".join(f"a/{i}.jpg\n" for i in range(3000)))
open(f"{t}/b.txt", "w").write("".join(f"b/{i}.jpg\n" for i in range(500)))
np.save(f"{t}/q.npy", (b[123] + 0.1 * r.standard_normal(24)).astype(np.float32))
np.save(f"{t}/q_bad.npy", np.zeros(7, np.float32))
PY
"$J" index add-features --index "$T/ix" --features "$T/a.npy" --keys "$T/a.txt" > /dev/null
"$J" index add-features --index "$T/ix" --features "$T/b.npy" --keys "$T/b.txt" > /dev/null
"$J" index info --index "$T/ix" | grep -q "rows    3500" || fail "info row count"
"$J" search --index "$T/ix" --vector "$T/q.npy" --top 7 --json --threads 2 > "$T/s.json"
$PY - "$T" <<'PY'
import json, numpy as np, sys
t = sys.argv[1]
x = np.concatenate([np.load(f"{t}/a.npy"), np.load(f"{t}/b.npy")]).astype(np.float64)
keys = [l.strip() for l in open(f"{t}/a.txt")] + [l.strip() for l in open(f"{t}/b.txt")]
q = np.load(f"{t}/q.npy").astype(np.float64)
s = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
order = np.argsort(-s, kind="stable")[:7]
r = json.load(open(f"{t}/s.json"))
assert [h["key"] for h in r["results"]] == [keys[i] for i in order], (r["results"], [keys[i] for i in order])
assert all(abs(h["score"] - s[i]) < 1e-5 for h, i in zip(r["results"], order))
assert r["results"][0]["key"] == "b/123.jpg" and r["searched"] == 3500
PY
"$J" search --index "$T/ix" --vector "$T/q.npy" > "$T/plain.txt" 2> /dev/null
[ "$(wc -l < "$T/plain.txt")" = 10 ] && grep -q "b/123.jpg" "$T/plain.txt" || fail "plain output: 10 lines by default"
# concurrent appends (a lock serialises them): no segment is lost
for i in 1 2 3 4; do "$J" index add-features --index "$T/cc" --features "$T/b.npy" --keys "$T/b.txt" > /dev/null & done
wait
"$J" index add-features --index "$T/cc" --features "$T/b.npy" --keys "$T/b.txt" > /dev/null
"$J" index info --index "$T/cc" | grep -q "rows    2500" || { "$J" index info --index "$T/cc"; fail "concurrent appends lost rows"; }
# int8 copy of the same rows: same top-1, 4x smaller rows
"$J" index add-features --index "$T/ix8" --int8 --features "$T/a.npy" --keys "$T/a.txt" > /dev/null
"$J" index add-features --index "$T/ix8" --features "$T/b.npy" --keys "$T/b.txt" > /dev/null
"$J" index info --index "$T/ix8" | grep -q "int8" || fail "int8 dtype"
"$J" search --index "$T/ix8" --vector "$T/q.npy" --top 1 --json | grep -q '"key":"b/123.jpg"' || fail "int8 top-1"
"$J" index add-features --index "$T/ix16" --f16 --features "$T/b.npy" --keys "$T/b.txt" > /dev/null
"$J" index info --index "$T/ix16" | grep -q "float16" || fail "f16 dtype"
"$J" search --index "$T/ix16" --vector "$T/q.npy" --top 1 --json | grep -q '"key":"b/123.jpg"' || fail "f16 top-1"
if "$J" index add-features --index "$T/ixx" --f16 --int8 --features "$T/b.npy" --keys "$T/b.txt" 2> /dev/null; then fail "--f16 --int8 accepted"; fi
if "$J" search --index "$T/ix" --vector "$T/q_bad.npy" 2> "$T/e"; then fail "wrong query size accepted"; fi
grep -q "24 float32" "$T/e" || { cat "$T/e"; fail "query size message"; }
if "$J" index add-features --index "$T/ix" --features "$T/a.npy" --keys "$T/b.txt" 2> "$T/e"; then fail "count mismatch accepted"; fi
grep -q "500 keys" "$T/e" || { cat "$T/e"; fail "count mismatch message"; }
if "$J" search --index "$T/none" --vector "$T/q.npy" 2> "$T/e"; then fail "missing index accepted"; fi
grep -q "index.json" "$T/e" || { cat "$T/e"; fail "missing index message"; }
if "$J" search --index "$T/ix" --bogus 2> /dev/null; then fail "bad option accepted"; fi

# with the model: 12 CIFAR images as files
$PY - "$T" ../shared/datasets/cifar10 <<'PY'
import sys, tarfile, os
t, ds = sys.argv[1], sys.argv[2]
os.makedirs(f"{t}/img")
src = tarfile.open(f"{ds}/test/0.tar")
n = 0
for m in src:
    if m.name.endswith(".jpg"):
        open(f"{t}/img/{m.name}", "wb").write(src.extractfile(m).read()); n += 1
        if n >= 12: break
PY
ls "$T"/img/*.jpg | head -8 > "$T/first.txt"
ls "$T"/img/*.jpg > "$T/all.txt"
echo "not an image" > "$T/broken.jpg"
"$J" index build --model $M --tokenizer $TOK $(cat "$T/first.txt") --out "$T/mx" --threads 2 --quiet > "$T/o1"
grep -q "added 8 images" "$T/o1" || { cat "$T/o1"; fail "build count"; }
{ cat "$T/all.txt"; echo "$T/broken.jpg"; } > "$T/all+broken.txt"
"$J" index add --index "$T/mx" --tokenizer $TOK --images-from "$T/all+broken.txt" --threads 2 --quiet > "$T/o2" 2> "$T/e2"
grep -q "added 4 images" "$T/o2" && grep -q "8 of 13 images are already" "$T/e2" || { cat "$T/o2" "$T/e2"; fail "add did not skip existing keys"; }
grep -q "1 could not be decoded" "$T/o2" && grep -q "broken.jpg" "$T/e2" || { cat "$T/o2" "$T/e2"; fail "undecodable image not reported"; }
target=$(sed -n 10p "$T/all.txt")
"$J" search --index "$T/mx" --tokenizer $TOK --image "$target" --top 3 --json > "$T/si.json"
"$J" search --index "$T/mx" --tokenizer $TOK --text "夕焼けの海" --top 5 --json > "$T/st.json"
$PY - "$T" "$target" <<'PY'
import json, sys
t, target = sys.argv[1], sys.argv[2]
a, s = (json.load(open(f"{t}/{n}.json")) for n in ("si", "st"))
assert a["results"][0]["key"] == target and abs(a["results"][0]["score"] - 1) < 1e-4, a
assert len(s["results"]) == 5 and s["searched"] == 12 and s["query"] == "夕焼けの海"
sc = [h["score"] for h in s["results"]]
assert sc == sorted(sc, reverse=True)
PY
# --shards: every DIR/*.tar, keys SHARD.tar/KEY; the same image found by --image
mkdir -p "$T/shards"
$PY - "$T" <<'PY'
import io, os, sys, tarfile
t = sys.argv[1]
files = sorted(os.listdir(f"{t}/img"))[:6]
for s, part in enumerate((files[:3], files[3:])):
    with tarfile.open(f"{t}/shards/{s:05d}.tar", "w") as tf:
        for f in part:
            data = open(f"{t}/img/{f}", "rb").read()
            ti = tarfile.TarInfo(f.replace(".jpg", ".jpg")); ti.size = len(data); tf.addfile(ti, io.BytesIO(data))
PY
"$J" index build --model $M --tokenizer $TOK --shards "$T/shards" --out "$T/sx" --quiet > "$T/o3"
grep -q "added 6 images" "$T/o3" || { cat "$T/o3"; fail "shard build count"; }
first=$(ls "$T/img" | sort | sed -n 5p)
"$J" search --index "$T/sx" --tokenizer $TOK --image "$T/img/$first" --top 1 --json | grep -q "\"key\":\"00001.tar/${first%.jpg}\"" \
  || fail "shard key search"
if "$J" index build --model $M --tokenizer $TOK "$target" --out "$T/mx" 2> "$T/e"; then fail "build over an existing index"; fi
grep -q "index add" "$T/e" || { cat "$T/e"; fail "existing-index message"; }
echo ok
