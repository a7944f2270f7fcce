#!/usr/bin/env bash
# bench_tokenizer.sh — tokenizer throughput, jaclip vs the C++ sentencepiece library, on the real
# Japanese sentences of debian-reference-ja + manpages-ja (tools/ref/ja_corpus.py).
#   bash bench/bench_tokenizer.sh [BUILD_DIR] [ROUNDS]     (needs libsentencepiece-dev at build time)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
rounds=${2:-5}
[ -x "$build/bench_tokenizer" ] || { echo "no $build/bench_tokenizer: install libsentencepiece-dev and re-run cmake"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 tools/ref/ja_corpus.py sentences "$tmp/ja.txt"
"$build/bench_tokenizer" "${JACLIP_SHARED:-../shared}/tokenizer/rinna-japanese-sp.model" "$tmp/ja.txt" "$rounds"
