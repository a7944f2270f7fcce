#!/usr/bin/python3
"""eval_metrics.py — independent reference for jaclip's evaluation metrics (src/tasks/metrics.c).

Written from the protocol in reference/algorithms.md §6 and CLIP_benchmark's counting rules:
  * zero-shot: class weights = renormalised mean of normalised template embeddings;
    acc@k = target among torch.topk(logits, k); mean_per_class_recall = balanced accuracy
    of argmax predictions over the classes present in the targets.
  * retrieval: scores = texts @ images.T; image_retrieval_recall@K = per caption, its image
    in topk; text_retrieval_recall@K = per image, >= 1 of its captions in topk.
torch.topk is used exactly as CLIP_benchmark uses it, so on tie-free data this is
CLIP_benchmark's number. Inputs and outputs are .npy / JSON so the C tests can call it.

usage:
  eval_metrics.py zeroshot IMG.npy TXT.npy N_TEMPLATES TARGETS.npy   -> JSON metrics
      IMG (n, d) raw image features; TXT (n_classes*n_templates, d) raw text features,
      class-major; TARGETS (n,) int.
  eval_metrics.py logits LOGITS.npy TARGETS.npy                      -> JSON metrics
  eval_metrics.py retrieval IMG.npy TXT.npy TEXT_IMAGE.npy K...      -> JSON metrics
"""
import json
import sys

import numpy as np
import torch


def normalize(x):
    x = torch.as_tensor(x, dtype=torch.float32)
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def classification(logits, target):
    logits = torch.as_tensor(logits, dtype=torch.float32)
    target = torch.as_tensor(target, dtype=torch.int64)
    n, c = logits.shape
    out = {}
    for k, name in ((1, "acc1"), (5, "acc5")):
        if k > c:
            out[name] = float("nan")
            continue
        pred = logits.topk(k, 1, True, True)[1]
        out[name] = float((pred == target.view(-1, 1)).any(dim=1).float().mean())
    pred = logits.argmax(dim=1)
    recalls = []
    for cls in sorted(set(target.tolist())):
        m = target == cls
        recalls.append(float((pred[m] == cls).float().mean()))
    out["mean_per_class_recall"] = float(np.mean(recalls))
    return out


def zeroshot(img, txt, n_templates, target):
    t = normalize(txt)
    n_classes = t.shape[0] // n_templates
    w = t.view(n_classes, n_templates, -1).mean(dim=1)
    w = w / w.norm(dim=-1, keepdim=True)
    logits = 100.0 * normalize(img) @ w.T
    return classification(logits, target)


def retrieval(img, txt, text_image, ks):
    scores = normalize(txt) @ normalize(img).T  # (n_txt, n_img)
    text_image = torch.as_tensor(text_image, dtype=torch.int64)
    pos = torch.zeros_like(scores, dtype=torch.bool)
    pos[torch.arange(len(scores)), text_image] = True
    out = {}
    for k in ks:
        for name, s, p in (("image_retrieval_recall", scores, pos), ("text_retrieval_recall", scores.T, pos.T)):
            kk = min(k, s.shape[1])
            top = s.topk(kk, dim=1)[1]
            hit = torch.gather(p, 1, top).any(dim=1)
            out[f"{name}@{k}"] = float(hit.float().mean())
    return out


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd = argv[1]
    if cmd == "zeroshot":
        r = zeroshot(np.load(argv[2]), np.load(argv[3]), int(argv[4]), np.load(argv[5]))
    elif cmd == "logits":
        r = classification(np.load(argv[2]), np.load(argv[3]))
    elif cmd == "retrieval":
        r = retrieval(np.load(argv[2]), np.load(argv[3]), np.load(argv[4]), [int(k) for k in argv[5:]])
    else:
        sys.exit(__doc__)
    print(json.dumps(r))


if __name__ == "__main__":
    main(sys.argv)
