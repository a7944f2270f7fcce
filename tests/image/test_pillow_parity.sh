#!/usr/bin/env bash
# test_pillow_parity.sh — every image Pillow 9.4 can open (shared photos/ and formats/, plus
# synthetic images from tools/ref/make_test_images.py covering every PNG depth/colour type,
# alpha, palettes, JPEG subsamplings, CMYK, WebP, odd sizes and EXIF orientations) must give
# exactly Pillow's letterboxed uint8 image (max abs diff 0), computed now by the reference
# script tools/ref/pillow_letterbox.py. Images Pillow refuses must be refused by us too, with
# an error naming the file; the expected ones are listed (12-bit JPEG, sizes whose short side
# rounds to 0). Also checks the float32 normalised output against torchvision, with
# --model reading preprocessor_config.json.
set -euo pipefail
BIN=${JACLIP_BIN:-build/jaclip}
SHARED=${JACLIP_SHARED:-../shared}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/ref" "$T/our"

$PY tools/ref/make_test_images.py "$T/syn"
: > "$T/list"
: > "$T/list_exif"
for f in "$SHARED"/images/photos/* "$SHARED"/images/formats/* "$T"/syn/*; do
  key=$(basename "$(dirname "$f")")__$(basename "$f")
  printf '%s\t%s\n' "$f" "$T/ref/$key.npy" >> "$T/list"
  case "$key" in *exif*) printf '%s\t%s\n' "$f" "$T/ref/$key.exif.npy" >> "$T/list_exif";; esac
done
n=$(wc -l < "$T/list")
[ "$n" -ge 80 ] || { echo "expected >= 80 test images, found $n"; exit 1; }

# reference (FAIL lines name the images Pillow cannot process)
$PY tools/ref/pillow_letterbox.py --batch "$T/list" > "$T/ref_fail.txt" || true
$PY tools/ref/pillow_letterbox.py --batch "$T/list_exif" --exif-rotate > "$T/ref_fail_exif.txt" || true

# ours
run_ours() { # list suffix extra-args...
  local list=$1 suffix=$2; shift 2
  while IFS=$'\t' read -r f out; do
    key=$(basename "$out" "$suffix")
    if "$BIN" preprocess --raw "$@" "$f" --out "$T/our/$key$suffix" > /dev/null 2> "$T/our/$key$suffix.err"; then
      echo 0 > "$T/our/$key$suffix.rc"
    else
      echo $? > "$T/our/$key$suffix.rc"
    fi
  done < "$list"
}
run_ours "$T/list" .npy
run_ours "$T/list_exif" .exif.npy --exif-rotate

# normalised float32 output, model directory with preprocessor_config.json (imagenet, v1)
mkdir -p "$T/model"
printf '{\n  "image_size": 224,\n  "normalization_type": "imagenet"\n}\n' > "$T/model/preprocessor_config.json"
for f in "$SHARED/images/photos/chelsea.png" "$SHARED/images/formats/rgba.webp" "$T/syn/jpeg-cmyk.jpg"; do
  b=$(basename "$f")
  "$BIN" preprocess --model "$T/model" "$f" --out "$T/our/norm-$b.npy" > /dev/null
  $PY tools/ref/pillow_letterbox.py "$f" "$T/ref/norm-$b.npy" --normalization imagenet
done

$PY - "$T" <<'PYEOF'
import glob, os, sys
import numpy as np
T = sys.argv[1]
# images Pillow 9.4 cannot process, and why (our decoder must refuse them too)
EXPECTED_FAIL = {
    "formats__twelve-bit.jpg": "12-bit JPEG: Pillow cannot identify it; libjpeg-turbo 2.1 is 8-bit only",
    "syn__size-1000x2.png": "short side rounds to 0 (Pillow: height and width must be > 0)",
    "syn__size-2x1000.png": "short side rounds to 0",
}
bad = 0
checked = 0
for suffix, faillist in ((".npy", "ref_fail.txt"), (".exif.npy", "ref_fail_exif.txt")):
    lines = [l.split("\t") for l in open(os.path.join(T, "list" if suffix == ".npy" else "list_exif")).read().splitlines()]
    ref_fail = open(os.path.join(T, faillist)).read()
    for src, refpath in lines:
        key = os.path.basename(refpath)[: -len(suffix)]
        our = os.path.join(T, "our", key + suffix)
        rc = int(open(our + ".rc").read())
        errtext = open(our + ".err").read()
        if not os.path.exists(refpath):
            if ("FAIL " + src) not in ref_fail:
                print(f"{key}: reference wrote nothing and reported no failure"); bad += 1; continue
            if key not in EXPECTED_FAIL:
                print(f"{key}: Pillow failed unexpectedly: {ref_fail}"); bad += 1
            if rc == 0 or os.path.exists(our):
                print(f"{key}: Pillow refuses it ({EXPECTED_FAIL.get(key)}) but we accepted it"); bad += 1
            elif src not in errtext:
                print(f"{key}: our error does not name the file: {errtext!r}"); bad += 1
            else:
                print(f"ok (both refuse) {key}{suffix}: {errtext.strip()}")
            continue
        if rc != 0:
            print(f"{key}{suffix}: Pillow reads it, we fail: {errtext.strip()}"); bad += 1; continue
        a = np.load(refpath); b = np.load(our)
        if a.shape != b.shape or a.dtype != b.dtype:
            print(f"{key}{suffix}: shape/dtype {b.shape} {b.dtype} != reference {a.shape} {a.dtype}"); bad += 1; continue
        d = np.abs(a.astype(int) - b.astype(int))
        checked += 1
        if d.max() != 0:
            print(f"{key}{suffix}: max abs diff {d.max()}, {int((d > 0).sum())} values differ"); bad += 1
for ref in glob.glob(os.path.join(T, "ref", "norm-*.npy")):
    a = np.load(ref); b = np.load(os.path.join(T, "our", os.path.basename(ref)))
    checked += 1
    if a.shape != (3, 224, 224) or b.shape != a.shape or b.dtype != np.float32 or not np.array_equal(a, b):
        print(f"{os.path.basename(ref)}: normalised output differs, max {np.abs(a - b).max() if a.shape == b.shape else 'shape'}"); bad += 1
print(f"{checked} images compared exactly with Pillow, {bad} problems")
sys.exit(1 if bad or checked < 80 else 0)
PYEOF
