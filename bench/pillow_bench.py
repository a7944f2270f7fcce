#!/usr/bin/python3
"""pillow_bench.py REPEATS FILE... — time the reference preprocessing (Pillow 9.4 decode,
ResizeMaxSize letterbox, CenterCrop, convert("RGB"), ToTensor, Normalize: the transform in
tools/ref/pillow_letterbox.py) per file from in-memory bytes, best of REPEATS (wall and thread CPU time), one thread."""
import io
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "ref"))
import torch  # noqa: E402
import torchvision.transforms as T  # noqa: E402
from PIL import Image  # noqa: E402

import pillow_letterbox as ref  # noqa: E402

torch.set_num_threads(1)


def main():
    repeats = int(sys.argv[1])
    files = sys.argv[2:]
    mean, std = ref.NORMS["openai_clip"]
    norm = T.Normalize(mean, std)
    to_tensor = T.ToTensor()
    total = 0.0
    for f in files:
        data = open(f, "rb").read()
        best = bestcpu = 1e30
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.thread_time()
            img = Image.open(io.BytesIO(data))
            img = ref.ResizeMaxSize(224)(img)
            img = T.CenterCrop(224)(img).convert("RGB")
            x = norm(to_tensor(img))
            best = min(best, time.perf_counter() - t0)
            bestcpu = min(bestcpu, time.thread_time() - c0)
        assert x.shape == (3, 224, 224)
        total += best
        print(f"pillow  {os.path.basename(f):<40} {best * 1e3:8.2f} ms {bestcpu * 1e3:8.2f} ms-cpu")
    print(f"pillow  single thread: {len(files)} images in {total * 1e3:.1f} ms = {len(files) / total:.1f} images/s")


if __name__ == "__main__":
    main()
