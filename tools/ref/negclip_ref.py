#!/usr/bin/python3
"""negclip_ref.py — independent float64 NumPy reference for `jaclip score` (tasks/score.c).

Written from reference/algorithms.md §1 (negCLIPLoss), §1.4 (NormSim) and §2 (CLIP score), and
from the batching documented at the top of src/tasks/score.c, which it reimplements (Feistel
permutation + near-equal batches), so that the C result can be checked given the same batches.

  negclip_ref.py gen --n N --dim D --seed S [--matched F] [--f16] --img I.npy --txt T.npy
  negclip_ref.py negclip --img I.npy --txt T.npy --batch B --repeats K --tau T --seed S --out R.npy
  negclip_ref.py normsim --img I.npy --target G.npy --norm inf|2 --out R.npy
  negclip_ref.py clipscore --img I.npy --txt T.npy --out R.npy
  negclip_ref.py compare A.npy B.npy --tol 1e-5          (exit 1 when max |A-B| > tol)
  negclip_ref.py assignment --n N --batch B --seed S --rep R --out A.npy
"""
import argparse
import sys

import numpy as np

M64 = (1 << 64) - 1


def splitmix64_int(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def splitmix64_np(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def permutation(n, seed, rep):
    """perm[p] = pair at position p (score.c: 4-round Feistel with cycle walking)."""
    w = 2
    while w < 64 and (1 << w) < n:
        w += 1
    if w & 1:
        w += 1
    half = w // 2
    mask = np.uint64((1 << half) - 1)
    base = splitmix64_int(seed & M64)
    keys = [np.uint64(splitmix64_int((base + 4 * rep + j) & M64)) for j in range(4)]

    def feistel(y):
        L, R = y >> np.uint64(half), y & mask
        for k in keys:
            L, R = R, L ^ (splitmix64_np(R ^ k) & mask)
        return (L << np.uint64(half)) | R

    with np.errstate(over="ignore"):
        y = feistel(np.arange(n, dtype=np.uint64))
        bad = y >= np.uint64(n)
        while bad.any():
            y[bad] = feistel(y[bad])
            bad = y >= np.uint64(n)
    return y.astype(np.int64)


def batches(n, batch, seed, rep):
    nb = -(-n // batch)
    if nb == 1:
        return [np.arange(n)]
    perm = permutation(n, seed, rep)
    return [np.sort(perm[k * n // nb:(k + 1) * n // nb]) for k in range(nb)]


def normed(path):
    x = np.load(path).astype(np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def lse(a, axis, work):
    """log-sum-exp along axis with max subtraction; `work` is a scratch array like a."""
    m = a.max(axis=axis, keepdims=True)
    np.subtract(a, m, out=work)
    np.exp(work, out=work)
    return (m + np.log(work.sum(axis=axis, keepdims=True))).squeeze(axis)


def negclip(I, T, batch, repeats, tau, seed):
    n = len(I)
    nb = -(-n // batch)
    reps = 1 if nb == 1 else repeats
    css = (I * T).sum(1)
    R = np.zeros(n)
    for rep in range(reps):
        for idx in batches(n, batch, seed, rep):
            S = I[idx] @ T[idx].T
            S /= tau
            work = np.empty_like(S)
            R[idx] += 0.5 * tau * lse(S, 1, work) + 0.5 * tau * lse(S, 0, work)
    return css - R / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("files", nargs="*")
    ap.add_argument("--n", type=int)
    ap.add_argument("--dim", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--matched", type=float, default=0.0)
    ap.add_argument("--f16", action="store_true")
    ap.add_argument("--img")
    ap.add_argument("--txt")
    ap.add_argument("--target")
    ap.add_argument("--norm", default="inf")
    ap.add_argument("--batch", type=int, default=32768)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--tau", type=float, default=0.01)
    ap.add_argument("--rep", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.cmd == "gen":
        rng = np.random.default_rng(a.seed)
        I = rng.standard_normal((a.n, a.dim), dtype=np.float32)
        T = rng.standard_normal((a.n, a.dim), dtype=np.float32)
        m = rng.random(a.n) < a.matched  # near-duplicate pairs: cosine close to 1
        T[m] = I[m] + 0.05 * T[m]
        dt = np.float16 if a.f16 else np.float32
        np.save(a.img, I.astype(dt))
        np.save(a.txt, T.astype(dt))
    elif a.cmd == "negclip":
        r = negclip(normed(a.img), normed(a.txt), a.batch, a.repeats, a.tau, a.seed)
        np.save(a.out, r)
    elif a.cmd == "clipscore":
        np.save(a.out, (normed(a.img) * normed(a.txt)).sum(1))
    elif a.cmd == "normsim":
        S = np.abs(normed(a.img) @ normed(a.target).T)
        np.save(a.out, S.max(1) if a.norm == "inf" else np.sqrt((S * S).sum(1)))
    elif a.cmd == "assignment":
        out = np.zeros(a.n, dtype=np.int32)
        for k, idx in enumerate(batches(a.n, a.batch, a.seed, a.rep)):
            out[idx] = k
        np.save(a.out, out)
    elif a.cmd == "compare":
        x, y = np.load(a.files[0]).astype(np.float64), np.load(a.files[1]).astype(np.float64)
        if x.shape != y.shape:
            print(f"shape mismatch {x.shape} vs {y.shape}")
            sys.exit(1)
        d = np.abs(x - y).max()
        print(f"max |diff| = {d:.3g} over {x.size} values (tol {a.tol:g})")
        sys.exit(0 if d <= a.tol else 1)
    else:
        ap.error("unknown command " + a.cmd)


if __name__ == "__main__":
    main()
