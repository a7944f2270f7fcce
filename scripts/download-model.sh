#!/usr/bin/env bash
# download-model.sh — fetches the official model files from Hugging Face into a directory that
# `jaclip --model DIR` reads: config.json, model.safetensors (~785 MB), preprocessor_config.json
# from line-corporation/clip-japanese-base-v2 (or v1), plus the tokenizer spiece.model, which
# CLYP loads from rinna/japanese-roberta-base (sha256-checked). Needs curl and internet access.
#
# usage: scripts/download-model.sh [DIR] [v2|v1]      (default: clip-japanese-base-v2 v2)
#   HF_ENDPOINT overrides https://huggingface.co (mirrors); HF_TOKEN is sent if set.
# Files are downloaded to DIR/NAME.part and renamed when complete; an interrupted download
# resumes where it stopped.
set -euo pipefail
DIR=${1:-clip-japanese-base-v2}
VER=${2:-v2}
EP=${HF_ENDPOINT:-https://huggingface.co}
case "$VER" in
  v2) REPO=line-corporation/clip-japanese-base-v2 ;;
  v1) REPO=line-corporation/clip-japanese-base ;;
  *) echo "download-model: version must be v2 or v1, got '$VER'" >&2; exit 2 ;;
esac
SPM_REPO=rinna/japanese-roberta-base
SPM_SHA256=b5cbdfa8aa7c54c8c5af85b78c309c54a5f2749a20468bf6f60eee007fe6fec1
command -v curl >/dev/null || { echo "download-model: curl is required (apt-get install curl)" >&2; exit 2; }
mkdir -p "$DIR"
auth=()
[ -n "${HF_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $HF_TOKEN")

fetch() { # repo file [dest-name]
  local repo=$1 file=$2 dest="$DIR/${3:-$2}"
  if [ -s "$dest" ]; then echo "have $dest"; return; fi
  echo "fetching $repo/$file -> $dest"
  curl -fL --retry 5 --retry-delay 3 -C - "${auth[@]}" -o "$dest.part" "$EP/$repo/resolve/main/$file"
  mv "$dest.part" "$dest"
}

fetch "$REPO" config.json
fetch "$REPO" preprocessor_config.json
fetch "$REPO" model.safetensors
fetch "$SPM_REPO" spiece.model
got=$(sha256sum "$DIR/spiece.model" | cut -d' ' -f1)
if [ "$got" != "$SPM_SHA256" ]; then
  echo "download-model: $DIR/spiece.model has sha256 $got, expected $SPM_SHA256 (rinna's tokenizer)" >&2
  exit 1
fi
echo "done: jaclip classify --model $DIR photo.jpg --labels 犬,猫,象"
