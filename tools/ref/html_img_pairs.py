#!/usr/bin/env python3
"""Independent reference for `jaclip mine --from-html`: lists every <img> of every HTML
response in a WARC file with its resolved URL and alt text, using only Python's standard
library (gzip members via zlib, html.parser, urllib.parse.urljoin, codecs).

Written from the spec (algorithms.md §7), not from jaclip's C code. Output: one TSV line per
<img>: offset, page_url, resolved url (or '-' when not http(s)), alt ('\\N' when absent).

usage: html_img_pairs.py FILE.warc.gz
"""
import re
import sys
import zlib
from html.parser import HTMLParser
from urllib.parse import urljoin


def records(path):
    data = open(path, 'rb').read()
    if data[:2] == b'\x1f\x8b':
        out, pos, starts = [], 0, []
        while pos < len(data):
            d = zlib.decompressobj(31)
            chunk = d.decompress(data[pos:])
            starts.append((sum(len(c) for c in out), pos))
            out.append(chunk)
            if not d.eof:
                break
            pos = len(data) - len(d.unused_data)
        stream = b''.join(out)
    else:
        stream, starts = data, None
    pos = 0
    while True:
        m = re.compile(rb'WARC/1\.[01]\r?\n').search(stream, pos)
        if not m:
            return
        start = m.start()
        hend = stream.find(b'\r\n\r\n', start)
        head = stream[start:hend].decode('latin-1')
        fields = {}
        for line in head.split('\r\n')[1:]:
            k, _, v = line.partition(':')
            fields[k.strip().lower()] = v.strip()
        n = int(fields.get('content-length', '0'))
        block = stream[hend + 4:hend + 4 + n]
        off = start
        if starts:
            off = max(p for (a, p) in starts if a <= start)
        yield off, fields, block
        pos = hend + 4 + n


class Imgs(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.imgs, self.base = [], None

    def handle_starttag(self, tag, attrs):
        a = {}
        for k, v in attrs:
            a.setdefault(k, v)
        if tag == 'img':
            self.imgs.append(a)
        elif tag == 'base' and self.base is None and a.get('href'):
            self.base = a['href']

    handle_startendtag = handle_starttag


def charset_of(ctype, body):
    m = re.search(r'charset=["\']?([\w-]+)', ctype or '', re.I)
    if not m:
        m = re.search(rb'<meta[^>]*charset=["\']?([\w-]+)', body[:16384], re.I)
        label = m.group(1).decode() if m else None
    else:
        label = m.group(1)
    if not label:
        try:
            body.decode('utf-8')
            return 'utf-8'
        except UnicodeDecodeError:
            return 'cp1252'
    label = label.lower()
    return {'gb2312': 'gb18030', 'gbk': 'gb18030', 'shift_jis': 'cp932', 'iso-8859-1': 'cp1252'}.get(label, label)


def main():
    for off, f, block in records(sys.argv[1]):
        if f.get('warc-type') != 'response':
            continue
        sep = block.find(b'\r\n\r\n')
        head, body = block[:sep].decode('latin-1'), block[sep + 4:]
        if not re.match(r'HTTP/\S+ 2\d\d', head):
            continue
        ctype = re.search(r'(?im)^content-type:\s*(.*)$', head)
        ctype = ctype.group(1).strip() if ctype else ''
        if 'html' not in ctype.lower():
            continue
        try:
            text = body.decode(charset_of(ctype, body), errors='replace')
        except LookupError:
            text = body.decode('utf-8', errors='replace')
        p = Imgs()
        p.feed(text)
        page = f.get('warc-target-uri', '')
        base = urljoin(page, p.base) if p.base else page
        for a in p.imgs:
            src = a.get('data-src') or a.get('src') or ''
            if src.strip().lower().startswith('data:'):
                src = ''
            url = urljoin(base, src.strip()) if src.strip() else ''
            if not re.match(r'https?://[^/]', url):
                url = '-'
            alt = a.get('alt')
            alt = '\\N' if alt is None else ' '.join(alt.split())
            print(f'{off}\t{page}\t{url}\t{alt}')


main()
