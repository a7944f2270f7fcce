#!/usr/bin/env bash
# bench_image.sh — decode + letterbox + normalise, jaclip vs the Pillow reference
# (bench/pillow_bench.py: Pillow 9.4 + torchvision, the transform of tools/ref/pillow_letterbox.py)
# on the same photos in one run. Both read the files into memory first and time each file on
# one thread, best of REPEATS, wall time and thread CPU time. The two programs run ROUNDS times
# in alternation and the best of all rounds is kept, so that load from other processes hits
# both alike. jaclip then also runs the whole set on its thread pool.
#   usage: bench/bench_image.sh [REPEATS=5] [ROUNDS=3] [THREADS=0 (all cores)] [FILES...]
# Needs build/bench_image (built by the default build) and /usr/bin/python3 with Pillow,
# torch and torchvision (Debian python3-pil, python3-torch, python3-torchvision).
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${1:-5}
ROUNDS=${2:-3}
THREADS=${3:-0}
shift $(( $# > 3 ? 3 : $# ))
if [ $# -eq 0 ]; then set -- "${JACLIP_SHARED:-../shared}"/images/photos/*; fi
BIN=${JACLIP_BUILD:-build}/bench_image
[ -x "$BIN" ] || { echo "build $BIN first (cmake --build build --target bench_image)"; exit 1; }
echo "# $(date -u '+%F %H:%M') $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
T=$(mktemp)
trap 'rm -f "$T"' EXIT
for r in $(seq "$ROUNDS"); do
  /usr/bin/python3 bench/pillow_bench.py "$REPEATS" "$@" >> "$T"
  "$BIN" "$REPEATS" "$THREADS" "$@" >> "$T"
done
awk '
  $1 == "pillow" || $1 == "jaclip" {
    if ($3 == "thread:" || $3 == "threads:" || $2 == "single") { if ($1 == "jaclip" && $3 == "threads:") pool = $0; next }
    k = $1 SUBSEP $2; files[$2] = 1
    if (!(k in wall) || $3 < wall[k]) wall[k] = $3
    if (!(k in cpu) || $5 < cpu[k]) cpu[k] = $5
  }
  END {
    printf "%-30s %22s %22s %14s\n", "file", "Pillow ms (wall/cpu)", "jaclip ms (wall/cpu)", "speedup (cpu)"
    n = 0
    for (f in files) {
      pw = wall["pillow" SUBSEP f]; pc = cpu["pillow" SUBSEP f]; jw = wall["jaclip" SUBSEP f]; jc = cpu["jaclip" SUBSEP f]
      printf "%-30s %10.2f /%9.2f %10.2f /%9.2f %8.2fx\n", f, pw, pc, jw, jc, pc / jc
      PW += pw; PC += pc; JW += jw; JC += jc; n++
    }
    printf "%-30s %10.2f /%9.2f %10.2f /%9.2f %8.2fx\n", "TOTAL", PW, PC, JW, JC, PC / JC
    printf "single thread: Pillow %.1f images/s, jaclip %.1f images/s (wall); %.1f vs %.1f (cpu)\n", n * 1000 / PW, n * 1000 / JW, n * 1000 / PC, n * 1000 / JC
    print pool
  }' "$T"
