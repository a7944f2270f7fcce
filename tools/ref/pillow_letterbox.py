#!/usr/bin/python3
"""pillow_letterbox.py — the reference image preprocessing of clip-japanese-base(-v2),
written from model-spec.md §7 with the libraries the reference uses (Debian Pillow 9.4 and
torchvision 0.14): ResizeMaxSize letterbox (BICUBIC, fill 0), CenterCrop, convert("RGB"),
then ToTensor + Normalize.

usage:
  pillow_letterbox.py IMAGE OUT.npy [--size 224] [--normalization NAME] [--exif-rotate]
  pillow_letterbox.py --batch LIST [--size 224] [--normalization NAME] [--exif-rotate]
      LIST: lines "IMAGE<TAB>OUT.npy"; one Python start-up for many images.
Without --normalization it writes the uint8 (S, S, 3) RGB image after convert("RGB");
with it, the float32 (3, S, S) tensor. An image Pillow cannot process prints
"FAIL <image>: <error>" and writes nothing; the exit status is then 1.
"""
import argparse
import sys

import numpy as np
from PIL import Image, ImageOps
import torchvision.transforms as T
import torchvision.transforms.functional as F

NORMS = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "openai_clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    "imagenet_inception": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


class ResizeMaxSize:
    """Longer side to max_size with BICUBIC (Python round on each side), then zero padding,
    left/top getting pad // 2; nothing when the longer side already equals max_size."""

    def __init__(self, max_size, fill=0):
        self.max_size = max_size
        self.fill = fill

    def __call__(self, img):
        width, height = img.size
        scale = self.max_size / float(max(height, width))
        if scale != 1.0:
            new_size = tuple(round(dim * scale) for dim in (height, width))
            img = F.resize(img, list(new_size), T.InterpolationMode.BICUBIC)
            pad_h = self.max_size - new_size[0]
            pad_w = self.max_size - new_size[1]
            img = F.pad(img, padding=[pad_w // 2, pad_h // 2, pad_w - pad_w // 2, pad_h - pad_h // 2],
                        fill=self.fill)
        return img


def letterbox(path, size, exif_rotate):
    img = Image.open(path)
    if exif_rotate:
        img = ImageOps.exif_transpose(img)
    img = ResizeMaxSize(size)(img)
    img = T.CenterCrop(size)(img)
    return img.convert("RGB")


def process(path, out, size, norm, exif_rotate):
    rgb = letterbox(path, size, exif_rotate)
    if norm is None:
        arr = np.asarray(rgb, dtype=np.uint8)
    else:
        mean, std = NORMS[norm]
        arr = T.Normalize(mean, std)(T.ToTensor()(rgb)).numpy().astype(np.float32)
    np.save(out, arr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image", nargs="?")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--batch")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--normalization", choices=sorted(NORMS))
    ap.add_argument("--exif-rotate", action="store_true")
    a = ap.parse_args()
    jobs = []
    if a.batch:
        with open(a.batch, encoding="utf-8") as f:
            jobs = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    elif a.image and a.out:
        jobs = [(a.image, a.out)]
    else:
        ap.error("give IMAGE OUT.npy or --batch LIST")
    failed = 0
    for path, out in jobs:
        try:
            process(path, out, a.size, a.normalization, a.exif_rotate)
        except Exception as e:  # report and continue: the caller decides what a failure means
            print(f"FAIL {path}: {type(e).__name__}: {e}", flush=True)
            failed += 1
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
