#!/usr/bin/env bash
# test_mine.sh — `jaclip mine` end to end:
#  1. every file in ../shared/commoncrawl is read to the end (damaged ones reported, the
#     records after the damage kept);
#  2. --from-html on the real crawl resiliparse_warcfile.warc.gz yields exactly the hand-checked
#     pairs of tests/mining/resiliparse_pairs.tsv, and none of its Chinese alts is Japanese;
#  3. the Japanese fixture (SYNTHETIC wrapping of the real page uzushio_perldoc_ja.html, built
#     at test time by tools/ref/make_ja_fixture.py) yields the expected Japanese pairs through
#     the WAT route and the HTML route, in UTF-8, Shift_JIS and EUC-JP;
#  4. the real whirlwind WAT (no Links) is read without pairs and with the --from-html hint;
#  5. the dedup set persists across runs; bad input fails clearly with no output file.
set -euo pipefail
J=${JACLIP_BIN:?JACLIP_BIN not set}
PY=/usr/bin/python3
CC=${JACLIP_SHARED:-../shared}/commoncrawl
T=$(mktemp -d /tmp/jaclip-mine-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

# 1. all shared files, one run
"$J" mine "$CC"/*.warc* --from-html --lang any --out "$T/all.jsonl.gz" 2>"$T/all.err" || bad "mine on all files exited $?"
grep -q "14 files, 207 records" "$T/all.err" && ok "14 files, 207 records (zcat | grep -c '^WARC/1' per file)" \
  || { bad "record count"; cat "$T/all.err"; }
grep -Eq "records \(([1-9][0-9]*) damaged" "$T/all.err" && ok "damage reported" || bad "no damage reported"
grep -q "resiliparse_clipped.warc.gz" "$T/all.err" && grep -q "warcio_example-trunc.warc" "$T/all.err" \
  && ok "warnings name the damaged files" || bad "warnings do not name the files"
for f in "$CC"/*.warc*; do
  b=$(basename "$f")
  "$J" mine "$f" --from-html --lang any -q --out "$T/one.jsonl" 2>"$T/one.err" || bad "$b: exit $?"
done
# threads: the same bytes whatever the number of threads
"$J" mine "$CC"/*.warc* --from-html --lang any --threads 1 -q --out "$T/t1.jsonl" 2>/dev/null
"$J" mine "$CC"/*.warc* --from-html --lang any --threads 3 -q --out "$T/t3.jsonl" 2>/dev/null
cmp -s "$T/t1.jsonl" "$T/t3.jsonl" && [ -s "$T/t1.jsonl" ] && ok "--threads 3 output identical to --threads 1" || bad "threads change the output"
# the clipped record still gives the images before the clip
"$J" mine "$CC/resiliparse_clipped.warc.gz" --from-html --lang any --out "$T/clip.jsonl" 2>"$T/clip.err"
n=$(wc -l <"$T/clip.jsonl"); [ "$n" -gt 0 ] && ok "clipped record: $n pairs before the clip" || bad "clipped: no pairs"

# 2. resiliparse --from-html: exact pairs, Chinese not Japanese
"$J" mine "$CC/resiliparse_warcfile.warc.gz" --from-html --lang any --dedup-key url+caption \
  --out "$T/r.jsonl" 2>"$T/r.err"
$PY - "$T/r.jsonl" tests/mining/resiliparse_pairs.tsv <<'PYEOF' || fail=1
import json, sys
got = [(str(j['offset']), j['url'], j['caption']) for j in map(json.loads, open(sys.argv[1]))]
exp, seen = [], set()
for l in open(sys.argv[2]):
    if l.startswith('#'): continue
    off, url, cap = l.rstrip('\n').split('\t')
    if (url, cap) in seen: continue   # --dedup-key url+caption keeps the first occurrence
    seen.add((url, cap)); exp.append((off, url, cap))
if got != exp:
    print("FAIL: resiliparse pairs differ"); [print("  got", g) for g in got if g not in exp]; [print("  missing", e) for e in exp if e not in got]
    sys.exit(1)
print(f"ok: resiliparse --from-html: {len(got)} pairs equal the hand-checked list")
PYEOF
"$J" mine "$CC/resiliparse_warcfile.warc.gz" --from-html --lang any --allow-empty-alt --dedup-key url+caption \
  --out "$T/rall.jsonl" 2>/dev/null
$PY - "$T/rall.jsonl" tests/golden/mining/resiliparse_imgs.tsv <<'PYEOF' || fail=1
import json, sys
got = [(str(j['offset']), j['url'], j['caption']) for j in map(json.loads, open(sys.argv[1]))]
exp, seen = [], set()
for l in open(sys.argv[2]):
    if l.startswith('#'): continue
    off, page, url, alt = l.rstrip('\n').split('\t')
    if url == '-': continue                          # not http(s): dropped by both
    alt = '' if alt == '\\N' else ' '.join(alt.replace('\x97', ' ').split())  # C1 control -> space
    if (url, alt) in seen: continue
    seen.add((url, alt)); exp.append((off, url, alt))
ok = got == exp
print(("ok: " if ok else "FAIL: ") + f"every <img> (with or without alt): {len(got)} unique (url, alt) equal Python html.parser + urljoin")
if not ok:
    [print("  extra", g) for g in got if g not in exp]; [print("  missing", e) for e in exp if e not in got]
sys.exit(0 if ok else 1)
PYEOF
grep -q "153 images" "$T/r.err" && ok "153 <img> tags seen (Python html.parser counts 153)" || bad "img count: $(cat "$T/r.err")"
"$J" mine "$CC/resiliparse_warcfile.warc.gz" --from-html --out "$T/rja.jsonl.gz" 2>"$T/rja.err"
grep -q "32 pairs, 0 Japanese" "$T/rja.err" && [ "$(zcat "$T/rja.jsonl.gz" | wc -l)" = 0 ] \
  && ok "no Chinese alt (微博, 首页, 中山英才网 ...) taken for Japanese" || bad "Chinese taken for Japanese: $(cat "$T/rja.err")"

# 3. Japanese fixture (synthetic wrapping of a real Japanese page)
$PY tools/ref/make_ja_fixture.py "$CC/uzushio_perldoc_ja.html" "$T/ja"
for v in ja ja_sjis ja_eucjp; do
  "$J" mine "$T/ja/$v.warc.gz" --from-html --out "$T/$v.html.jsonl.gz" -q 2>/dev/null || bad "$v: exit"
done
"$J" mine "$T/ja/ja.warc.wat.gz" --out "$T/ja.wat.jsonl.gz" 2>"$T/wat.err" || bad "wat: exit"
"$J" mine "$T/ja/ja.warc.wat.gz" --lang any --out "$T/ja.wat.any.jsonl" -q 2>/dev/null
$PY - "$T" <<'PYEOF' || fail=1
import gzip, json, sys
T = sys.argv[1]
def rows(p):
    op = gzip.open if p.endswith('.gz') else open
    return [json.loads(l) for l in op(p, 'rt', encoding='utf-8')]
def exp(p, ja_only=True):
    return [(u, c) for u, c, j in (l.rstrip('\n').split('\t') for l in open(p)) if j == '1' or not ja_only]
bad = 0
e_html, e_wat = exp(f'{T}/ja/expected_html.tsv'), exp(f'{T}/ja/expected_wat.tsv')
for v in ['ja', 'ja_sjis', 'ja_eucjp']:
    r = rows(f'{T}/{v}.html.jsonl.gz')
    got = [(x['url'], x['caption']) for x in r]
    if got != e_html:
        bad = 1; print(f"FAIL: {v} html route:\n  got {got}\n  exp {e_html}")
    elif any(x['page_url'] != 'https://perldoc.jp/docs/perl/5.10.1/perlfaq4.pod' or not x['title'].startswith('perlfaq4 - データ操作') for x in r):
        bad = 1; print(f"FAIL: {v}: page_url/title columns")
    else:
        print(f"ok: {v}.warc.gz --from-html: {len(got)} Japanese pairs as expected (incl. 富士山, lazy data-src, srcset, <base>)")
got = [(x['url'], x['caption']) for x in rows(f'{T}/ja.wat.jsonl.gz')]
if got != e_wat:
    bad = 1; print(f"FAIL: WAT route:\n  got {got}\n  exp {e_wat}")
else:
    print(f"ok: ja.warc.wat.gz (WAT Links route): {len(got)} Japanese pairs as expected")
r = rows(f'{T}/ja.wat.any.jsonl')
got = [(x['url'], x['caption']) for x in r]
if got != exp(f'{T}/ja/expected_wat.tsv', False):
    bad = 1; print(f"FAIL: WAT --lang any: {got}")
elif set(r[0]) != {'url', 'caption', 'page_url', 'title', 'source', 'offset'} or r[0]['source'] != 'ja.warc.wat.gz':
    bad = 1; print(f"FAIL: columns {sorted(r[0])}")
else:
    print("ok: --lang any keeps 首页 and 'Perl logo'; img2dataset columns present")
sys.exit(bad)
PYEOF

# 4. the real whirlwind WAT: read whole, no Links, hint for WARC input
"$J" mine "$CC/whirlwind.warc.wat.gz" --out "$T/ww.jsonl" 2>"$T/ww.err" || bad "whirlwind wat exit"
grep -q "1 files, 2 records (0 damaged" "$T/ww.err" && grep -q "0 written" "$T/ww.err" && ok "whirlwind WAT: 2 records, no pairs" \
  || bad "whirlwind WAT: $(cat "$T/ww.err")"
"$J" mine "$CC/whirlwind.warc.gz" --out "$T/ww2.jsonl" 2>"$T/ww2.err"
grep -q "use --from-html" "$T/ww2.err" && ok "hint for a WARC mined without --from-html" || bad "no hint"
"$J" mine "$CC/whirlwind.warc.gz" --from-html --lang any --out "$T/ww3.jsonl" 2>"$T/ww3.err"
grep -q '"url":"https://upload.wikimedia.org/' "$T/ww3.jsonl" && ok "whirlwind WARC --from-html: wikimedia images" \
  || bad "whirlwind html: $(cat "$T/ww3.err")"

# 5. dedup across runs and files
"$J" mine "$T/ja/ja.warc.wat.gz" --dedup-db "$T/seen.db" --out "$T/d1.jsonl" -q 2>"$T/d1.err"
"$J" mine "$T/ja/ja.warc.wat.gz" --dedup-db "$T/seen.db" --out "$T/d2.jsonl" -q 2>"$T/d2.err"
"$J" mine "$T/ja/ja.warc.gz" --from-html --dedup-db "$T/seen.db" --out "$T/d3.jsonl" -q 2>"$T/d3.err"
n1=$(wc -l <"$T/d1.jsonl"); n2=$(wc -l <"$T/d2.jsonl"); n3=$(wc -l <"$T/d3.jsonl")
[ "$n1" = 15 ] && [ "$n2" = 0 ] && [ "$n3" = 2 ] && grep -q "15 duplicates" "$T/d2.err" \
  && ok "dedup db: run 1 $n1, same WAT again $n2, the WARC then adds only the $n3 HTML-only images" \
  || bad "dedup: $n1 $n2 $n3"

# bad input: clear error, no output
if "$J" mine "$T/missing.warc.gz" --out "$T/x.jsonl" 2>"$T/x.err"; then bad "missing file accepted"; fi
grep -q "missing.warc.gz: cannot open" "$T/x.err" && [ ! -e "$T/x.jsonl" ] && ok "missing input named, no output" || bad "missing: $(cat "$T/x.err")"
echo "garbage" >"$T/bogus.db"
if "$J" mine "$T/ja/ja.warc.wat.gz" --dedup-db "$T/bogus.db" --out "$T/y.jsonl" 2>"$T/y.err"; then bad "bogus db accepted"; fi
grep -q "bogus.db: not a jaclip dedup set" "$T/y.err" && [ ! -e "$T/y.jsonl" ] && ok "bad dedup db named" || bad "bogus db: $(cat "$T/y.err")"
if "$J" mine "$T/ja/ja.warc.wat.gz" --lang fr --out "$T/z.jsonl" 2>/dev/null; then bad "--lang fr accepted"; fi
ls "$T"/*.tmp.* >/dev/null 2>&1 && bad "temp files left behind" || ok "no temp files left"
exit $fail
