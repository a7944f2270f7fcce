#!/usr/bin/python3
"""make_test_images.py OUTDIR — writes small synthetic images that cover the decoder and
mode paths the shared sample images miss: every PNG bit depth and colour type (with and
without tRNS, Adam7 interlaced, short palettes), alpha with every value, sizes that hit the
no-resize, upscale, round-half-even and 1-pixel cases, JPEG subsamplings, progressive,
grayscale and CMYK JPEG, WebP lossy/lossless/alpha, and EXIF orientations 1..8.

Deterministic (fixed seed). The PNG encoder is written here (zlib + filter 0) because Pillow
cannot write 2/4-bit gray, 16-bit RGB(A) or interlaced PNGs.
"""
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

rng = np.random.default_rng(1234)


def chunk(t, data):
    c = struct.pack(">I", len(data)) + t + data
    return c + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)


def pack_rows(a, depth):
    """a: (h, w, c) integer samples -> list of packed scanlines (bytes, no filter byte)."""
    h, w, c = a.shape
    rows = []
    for y in range(h):
        s = a[y].reshape(-1)
        if depth == 16:
            rows.append(s.astype(">u2").tobytes())
        elif depth == 8:
            rows.append(s.astype(np.uint8).tobytes())
        else:
            per = 8 // depth
            out = bytearray()
            for i in range(0, len(s), per):
                b = 0
                for j in range(per):
                    v = int(s[i + j]) if i + j < len(s) else 0
                    b |= v << (8 - depth * (j + 1))
                out.append(b)
            rows.append(bytes(out))
    return rows


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(path, a, depth, ctype, palette=None, trns=None, interlace=False, extra=b""):
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, _ = a.shape
    raw = b""
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            sub = a[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            raw += b"".join(b"\0" + r for r in pack_rows(sub, depth))
    else:
        raw = b"".join(b"\0" + r for r in pack_rows(a, depth))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, int(interlace)))
    png += extra
    if palette is not None:
        png += chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        png += chunk(b"tRNS", trns)
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def smooth(h, w, c, hi=255):
    """A smooth picture with some noise: strong gradients exercise the filter's lobes."""
    y, x = np.mgrid[0:h, 0:w]
    out = np.empty((h, w, c))
    for k in range(c):
        out[:, :, k] = (np.sin(x / (3.0 + 2 * k) + k) * np.cos(y / (4.0 + k)) + 1) / 2
    out = out * 0.85 + rng.random((h, w, c)) * 0.15
    return np.clip(np.round(out * hi), 0, hi).astype(np.int64)


def main(d):
    os.makedirs(d, exist_ok=True)
    P = lambda n: os.path.join(d, n)
    # PNG: every colour type and bit depth
    for depth in (1, 2, 4, 8, 16):
        write_png(P(f"png-gray{depth}.png"), smooth(37, 53, 1, 2**depth - 1), depth, 0)
    write_png(P("png-gray16-low.png"), smooth(40, 30, 1, 255), 16, 0)  # I mode values < 256
    write_png(P("png-gray8-trns.png"), smooth(40, 30, 1), 8, 0, trns=struct.pack(">H", 7))
    write_png(P("png-gray4-interlaced.png"), smooth(29, 31, 1, 15), 4, 0, interlace=True)
    for depth in (1, 2, 4, 8):
        n = 2**depth
        pal = rng.integers(0, 256, (n, 3))
        write_png(P(f"png-pal{depth}.png"), rng.integers(0, n, (33, 47, 1)), depth, 3, palette=pal)
    pal = rng.integers(0, 256, (16, 3))
    write_png(P("png-pal4-trns-interlaced.png"), rng.integers(0, 16, (45, 23, 1)), 4, 3, palette=pal,
              trns=bytes(rng.integers(0, 256, 16).astype(np.uint8)), interlace=True)
    write_png(P("png-pal8-224.png"), rng.integers(0, 256, (100, 224, 1)), 8, 3, palette=rng.integers(0, 256, (256, 3)))
    write_png(P("png-pal8-short.png"), rng.integers(0, 5, (50, 60, 1)), 8, 3, palette=rng.integers(0, 256, (5, 3)))
    for depth in (8, 16):
        ga = np.concatenate([smooth(41, 67, 1, 2**depth - 1), rng.integers(0, 2**depth, (41, 67, 1))], axis=2)
        write_png(P(f"png-ga{depth}.png"), ga, depth, 4)
        write_png(P(f"png-rgb{depth}.png"), smooth(70, 45, 3, 2**depth - 1), depth, 2)
        rgba = np.concatenate([smooth(64, 90, 3, 2**depth - 1), rng.integers(0, 2**depth, (64, 90, 1))], axis=2)
        write_png(P(f"png-rgba{depth}.png"), rgba, depth, 6)
    write_png(P("png-rgba8-interlaced.png"), np.concatenate(
        [smooth(33, 35, 3), rng.integers(0, 256, (33, 35, 1))], axis=2), 8, 6, interlace=True)
    write_png(P("png-rgb8-trns.png"), smooth(30, 50, 3), 8, 2, trns=struct.pack(">HHH", 1, 2, 3))
    # alpha with exact 0 and 255 areas and a big image that is shrunk
    a = np.concatenate([smooth(300, 500, 3), rng.integers(0, 256, (300, 500, 1))], axis=2)
    a[:100, :, 3] = 0
    a[100:150, :, 3] = 255
    write_png(P("png-rgba-big.png"), a, 8, 6)
    # sizes: no resize (longer side == 224), upscale, thin, round half to even
    for w, h in [(224, 100), (100, 224), (224, 224), (50, 30), (225, 1), (1, 300), (1000, 3),
                 (448, 5), (448, 7), (448, 3), (1000, 2), (2, 1000), (3, 1)]:
        Image.fromarray(smooth(h, w, 3).astype(np.uint8)).save(P(f"size-{w}x{h}.png"))
    rgba224 = np.concatenate([smooth(224, 150, 3), rng.integers(0, 256, (224, 150, 1))], axis=2)
    write_png(P("png-rgba-224.png"), rgba224, 8, 6)
    # JPEG
    base = Image.fromarray(smooth(177, 333, 3).astype(np.uint8))
    for ss, name in ((0, "444"), (1, "422"), (2, "420")):
        base.save(P(f"jpeg-{name}.jpg"), quality=90, subsampling=ss)
    base.save(P("jpeg-progressive.jpg"), quality=85, progressive=True)
    base.convert("L").save(P("jpeg-gray-odd.jpg"), quality=80)
    base.convert("CMYK").save(P("jpeg-cmyk.jpg"), quality=90)
    Image.fromarray(smooth(900, 1400, 3).astype(np.uint8)).save(P("jpeg-big.jpg"), quality=92)
    # WebP
    base.save(P("webp-lossy.webp"), quality=80)
    rgba_img = Image.fromarray(np.concatenate([smooth(120, 160, 3), rng.integers(0, 256, (120, 160, 1))],
                                              axis=2).astype(np.uint8), "RGBA")
    rgba_img.save(P("webp-lossless-alpha.webp"), lossless=True)
    rgba_img.save(P("webp-lossy-alpha.webp"), quality=70)
    # EXIF orientations (compared with --exif-rotate against ImageOps.exif_transpose)
    rot = Image.fromarray(smooth(60, 90, 3).astype(np.uint8))
    for o in range(1, 9):
        ex = Image.Exif()
        ex[0x0112] = o
        rot.save(P(f"exif-{o}.jpg"), quality=95, exif=ex.tobytes())
    ex = Image.Exif()
    ex[0x0112] = 6
    rot.save(P("exif-6.png"), exif=ex.tobytes())
    rot.save(P("exif-6.webp"), lossless=True, exif=ex.tobytes())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
