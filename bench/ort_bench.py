#!/usr/bin/python3
"""ort_bench.py — the same measurement as ort_bench.js through ONNX Runtime's Python package
(the same native engine; for machines that have `onnxruntime` for Python but no npm, such as
a borrowed AVX-512 machine): CPU execution provider, graph optimisations 'all', sequential,
intra-op THREADS, inter-op 1; synthetic inputs; one warm-up then RUNS timed runs per batch;
prints one JSON object with best and median ms per image / per text. IDS (as in
ort_bench.js): a file of token id arrays, one JSON array per line, timed instead of synthetic
texts, B at a time in file order, each batch padded to its longest (mask 0 on the pads).

usage: python3 bench/ort_bench.py ONNXDIR THREADS RUNS TEXT_LEN BATCHES(comma list) [image|text|both] [IDS]
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def stats(ts):
    return {"best_ms": min(ts), "median_ms": statistics.median(ts)}


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return
    if len(sys.argv) < 6:
        sys.exit(__doc__.strip().splitlines()[-1])
    d, T, R, L = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    batches = [int(b) for b in sys.argv[5].split(",")]
    which = sys.argv[6] if len(sys.argv) > 6 else "both"
    texts = None
    if len(sys.argv) > 7:
        with open(sys.argv[7], encoding="utf-8") as f:
            texts = [json.loads(l) for l in f if l.strip()]
        if not texts:
            sys.exit("ort_bench.py: %s: no id arrays" % sys.argv[7])
    for name, needed in (("vision.onnx", which != "text"), ("text.onnx", which != "image")):
        if needed and not os.path.isfile(os.path.join(d, name)):
            sys.exit("ort_bench.py: %s: no such file (export it with bench/export_onnx.py)" % os.path.join(d, name))
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = T, 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    out = {"ort_version": ort.__version__, "frontend": "python", "threads": T, "text_len": L, "image": {}, "text": {}}
    rng = np.random.default_rng(12345)

    def timed(sess, feeds, B):
        """feeds: one dict, or a list of dicts run in order as one pass; B: items per pass"""
        ts = []
        for r in range(-1, R):
            t0 = time.perf_counter()
            for f in feeds if isinstance(feeds, list) else [feeds]:
                sess.run(None, f)
            if r >= 0:
                ts.append((time.perf_counter() - t0) * 1e3 / B)
        return stats(ts)

    if which != "text":
        s = ort.InferenceSession(os.path.join(d, "vision.onnx"), so, providers=["CPUExecutionProvider"])
        for B in batches:
            pix = (rng.random((B, 3, 224, 224), dtype=np.float32) * 4 - 2).astype(np.float32)
            out["image"][str(B)] = timed(s, {"pixels": pix}, B)
    if which != "image":
        s = ort.InferenceSession(os.path.join(d, "text.onnx"), so, providers=["CPUExecutionProvider"])
        if texts:
            out["texts"] = len(texts)
        for B in batches:
            if texts:
                feeds = []
                for i in range(0, len(texts), B):
                    chunk = texts[i:i + B]
                    n = max(len(t) for t in chunk)
                    ids = np.full((len(chunk), n), 3, dtype=np.int64)
                    mask = np.zeros((len(chunk), n), dtype=np.int64)
                    for r, t in enumerate(chunk):
                        ids[r, :len(t)], mask[r, :len(t)] = t, 1
                    feeds.append({"ids": ids, "mask": mask})
                out["text"][str(B)] = timed(s, feeds, len(texts))
                continue
            ids = rng.integers(10, 30010, size=(B, L), dtype=np.int64)
            ids[:, 0] = 4
            out["text"][str(B)] = timed(s, {"ids": ids, "mask": np.ones((B, L), dtype=np.int64)}, B)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
