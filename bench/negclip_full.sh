#!/usr/bin/env bash
# negclip_full.sh — the issue-8 throughput run: negCLIPLoss over 1,000,000 pairs of 256-d
# features, B = 32768, K = 10, through `jaclip score` with memory-mapped .npy inputs.
# Prints wall time, CPU time, GFLOP/s of the similarity kernel (2*b^2*D per batch, all K
# repetitions; the LSE work is inside the time, not counted as flops), the peak resident set
# (VmHWM, which includes the mapped input pages) and the peak anonymous memory (RssAnon:
# what jaclip itself allocates). Run bench_fma_peak next to it for the peak.
#
#   bench/negclip_full.sh [build/jaclip] [pairs] [threads] [repeats]
set -euo pipefail
J=${1:-build/jaclip}
N=${2:-1000000}
TH=${3:-0}
K=${4:-10}
D=256
W=${BENCH_DIR:-$(mktemp -d)}
if [ ! -e "$W/I_$N.npy" ]; then
  /usr/bin/python3 - "$W" "$N" "$D" <<'PY'
import sys, numpy as np
w, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
for name in ("I", "T"):
    a = np.lib.format.open_memmap(f"{w}/{name}_{n}.npy", mode="w+", dtype=np.float32, shape=(n, d))
    for s in range(0, n, 65536):
        a[s:s + 65536] = rng.standard_normal((min(65536, n - s), d), dtype=np.float32)
    a.flush()
PY
fi
"$J" score --image-emb "$W/I_$N.npy" --text-emb "$W/T_$N.npy" --method negclip --batch 32768 --repeats "$K" \
    --temperature 0.01 --threads "$TH" --quiet --out "$W/scores.npy" > "$W/out.txt" &
pid=$!
anon=0; hwm=0
while kill -0 $pid 2>/dev/null; do
  if [ -r /proc/$pid/status ]; then
    a=$(awk '/RssAnon/{print $2}' /proc/$pid/status 2>/dev/null || echo 0)
    h=$(awk '/VmHWM/{print $2}' /proc/$pid/status 2>/dev/null || echo 0)
    [ -n "$a" ] && [ "$a" -gt "$anon" ] && anon=$a
    [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
    cpu=$(awk '{print ($14+$15)/100}' /proc/$pid/stat 2>/dev/null || echo 0)
  fi
  sleep 1
done
wait $pid
cat "$W/out.txt"
wall=$(sed -n 's/.*threads: \([0-9.]*\) s$/\1/p' "$W/out.txt")
/usr/bin/python3 - "$N" "$D" "$wall" "$cpu" "$anon" "$hwm" "$K" <<'PY'
import sys
n, d, wall, cpu, anon, hwm = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
B, K = 32768, int(sys.argv[7])
nb = -(-n // B)
flops = K * sum(2.0 * ((k + 1) * n // nb - k * n // nb) ** 2 * d for k in range(nb))
print(f"similarity flops {flops:.4g}; wall {wall:.1f} s -> {flops / wall / 1e9:.1f} GFLOP/s; "
      f"CPU {cpu:.1f} s -> {flops / cpu / 1e9:.1f} GFLOP/s per CPU-second")
print(f"peak RssAnon {anon / 1024:.0f} MiB, peak VmHWM (incl. mapped inputs) {hwm / 1024:.0f} MiB")
PY
