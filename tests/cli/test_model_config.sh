#!/usr/bin/env bash
# test_model_config.sh — model-directory problems seen from the CLI: an unknown config.json key
# is refused naming the key (exit 1, no output file) unless --allow-unknown-config, which warns;
# a missing config.json or preprocessor_config.json is named; `jaclip --help` lists embed and
# classify. Uses the small golden model and the shared tokenizer.
set -u
BIN=${JACLIP_BIN:?run through ctest}
SHARED=${JACLIP_SHARED:-../shared}
TOK="$SHARED/tokenizer/rinna-japanese-sp.model"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
check() { # description, condition...
  local d=$1; shift
  if "$@"; then echo "ok   $d"; else echo "FAIL $d"; fails=$((fails + 1)); fi
}

cp -r tests/golden/model/small "$T/m"
sed -i 's/"learn_temperature": true,/"learn_temperature": true,\n  "mystery_switch": 3,/' "$T/m/config.json"
grep -q mystery_switch "$T/m/config.json" || { echo "FAIL could not edit config"; exit 1; }

"$BIN" embed --model "$T/m" --tokenizer "$TOK" --text 犬 --out "$T/a.npy" 2>"$T/err"
rc=$?
check "unknown key refused (exit $rc)" test $rc = 1
check "message names the key and file" grep -q 'config.json: unknown key "mystery_switch"' "$T/err"
check "no output file" test ! -e "$T/a.npy"

"$BIN" embed --model "$T/m" --tokenizer "$TOK" --text 犬 --out "$T/a.npy" --allow-unknown-config --quiet 2>"$T/err"
rc=$?
check "--allow-unknown-config loads (exit $rc)" test $rc = 0
check "and warns" grep -q 'ignoring unknown key "mystery_switch"' "$T/err"
check "output written" test -s "$T/a.npy"

rm "$T/m/preprocessor_config.json"
"$BIN" classify --model "$T/m" --tokenizer "$TOK" x.jpg --labels 犬 --allow-unknown-config 2>"$T/err"
rc=$?
check "missing preprocessor_config.json (exit $rc)" test $rc = 1
check "names preprocessor_config.json" grep -q 'preprocessor_config.json' "$T/err"
rm "$T/m/config.json"
"$BIN" embed --model "$T/m" --tokenizer "$TOK" --text 犬 --out "$T/b.npy" 2>"$T/err"
rc=$?
check "missing config.json (exit $rc)" test $rc = 1
check "names config.json" grep -q 'm/config.json' "$T/err"

"$BIN" --help >"$T/help"
check "jaclip --help lists embed" grep -q '^  embed ' "$T/help"
check "jaclip --help lists classify" grep -q '^  classify ' "$T/help"
"$BIN" embed --help | grep -q -- '--images-from'
check "embed --help documents --images-from" test $? = 0

echo "$fails failed"
exit $((fails > 0))
