#!/usr/bin/python3
"""export_onnx.py — exports the two towers of a CLYP model directory to ONNX with Debian's
torch.onnx.export (opset 14, dynamic batch; the text tower also dynamic length, with an
attention mask input), from the project's own PyTorch reference (tools/ref/clyp_ref.py), so
ONNX Runtime runs exactly the model jaclip runs, on the same weights.

usage: /usr/bin/python3 bench/export_onnx.py --model DIR --out OUTDIR
writes OUTDIR/vision.onnx (pixels (B,3,S,S) -> (B,D)) and OUTDIR/text.onnx
(ids (B,L) int64, mask (B,L) int64 -> (B,D)).
"""
import argparse
import inspect
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "ref"))
import clyp_ref  # noqa: E402


def _layer_norm_const(x, shape, w, b, eps):
    return F.layer_norm(x, (int(w.shape[0]),), w, b, eps)


class Vision(torch.nn.Module):
    def __init__(self, W, vc):
        super().__init__()
        self.W, self.vc = W, vc

    def forward(self, pix):
        # the reference writes one LayerNorm as (m.shape[-1],), which the tracer turns into a
        # dynamic value ONNX LayerNorm cannot take; all its LayerNorms normalise over the
        # weight's length, so use that constant
        clyp_ref.F = _FProxy()
        try:
            return clyp_ref.vision_forward(self.W, self.vc, pix)
        finally:
            clyp_ref.F = F


class _FProxy:
    def __getattr__(self, name):
        return _layer_norm_const if name == "layer_norm" else getattr(F, name)


class Text(torch.nn.Module):
    def __init__(self, W, tc):
        super().__init__()
        self.W, self.tc = W, tc

    def forward(self, ids, mask):
        return clyp_ref.text_forward(self.W, self.tc, ids, mask)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    cfg = clyp_ref.load_config(a.model)
    W = {k: v for k, v in clyp_ref.st_read(os.path.join(a.model, "model.safetensors")).items()
         if v.dtype == torch.float32}
    S = cfg["image_size"]
    # newer torch (2.9+) exports with torch.export by default; this traced reference needs the
    # TorchScript exporter that torch 1.13 uses, which they keep behind dynamo=False
    kw = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with torch.no_grad():
        pix = torch.randn(2, 3, S, S)
        torch.onnx.export(Vision(W, cfg["vision"]), (pix,), os.path.join(a.out, "vision.onnx.tmp"), opset_version=14,
                          input_names=["pixels"], output_names=["features"],
                          dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}}, **kw)
        ids = torch.randint(5, 1000, (2, 16), dtype=torch.int64)
        mask = torch.ones(2, 16, dtype=torch.int64)
        torch.onnx.export(Text(W, cfg["text"]), (ids, mask), os.path.join(a.out, "text.onnx.tmp"), opset_version=14,
                          input_names=["ids", "mask"], output_names=["features"],
                          dynamic_axes={"ids": {0: "batch", 1: "len"}, "mask": {0: "batch", 1: "len"},
                                        "features": {0: "batch"}}, **kw)
    # written under temporary names, renamed only once both are complete (compare.sh takes an
    # existing text.onnx as a finished export)
    for n in ("vision.onnx", "text.onnx"):
        os.replace(os.path.join(a.out, n + ".tmp"), os.path.join(a.out, n))
    for n in ("vision.onnx", "text.onnx"):
        print("%s: %.0f MB" % (n, os.path.getsize(os.path.join(a.out, n)) / 1e6))


if __name__ == "__main__":
    main()
