#!/usr/bin/python3
"""make_seeds.py — small seed .model files for fuzz_tokenizer_load, cut from the real model:
the first N pieces plus the real trainer_spec and normalizer_spec (with and without the
237 kB charsmap), so that libFuzzer mutates valid structure at a useful speed.
    make_seeds.py MODEL OUTDIR"""
import os
import sys


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7F) << s; s += 7
        if not c & 0x80:
            return v, i


def enc_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F; v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def fields(b):
    i = 0
    while i < len(b):
        start = i
        tag, i = varint(b, i)
        wt = tag & 7
        if wt == 0:
            _, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i); i += n
        elif wt == 5:
            i += 4
        elif wt == 1:
            i += 8
        yield tag >> 3, b[start:i]


def main():
    data = open(sys.argv[1], "rb").read()
    os.makedirs(sys.argv[2], exist_ok=True)
    pieces = [raw for f, raw in fields(data) if f == 1]
    trainer = b"".join(raw for f, raw in fields(data) if f == 2)
    norm = b"".join(raw for f, raw in fields(data) if f == 3)
    # normalizer_spec without its charsmap (field 2)
    tag, i = varint(norm, 0)
    n, j = varint(norm, i)
    body = norm[j:j + n]
    small = b"".join(raw for f, raw in fields(body) if f != 2)
    norm_nomap = bytes([0x1A]) + enc_varint(len(small)) + small
    for name, k, nm in (("small-charsmap.model", 400, norm), ("small-identity.model", 400, norm_nomap),
                        ("tiny-identity.model", 40, norm_nomap)):
        with open(os.path.join(sys.argv[2], name), "wb") as f:
            f.write(b"".join(pieces[:k]) + trainer + nm)


main()
