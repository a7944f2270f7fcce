#!/usr/bin/python3
"""plot_curve.py LOG.jsonl OUT.svg — the loss curve of a `jaclip train` run as a plain SVG
(no plotting library needed): per-step loss (light), its 50-step moving average (dark), and the
zero-shot top-1 evaluations on a second axis."""
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1])]
steps = [r for r in rows if "loss" in r]
evals = [r for r in rows if "zeroshot_top1" in r]
W, H, L, R, T, B = 800, 420, 60, 60, 30, 50
xs = [r["step"] for r in steps]
ys = [r["loss"] for r in steps]
avg = [sum(ys[max(0, i - 49):i + 1]) / len(ys[max(0, i - 49):i + 1]) for i in range(len(ys))]
x0, x1 = 0, max(xs)
y0, y1 = 0.0, max(ys) * 1.05


def px(x):
    return L + (W - L - R) * (x - x0) / (x1 - x0)


def py(y):
    return T + (H - T - B) * (1 - (y - y0) / (y1 - y0))


def pa(a):
    return T + (H - T - B) * (1 - a)


out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (W, H),
       '<rect width="100%" height="100%" fill="white"/>']
for k in range(6):
    y = y0 + (y1 - y0) * k / 5
    out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, W - R, py(y), py(y)))
    out.append('<text x="%d" y="%.1f" text-anchor="end">%.1f</text>' % (L - 5, py(y) + 4, y))
    out.append('<text x="%d" y="%.1f">%d%%</text>' % (W - R + 5, pa(k / 5) + 4, 20 * k))
for k in range(6):
    x = x0 + (x1 - x0) * k / 5
    out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (px(x), H - B + 18, x))
out.append('<polyline fill="none" stroke="#9ecae1" stroke-width="1" points="%s"/>' %
           " ".join("%.1f,%.1f" % (px(x), py(y)) for x, y in zip(xs, ys)))
out.append('<polyline fill="none" stroke="#08519c" stroke-width="2" points="%s"/>' %
           " ".join("%.1f,%.1f" % (px(x), py(y)) for x, y in zip(xs, avg)))
if evals:
    out.append('<polyline fill="none" stroke="#d94801" stroke-width="2" points="%s"/>' %
               " ".join("%.1f,%.1f" % (px(e["step"]), pa(e["zeroshot_top1"])) for e in evals))
    for e in evals:
        out.append('<circle cx="%.1f" cy="%.1f" r="4" fill="#d94801"/>' % (px(e["step"]), pa(e["zeroshot_top1"])))
        out.append('<text x="%.1f" y="%.1f" text-anchor="middle" fill="#d94801">%.1f%%</text>' %
                   (px(e["step"]), pa(e["zeroshot_top1"]) - 8, 100 * e["zeroshot_top1"]))
out.append('<text x="%d" y="%d" text-anchor="middle">optimizer step</text>' % ((W + L - R) // 2, H - 12))
out.append('<text x="%d" y="18" fill="#08519c">InfoNCE loss (per step, 50-step mean)</text>' % L)
out.append('<text x="%d" y="18" text-anchor="end" fill="#d94801">zero-shot top-1 on cifar10/test</text>' % (W - R))
out.append("</svg>")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
