#!/usr/bin/env bash
# blas.sh — the GEMM table of bench/README.md: jaclip's matmul_forward (packing W per call)
# and matmul_packed_forward (W packed once, as the models do at load) vs OpenBLAS, BLIS and
# oneDNN (Debian packages libopenblas-dev, libblis-dev, libdnnl-dev) on the model's shapes,
# 1 and 2 threads, libraries interleaved per round so that machine load hits all alike.
# usage: bench/blas.sh [ROUNDS] [RUNS] [SHAPES]     (needs build/bench_blas)
#   SHAPES: plain (default), model or text8 (see bench/bench_blas.c)
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#'; exit 0 ;; esac
ROUNDS=${1:-2} RUNS=${2:-5} SHAPES=${3:-plain}
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $RUNS =~ ^[1-9][0-9]*$ ]] ||
  { echo "blas.sh: ROUNDS and RUNS are positive numbers, got '$ROUNDS' '$RUNS' (--help)" >&2; exit 2; }
case "$SHAPES" in plain|model|text8) ;; *) echo "blas.sh: SHAPES is plain, model or text8, not '$SHAPES'" >&2; exit 2 ;; esac
B=${JACLIP_BUILD:-build}/bench_blas
HAS512=$(grep -c -m1 avx512f /proc/cpuinfo || true)
CT=""; [ "$HAS512" -gt 0 ] && CT=SkylakeX   # OpenBLAS 0.3.21 misdetects AVX-512 Xeons (peers-and-limits 4.2)
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  for t in 1 2; do
    "$B" jaclip "$t" "$RUNS" "$SHAPES"
    "$B" jaclip-packed "$t" "$RUNS" "$SHAPES"
    env ${CT:+OPENBLAS_CORETYPE=$CT} OPENBLAS_NUM_THREADS=$t "$B" openblas "$t" "$RUNS" "$SHAPES"
    BLIS_NUM_THREADS=$t "$B" blis "$t" "$RUNS" "$SHAPES"
    OMP_NUM_THREADS=$t "$B" onednn "$t" "$RUNS" "$SHAPES"
  done
done
