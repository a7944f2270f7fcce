#!/usr/bin/env bash
# cpu_check.sh — checks and times a built jaclip on another x86-64 machine, typically one
# with AVX-512 and VNNI (the development machine has only AVX2, so the AVX-512 kernels are
# verified only where such a CPU is at hand):
#   1. the kernel tests at every dispatch level this CPU offers (portable, avx2, avx512,
#      avx512vnni: tests/kernels/test_gemm and test_attention_cls rerun themselves per level
#      and fail if a level the CPU has fails its self-check), test_gemm_init (the dispatch
#      asked for from 8 threads at once), and the model goldens (features against the PyTorch reference) at the CPU's best level;
#   2. with --sweep: the fp32 GEMM blocking (JACLIP_GEMM_BLOCK=KC,MC,NB,MR, see gemm.c) over a
#      set of candidates on the engine's products (bench_blas jaclip-packed ... model, two
#      CPUs); the fastest on the image-tower products is kept for the steps below, after the
#      kernel tests pass with it too;
#   3. `jaclip bench --profile`, fp32 and int8, image batch 8, on two CPUs;
#   4. bench/compare.sh on the same two CPUs (the remaining arguments go to it).
#
#   bench/cpu_check.sh [--build DIR] [--cpus A,B] [--sweep] [--skip-profile] [-- compare.sh arguments]
#
# --cpus: the two CPUs to pin to (default: CPU 2 and the first CPU that is on another core
# of the same socket, from /sys/.../topology, so the two threads do not share one core).
# Env as compare.sh (JACLIP_BENCH_DIR, JACLIP_SHARED, JACLIP_PY); the full-size model is
# generated there by compare.sh unless it exists.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=build CPUS="" SWEEP=0 PROFILE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=${2:?--build needs a directory}; shift 2 ;;
    --cpus) CPUS=${2:?--cpus needs two CPUs, A,B}; shift 2 ;;
    --sweep) SWEEP=1; shift ;;
    --skip-profile) PROFILE=0; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | grep '^#'; exit 0 ;;
    *) echo "cpu_check.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
done
WORK=${JACLIP_BENCH_DIR:-/tmp/jaclip-bench}
SHARED=${JACLIP_SHARED:-../shared}
mkdir -p "$WORK"
say() { echo "== $*" >&2; }
fail=0

if [ -z "$CPUS" ]; then
  T=/sys/devices/system/cpu
  a=2; [ -d $T/cpu$a ] || a=0
  pa=$(cat $T/cpu$a/topology/physical_package_id 2>/dev/null || echo 0)
  ca=$(cat $T/cpu$a/topology/core_id 2>/dev/null || echo $a)
  b=""
  for d in $T/cpu[0-9]*; do
    c=${d##*cpu}
    [ "$c" = "$a" ] || [ "$c" = 0 ] && continue
    if [ "$(cat $d/topology/physical_package_id 2>/dev/null || echo 0)" = "$pa" ] &&
       [ "$(cat $d/topology/core_id 2>/dev/null || echo $c)" != "$ca" ]; then b=$c; break; fi
  done
  CPUS="$a,${b:-$((a + 1))}"
fi
say "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(grep -c ^processor /proc/cpuinfo) CPUs; pinned runs on $CPUS"
say "SIMD: $(grep -m1 -o -w 'avx2\|fma\|f16c\|avx512f\|avx512bw\|avx512_vnni\|avx512_bf16\|avx_vnni\|amx_int8\|amx_bf16' /proc/cpuinfo | sort -u | xargs)"

say "1. kernel tests at every dispatch level"
for t in kernels_test_gemm kernels_test_gemm_init kernels_test_attention kernels_test_attention_cls model_test_golden model_test_clslast; do
  if [ ! -x "$BUILD/$t" ]; then say "  $t: not built in $BUILD"; fail=1; continue; fi
  out=$(JACLIP_SHARED=$SHARED "$BUILD/$t" 2>&1); rc=$?
  echo "$out" | grep -E 'testing level|NOTE|FAIL|warning|passed' | sed "s/^/  $t: /" >&2
  [ $rc = 0 ] || { say "  $t FAILED (exit $rc)"; fail=1; }
done

if [ $SWEEP = 1 ]; then
  say "2. GEMM blocking sweep: ms per product set (image batch 8 | texts batch 8 | text batch 1), CPUs $CPUS"
  best="" bestms=""
  for cfg in 768,96,96,6 768,96,96,12 512,96,96,12 384,96,96,6 384,96,96,12 384,192,96,12 384,144,64,12 \
             256,96,96,12 256,192,96,12 256,96,192,12 256,48,96,12 192,96,96,12 192,192,128,12 128,96,96,12; do
    out=$(JACLIP_GEMM_BLOCK=$cfg taskset -c "$CPUS" "$BUILD/bench_blas" jaclip-packed 2 3 model 2>&1) || { say "  $cfg: bench_blas failed"; fail=1; continue; }
    read -r img txt t1 <<< "$(echo "$out" | awk '$5==1576{a+=$10} $5==128{b+=$10} $5==16{c+=$10} END{printf "%.2f %.2f %.2f", a, b, c}')"
    say "  $cfg: $img | $txt | $t1"
    if [ -z "$best" ] || awk "BEGIN{exit !($img < $bestms)}"; then best=$cfg bestms=$img; fi
  done
  if [ -z "$best" ]; then
    say "  no blocking could be measured; the steps below use the built-in one"
  else
    export JACLIP_GEMM_BLOCK=$best
    say "  fastest on the image products: JACLIP_GEMM_BLOCK=$best ($bestms ms); kernel tests with it:"
    for t in kernels_test_gemm model_test_golden; do
      out=$(JACLIP_SHARED=$SHARED "$BUILD/$t" 2>&1); rc=$?
      echo "$out" | grep -E 'testing level|NOTE|FAIL|warning|passed' | tail -3 | sed "s/^/  $t: /" >&2
      [ $rc = 0 ] || { say "  $t FAILED with JACLIP_GEMM_BLOCK=$best (exit $rc)"; fail=1; }
    done
  fi
fi

TOK="$SHARED/tokenizer/rinna-japanese-sp.model"
MODEL="$WORK/v2"
if [ ! -f "$MODEL/model.safetensors" ]; then
  say "generating random full-size v2 weights in $MODEL"
  ${JACLIP_PY:-/usr/bin/python3} tools/ref/clyp_ref.py gen --variant v2 --out "$MODEL" --seed 7 >&2 || exit 1
fi
say "3. jaclip bench --profile, image batch 8, CPUs $CPUS${JACLIP_GEMM_BLOCK:+, JACLIP_GEMM_BLOCK=$JACLIP_GEMM_BLOCK}"
for d in fp32 int8; do
  [ $PROFILE = 1 ] || break
  taskset -c "$CPUS" "$BUILD/jaclip" bench --model "$MODEL" --tokenizer "$TOK" --only image --batches 8 --runs 3 \
    --threads 2 --dtype $d --profile >&2 || fail=1
done
say "4. bench/compare.sh on CPUs $CPUS${JACLIP_GEMM_BLOCK:+, JACLIP_GEMM_BLOCK=$JACLIP_GEMM_BLOCK}"
JACLIP_BIN="$BUILD/jaclip" JACLIP_SHARED=$SHARED taskset -c "$CPUS" bench/compare.sh --model "$MODEL" "$@" || fail=1
say "cpu_check.sh: $([ $fail = 0 ] && echo 'all steps passed' || echo 'some steps FAILED')"
exit $fail
