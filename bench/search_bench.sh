#!/usr/bin/env bash
# search_bench.sh — the search target of issue 6: 1,000,000 stored 256-d features, one query
# <= 50 ms on 2 threads, peak memory <= 1.2 x the index size; plus int8 (4x smaller) latency
# and its recall@10 against exact float32. Results go into bench/README.md "Search".
#   usage: bench/search_bench.sh [WORKDIR (default /tmp/jaclip-bench-search)] [N (default 1000000)]
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/jaclip-bench-search}
N=${2:-1000000}
cmake --build build --target bench_search jaclip -j 2 > /dev/null
B=build/bench_search
[ -e "$W/f32/index.json" ] || $B gen "$W/f32" "$N" 256
[ -e "$W/i8/index.json" ] || $B gen "$W/i8" "$N" 256 i8
[ -e "$W/f16/index.json" ] || $B gen "$W/f16" "$N" 256 f16
du -sh "$W/f32" "$W/f16" "$W/i8"
$B run "$W/f32" 2 50
$B run "$W/f16" 2 50
$B run "$W/i8" 2 50
$B run "$W/f32" 1 20
$B recall "$W/f32" "$W/i8" 200
$B recall "$W/f32" "$W/f16" 200
$B retrieval 5000 5 2
# the CLI end to end (process start, mapping, search, printing) with its peak RSS
python3 -c "import struct,sys; d=256; sys.stdout.buffer.write(b'\x93NUMPY\x01\x00'+struct.pack('<H',118)+(\"{'descr': '<f4', 'fortran_order': False, 'shape': (256,), }\".ljust(117)+'\n').encode()+struct.pack('<256f',*[((i*37)%11-5)/5 for i in range(d)]))" > "$W/q.npy"
/usr/bin/time -f "jaclip search CLI: %e s wall, peak RSS %M KiB" build/jaclip search --index "$W/f32" --vector "$W/q.npy" --threads 2 --top 5
