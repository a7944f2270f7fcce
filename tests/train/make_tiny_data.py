#!/usr/bin/python3
"""make_tiny_data.py SRC_ROOT OUT_ROOT N [--txt] — a tiny CLIP_benchmark-layout copy of a WebDataset
classification set for the training smoke tests: the first N samples of SRC/train/0.tar as
OUT/train/0.tar, the next N as OUT/test/0.tar, plus classnames.txt and the templates.
With --txt the training samples carry captions (key.txt, "<class>の写真です") instead of key.cls."""
import io
import os
import shutil
import sys
import tarfile

src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
txt = "--txt" in sys.argv[4:]
names = open(os.path.join(src, "classnames.txt"), encoding="utf-8").read().split()
members = {}
order = []
with tarfile.open(os.path.join(src, "train", "0.tar")) as tf:
    for m in tf:
        key, ext = m.name.split(".", 1)
        if key not in members:
            if len(order) == 2 * n:
                break
            order.append(key)
            members[key] = []
        members[key].append((m.name, tf.extractfile(m).read()))
for split, keys in (("train", order[:n]), ("test", order[n:])):
    os.makedirs(os.path.join(out, split), exist_ok=True)
    with tarfile.open(os.path.join(out, split, "0.tar"), "w") as tf:
        for k in keys:
            for name, data in members[k]:
                if txt and split == "train" and name.endswith(".cls"):
                    name = name[:-4] + ".txt"
                    data = (names[int(data)] + "の写真です\n").encode()
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    with open(os.path.join(out, split, "nshards.txt"), "w") as f:
        f.write("1\n")
for f in ("classnames.txt", "zeroshot_classification_templates.txt"):
    shutil.copy(os.path.join(src, f), os.path.join(out, f))
