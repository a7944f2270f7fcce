#!/usr/bin/env bash
# Training step throughput, jaclip vs Debian PyTorch, on the same model (default: the cifar10
# example, examples/cifar10/model: EVA02 128-d x 4 at 32 px / patch 8, BERT 128-d x 2), the same
# batch of cifar10 pairs and the same step (forward of both towers, InfoNCE, backward, clip,
# AdamW), in one run. Usage: bash bench/bench_train.sh [BUILD] [BATCH] [STEPS] [THREADS]
set -euo pipefail
BUILD=${1:-build}; B=${2:-128}; STEPS=${3:-10}; THREADS=${4:-2}
MODEL=examples/cifar10/model
TOK=../shared/tokenizer/rinna-japanese-sp.model
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# a data set of exactly B pairs (so every step is the same batch) and a random-init model dir
/usr/bin/python3 tests/train/make_tiny_data.py ../shared/datasets/cifar10 "$tmp/data" "$B"
"$BUILD/jaclip" train --model $MODEL --scratch --tokenizer $TOK --data "$tmp/data" --batch "$B" --steps 1 \
  --out "$tmp/init" --threads "$THREADS" > /dev/null
# the same batch as the PyTorch side sees it: pixels and token ids written by a reference
/usr/bin/python3 - "$tmp" "$B" <<'PYEOF'
import io, os, sys, tarfile
import numpy as np
sys.path.insert(0, "tools/ref")
import clyp_ref
tmp, B = sys.argv[1], int(sys.argv[2])
cfg = clyp_ref.load_config("examples/cifar10/model")
names = open("../shared/datasets/cifar10/classnames.txt", encoding="utf-8").read().split()
rgb, texts = [], []
from PIL import Image
with tarfile.open(os.path.join(tmp, "data", "train", "0.tar")) as tf:
    for m in tf:
        d = tf.extractfile(m).read()
        if m.name.endswith(".jpg"):
            rgb.append(np.asarray(Image.open(io.BytesIO(d)).convert("RGB")))
        else:
            texts.append(names[int(d)] + "の写真")
ids, lens = clyp_ref.tokenize(texts[:B], "../shared/tokenizer/rinna-japanese-sp.model")
np.save(os.path.join(tmp, "pix.npy"), clyp_ref.normalize(np.stack(rgb[:B]), cfg["norm"]).numpy())
np.save(os.path.join(tmp, "ids.npy"), ids)
np.save(os.path.join(tmp, "len.npy"), lens)
PYEOF
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/jaclip" train --model "$tmp/init" --tokenizer $TOK --data "$tmp/data" --batch "$B" --steps $((STEPS + 1)) \
  --out "$tmp/run" --threads "$THREADS" --log-every 1 --warmup 0 --lr 1e-4 --weight-decay 0.05 > "$tmp/j.txt"
# skip the first step (warm-up), average the rest from the log's wall clock
/usr/bin/python3 - "$tmp/j.txt" "$B" <<'PYEOF'
import re, sys
rates = [float(m.group(1)) for m in re.finditer(r"([0-9.]+) img/s", open(sys.argv[1]).read())][1:]
print("jaclip: %.1f img/s (mean of %d steps of %s pairs)" % (sum(rates) / len(rates), len(rates), sys.argv[2]))
PYEOF
/usr/bin/python3 bench/train_torch.py "$tmp/init" "$tmp/pix.npy" "$tmp/ids.npy" "$tmp/len.npy" "$STEPS" "$THREADS"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
