#!/usr/bin/python3
"""ja_corpus.py — writes test texts for the tokenizer comparison (tests/text/test_tokenize_ref.sh).

  ja_corpus.py sentences OUT   real Japanese sentences from Debian's debian-reference-ja
                               (/usr/share/debian-reference/*.ja.txt.gz) and manpages-ja
                               (/usr/share/man/ja/**/*.gz), one per line, de-duplicated
  ja_corpus.py edge OUT        the edge-case list (raw bytes, one per line) plus seeded random
                               strings drawn from scripts and ranges that stress the normalizer
"""
import glob
import gzip
import random
import re
import sys

JA = re.compile("[\u3040-\u30ff\u4e00-\u9fff]")


def sentences(out):
    seen, lines = set(), []
    srcs = sorted(glob.glob("/usr/share/debian-reference/*.ja.txt.gz")) + sorted(glob.glob("/usr/share/man/ja/man*/*.gz"))
    if not srcs:
        sys.exit("ja_corpus.py: no debian-reference-ja or manpages-ja files found (apt-get install manpages-ja debian-reference-ja)")
    for path in srcs:
        text = gzip.open(path, "rb").read().decode("utf-8", "replace")
        if "/man/" in path:  # roff: drop requests and escapes
            text = re.sub(r"^[.'][^\n]*$", "", text, flags=re.M)
            text = re.sub(r"\\f[BIRP]|\\\(..|\\[&-]|\\e", "", text)
        for para in text.split("\n"):
            for s in re.split(r"(?<=[。！？])", para):
                s = s.strip()
                if 4 <= len(s) <= 300 and JA.search(s) and s not in seen:
                    seen.add(s)
                    lines.append(s)
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(len(lines), "sentences from", len(srcs), "files", file=sys.stderr)


EDGE = [
    b"", b" ", b"   ", b"\t \t", b"\xe3\x80\x80\xe3\x80\x80",  # empty, only spaces (ASCII, tab, U+3000)
    "ＡＢＣ　ｄｅｆ".encode(), "ｶﾀｶﾅﾊﾞﾋﾟ".encode(), "①②㍻㌔ｷﾛ".encode(), "ﾃﾞｼﾞﾀﾙｶﾒﾗ".encode(),
    "が が か\u3099 か\u309a e\u0301 A\u0301 \u0301\u0301".encode(),  # combining marks
    "😀😀絵文字👍🏽🇯🇵 family 👨‍👩‍👧".encode(),  # emoji, ZWJ
    "\u0378\u0379 \U000e0001 \U0010fffd \ufdd0 \ue000 \uffff".encode(),  # unassigned / private / nonchars
    b"\xff\xfe abc \xc3\x28 \xa0\xa1 \xe2\x82\x28 \xf0\x28\x8c\xbc \xed\xa0\x80 \xc0\xaf \xf5\x80\x80\x80 \xe3\x81",
    b"\x80", b"abc\xe3", "\ufffd".encode(),
    b"[CLS]", b"[CLS][CLS]", "犬[CLS]猫".encode(), b"  [CLS]  x  ", b"[cls] [Cls] [SEP][MASK][PAD]<s></s><unk>",
    b"<S></S><UNK>", "<UN\u212a>".encode(), b"[[CLS]]", b"<s", b"[MAS", b"<<s>>",
    ("東京タワーの夜景と" * 40).encode(), ("a photo of a dog " * 30).encode(),
    "HELLO World ÀÉÎÕÜ ΣΑΣ ΌΣΟΣ İstanbul ΐ Ǆǅǆ ẞ ﬃ Å K Ω".encode(),
    b"a\x00b", b"\x00", b"\x00\x00[CLS]\x00", b"x\x1cy\x0bz\x85",
    "\u2581\u2581 \u2581a\u2581".encode(), "▁".encode(),
    "\u200b\u200d\ufeff\u00ad".encode(), "ﷺ ﷻ ㍿ ℡ ™ ½ ²".encode(),
    "Ⅸ世紀の城".encode(), "  Hello   World  ".encode(), "\rwindows\r".encode(),
]

RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x300, 0x36F), (0x2000, 0x206F),
          (0x2150, 0x218F), (0x2460, 0x24FF), (0x3000, 0x30FF), (0x3200, 0x33FF), (0x4E00, 0x9FFF),
          (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x1F300, 0x1F6FF),
          (0x1D400, 0x1D7FF), (0xE0000, 0xE007F)]


def edge(out, n_random=3000):
    rnd = random.Random(20261126)
    lines = list(EDGE)
    for _ in range(n_random):
        k = rnd.randint(1, 40)
        rs = [rnd.choice(RANGES) for _ in range(rnd.randint(1, 3))]
        s = "".join(chr(rnd.randint(*rnd.choice(rs))) for _ in range(k))
        s = "".join(c for c in s if not 0xD800 <= ord(c) < 0xE000)
        lines.append(s.encode())
    with open(out, "wb") as f:
        for b in lines:
            assert b"\n" not in b
            f.write(b + b"\n")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("sentences", "edge"):
        sys.exit(__doc__)
    (sentences if sys.argv[1] == "sentences" else edge)(sys.argv[2])
