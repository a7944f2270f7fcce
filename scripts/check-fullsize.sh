#!/usr/bin/env bash
# check-fullsize.sh — the full-size acceptance check of the inference engine, too big for ctest:
# generates random-weight models in the official clip-japanese-base layouts (785 MB v2: 256-d
# necks + openai_clip; 787 MB v1: 512-d necks + imagenet) with tools/ref/clyp_ref.py, then checks
# that `jaclip embed` reproduces the PyTorch reference (cosine >= 0.99999, max abs diff <= 1e-4 *
# max|x|) for 8 real images and 24 texts, end to end (--image / --text) and from the reference's
# own preprocessed inputs (--pixels / --ids), and that the peak RSS of embedding the 8 images
# stays <= 1.15 x the weights file.
#
# usage: scripts/check-fullsize.sh [v2|v1|all]     (default: all)
# env:   JACLIP_FULLSIZE_DIR  where models and outputs go (default /tmp/jaclip-fullsize; never the repo)
#        JACLIP_BIN           the jaclip binary (default build/jaclip)
#        JACLIP_SHARED        the shared data folder (default ../shared)
# Needs /usr/bin/python3 with Debian's python3-torch, python3-pil, python3-sentencepiece, numpy.
set -euo pipefail
cd "$(dirname "$0")/.."
VARIANTS=${1:-all}
[ "$VARIANTS" = all ] && VARIANTS="v2 v1"
DIR=${JACLIP_FULLSIZE_DIR:-/tmp/jaclip-fullsize}
BIN=${JACLIP_BIN:-build/jaclip}
SHARED=${JACLIP_SHARED:-../shared}
PY=/usr/bin/python3
REF="$PY tools/ref/clyp_ref.py"
TOK="$SHARED/tokenizer/rinna-japanese-sp.model"
[ -x "$BIN" ] || { echo "check-fullsize: $BIN not built (run scripts/setup.sh)" >&2; exit 2; }
mkdir -p "$DIR"
ls "$SHARED"/images/photos/*.jpg "$SHARED"/images/photos/*.png | head -8 > "$DIR/images.txt"
cp tests/golden/model/texts.txt "$DIR/texts.txt"
fail=0
for v in $VARIANTS; do
  M="$DIR/$v" O="$DIR/out-$v"
  mkdir -p "$O"
  if [ ! -f "$M/model.safetensors" ]; then
    echo "== $v: generating random weights in $M"
    nice $REF gen --variant "$v" --out "$M" --seed 7
  fi
  size=$(stat -c %s "$M/model.safetensors")
  echo "== $v: PyTorch reference ($(numfmt --to=si "$size")B of weights)"
  t0=$SECONDS
  nice $REF prep --model "$M" --images-from "$DIR/images.txt" --texts-from "$DIR/texts.txt" --tokenizer "$TOK" --out "$O"
  echo "   reference: $((SECONDS - t0)) s"
  run() { # name, args... : runs jaclip embed under /usr/bin/time -v, prints wall time and peak RSS
    local name=$1; shift
    /usr/bin/time -v "$BIN" embed --model "$M" --tokenizer "$TOK" --quiet "$@" 2> "$O/$name.time" || { cat "$O/$name.time" >&2; fail=1; return; }
    local wall rss user
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$O/$name.time")
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$O/$name.time")
    user=$(sed -n "s/.*User time (seconds): //p" "$O/$name.time")
    echo "   jaclip embed $name: wall $wall, user CPU ${user} s, peak RSS $((rss / 1024)) MiB"
    eval "rss_$name=$rss"
  }
  run image --images-from "$DIR/images.txt" --out "$O/c_image.npy"
  run text --texts-from "$DIR/texts.txt" --out "$O/c_text.npy"
  run pixels --pixels "$O/pixels.npy" --out "$O/c_pixels.npy"
  run ids --ids "$O/ids.npy" --out "$O/c_ids.npy"
  $REF compare "$O/c_image.npy" "$O/ref_image.npy" --label "   $v images (--image)" || fail=1
  $REF compare "$O/c_text.npy" "$O/ref_text.npy" --label "   $v texts (--text)" || fail=1
  $REF compare "$O/c_pixels.npy" "$O/ref_image.npy" --label "   $v images (--pixels)" || fail=1
  $REF compare "$O/c_ids.npy" "$O/ref_text.npy" --label "   $v texts (--ids)" || fail=1
  limit=$((size * 115 / 100 / 1024))
  if [ "${rss_image:-999999999}" -le "$limit" ]; then
    echo "   peak RSS embedding 8 images: $((rss_image / 1024)) MiB <= 1.15 x weights ($((limit / 1024)) MiB) -> OK"
  else
    echo "   peak RSS embedding 8 images: $((${rss_image:-0} / 1024)) MiB > 1.15 x weights ($((limit / 1024)) MiB) -> FAIL"
    fail=1
  fi
done
[ $fail = 0 ] && echo "check-fullsize: all OK" || echo "check-fullsize: FAILED"
exit $fail
