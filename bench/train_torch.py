#!/usr/bin/python3
"""train_torch.py MODEL_DIR PIXELS.npy IDS.npy LENGTHS.npy STEPS THREADS — the PyTorch side of
bench/bench_train.sh: the same CLYP model (tools/ref/clyp_ref.py, float32, eager mode), the same
batch, the same step (symmetric InfoNCE with learnable temperature, backward, gradient clipping,
AdamW with decoupled weight decay on matrices, temperature clamp). Prints images/s over STEPS
steps after one warm-up step."""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "ref"))
import clyp_ref  # noqa: E402
from clyp_grad import clip_loss  # noqa: E402

model, pix, ids, lens, steps, threads = sys.argv[1:7]
torch.set_num_threads(int(threads))
cfg = clyp_ref.load_config(model)
W = {k: v.clone().requires_grad_(True) for k, v in clyp_ref.st_read(os.path.join(model, "model.safetensors")).items()
     if v.is_floating_point()}
decay = [v for k, v in W.items() if v.dim() >= 2 and "embed" not in k and "cls_token" not in k]
rest = [v for k, v in W.items() if not (v.dim() >= 2 and "embed" not in k and "cls_token" not in k)]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
                        lr=1e-4, betas=(0.9, 0.98), eps=1e-6)
pix = torch.from_numpy(np.load(pix))
ids = np.load(ids).astype(np.int64)
lens = np.load(lens)
mask = torch.from_numpy((np.arange(ids.shape[1])[None] < lens[:, None]).astype(np.int64))
ids = torch.from_numpy(ids)


def step():
    fi = clyp_ref.vision_forward(W, cfg["vision"], pix)
    ft = clyp_ref.text_forward(W, cfg["text"], ids, mask)
    loss = clip_loss(fi, ft, W["itc_loss_fn.temperature"])
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(W.values()), 1.0)
    opt.step()
    with torch.no_grad():
        W["itc_loss_fn.temperature"].clamp_(0.01, 1000)
    return loss.item()


step()
t0 = time.time()
for _ in range(int(steps)):
    step()
dt = time.time() - t0
print("pytorch %s: %.1f img/s (%d steps of %d pairs in %.1f s, %s threads)" % (
    torch.__version__, int(steps) * pix.shape[0] / dt, int(steps), pix.shape[0], dt, threads))
