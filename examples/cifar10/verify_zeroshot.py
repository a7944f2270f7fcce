#!/usr/bin/python3
"""verify_zeroshot.py CKPT_DIR [N] — an independent check of a `jaclip train` checkpoint: loads
it with the PyTorch reference model (tools/ref/clyp_ref.py: its own safetensors reader, Pillow
letterbox, sentencepiece tokenizer) and computes the zero-shot top-1 on the first N (default
all) images of ../shared/datasets/cifar10/test with the 37 Japanese templates (CLIP_benchmark
protocol: per class, mean of normalised template embeddings, normalised)."""
import io
import os
import sys
import tarfile

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "ref"))
import clyp_ref  # noqa: E402

ckpt = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 10 ** 9
root = "../shared/datasets/cifar10"
cfg = clyp_ref.load_config(ckpt)
W = clyp_ref.st_read(os.path.join(ckpt, "model.safetensors"))
names = [l.strip() for l in open(os.path.join(root, "classnames.txt"), encoding="utf-8") if l.strip()]
tpls = [l.strip() for l in open(os.path.join(root, "zeroshot_classification_templates.txt"), encoding="utf-8")
        if l.strip()]
with torch.no_grad():
    cls = []
    for c in names:
        ids, lens = clyp_ref.tokenize([t.replace("{c}", c) for t in tpls], os.path.join(ckpt, "spiece.model"))
        mask = (np.arange(ids.shape[1])[None] < lens[:, None]).astype(np.int64)
        f = clyp_ref.text_forward(W, cfg["text"], torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(mask))
        f = torch.nn.functional.normalize(f, dim=-1).mean(0)
        cls.append(torch.nn.functional.normalize(f, dim=0))
    cls = torch.stack(cls)
    imgs, labels = [], []
    with tarfile.open(os.path.join(root, "test", "0.tar")) as tf:
        for m in tf:
            d = tf.extractfile(m).read()
            if m.name.endswith(".jpg"):
                if len(imgs) == N:
                    break
                im = Image.open(io.BytesIO(d)).convert("RGB")
                assert im.size == (cfg["image_size"], cfg["image_size"])
                imgs.append(np.asarray(im))
            elif m.name.endswith(".cls") and len(labels) < len(imgs):
                labels.append(int(d))
    correct = 0
    for i in range(0, len(imgs), 500):
        x = clyp_ref.normalize(np.stack(imgs[i:i + 500]), cfg["norm"])
        f = torch.nn.functional.normalize(clyp_ref.vision_forward(W, cfg["vision"], x), dim=-1)
        correct += int(((f @ cls.T).argmax(1) == torch.tensor(labels[i:i + 500])).sum())
print("pytorch reference: zero-shot top-1 %.2f%% on %d images of cifar10/test" % (100 * correct / len(imgs), len(imgs)))
