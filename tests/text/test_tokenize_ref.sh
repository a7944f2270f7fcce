#!/usr/bin/env bash
# test_tokenize_ref.sh — `jaclip tokenize` against the Python reference (tools/ref/clyp_tokenize.py:
# Debian's python3-sentencepiece 0.1.97 + the CLYP wrapper rules), id for id, on
#   - every real Japanese sentence of Debian's debian-reference-ja and manpages-ja (> 100,000;
#     at least 5,000 required), truncated at 77 as the model sees them;
#   - the edge-case list and 3,000 seeded random strings (tools/ref/ja_corpus.py), both truncated
#     at 77 and untruncated (--max-len 100000) so that the whole Viterbi path is compared;
# and checks --model DIR, and that a bad model path is a clear error with a non-zero exit.
set -euo pipefail
: "${JACLIP_BIN:?JACLIP_BIN must point at the jaclip binary}"
SHARED=${JACLIP_SHARED:-../shared}
MODEL=$SHARED/tokenizer/rinna-japanese-sp.model
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

$PY tools/ref/ja_corpus.py sentences "$tmp/ja.txt"
$PY tools/ref/ja_corpus.py edge "$tmp/edge.txt"
n=$(wc -l < "$tmp/ja.txt")
if [ "$n" -lt 5000 ]; then echo "FAIL: only $n sentences (need >= 5000)"; exit 1; fi

compare() { # name file max_len
    $PY tools/ref/clyp_tokenize.py --model "$MODEL" --max-len "$3" --texts-from "$2" > "$tmp/$1.ref"
    "$JACLIP_BIN" tokenize --tokenizer "$MODEL" --max-len "$3" --texts-from "$2" > "$tmp/$1.out"
    local lines mism
    lines=$(wc -l < "$tmp/$1.ref")
    mism=$(paste -d'\t' "$tmp/$1.ref" "$tmp/$1.out" | awk -F'\t' '$1 != $2' | wc -l)
    if [ "$lines" -ne "$(wc -l < "$2")" ] || [ "$(wc -l < "$tmp/$1.out")" -ne "$lines" ] || [ "$mism" -ne 0 ]; then
        echo "FAIL $1: $mism of $lines texts differ; first ones (line: reference | jaclip):"
        paste -d'\t' "$tmp/$1.ref" "$tmp/$1.out" | awk -F'\t' '$1 != $2 {print NR": "$1" | "$2}' | head -5
        fail=1
    else
        echo "ok   $1: $lines texts, identical ids"
    fi
}
compare sentences "$tmp/ja.txt" 77
compare edge "$tmp/edge.txt" 77
compare edge-full "$tmp/edge.txt" 100000

# --model DIR reads DIR/spiece.model and gives the same ids.
mkdir "$tmp/m" && ln -s "$(realpath "$MODEL")" "$tmp/m/spiece.model"
got=$("$JACLIP_BIN" tokenize --model "$tmp/m" 犬の写真 "a photo of a dog")
want=$'[4,9,1651,10478]\n[4,999,9,30679,675,999,6832,275]'
if [ "$got" != "$want" ]; then echo "FAIL --model DIR: $got"; fail=1; else echo "ok   --model DIR"; fi

# A missing or corrupt model: non-zero exit, the file named, nothing on stdout.
head -c 1000 "$MODEL" > "$tmp/trunc.model"
for bad in "$tmp/nonexistent.model" "$tmp/trunc.model"; do
    if "$JACLIP_BIN" tokenize --tokenizer "$bad" 犬 > "$tmp/o" 2> "$tmp/e"; then
        echo "FAIL: $bad accepted"; fail=1
    elif ! grep -q "$bad" "$tmp/e" || [ -s "$tmp/o" ]; then
        echo "FAIL: unclear error for $bad: $(cat "$tmp/e")"; fail=1
    else
        echo "ok   error: $(cat "$tmp/e")"
    fi
done
exit $fail
