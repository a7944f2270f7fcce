#!/usr/bin/env bash
# bench_image.sh — decode + letterbox + normalise throughput, jaclip vs the Pillow reference,
# on the same photos in one run. Both read the files into memory first and time best-of-N per
# file on one thread; jaclip then also runs all repeats on its thread pool.
#   usage: bench/bench_image.sh [REPEATS=5] [THREADS=0 (all cores)] [FILES...]
# Needs build/bench_image (built with the default build) and /usr/bin/python3 with Pillow,
# torch and torchvision (Debian python3-pil, python3-torch, python3-torchvision).
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${1:-5}
THREADS=${2:-0}
shift $(( $# > 2 ? 2 : $# ))
if [ $# -eq 0 ]; then set -- "${JACLIP_SHARED:-../shared}"/images/photos/*; fi
BIN=${JACLIP_BUILD:-build}/bench_image
[ -x "$BIN" ] || { echo "build $BIN first (cmake --build build --target bench_image)"; exit 1; }
echo "# $(date -u +%F) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
py=$(/usr/bin/python3 bench/pillow_bench.py "$REPEATS" "$@")
ours=$("$BIN" "$REPEATS" "$THREADS" "$@")
paste <(echo "$py" | grep -v 'single thread') <(echo "$ours" | grep -v 'thread') | \
  awk '{printf "%-34s pillow %8.2f ms   jaclip %8.2f ms   x%.2f\n", $2, $3, $7, $3 / $7}'
echo "$py" | grep 'single thread'
echo "$ours" | grep 'thread'
p=$(echo "$py" | sed -n 's/.*= \([0-9.]*\) images\/s/\1/p')
o=$(echo "$ours" | grep 'single thread' | sed -n 's/.*= \([0-9.]*\) images\/s/\1/p')
awk -v p="$p" -v o="$o" 'BEGIN { printf "single-thread speedup over Pillow: x%.2f\n", o / p }'
