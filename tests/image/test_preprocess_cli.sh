#!/usr/bin/env bash
# test_preprocess_cli.sh — `jaclip preprocess` as a user meets it: --help, the two output
# kinds and their shapes/dtypes (read back by numpy), --model reading preprocessor_config.json,
# --image-size/--normalization without a model, clear errors (missing file, broken file,
# unknown option, bad normalisation, huge image, bad config) with non-zero exit and no output
# file left behind, and --max-pixels raising the limit.
set -euo pipefail
BIN=${JACLIP_BIN:-build/jaclip}
SHARED=${JACLIP_SHARED:-../shared}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
expect_fail() { # name pattern cmd...
  local name=$1 pat=$2; shift 2
  if "$@" > "$T/out" 2> "$T/err"; then echo "FAIL $name: succeeded"; fail=1; return; fi
  if ! grep -q -- "$pat" "$T/err"; then echo "FAIL $name: error lacks '$pat': $(cat "$T/err")"; fail=1; return; fi
  echo "ok $name: $(head -1 "$T/err")"
}
IMG="$SHARED/images/photos/chelsea.png"

"$BIN" preprocess --help | grep -q -- "--exif-rotate" || { echo "FAIL help"; fail=1; }
"$BIN" --help | grep -q preprocess || { echo "FAIL not listed in jaclip --help"; fail=1; }

"$BIN" preprocess --image-size 160 --normalization imagenet "$IMG" --out "$T/a.npy" | grep -q "(3, 160, 160) float32"
"$BIN" preprocess --raw --image-size 96 "$IMG" --out "$T/raw.npy" | grep -q "(96, 96, 3) uint8"
mkdir -p "$T/model"
echo '{"image_size": 224, "normalization_type": "openai_clip", "image_processor_type": "CLYPImageProcessor"}' > "$T/model/preprocessor_config.json"
"$BIN" preprocess --model "$T/model" "$IMG" --out "$T/m.npy" > /dev/null
$PY - "$T" <<'PYEOF'
import sys, numpy as np
T = sys.argv[1]
a = np.load(f"{T}/a.npy"); r = np.load(f"{T}/raw.npy"); m = np.load(f"{T}/m.npy")
assert a.shape == (3, 160, 160) and a.dtype == np.float32, (a.shape, a.dtype)
assert r.shape == (96, 96, 3) and r.dtype == np.uint8, (r.shape, r.dtype)
assert m.shape == (3, 224, 224) and m.dtype == np.float32
# chelsea is 451x300: at 160 the letterbox is 160x106 with 27 black rows on top, 27 below
mean = np.array([0.485, 0.456, 0.406], np.float32)[:, None]; std = np.array([0.229, 0.224, 0.225], np.float32)[:, None]
assert np.allclose(a[:, :27, :].reshape(3, -1), (-mean / std), atol=1e-6), "top padding is not black"
assert np.allclose(a[:, 133:, :].reshape(3, -1), (-mean / std), atol=1e-6), "bottom padding is not black"
assert not np.allclose(a[:, 27, :].reshape(3, -1), (-mean / std), atol=1e-6), "row 27 should be image"
# openai_clip constants used from the config
mo = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)[:, None]; so = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)[:, None]
assert np.allclose(m[:, 0, :], -mo / so, atol=1e-6), "model config normalisation not applied"
print("ok shapes, padding split and normalisation constants")
PYEOF

expect_fail "missing file" "nothere.jpg" "$BIN" preprocess --raw "$T/nothere.jpg" --out "$T/x.npy"
expect_fail "broken file" "truncated.jpg" "$BIN" preprocess --raw "$SHARED/images/broken/truncated.jpg" --out "$T/x.npy"
expect_fail "unknown option" "unknown option --bogus" "$BIN" preprocess --bogus "$IMG" --out "$T/x.npy"
expect_fail "bad normalization" "unknown normalization_type 'foo'" "$BIN" preprocess --normalization foo "$IMG" --out "$T/x.npy"
expect_fail "bad size" "--image-size" "$BIN" preprocess --image-size 0 "$IMG" --out "$T/x.npy"
expect_fail "no model config" "preprocessor_config.json" "$BIN" preprocess --model "$T/nomodel" "$IMG" --out "$T/x.npy"
echo '{"normalization_type": 3}' > "$T/model/preprocessor_config.json"
expect_fail "bad model config" "normalization_type must be a string" "$BIN" preprocess --model "$T/model" "$IMG" --out "$T/x.npy"
expect_fail "limit" "more than the limit of 100000" "$BIN" preprocess --raw --max-pixels 100000 "$IMG" --out "$T/x.npy"
[ ! -e "$T/x.npy" ] || { echo "FAIL an output file was left after errors"; fail=1; }
ls "$T" | grep -q tmp && { echo "FAIL temp file left"; fail=1; }
"$BIN" preprocess --raw --max-pixels 135300 "$IMG" --out "$T/x.npy" > /dev/null || { echo "FAIL --max-pixels 451*300 should pass"; fail=1; }

# a 20000x20000 PNG header (valid IHDR, tiny IDAT) is refused at once, without decoding
$PY - "$T/huge.png" <<'PYEOF'
import struct, sys, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
PYEOF
expect_fail "huge png" "20000x20000 = 400000000 pixels" "$BIN" preprocess --raw "$T/huge.png" --out "$T/x.npy"
exit $fail
