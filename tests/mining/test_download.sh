#!/usr/bin/env bash
# test_download.sh — `jaclip download` against a local HTTP server (tests/mining/http_server.py,
# bound to 127.0.0.1 only, started and killed here) serving ../shared/images and every failure
# case: 404/500, a 503 that succeeds on retry, a timeout, truncated bodies (with and without
# Content-Length), an HTML page, a fake JPEG, an oversize body, redirects (ok and looping),
# X-Robots-Tag noai, a GIF, a non-http URL and a broken input row. The shards are checked with
# Python's tarfile/hashlib (independent of our tar code). Then a run is killed with SIGKILL
# mid-way and restarted: finished shards are kept byte for byte, none is lost or duplicated.
set -euo pipefail
J=${JACLIP_BIN:?JACLIP_BIN not set}
PY=/usr/bin/python3
IMG=${JACLIP_SHARED:-../shared}/images
T=$(mktemp -d /tmp/jaclip-dl-XXXXXX)
SRV=""
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

$PY tests/mining/http_server.py "$IMG" "$T/port" &
SRV=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { echo "FAIL: server did not start"; exit 1; }
B="http://127.0.0.1:$(cat "$T/port")"

# ---- 1. every failure case, checked row by row --------------------------------------------
$PY - "$B" >"$T/pairs.jsonl" <<'PYEOF'
import json, sys
B = sys.argv[1]
rows = [("img/photos/china.jpg", "中国の写真", "success"), ("img/formats/hopper.png", "ホッパー", "success"),
        ("img/formats/rgba.webp", "ウェブピー", "success"), ("404", "見つからない", "http 404"),
        ("500", "サーバーエラー", "http 500"), ("flaky/formats/baseline.jpg", "一度失敗する", "success"),
        ("slow", "遅い", "timeout"), ("trunc/photos/flower.jpg", "途中で切れる", "truncated body"),
        ("cut/photos/rocket.jpg", "長さなしで切れる", "truncated or corrupt jpg"), ("html", "ウェブページ", "content-type text/html"),
        ("octet/formats/gray.jpg", "オクテット", "success"), ("fake.jpg", "偽物", "not an image"),
        ("big", "大きすぎる", "larger than the size limit"), ("redirect/photos/nagasaki-boats.jpg", "リダイレクト", "success"),
        ("loop", "無限リダイレクト", "too many redirects"), ("noai/formats/baseline.jpg", "AI禁止", "X-Robots-Tag"),
        ("gif", "ジフ", "unsupported format gif"),
        ("img/broken/png-crashers/badadler.png", "壊れた画像", "cannot decode")]
for u, c, want in rows:
    print(json.dumps({"url": f"{B}/{u}", "caption": c, "page_url": "https://ex.jp/p", "title": "t",
                      "source": "s.warc.gz", "offset": 7, "want": want}, ensure_ascii=False))
print(json.dumps({"url": "ftp://127.0.0.1/x.jpg", "caption": "ftp", "want": "not an http(s) URL"}))
print("this line is not json")
PYEOF
"$J" download "$T/pairs.jsonl" --out "$T/out" --shard-size 8 --parallel 4 --timeout 1.5 --retries 2 --backoff 0.1 \
  --max-size 1000000 -q 2>"$T/dl.err" || { bad "download exit"; cat "$T/dl.err"; }
cat "$T/dl.err"
$PY - "$T/out" "$T/pairs.jsonl" "$IMG" <<'PYEOF' || fail=1
import glob, hashlib, json, os, sys, tarfile
out, pairs, img = sys.argv[1:4]
rows = [l for l in open(pairs, encoding='utf-8')]
bad = 0
def check(c, m):
    global bad
    print(("ok: " if c else "FAIL: ") + m)
    bad |= not c
tars = sorted(glob.glob(f'{out}/*.tar'))
check([os.path.basename(t) for t in tars] == ['00000.tar', '00001.tar', '00002.tar'], f'3 shards of 8 rows: {tars}')
import struct
got = {}
for t in tars:
    with tarfile.open(t) as tf:
        names = tf.getnames()
        for n in names:
            key, ext = n.split('.', 1)
            got.setdefault(key, {})[ext] = tf.extractfile(n).read()
        # members of a sample are adjacent
        keys = [n.split('.')[0] for n in names]
        check(all(keys[i] == keys[i - 1] or keys[i] not in keys[:i] for i in range(1, len(keys))), f'{t}: samples contiguous')
want = {}
for i, l in enumerate(rows):
    try:
        w = json.loads(l)
    except ValueError:
        continue
    key = f'{i // 8:05d}{i % 8:01d}'
    want[key] = w
succ = {k: w for k, w in want.items() if w['want'] == 'success'}
check(set(got) == set(succ), f'successful keys {sorted(got)} == {sorted(succ)}')
for k, w in succ.items():
    s = got.get(k, {})
    ext = [e for e in s if e not in ('txt', 'json')]
    if len(ext) != 1:
        check(False, f'{k}: image member'); continue
    data = s[ext[0]]
    meta = json.loads(s['json'])
    rel = w['url'].split('/', 4)[4]
    src = open(os.path.join(img, rel), 'rb').read()
    check(data == src and hashlib.sha256(src).hexdigest() == meta['sha256'] and meta['size'] == len(src),
          f'{k}: {rel} bytes and sha256 identical to the served file')
    check(s['txt'].decode() == w['caption'] and meta['caption'] == w['caption'] and meta['key'] == k and
          meta['status'] == 'success' and meta['page_url'] == 'https://ex.jp/p', f'{k}: txt/json columns')
    from PIL import Image
    import io
    im = Image.open(io.BytesIO(src))
    check((meta['width'], meta['height'], meta['original_width'], meta['original_height']) == im.size * 2,
          f'{k}: width/height {meta["width"]}x{meta["height"]} = Pillow {im.size}')
stats = [json.load(open(p)) for p in sorted(glob.glob(f'{out}/*_stats.json'))]
check(sum(s['count'] for s in stats) == 20 and sum(s['successes'] for s in stats) == len(succ), 'stats totals')
msgs = {}
for s in stats:
    for m, n in s['error_messages'].items():
        msgs[m] = msgs.get(m, 0) + n
for k, w in want.items():
    if w['want'] != 'success':
        check(any(w['want'] in m for m in msgs), f"{k}: failure '{w['want']}' recorded ({w['url'].split('/', 3)[-1]})")
check(any('not a JSON object' in m for m in msgs), 'broken input row recorded')
sys.exit(bad)
PYEOF
grep -q "retries" "$T/dl.err" && grep -q "failed, timeout: 1" "$T/dl.err" && ok "summary lists failures by reason" || bad "summary"

# rerun: everything finished, nothing downloaded again
"$J" download "$T/pairs.jsonl" --out "$T/out" --shard-size 8 --parallel 4 -q 2>"$T/dl2.err"
grep -q "0 shards written, 3 finished shards skipped" "$T/dl2.err" && ok "rerun skips the 3 finished shards" || bad "rerun: $(cat "$T/dl2.err")"

# rows appended to the input: the short last shard (00002, 4 rows) is redone, the full ones kept
cp "$T/pairs.jsonl" "$T/more.jsonl"
echo "{\"url\": \"$B/img/formats/gray.jpg\", \"caption\": \"追加\"}" >>"$T/more.jsonl"
"$J" download "$T/more.jsonl" --out "$T/out" --shard-size 8 --parallel 4 -q 2>"$T/dl3.err"
grep -q "1 shards written, 2 finished shards skipped" "$T/dl3.err" && \
  $PY -c "import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if s['count']==5 and s['successes']==1 else 1)" "$T/out/00002_stats.json" \
  && ok "appended row: short last shard redone with 5 rows, full shards skipped" || bad "append: $(cat "$T/dl3.err")"

# ---- 1b. --resize: the model's letterbox, stored as JPEG ---------------------------------------
head -3 "$T/pairs.jsonl" >"$T/three.jsonl"
"$J" download "$T/three.jsonl" --out "$T/rs" --resize 64 -q 2>/dev/null || bad "resize exit"
$PY - "$T/rs/00000.tar" "$IMG" <<'PYEOF' || fail=1
import io, json, sys, tarfile
from PIL import Image
tf = tarfile.open(sys.argv[1])
names = tf.getnames()
imgs = [n for n in names if n.endswith('.jpg')]
ok = len(imgs) == 3 and not any(n.endswith(('.png', '.webp')) for n in names)
for n in imgs:
    im = Image.open(io.BytesIO(tf.extractfile(n).read()))
    meta = json.loads(tf.extractfile(n[:-4] + '.json').read())
    src = Image.open(sys.argv[2] + '/' + meta['url'].split('/', 4)[4])
    ok &= im.format == 'JPEG' and im.size == (64, 64) and (meta['width'], meta['height']) == (64, 64)
    ok &= (meta['original_width'], meta['original_height']) == src.size
print(("ok: " if ok else "FAIL: ") + "--resize 64: 3 JPEGs of 64x64 with the original sizes in the json")
sys.exit(0 if ok else 1)
PYEOF

# ---- 2. kill -9 mid-run, restart -----------------------------------------------------------------
$PY - "$B" >"$T/many.jsonl" <<'PYEOF'
import json, os, sys
B = sys.argv[1]
files = ["formats/baseline.jpg", "formats/gray.jpg", "formats/hopper-lossy.webp", "formats/palette.png",
         "formats/qtables16.jpg", "formats/rgba.webp"]
for i in range(72):
    print(json.dumps({"url": f"{B}/delay/{files[i % len(files)]}?n={i}", "caption": f"写真 {i}"}, ensure_ascii=False))
PYEOF
mkdir -p "$T/k"
"$J" download "$T/many.jsonl" --out "$T/k" --shard-size 6 --parallel 2 -q 2>/dev/null &
DL=$!
for _ in $(seq 300); do
  n=$(find "$T/k" -name "*_stats.json" 2>/dev/null | wc -l)
  [ "$n" -ge 3 ] && break
  sleep 0.1
done
kill -9 "$DL" 2>/dev/null || true
wait "$DL" 2>/dev/null || true
before=$(find "$T/k" -name "*_stats.json" | wc -l)
[ "$before" -ge 3 ] && [ "$before" -lt 12 ] && ok "killed with $before of 12 shards finished" || bad "kill point: $before shards finished"
( cd "$T/k" && for s in *_stats.json; do b=${s%_stats.json}; sha256sum "$b.tar" "$s"; done ) >"$T/before.sha"
"$J" download "$T/many.jsonl" --out "$T/k" --shard-size 6 --parallel 4 -q 2>"$T/k.err" || bad "restart exit"
grep -q "$before finished shards skipped" "$T/k.err" && ok "restart skipped the $before finished shards" || bad "restart: $(cat "$T/k.err")"
( cd "$T/k" && sha256sum -c --quiet "$T/before.sha" ) && ok "finished shards untouched by the restart" || bad "finished shards changed"
ls "$T/k" | grep -q '\.tmp\.' && bad "temp files left: $(ls "$T/k")" || ok "no temp files left"
$PY - "$T/k" <<'PYEOF' || fail=1
import glob, json, sys, tarfile
keys = []
for t in sorted(glob.glob(f'{sys.argv[1]}/*.tar')):
    with tarfile.open(t) as tf:
        keys += [n.split('.')[0] for n in tf.getnames() if n.endswith('.json')]
want = [f'{i // 6:05d}{i % 6:01d}' for i in range(72)]
ok = sorted(keys) == want and len(glob.glob(f'{sys.argv[1]}/*_stats.json')) == 12
print(("ok: " if ok else "FAIL: ") + f"after restart: 12 shards, {len(keys)} samples, each of the 72 keys exactly once")
sys.exit(0 if ok else 1)
PYEOF

# ---- 3. bad input ---------------------------------------------------------------------------------
if "$J" download "$T/nope.jsonl" --out "$T/o2" 2>"$T/e.err"; then bad "missing input accepted"; fi
grep -q "nope.jsonl: cannot open" "$T/e.err" && ok "missing input named" || bad "missing input: $(cat "$T/e.err")"
exit $fail
