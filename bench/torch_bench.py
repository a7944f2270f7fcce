#!/usr/bin/python3
"""torch_bench.py — times the project's PyTorch reference (tools/ref/clyp_ref.py) with Debian's
torch 1.13 on synthetic inputs, best-of-N and median, one JSON object on stdout.
Thread setting (peers-and-limits.md 4.2): torch intra-op threads TORCH_THREADS (default 1)
on top of OpenBLAS's own pool (OPENBLAS_NUM_THREADS, set by the caller), which is the best
combination measured; OPENBLAS_CORETYPE is set by the caller where OpenBLAS misdetects the CPU.
usage: bench/torch_bench.py MODEL RUNS TEXT_LEN BATCHES [image|text|both]
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "ref"))
import clyp_ref  # noqa: E402

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))


def stats(ts):
    s = sorted(ts)
    n = len(s)
    return dict(best_ms=s[0], median_ms=s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2]))


def main():
    model, runs, L, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), [int(b) for b in sys.argv[4].split(",")]
    which = sys.argv[5] if len(sys.argv) > 5 else "both"
    cfg = clyp_ref.load_config(model)
    W = clyp_ref.st_read(os.path.join(model, "model.safetensors"))
    out = dict(torch_version=torch.__version__, torch_threads=torch.get_num_threads(),
               openblas_threads=os.environ.get("OPENBLAS_NUM_THREADS"), coretype=os.environ.get("OPENBLAS_CORETYPE"),
               image={}, text={})
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for B in batches:
            if which in ("image", "both"):
                pix = torch.rand(B, 3, cfg["image_size"], cfg["image_size"], generator=g) * 4 - 2
                ts = []
                for r in range(-1, runs):
                    t = time.perf_counter()
                    clyp_ref.vision_forward(W, cfg["vision"], pix)
                    if r >= 0:
                        ts.append((time.perf_counter() - t) * 1e3 / B)
                out["image"][B] = stats(ts)
            if which in ("text", "both"):
                ids = torch.randint(10, 30000, (B, L), generator=g)
                ids[:, 0] = 4
                mask = torch.ones(B, L, dtype=torch.int64)
                ts = []
                for r in range(-1, runs):
                    t = time.perf_counter()
                    clyp_ref.text_forward(W, cfg["text"], ids, mask)
                    if r >= 0:
                        ts.append((time.perf_counter() - t) * 1e3 / B)
                out["text"][B] = stats(ts)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
