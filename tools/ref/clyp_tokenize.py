#!/usr/bin/python3
"""clyp_tokenize.py — the Python reference for jaclip's tokenizer (src/text/).

Implements CLYPTokenizer's rules (model-spec.md §6.2-6.3) on top of Debian's python3-sentencepiece
0.1.97, written from the spec:
  1. lower-case every code point with Python str.lower(), leaving the special-token strings
     (<unk> <s> </s> [PAD] [CLS] [SEP] [MASK]) intact; '\n' is left alone (the regex '.' skips it);
  2. split literal special tokens out (they map straight to their ids); encode every other
     segment separately with SentencePiece (each gets its own dummy prefix);
  3. keep the first 76 SentencePiece ids and prepend [CLS] = 4.

Input texts are BYTES: invalid UTF-8 survives step 1 byte for byte (surrogateescape) and is handed
to sentencepiece as bytes, whose normalizer turns every malformed byte into U+FFFD, exactly what
the C library does with a byte string.

Not modelled (transformers-version dependent, outside the spec): the whitespace stripping around
special tokens that transformers < 4.34 applied.

Usage:
  clyp_tokenize.py --model FILE TEXT...            one JSON array per TEXT
  clyp_tokenize.py --model FILE --texts-from FILE  one JSON array per line ('\n'-separated bytes)
  clyp_tokenize.py --max-len N                     (default 77; 0 = no truncation)
"""
import argparse
import json
import re
import sys

import sentencepiece as spm

SPECIALS = ["<unk>", "<s>", "</s>", "[PAD]", "[CLS]", "[SEP]", "[MASK]"]
CLS_ID = 4

_LOWER_RE = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")|(.+?)")
_SPLIT_RE = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")


class ClypTokenizer:
    def __init__(self, model_file):
        self.sp = spm.SentencePieceProcessor(model_file=model_file)
        self.special_ids = {s: self.sp.piece_to_id(s) for s in SPECIALS}

    def sp_ids(self, data: bytes):
        text = data.decode("utf-8", "surrogateescape")
        # transformers' do_lower_case: specials intact, every other char through str.lower().
        text = _LOWER_RE.sub(lambda m: m.group(1) or m.group(2).lower(), text)
        ids = []
        for seg in _SPLIT_RE.split(text):
            if not seg:
                continue
            if seg in self.special_ids:
                ids.append(self.special_ids[seg])
            else:
                ids.extend(self.sp.encode(seg.encode("utf-8", "surrogateescape")))
        return ids

    def __call__(self, data: bytes, max_len=77):
        ids = self.sp_ids(data)
        if max_len > 0:
            ids = ids[: max_len - 1]
        return [CLS_ID] + ids


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="SentencePiece .model file")
    ap.add_argument("--texts-from", help="file with one text per line")
    ap.add_argument("--max-len", type=int, default=77)
    ap.add_argument("texts", nargs="*")
    a = ap.parse_args()
    tok = ClypTokenizer(a.model)
    if a.texts_from:
        with open(a.texts_from, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
    else:
        lines = [t.encode("utf-8", "surrogateescape") for t in a.texts]
    out = sys.stdout
    for line in lines:
        out.write(json.dumps(tok(line, a.max_len), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
