#!/usr/bin/env python3
"""Local HTTP server for the downloader tests: binds 127.0.0.1 only, on a free port which it
writes to PORTFILE, and serves the shared test images plus every failure the downloader must
handle. Started and killed by tests/mining/test_download.sh.

  /img/<dir>/<name>     a file from ../shared/images/<dir>/ with its image Content-Type
  /delay/<dir>/<name>   the file after 0.15 s (for the kill-and-restart test)
  /404                  404
  /500                  500 every time (retried, then failed)
  /flaky/<dir>/<name>   503 on the first request for that path, the image afterwards
  /slow                 sleeps 30 s before answering (a timeout)
  /trunc/<dir>/<name>   announces the full Content-Length, sends half, closes
  /cut/<dir>/<name>     no Content-Length, sends half, closes (only the image check sees it)
  /html                 200 text/html
  /octet/<dir>/<name>   the image as application/octet-stream
  /fake.jpg             image/jpeg header, text body
  /big                  image/jpeg, 3 MB
  /redirect/<dir>/<n>   302 to /img/<dir>/<n>
  /loop                 302 to itself
  /noai/<dir>/<name>    the image with X-Robots-Tag: noai
  /gif                  a small GIF

usage: http_server.py IMAGES_ROOT PORTFILE
"""
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = sys.argv[1]
seen = set()
lock = threading.Lock()
TYPES = {'.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp'}


class H(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass

    def file(self, rel):
        path = os.path.realpath(os.path.join(ROOT, rel))
        if not path.startswith(os.path.realpath(ROOT) + os.sep) or not os.path.isfile(path):
            return None, None
        return open(path, 'rb').read(), TYPES.get(os.path.splitext(path)[1].lower(), 'application/octet-stream')

    def send(self, code, body, ctype, extra=()):
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        p = self.path.split('?', 1)[0]
        if p.startswith('/img/'):
            body, ct = self.file(p[5:])
            return self.send(200, body, ct) if body else self.send(404, b'no', 'text/plain')
        if p.startswith('/delay/'):
            time.sleep(0.15)
            body, ct = self.file(p[7:])
            return self.send(200, body, ct) if body else self.send(404, b'no', 'text/plain')
        if p == '/404':
            return self.send(404, b'not found', 'text/html')
        if p == '/500':
            return self.send(500, b'error', 'text/html')
        if p.startswith('/flaky/'):
            with lock:
                first = p not in seen
                seen.add(p)
            if first:
                return self.send(503, b'busy', 'text/plain')
            body, ct = self.file(p[7:])
            return self.send(200, body, ct)
        if p == '/slow':
            time.sleep(30)
            return self.send(200, b'late', 'image/jpeg')
        if p.startswith('/trunc/') or p.startswith('/cut/'):
            body, ct = self.file(p.split('/', 2)[2])
            self.send_response(200)
            self.send_header('Content-Type', ct)
            if p.startswith('/trunc/'):
                self.send_header('Content-Length', str(len(body)))
            self.send_header('Connection', 'close')
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if p == '/html':
            return self.send(200, b'<html><body>a page</body></html>', 'text/html; charset=utf-8')
        if p.startswith('/octet/'):
            body, _ = self.file(p[7:])
            return self.send(200, body, 'application/octet-stream')
        if p == '/fake.jpg':
            return self.send(200, b'this is not a jpeg at all' * 10, 'image/jpeg')
        if p == '/big':
            return self.send(200, b'\xff\xd8\xff' + b'\0' * 3000000, 'image/jpeg')
        if p.startswith('/redirect/'):
            self.send_response(302)
            self.send_header('Location', '/img/' + p[10:])
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        if p == '/loop':
            self.send_response(302)
            self.send_header('Location', '/loop')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        if p.startswith('/noai/'):
            body, ct = self.file(p[6:])
            return self.send(200, body, ct, [('X-Robots-Tag', 'noai, noimageai')])
        if p == '/gif':
            return self.send(200, b'GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;', 'image/gif')
        return self.send(404, b'unknown', 'text/plain')


class Quiet(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # clients hanging up early (size limits, timeouts) are part of the test


srv = Quiet(('127.0.0.1', 0), H)
srv.daemon_threads = True
with open(sys.argv[2] + '.tmp', 'w') as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[2] + '.tmp', sys.argv[2])
srv.serve_forever()
