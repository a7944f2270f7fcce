#!/usr/bin/env bash
# compare.sh — jaclip against ONNX Runtime (npm onnxruntime-node 1.30, CPU EP, graph
# optimisations 'all') and Debian PyTorch 1.13 (+ OpenBLAS), in one run, on the same random
# full-size weights, and the int8 mode's accuracy; prints ratios against issue 5's bars.
#
#   bench/compare.sh [--rounds N] [--runs N] [--threads N] [--model DIR] [--skip-torch] [--ort node|python]
#
# What it does (every step logs to $WORK/log):
#   1. random full-size v2 weights (tools/ref/clyp_ref.py gen --variant v2 --seed 7), unless
#      --model DIR is given;
#   2. exports both towers to ONNX with torch.onnx.export (bench/export_onnx.py);
#   3. installs onnxruntime-node with `npm install --ignore-scripts` under bench/node_modules
#      (gitignored; the package ships its CPU binary, the postinstall only fetches CUDA bits);
#      --ort python instead uses the interpreter's own `onnxruntime` package (bench/ort_bench.py,
#      the same engine, same settings) on a machine without npm;
#   4. ROUNDS rounds, each: ORT, jaclip fp32, jaclip int8, jaclip fp16 weights (texts),
#      jaclip fp32 on 1 thread, PyTorch
#      (round 1 only) — image batch 1 and 8, 16-token texts batch 1 and 8, RUNS timed runs
#      per point after a warm-up. The baseline is thus rerun in the same job; every system's
#      number is its best over all rounds (medians printed too);
#      Then (information, not a bar) 96 real zero-shot prompts (ImageNet-ja templates x class
#      names from ../shared/zeroshot, 4-11 tokens): jaclip embeds each text at its own length;
#      ORT gets each batch padded to its longest text, once in prompt order and once sorted
#      by length (which is the best an ORT user can do);
#   5. int8 vs fp32 feature cosine on ../shared/images/photos (and on a trained small model
#      when JACLIP_TRAINED_MODEL names one); fp16 weights vs fp32 on the photos and 8 captions;
#   6. the table with ratios and PASS/FAIL per bar.
# Env: JACLIP_BIN (default build/jaclip), JACLIP_BENCH_DIR (work dir, default /tmp/jaclip-bench),
#      JACLIP_SHARED (default ../shared), JACLIP_TRAINED_MODEL (optional), JACLIP_PY (the Python
#      with torch and numpy, default /usr/bin/python3).
# The processes inherit the caller's CPU affinity: `taskset -c 2,3 bench/compare.sh` measures
# two chosen CPUs of a bigger machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=2 RUNS=3 THREADS=2 MODEL="" SKIP_TORCH=0 ORT=node
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=${2:?--rounds needs a number}; shift 2 ;;
    --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
    --threads) THREADS=${2:?--threads needs a number}; shift 2 ;;
    --model) MODEL=${2:?--model needs a directory}; shift 2 ;;
    --skip-torch) SKIP_TORCH=1; shift ;;
    --ort) ORT=${2:?--ort needs node or python}; shift 2
      case "$ORT" in node|python) ;; *) echo "compare.sh: --ort takes node or python, not '$ORT'" >&2; exit 2 ;; esac ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#'; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
done
BIN=${JACLIP_BIN:-build/jaclip}
WORK=${JACLIP_BENCH_DIR:-/tmp/jaclip-bench}
SHARED=${JACLIP_SHARED:-../shared}
TOK="$SHARED/tokenizer/rinna-japanese-sp.model"
PY=${JACLIP_PY:-/usr/bin/python3}
[ -x "$BIN" ] || { echo "compare.sh: $BIN not built (cmake -B build && make -C build)" >&2; exit 2; }
for v in ROUNDS RUNS THREADS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --${v,,} takes a positive number, not '${!v}'" >&2; exit 2; }
done
mkdir -p "$WORK"
LOG="$WORK/log"
: > "$LOG"
say() { echo "== $*" | tee -a "$LOG" >&2; }
# any step that fails stops the run with its line and the log (set -e alone would be silent)
trap 'echo "compare.sh: the step at line $LINENO failed; see $LOG" >&2' ERR
# record SYS COMMAND...: one line of results.jsonl, {sys, round, data: COMMAND's JSON}; the
# lines go to a .part file that becomes results.jsonl only when every measurement has run
record() {
  local sys=$1 out
  shift
  out=$("$@" 2>> "$LOG") || { echo "compare.sh: $sys (round $r) failed; see $LOG" >&2; exit 1; }
  echo "{\"sys\": \"$sys\", \"round\": $r, \"data\": $out}" >> "$RES.part"
}

if [ -z "$MODEL" ]; then
  MODEL="$WORK/v2"
  if [ ! -f "$MODEL/model.safetensors" ]; then
    say "generating random full-size v2 weights in $MODEL"
    nice $PY tools/ref/clyp_ref.py gen --variant v2 --out "$MODEL" --seed 7 >> "$LOG" 2>&1 ||
      { echo "compare.sh: generating the weights failed; see $LOG" >&2; exit 1; }
  fi
fi
ONNX="$WORK/onnx-$(basename "$MODEL")"
if [ ! -f "$ONNX/text.onnx" ] || [ "$MODEL/model.safetensors" -nt "$ONNX/text.onnx" ]; then
  say "exporting ONNX to $ONNX"
  nice $PY bench/export_onnx.py --model "$MODEL" --out "$ONNX" >> "$LOG" 2>&1 ||
    { echo "compare.sh: the ONNX export failed; see $LOG" >&2; exit 1; }
fi
if [ "$ORT" = python ]; then
  $PY -c 'import onnxruntime' 2>> "$LOG" || { echo "compare.sh: --ort python: $PY has no onnxruntime package" >&2; exit 2; }
  ORT_CMD=("$PY" bench/ort_bench.py)
else
  ORT_CMD=(node bench/ort_bench.js)
fi
if [ "$ORT" = node ] && [ ! -f bench/node_modules/onnxruntime-node/package.json ]; then
  say "npm install --ignore-scripts onnxruntime-node (under bench/)"
  (cd bench && npm install --ignore-scripts --no-save --no-package-lock --prefix . onnxruntime-node >> "$LOG" 2>&1)
fi

HAS512=$(grep -c -m1 avx512f /proc/cpuinfo || true)
# OpenBLAS 0.3.21 misdetects the AVX-512 Xeon test machines as Prescott; SkylakeX is right
# there. On a CPU without AVX-512 (e.g. AMD Zen 3) forcing it would crash: keep autodetect.
if [ "$HAS512" -gt 0 ]; then CORETYPE=SkylakeX; else CORETYPE=""; fi

say "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs for this run (of $(grep -c ^processor /proc/cpuinfo)); SIMD: $(grep -m1 -o -w 'avx2\|avx512f\|avx512bw\|avx512_vnni\|avx_vnni\|amx_int8' /proc/cpuinfo | sort -u | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
RES="$WORK/results.jsonl"
rm -f "$RES"
: > "$RES.part"
# zero-shot prompts: template i mod 37 with class name (37 i) mod 1000, 96 of them
ZS="$SHARED/zeroshot"
awk -F'\t' 'FNR == 1 { next } FILENAME ~ /templates/ { t[nt++] = $2; next } { c[nc++] = $3 }
  END { for (i = 0; i < 96; i++) { s = t[i % nt]; p = index(s, "{}")
          print (p ? substr(s, 1, p - 1) c[(i * 37) % nc] substr(s, p + 2) : s) } }' \
  "$ZS/imagenet-ja-templates.tsv" "$ZS/imagenet1k-ja-classnames.tsv" > "$WORK/prompts.txt"
"$BIN" tokenize --tokenizer "$TOK" --texts-from "$WORK/prompts.txt" > "$WORK/prompts.ids"
awk -F, '{ print NF "\t" $0 }' "$WORK/prompts.ids" | sort -n -s -k1,1 | cut -f2- > "$WORK/prompts-sorted.ids"
J=(--model "$MODEL" --tokenizer "$TOK" --runs "$RUNS" --text-len 16 --batches 1,8 --json)
for r in $(seq 1 "$ROUNDS"); do
  say "round $r/$ROUNDS: ONNX Runtime ($ORT, $THREADS threads)"
  record ort "${ORT_CMD[@]}" "$ONNX" "$THREADS" "$RUNS" 16 1,8 both
  say "round $r/$ROUNDS: jaclip fp32 ($THREADS threads)"
  record jaclip "$BIN" bench "${J[@]}" --threads "$THREADS"
  say "round $r/$ROUNDS: jaclip int8 ($THREADS threads)"
  record jaclip-int8 "$BIN" bench "${J[@]}" --threads "$THREADS" --dtype int8
  say "round $r/$ROUNDS: jaclip fp16 weights ($THREADS threads, texts)"
  record jaclip-fp16 "$BIN" bench "${J[@]}" --threads "$THREADS" --dtype fp16 --only text
  say "round $r/$ROUNDS: zero-shot prompts: ORT in prompt order, ORT sorted by length, jaclip fp32"
  record ort-prompts "${ORT_CMD[@]}" "$ONNX" "$THREADS" "$RUNS" 16 1,8 text "$WORK/prompts.ids"
  record ort-prompts-sorted "${ORT_CMD[@]}" "$ONNX" "$THREADS" "$RUNS" 16 1,8 text "$WORK/prompts-sorted.ids"
  record jaclip-prompts "$BIN" bench "${J[@]}" --threads "$THREADS" --only text --texts-from "$WORK/prompts.txt"
  say "round $r/$ROUNDS: jaclip fp32 (1 thread, image batch 8)"
  record jaclip-1t "$BIN" bench --model "$MODEL" --tokenizer "$TOK" --runs "$RUNS" --batches 8 --only image --json --threads 1
  if [ "$r" = 1 ] && [ "$SKIP_TORCH" = 0 ]; then
    say "round $r/$ROUNDS: PyTorch (torch 1 thread + OpenBLAS $THREADS threads${CORETYPE:+, OPENBLAS_CORETYPE=$CORETYPE})"
    record torch env ${CORETYPE:+OPENBLAS_CORETYPE=$CORETYPE} OPENBLAS_NUM_THREADS="$THREADS" TORCH_THREADS=1 \
      $PY bench/torch_bench.py "$MODEL" "$RUNS" 16 1,8
  fi
done

say "int8 accuracy: features of $SHARED/images/photos, fp32 vs int8"
ls "$SHARED"/images/photos/* > "$WORK/photos.txt"
"$BIN" embed --model "$MODEL" --tokenizer "$TOK" --images-from "$WORK/photos.txt" --out "$WORK/photos-fp32.npy" --quiet --threads "$THREADS"
"$BIN" embed --model "$MODEL" --tokenizer "$TOK" --images-from "$WORK/photos.txt" --out "$WORK/photos-int8.npy" --quiet --threads "$THREADS" --dtype int8
say "fp16-weight accuracy: the same photos and 8 Japanese captions, fp32 vs fp16"
"$BIN" embed --model "$MODEL" --tokenizer "$TOK" --images-from "$WORK/photos.txt" --out "$WORK/photos-fp16.npy" --quiet --threads "$THREADS" --dtype fp16
CAPS=(犬が芝生の上を走っている 赤い車 富士山と湖 猫の写真 駅のホームに電車が止まっている 海辺の夕焼け 白い皿に盛られたカレーライス 桜の木の下で花見をする人たち)
"$BIN" embed --model "$MODEL" --tokenizer "$TOK" --text "${CAPS[@]}" --out "$WORK/texts-fp32.npy" --quiet --threads "$THREADS"
"$BIN" embed --model "$MODEL" --tokenizer "$TOK" --text "${CAPS[@]}" --out "$WORK/texts-fp16.npy" --quiet --threads "$THREADS" --dtype fp16
TRAINED=${JACLIP_TRAINED_MODEL:-}
if [ -n "$TRAINED" ]; then
  say "int8 accuracy on the trained model $TRAINED: photos, and zero-shot top-1 on 500 CIFAR-10 test images"
  "$BIN" embed --model "$TRAINED" --images-from "$WORK/photos.txt" --out "$WORK/trained-fp32.npy" --quiet --threads "$THREADS"
  "$BIN" embed --model "$TRAINED" --images-from "$WORK/photos.txt" --out "$WORK/trained-int8.npy" --quiet --threads "$THREADS" --dtype int8
  C="$SHARED/datasets/cifar10"
  mkdir -p "$WORK/cifar"
  tar xf "$C/test/0.tar" -C "$WORK/cifar" --wildcards 'test00[0-4]??.jpg'
  ls "$WORK"/cifar/*.jpg > "$WORK/cifar.txt"
  sed 's/{c}/{}/g' "$C/zeroshot_classification_templates.txt" > "$WORK/templates.txt"
  for d in fp32 int8; do
    "$BIN" classify --model "$TRAINED" --images-from "$WORK/cifar.txt" --labels-from "$C/classnames.txt" \
      --templates "$WORK/templates.txt" --top 1 --json --threads "$THREADS" --dtype $d > "$WORK/cifar-$d.jsonl"
  done
fi
mv "$RES.part" "$RES"
say "load after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

$PY - "$RES" "$WORK" "$TRAINED" <<'EOF'
import json, sys, statistics
import numpy as np
res, work, trained = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(l) for l in open(res)]
def pts(sys_, tower, batch):
    out = []
    for r in rows:
        if r["sys"] != sys_:
            continue
        d = r["data"]
        if "results" in d:
            for x in d["results"]:
                if x["tower"] == tower and x["batch"] == batch:
                    out.append((x["best_ms"], x["median_ms"]))
        else:
            x = d.get(tower, {}).get(str(batch))
            if x:
                out.append((x["best_ms"], x["median_ms"]))
    return out
def best(sys_, tower, batch):
    p = pts(sys_, tower, batch)
    return (min(b for b, _ in p), statistics.median(m for _, m in p)) if p else (None, None)
print()
print("%-22s %14s %14s %14s %14s %14s %14s" % ("ms per item (best/med)", "ORT", "jaclip fp32", "jaclip fp16w", "jaclip int8", "torch", "jaclip 1 thr"))
for tower, batch in (("image", 1), ("image", 8), ("text", 1), ("text", 8)):
    cells = []
    for s in ("ort", "jaclip", "jaclip-fp16", "jaclip-int8", "torch", "jaclip-1t"):
        b, m = best(s, tower, batch)
        cells.append("%6.1f/%-7.1f" % (b, m) if b else "-")
    print("%-22s %14s %14s %14s %14s %14s %14s" % ("%s%s batch %d" % (tower, " (16 tok)" if tower == "text" else "", batch), *cells))
ok = True
def bar(name, val, limit, le=True, med=None):
    global ok
    good = val is not None and (val <= limit if le else val >= limit)
    ok &= good
    print("  %-58s %8s  %s %.3g  %s%s" % (name, "%.3f" % val if val is not None else "n/a", "<=" if le else ">=", limit,
                                           "PASS" if good else "FAIL", "   (medians: %.3f)" % med if med else ""))
def ratio(a, b):
    return a / b if a and b else None
def rbar(name, s1, s2, tower, batch, limit, le=True):
    b1, m1 = best(s1, tower, batch)
    b2, m2 = best(s2, tower, batch)
    bar(name, ratio(b1, b2), limit, le, ratio(m1, m2))
print("\nbars of issue 5 (ratios of best times, all from this run; ratio of medians in brackets):")
rbar("image fp32 batch 8: jaclip / ORT", "jaclip", "ort", "image", 8, 0.85)
rbar("text 16 tok batch 8: jaclip / ORT", "jaclip", "ort", "text", 8, 0.8)
rbar("text 16 tok batch 1: jaclip / ORT", "jaclip", "ort", "text", 1, 0.8)
rbar("image int8 batch 8: jaclip int8 / ORT fp32", "jaclip-int8", "ort", "image", 8, 0.45)
rbar("text batch 1, fp16 weights (fp32 math) / ORT", "jaclip-fp16", "ort", "text", 1, 0.8)
rbar("text batch 8, fp16 weights (fp32 math) / ORT", "jaclip-fp16", "ort", "text", 8, 0.8)
rbar("text batch 1, int8 / ORT fp32", "jaclip-int8", "ort", "text", 1, 0.8)
rbar("text batch 8, int8 / ORT fp32", "jaclip-int8", "ort", "text", 8, 0.8)
rbar("image batch 8: 1 thread / 2 threads (speed-up)", "jaclip-1t", "jaclip", "image", 8, 1.8, le=False)
loads = [r["data"]["first_feature_s"] for r in rows if r["sys"] == "jaclip"]
bar("load to first image feature, fp32 (s, best of rounds)", min(loads) if loads else None, 1.5)
def cos(a, b):
    a, b = np.load(a), np.load(b)
    c = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return float(c.mean()), float(c.min())
m, mn = cos(work + "/photos-fp32.npy", work + "/photos-int8.npy")
bar("int8 vs fp32 mean cosine, photos, random full-size (min %.4f)" % mn, m, 0.995, le=False)
m, mn = cos(work + "/photos-fp32.npy", work + "/photos-fp16.npy")
bar("fp16w vs fp32 min cosine, photos, random full-size", mn, 0.99999, le=False)
m, mn = cos(work + "/texts-fp32.npy", work + "/texts-fp16.npy")
bar("fp16w vs fp32 min cosine, 8 captions, random full-size", mn, 0.99999, le=False)
if trained:
    m, mn = cos(work + "/trained-fp32.npy", work + "/trained-int8.npy")
    bar("int8 vs fp32 mean cosine, photos, trained model (min %.4f)" % mn, m, 0.995, le=False)
    def first_label(o):
        for k in ("top", "labels", "predictions", "scores"):
            if k in o and o[k]:
                v = o[k][0]
                return v.get("label") if isinstance(v, dict) else v
        return None
    f = [first_label(json.loads(l)) for l in open(work + "/cifar-fp32.jsonl")]
    q = [first_label(json.loads(l)) for l in open(work + "/cifar-int8.jsonl")]
    same = sum(a == b and a is not None for a, b in zip(f, q)) / max(1, len(f))
    bar("trained model: same zero-shot top-1, fp32 vs int8 (%d CIFAR-10 images)" % len(f), same, 0.99, le=False)
else:
    print("  (no trained model given: JACLIP_TRAINED_MODEL unset)")
zp = [r["data"] for r in rows if r["sys"] == "jaclip-prompts"]
if zp:
    print("\nzero-shot prompts (%d ImageNet-ja prompts, mean %.1f tokens; information, not a bar of issue 5):"
          % (zp[0]["texts"], zp[0]["mean_text_len"]))
    print("  %-10s %22s %22s %16s %10s %10s" % ("ms/text", "ORT (prompt order)", "ORT (sorted by len)", "jaclip fp32",
                                                "/ ORT", "/ sorted"))
    for batch in (1, 8):
        o, so_, j = best("ort-prompts", "text", batch), best("ort-prompts-sorted", "text", batch), best("jaclip-prompts", "text", batch)
        if o[0] and so_[0] and j[0]:
            print("  batch %-4d %10.2f/%-11.2f %10.2f/%-11.2f %7.2f/%-8.2f %10.3f %10.3f" % (batch, *o, *so_, *j, j[0] / o[0], j[0] / so_[0]))
peaks = [(r["data"]["peak_gflops_1"], r["data"]["peak_gflops"]) for r in rows if r["sys"] == "jaclip"]
p1, pn = max(p[0] for p in peaks), max(p[1] for p in peaks)
print("\nmeasured fp32 FMA peak (best): 1 thread %.1f, all threads %.1f GFLOP/s" % (p1, pn))
if pn < 1.5 * p1:
    print("NOTE: the FMA probe does not scale with threads here (%.2fx): the machine's CPUs are busy or are SMT\n"
          "      siblings, so thread-scaling and 2-thread ratios are not meaningful in this run." % (pn / p1))
print("compare.sh: %s" % ("all bars PASS" if ok else "some bars FAIL"))
EOF
