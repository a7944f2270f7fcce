#!/usr/bin/env python3
"""Builds the Japanese mining fixtures from the real page uzushio_perldoc_ja.html.

SYNTHETIC WRAPPING: no public WARC/WAT with a Japanese page that has <img alt> exists (see
data-sources.md §A.3), so this script takes the real Japanese HTML (perldoc.jp, lang="ja",
which has no images), inserts a block of <img> tags whose alt texts are the page's own first
ten anchor texts plus hand-made edge cases, and wraps the result in Common Crawl-style
records. The records, the WAT JSON layout and the expected pairs are produced here with the
Python standard library only, independently of jaclip's C code.

Outputs in OUTDIR:
  ja.warc.gz         warcinfo + request + response (UTF-8, charset in HTTP header) + metadata
  ja_sjis.warc.gz    same page encoded as Shift_JIS (cp932), charset only in the HTTP header
  ja_eucjp.warc.gz   same page encoded as EUC-JP, charset only in <meta http-equiv>
  ja.warc.wat.gz     warcinfo + the WAT metadata record (Envelope ... HTML-Metadata{Head,Links})
  expected_html.tsv  url, caption, japanese(1/0) for what --from-html must find (alt non-empty)
  expected_wat.tsv   the same for the WAT route (WAT records only the src attribute)

usage: make_ja_fixture.py uzushio_perldoc_ja.html OUTDIR
"""
import gzip
import json
import os
import re
import sys
import uuid
from html.parser import HTMLParser
from urllib.parse import urljoin

PAGE_URL = 'https://perldoc.jp/docs/perl/5.10.1/perlfaq4.pod'
BASE = 'https://perldoc.jp/docs/'


class Anchors(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.cur, self.title, self.in_title = [], None, '', False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'a' and 'href' in a:
            self.cur = {'path': 'A@/href', 'url': a['href'], 'text': ''}
            self.links.append(self.cur)
        if tag == 'title':
            self.in_title = True
        if tag == 'img':
            e = {'path': 'IMG@/src', 'url': a.get('src')}
            if 'alt' in a:
                e['alt'] = a['alt']
            if 'title' in a:
                e['title'] = a['title']
            if e['url'] is not None:
                self.links.append(e)
        if tag == 'link' and 'href' in a:
            self.links.append({'path': 'LINK@/href', 'url': a['href'], 'rel': a.get('rel', '')})

    def handle_endtag(self, tag):
        if tag == 'a':
            self.cur = None
        if tag == 'title':
            self.in_title = False

    def handle_data(self, d):
        if self.cur is not None:
            self.cur['text'] += d
        if self.in_title:
            self.title += d


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    html = open(src, encoding='utf-8').read()

    p = Anchors()
    p.feed(html)
    texts = []
    for l in p.links:
        t = ' '.join(l.get('text', '').split())
        if t and re.search(r'[\u3040-\u30ff\u4e00-\u9fff]', t) and t not in texts:
            texts.append(t)
    texts = texts[:10]

    # (attributes as written, expected url (HTML route), WAT-route note or caption, caption, japanese?)
    imgs = []
    for i, t in enumerate(texts):
        imgs.append((f'src="/img/nav{i}.png" alt="{t}"', urljoin(BASE, f'/img/nav{i}.png'), None, t, 1))
    imgs += [
        ('src="img/fuji.jpg" alt="富士山"', BASE + 'img/fuji.jpg', None, '富士山', 1),
        ('src="../images/tower.jpg" alt="東京タワー夜景"', 'https://perldoc.jp/images/tower.jpg', None, '東京タワー夜景', 1),
        ('src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="//cdn.example.jp/lazy.jpg" alt="遅延読み込みの画像"',
         'https://cdn.example.jp/lazy.jpg', '-', '遅延読み込みの画像', 1),
        ('srcset="/s/small.jpg 320w, /s/large.jpg 1024w" alt="レスポンシブな画像"',
         'https://perldoc.jp/s/large.jpg', 'absent', 'レスポンシブな画像', 1),
        ('src="/img/pen.png?a=1&amp;b=2" alt="ペン&amp;インク　の絵"', 'https://perldoc.jp/img/pen.png?a=1&b=2', None,
         'ペン&インク の絵', 1),
        ('src="https://example.com/zh.png" alt="首页"', 'https://example.com/zh.png', None, '首页', 0),
        ('src="/img/logo.png" alt="Perl logo"', 'https://perldoc.jp/img/logo.png', None, 'Perl logo', 0),
        ('src="/img/empty.png" alt=""', None, None, '', 0),
        ('src="javascript:void(0)" alt="スクリプトの画像"', '-', None, 'スクリプトの画像', 1),
        ('SRC=/img/upper.gif ALT=大文字の属性です', 'https://perldoc.jp/img/upper.gif', None, '大文字の属性です', 1),
        # decoded once from HTML; the WAT route decodes WAT values again (older WATs kept entities)
        ('src="/img/tag.png" alt="&amp;lt;タグ&amp;gt;の説明"', 'https://perldoc.jp/img/tag.png', '<タグ>の説明',
         '&lt;タグ&gt;の説明', 1),
    ]
    block = '\n<div class="synthetic-images">\n' + '\n'.join(f'<img {a}>' for a, *_ in imgs) + '\n</div>\n'
    page = html.replace('<body onload="prettyPrint();return true;">',
                        '<body onload="prettyPrint();return true;">' + block, 1)
    page = page.replace('<head>', f'<head>\n<base href="{BASE}">', 1)
    assert block in page and '<base' in page

    with open(os.path.join(out, 'expected_html.tsv'), 'w') as f:
        for a, url, wat, alt, ja in imgs:
            if alt and url and url != '-':
                f.write(f'{url}\t{alt}\t{ja}\n')
    with open(os.path.join(out, 'expected_wat.tsv'), 'w') as f:
        for a, url, wat, alt, ja in imgs:
            if wat == 'absent' or wat == '-':
                continue  # WAT keeps only src: srcset/data-src images are missed or data: URIs
            if alt and url and url != '-':
                f.write(f'{url}\t{wat or alt}\t{ja}\n')

    def record(wtype, uri, ctype, block, extra=''):
        head = (f'WARC/1.0\r\nWARC-Type: {wtype}\r\nWARC-Date: 2024-05-18T01:58:10Z\r\n'
                f'WARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, wtype + uri)}>\r\n')
        if uri:
            head += f'WARC-Target-URI: {uri}\r\n'
        head += f'{extra}Content-Type: {ctype}\r\nContent-Length: {len(block)}\r\n\r\n'
        return gzip.compress(head.encode() + block + b'\r\n\r\n')

    def warc(name, body, http_charset):
        ct = 'text/html' + (f'; charset={http_charset}' if http_charset else '')
        http = (f'HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {len(body)}\r\n\r\n').encode() + body
        info = b'software: make_ja_fixture.py (synthetic wrapping of a real page)\r\nformat: WARC File Format 1.0\r\n'
        data = (record('warcinfo', '', 'application/warc-fields', info) +
                record('request', PAGE_URL, 'application/http; msgtype=request',
                       b'GET /docs/perl/5.10.1/perlfaq4.pod HTTP/1.1\r\nHost: perldoc.jp\r\n\r\n') +
                record('response', PAGE_URL, 'application/http; msgtype=response', http) +
                record('metadata', PAGE_URL, 'application/warc-fields', b'languages-cld2: {"reliable":true,"languages":[{"code":"ja"}]}\r\n'))
        open(os.path.join(out, name), 'wb').write(data)

    warc('ja.warc.gz', page.encode('utf-8'), 'UTF-8')
    warc('ja_sjis.warc.gz', page.replace('charset=utf-8', 'charset=Shift_JIS').encode('cp932', 'xmlcharrefreplace'), 'Shift_JIS')
    warc('ja_eucjp.warc.gz', page.replace('charset=utf-8', 'charset=EUC-JP').encode('euc_jp', 'xmlcharrefreplace'), None)

    q = Anchors()
    q.feed(page)
    wat = {
        'Container': {'Filename': 'ja.warc.gz', 'Compressed': True, 'Offset': '0'},
        'Envelope': {
            'Format': 'WARC',
            'WARC-Header-Metadata': {'WARC-Type': 'response', 'WARC-Target-URI': PAGE_URL},
            'Payload-Metadata': {
                'Actual-Content-Type': 'application/http; msgtype=response',
                'HTTP-Response-Metadata': {
                    'Response-Message': {'Status': '200', 'Version': 'HTTP/1.1', 'Reason': 'OK'},
                    'Headers': {'Content-Type': 'text/html; charset=UTF-8'},
                    'HTML-Metadata': {
                        'Head': {'Title': ' '.join(q.title.split()), 'Base': BASE,
                                 'Metas': [{'http-equiv': 'Content-Language', 'content': 'ja'}]},
                        'Links': q.links,
                    },
                },
            },
        },
    }
    js = json.dumps(wat, ensure_ascii=False, separators=(',', ':')).encode('utf-8')
    info = b'Software-Info: make_ja_fixture.py (synthetic WAT in ia-web-commons layout)\r\n'
    data = (record('warcinfo', '', 'application/warc-fields', info) +
            record('metadata', PAGE_URL, 'application/json', js))
    open(os.path.join(out, 'ja.warc.wat.gz'), 'wb').write(data)


main()
