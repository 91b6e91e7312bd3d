"""A loopback webhook receiver for the admin page's browser test: answers every POST with
STATUS and BODY, and appends each request (headers and base64 body) to LOG as a JSON line.

usage: receiver.py PORT STATUS BODY LOG
"""
import base64
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, status, body, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode(), sys.argv[4]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        data = self.rfile.read(length)
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": base64.b64encode(data).decode(),
            }) + "\n")
        self.send_response(status)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
