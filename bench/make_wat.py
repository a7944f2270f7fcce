#!/usr/bin/env python3
"""Builds a large synthetic WAT file for the mining benchmark (no real multi-hundred-MB WAT is
available offline). Every HTML response of the shared sample WARCs (plus the Japanese fixture
page) becomes the three WAT entries a real WAT has per page — request, response (with
HTML-Metadata Head + Links: every <a href> with text and every <img> with src/alt/title) and
metadata — each in its own gzip member like Common Crawl's files. Pages are repeated with
distinct URLs until the uncompressed size reaches --mb.

usage: make_wat.py OUT.warc.wat.gz --mb 300 SHARED_COMMONCRAWL_DIR [EXTRA.warc.gz ...]
"""
import argparse
import glob
import gzip
import json
import os
import re
import sys
import zlib
from html.parser import HTMLParser

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tools', 'ref'))


def members(path):
    data = open(path, 'rb').read()
    if data[:2] != b'\x1f\x8b':
        return data
    out, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        try:
            out.append(d.decompress(data[pos:]))
        except zlib.error:
            break
        if not d.eof:
            break
        pos = len(data) - len(d.unused_data)
    return b''.join(out)


def pages(path):
    s = members(path)
    for m in re.finditer(rb'WARC/1\.[01]\r\n', s):
        h = s.find(b'\r\n\r\n', m.start())
        head = s[m.start():h].decode('latin-1')
        if 'WARC-Type: response' not in head:
            continue
        n = int(re.search(r'Content-Length: (\d+)', head).group(1))
        uri = re.search(r'WARC-Target-URI: (\S+)', head)
        block = s[h + 4:h + 4 + n]
        sep = block.find(b'\r\n\r\n')
        if sep < 0 or b'html' not in block[:sep].lower():
            continue
        yield uri.group(1) if uri else 'http://example.com/', block[sep + 4:].decode('utf-8', 'replace')


class Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.cur, self.title, self.t = [], None, '', False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'a' and a.get('href'):
            self.cur = {'path': 'A@/href', 'url': a['href'], 'text': ''}
            self.links.append(self.cur)
        elif tag == 'img' and a.get('src'):
            e = {'path': 'IMG@/src', 'url': a['src']}
            for k in ('alt', 'title'):
                if k in a:
                    e[k] = a[k] or ''
            self.links.append(e)
        elif tag in ('link', 'script') and (a.get('href') or a.get('src')):
            self.links.append({'path': tag.upper() + '@/' + ('href' if tag == 'link' else 'src'),
                               'url': a.get('href') or a.get('src')})
        self.t = tag == 'title'

    def handle_endtag(self, tag):
        if tag == 'a':
            self.cur = None

    def handle_data(self, d):
        if self.cur is not None:
            self.cur['text'] += d.strip()
        if self.t:
            self.title += d


def record(wtype, uri, block):
    head = (f'WARC/1.0\r\nWARC-Type: {wtype}\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2024-05-31T01:17:49Z\r\n'
            f'Content-Type: application/json\r\nContent-Length: {len(block)}\r\n\r\n').encode()
    raw = head + block + b'\r\n\r\n'
    return gzip.compress(raw, 6), len(raw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('shared')
    ap.add_argument('extra', nargs='*')
    ap.add_argument('--mb', type=int, default=300)
    a = ap.parse_args()
    src = []
    for f in sorted(glob.glob(os.path.join(a.shared, '*.warc*'))) + a.extra:
        if 'wat' in f or 'wet' in f:
            continue
        for uri, html in pages(f):
            p = Links()
            try:
                p.feed(html)
            except Exception:
                continue
            src.append((uri, p.title.strip(), p.links))
    print(f'{len(src)} source pages', file=sys.stderr)
    target, total, i = a.mb << 20, 0, 0
    with open(a.out, 'wb') as f:
        while total < target:
            uri, title, links = src[i % len(src)]
            u = f'{uri}{"&" if "?" in uri else "?"}rep={i}'
            env = lambda t, extra: {'Container': {'Filename': 'CC-MAIN-bench.warc.gz', 'Compressed': True,
                                                  'Offset': str(i * 3000)},
                                    'Envelope': {'Format': 'WARC', 'WARC-Header-Metadata': {'WARC-Type': t, 'WARC-Target-URI': u},
                                                 'Payload-Metadata': extra}}
            req = env('request', {'Actual-Content-Type': 'application/http; msgtype=request',
                                  'HTTP-Request-Metadata': {'Request-Message': {'Method': 'GET', 'Path': '/', 'Version': 'HTTP/1.1'},
                                                            'Headers': {'User-Agent': 'CCBot/2.0', 'Accept': 'text/html'}}})
            resp = env('response', {'Actual-Content-Type': 'application/http; msgtype=response',
                                    'HTTP-Response-Metadata': {'Response-Message': {'Status': '200'},
                                                               'Headers': {'Content-Type': 'text/html'},
                                                               'HTML-Metadata': {'Head': {'Title': title}, 'Links': links}}})
            meta = env('metadata', {'Actual-Content-Type': 'application/warc-fields',
                                    'WARC-Metadata-Metadata': {'Metadata-Records': [{'Name': 'fetchTimeMs', 'Value': '123'}]}})
            for t, j in (('metadata', req), ('metadata', resp), ('metadata', meta)):
                gz, n = record(t, u, json.dumps(j, ensure_ascii=False, separators=(',', ':')).encode())
                f.write(gz)
                total += n
            i += 1
    print(f'{i} pages, {total / 2**20:.0f} MiB uncompressed, {os.path.getsize(a.out) / 2**20:.0f} MiB gz', file=sys.stderr)


main()
