#!/usr/bin/python3
"""A small bookings API for the http_json source tests
(tests/integration/source_http_json_test.c): page, offset, cursor and
Link-header pagination, nested records, per-booking details for
enrichment, bearer and basic auth, a date-range endpoint, and faults (429
with Retry-After, 5xx, a looping cursor, bad JSON, bad values).

Usage: server.py PORT_FILE  -- listens on 127.0.0.1, a free port, written to
PORT_FILE once it accepts connections. GET /_log returns (and clears) the
paths requested so far."""
import base64
import datetime
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

BOOKINGS = 23
TOKEN = "s3cret-token-for-tests"
BASIC = ("user", "pa55word-for-tests")


def booking(i):
    rooms = [{"type": "double", "n": 1}]
    if i % 2 == 0:
        rooms.append({"type": "single", "n": 2})
    return {
        "id": i,
        "ref": "B-%04d" % i,
        "guest": {"name": "Guest %d" % i, "address": {"country": ["NO", "SE", "DK"][i % 3]}},
        "amount": i * 10.5,
        "created": "2024-01-%02d" % i,
        "status": "cancelled" if i % 4 == 0 else "confirmed",
        "rooms": rooms,
    }


ALL = [booking(i) for i in range(1, BOOKINGS + 1)]
lock = threading.Lock()
log = []
counters = {}


def count(key):
    with lock:
        counters[key] = counters.get(key, 0) + 1
        return counters[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        url = urlparse(self.path)
        with lock:
            log.append("POST " + self.path)
        if url.path == "/bookings/search" and self.headers.get("Content-Type") == "application/json":
            status = body.get("status")
            return self.send(200, [b for b in ALL if b["status"] == status])
        self.send(404, {"error": "no such endpoint"})

    def do_GET(self):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        p = url.path
        if p == "/_log":
            with lock:
                out = list(log)
                log.clear()
                counters.clear()
            return self.send(200, out)
        with lock:
            log.append(self.path)
        if p == "/bookings/page":
            page, size = int(q.get("page", 1)), int(q.get("per_page", 10))
            data = ALL[(page - 1) * size:page * size]
            return self.send(200, {"data": data, "meta": {"page": page}})
        if p == "/bookings/offset":
            off, lim = int(q.get("offset", 0)), int(q.get("limit", 10))
            return self.send(200, {"items": ALL[off:off + lim]})
        if p == "/bookings/cursor":
            start = int(q["cursor"][1:]) if "cursor" in q else 0
            nxt = start + 5
            return self.send(200, {"results": ALL[start:nxt],
                                   "meta": {"next_cursor": "c%d" % nxt if nxt < BOOKINGS else None}})
        if p == "/bookings/link":
            page = int(q.get("page", 1))
            headers = {}
            if page * 6 < BOOKINGS:
                # relative on even pages, absolute on odd ones; extra links around it
                target = "/bookings/link?page=%d" % (page + 1)
                if page % 2:
                    target = "http://%s%s" % (self.headers["Host"], target)
                headers["Link"] = '<http://x/first>; rel="first", <%s>; rel="next", <http://x/last>; rel=last' % target
            return self.send(200, ALL[(page - 1) * 6:page * 6], headers)
        if p == "/bookings/nested":
            return self.send(200, {"response": {"bookings": ALL[:4], "total": 4}})
        if p.startswith("/bookings/details/"):
            i = int(p.rsplit("/", 1)[1])
            if i == 13:
                return self.send(404, {"error": "no details for booking 13"})
            return self.send(200, {"nights": i % 5 + 1, "channel": "web" if i % 2 else "phone",
                                   "notes": {"vip": i % 7 == 0}})
        if p == "/bookings/auth-bearer":
            if self.headers.get("Authorization") != "Bearer " + TOKEN:
                return self.send(401, {"error": "unauthorized", "error_description": "bad token"})
            return self.send(200, ALL[:2])
        if p == "/bookings/auth-basic":
            want = "Basic " + base64.b64encode(("%s:%s" % BASIC).encode()).decode()
            if self.headers.get("Authorization") != want:
                return self.send(401, {"error": "unauthorized"}, {"WWW-Authenticate": 'Basic realm="x"'})
            return self.send(200, ALL[:3])
        if p == "/bookings/range":
            lo = datetime.date.fromisoformat(q["from"])
            hi = datetime.date.fromisoformat(q["to"])
            page = int(q.get("page", 1))
            inside = [b for b in ALL if lo <= datetime.date.fromisoformat(b["created"]) <= hi]
            return self.send(200, {"data": inside[(page - 1) * 3:page * 3]})
        if p == "/bookings/flaky":
            n = count("flaky")
            if n == 1:
                return self.send(429, {"error": "slow down"}, {"Retry-After": "1"})
            if n == 2:
                return self.send(503, {"error": "busy"})
            return self.send(200, ALL[:5])
        if p == "/bookings/always-429":
            return self.send(429, {"error": "quota"}, {"Retry-After": "120"})
        if p == "/bookings/always-500":
            return self.send(500, {"message": "database on fire"})
        if p == "/bookings/loop-cursor":
            return self.send(200, {"results": ALL[:2], "next": "same"})
        if p == "/bookings/notjson":
            return self.send(200, b"<html>maintenance</html>")
        if p == "/bookings/bad-value":
            page = int(q.get("page", 1))
            if page == 1:
                return self.send(200, ALL[:3])
            if page == 2:
                bad = dict(ALL[3])
                bad["amount"] = "lots"
                return self.send(200, [ALL[4], bad])
            return self.send(200, [])
        if p == "/bookings/new-key":
            page = int(q.get("page", 1))
            if page == 1:
                return self.send(200, [{"id": 1, "a": "x"}])
            if page == 2:
                return self.send(200, [{"id": 2, "a": "y", "extra": True}])
            return self.send(200, [])
        self.send(404, {"error": "no such endpoint"})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
