#!/usr/bin/python3
"""clyp_grad.py — PyTorch autograd reference for `jaclip grad` (issue 9): the symmetric InfoNCE
loss of CLYP (L2-normalised features, logits = cos / temperature, loss = (CE(Z) + CE(Z^T)) / 2
with the diagonal as targets) on one batch, and the gradient of every parameter, computed in
float64 through the model of clyp_ref.py (written from the spec, no timm / transformers).

  clyp_grad.py --model DIR --pixels P.npy --ids I.npy --lengths L.npy --out GRADS.safetensors
  clyp_grad.py compare GOT.safetensors WANT.safetensors [--tol 1e-4]

Writes the gradients as float32 under each parameter's key and prints "loss X".  `compare`
checks every tensor: ||got - want|| / max(||want||, 1e-5 * ||all||) <= tol (exit 1 otherwise);
the floor matters only for gradients that are exactly zero in exact arithmetic (BERT's key
bias: softmax is shift-invariant), where float32 leaves round-off of ~1e-10 * ||all|| whose size
depends on the GEMM's summation order: the floor holds that to an absolute 1e-9 * ||all||, while
every tensor whose true gradient exceeds 1e-5 of the total is held to the full relative tol.

  clyp_grad.py prep --golden tests/golden/model --rows 3,4,0,12,17 --out DIR
writes DIR/pixels.npy, ids.npy, lengths.npy: a batch from the committed model goldens.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clyp_ref  # noqa: E402


def clip_loss(fi, ft, tau):
    fi = fi / fi.norm(dim=-1, keepdim=True)
    ft = ft / ft.norm(dim=-1, keepdim=True)
    z = fi @ ft.T / tau
    y = torch.arange(z.shape[0])
    return 0.5 * (F.cross_entropy(z, y) + F.cross_entropy(z.T, y))


def cmd_grad(a):
    cfg = clyp_ref.load_config(a.model)
    W = clyp_ref.st_read(os.path.join(a.model, "model.safetensors"))
    P = {}
    for k, v in W.items():
        if v.is_floating_point():
            P[k] = v.to(torch.float64).clone().requires_grad_(True)
        else:
            P[k] = v
    pix = torch.from_numpy(np.load(a.pixels).astype(np.float64))
    ids = np.load(a.ids).astype(np.int64)
    lengths = np.load(a.lengths)
    mask = (np.arange(ids.shape[1])[None] < lengths[:, None]).astype(np.int64)
    fi = clyp_ref.vision_forward(P, cfg["vision"], pix)
    ft = clyp_ref.text_forward(P, cfg["text"], torch.from_numpy(ids), torch.from_numpy(mask))
    loss = clip_loss(fi, ft, P["itc_loss_fn.temperature"])
    loss.backward()
    out = {}
    for k, v in P.items():
        if isinstance(v, torch.Tensor) and v.requires_grad:
            g = v.grad if v.grad is not None else torch.zeros_like(v)
            out[k] = g.detach().numpy().astype(np.float32)
    clyp_ref.st_write(a.out, out)
    print("loss %.9g" % loss.item())


def cmd_compare(a):
    got = clyp_ref.st_read(a.got)
    want = clyp_ref.st_read(a.want)
    tot = float(np.sqrt(sum(float((w.numpy().astype(np.float64) ** 2).sum()) for w in want.values())))
    bad = 0
    worst = 0.0
    for k, w in want.items():
        if k not in got:
            print("missing gradient:", k)
            bad += 1
            continue
        g = got[k].numpy().astype(np.float64)
        w = w.numpy().astype(np.float64)
        if g.shape != w.shape:
            print("shape differs:", k, g.shape, w.shape)
            bad += 1
            continue
        den = max(float(np.linalg.norm(w)), 1e-5 * tot)
        rel = float(np.linalg.norm(g - w)) / den
        worst = max(worst, rel)
        if a.verbose: print("%-90s %.3g" % (k, rel))
        if rel > a.tol:
            print("%s: relative error %.3g > %.1g" % (k, rel, a.tol))
            bad += 1
    extra = set(got) - set(want)
    for k in extra:
        print("unexpected gradient:", k)
        bad += 1
    print("%d tensors, worst relative error %.3g, %d bad" % (len(want), worst, bad))
    sys.exit(1 if bad else 0)


def cmd_prep(a):
    rows = [int(r) for r in a.rows.split(",")]
    cfg = clyp_ref.load_config(os.path.join(a.golden, "small"))
    rgb = np.load(os.path.join(a.golden, "image_rgb.npy"))
    rgb = np.stack([rgb[i % len(rgb)] for i in range(len(rows))])
    pix = clyp_ref.normalize(rgb, cfg["norm"]).numpy().astype(np.float32)
    ids = np.load(os.path.join(a.golden, "text_ids.npy"))[rows]
    ln = np.load(os.path.join(a.golden, "text_lengths.npy"))[rows]
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "pixels.npy"), pix)
    np.save(os.path.join(a.out, "ids.npy"), ids[:, :ln.max()].astype(np.int32))
    np.save(os.path.join(a.out, "lengths.npy"), ln.astype(np.int32))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "prep":
        ap = argparse.ArgumentParser()
        ap.add_argument("cmd")
        ap.add_argument("--golden", default="tests/golden/model")
        ap.add_argument("--rows", default="3,4,0,12,17")
        ap.add_argument("--out", required=True)
        cmd_prep(ap.parse_args())
        return
    if len(sys.argv) > 1 and sys.argv[1] == "compare":
        ap = argparse.ArgumentParser()
        ap.add_argument("cmd")
        ap.add_argument("got")
        ap.add_argument("want")
        ap.add_argument("--tol", type=float, default=1e-4)
        ap.add_argument("--verbose", action="store_true")
        cmd_compare(ap.parse_args())
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--pixels", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--lengths", required=True)
    ap.add_argument("--out", required=True)
    cmd_grad(ap.parse_args())


if __name__ == "__main__":
    main()
