#!/usr/bin/env bash
# bench/mining.sh — `jaclip mine` on a large WAT file against `zcat` of the same file, one core.
# Builds the synthetic WAT with bench/make_wat.py unless one is given. Prints CPU seconds
# (user+sys: the machine may be shared, CPU time is what one core spends) and peak RSS.
#   bash bench/mining.sh [FILE.warc.wat.gz] [MiB uncompressed, default 300]
set -euo pipefail
cd "$(dirname "$0")/.."
J=${JACLIP_BIN:-build/jaclip}
F=${1:-/tmp/jaclip-bench.warc.wat.gz}
MB=${2:-300}
if [ ! -s "$F" ]; then
  /usr/bin/python3 tools/ref/make_ja_fixture.py ../shared/commoncrawl/uzushio_perldoc_ja.html /tmp/jaclip-bench-ja
  /usr/bin/python3 bench/make_wat.py "$F" ../shared/commoncrawl /tmp/jaclip-bench-ja/ja.warc.gz --mb "$MB"
fi
t() { /usr/bin/time -f "%U %S %M %e" "$@" 2>&1 >/dev/null | tail -1; }
read -r zu zs zm zw < <(t zcat "$F")
read -r mu ms mm mw < <(t "$J" mine "$F" --out /tmp/jaclip-bench-out.jsonl.gz -q)
raw=$(zcat "$F" | wc -c)
awk -v zu="$zu" -v zs="$zs" -v zm="$zm" -v mu="$mu" -v ms="$ms" -v mm="$mm" -v raw="$raw" -v f="$F" 'BEGIN {
  z = zu + zs; m = mu + ms;
  printf "%s: %.0f MiB uncompressed\n", f, raw / 1048576;
  printf "zcat        %6.2f s CPU  %7.1f MiB/s  peak RSS %6.1f MiB\n", z, raw / 1048576 / z, zm / 1024;
  printf "jaclip mine %6.2f s CPU  %7.1f MiB/s  peak RSS %6.1f MiB\n", m, raw / 1048576 / m, mm / 1024;
  printf "mine speed = %.0f%% of zcat (goal >= 50%%)\n", 100 * z / m }'
rm -f /tmp/jaclip-bench-out.jsonl.gz
