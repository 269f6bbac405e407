"""A real HTTP server (Python's http.server) that receives Kiln's webhook POSTs.

Usage: webhook_receiver.py OUT_FILE [--fail-first N] [--delay SECONDS] [--status CODE]
Prints its port on the first line of stdout, then serves on 127.0.0.1 until killed. Every
POST body is checked to be a JSON array and appended to OUT_FILE as one line:
{"path": ..., "content_type": ..., "results": [...], "status": CODE}. The first N requests
answer 503 (a receiver that is down), --delay sleeps before answering (a slow receiver),
--status answers every request with CODE (e.g. 400: a receiver that refuses).
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--fail-first", type=int, default=0)
parser.add_argument("--delay", type=float, default=0)
parser.add_argument("--status", type=int, default=200)
args = parser.parse_args()
lock = threading.Lock()
seen = {"requests": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with lock:
            seen["requests"] += 1
            n = seen["requests"]
        if args.delay:
            time.sleep(args.delay)
        status = 503 if n <= args.fail_first else args.status
        results = json.loads(body)
        assert isinstance(results, list), "the body must be a JSON array"
        with lock, open(args.out, "a") as f:
            f.write(json.dumps({"path": self.path, "content_type": self.headers.get("Content-Type"),
                                "results": results, "status": status}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
