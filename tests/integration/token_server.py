#!/usr/bin/python3
"""A tiny local HTTP server for the df_http and df_auth integration tests.

Usage: token_server.py --port-file PATH [--public-key PEM]

Listens on 127.0.0.1 (a free port, written to PATH once it listens), HTTP/1.1
with keep-alive, one thread per connection, until SIGTERM.

OAuth2 token endpoints (they count every request):
  POST /tenant/oauth2/v2.0/token   client credentials: client_id "app-id",
                                   client_secret "app-secret"; anything else
                                   gets Entra's 401 invalid_client (AADSTS7000215)
  POST /google/token               JWT bearer grant: the RS256 assertion is
                                   verified with --public-key and its claims
                                   checked (aud = this URL, exp = iat + 3600)
  Tokens are "tok-<n>-<random>" with expires_in from the settings.

Test control:
  POST /control   JSON {"expires_in": s, "delay_ms": ms, "fail": "" | "503",
                  "reset": true}: settings for later token requests
  GET  /stats     {"token_requests": n, "jwt_requests": n, "last_form": {...}}

For df_http:
  ANY  /echo              {"method", "path", "query", "headers", "body", "client_port"}
  GET  /status/<code>     that status; ?retry_after=N adds "Retry-After: N",
                          ?retry_after_date=N an HTTP-date N seconds ahead;
                          body {"error":{"code":"Status<code>","message":"..."}}
  GET  /bytes/<n>         n bytes ("x"); ?chunked=1 without Content-Length
  GET  /slow/<ms>         sleep, then 200
  GET  /drop              close the connection without answering
"""
import argparse
import base64
import email.utils
import json
import os
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLIENT_ID = "app-id"
CLIENT_SECRET = "app-secret"

state_lock = threading.Lock()
state = {"token_requests": 0, "jwt_requests": 0, "issued": 0, "last_form": {},
         "expires_in": 3600, "delay_ms": 0, "fail": ""}
public_key = None


def b64url_decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_assertion(assertion, audience):
    """Returns an error description, or None when the assertion is good."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    try:
        h, c, s = assertion.split(".")
        header = json.loads(b64url_decode(h))
        claims = json.loads(b64url_decode(c))
        public_key.verify(b64url_decode(s), f"{h}.{c}".encode(), padding.PKCS1v15(),
                          hashes.SHA256())
    except InvalidSignature:
        return "Invalid JWT Signature."
    except Exception as e:  # malformed in any way
        return f"Invalid JWT: {type(e).__name__}"
    if header.get("alg") != "RS256" or header.get("typ") != "JWT":
        return "Invalid JWT header."
    if claims.get("aud") != audience:
        return f"Invalid JWT: aud {claims.get('aud')!r} is not {audience!r}"
    if claims.get("exp", 0) - claims.get("iat", 0) != 3600 or not claims.get("iss"):
        return "Invalid JWT: Token must be a short-lived token (60 minutes)"
    if abs(claims["iat"] - time.time()) > 300:
        return "Invalid JWT: iat is too far from now"
    if not claims.get("scope"):
        return "Invalid JWT: no scope"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def reply(self, status, body=b"", headers=None, content_type="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def token(self, url, kind):
        body = self.read_body().decode()
        form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        with state_lock:
            state[kind] += 1
            state["last_form"] = {k: v for k, v in form.items()
                                  if k not in ("client_secret", "assertion")}
            delay, fail, expires_in = state["delay_ms"], state["fail"], state["expires_in"]
        if delay:
            time.sleep(delay / 1000)
        if fail == "503":
            return self.reply(503, {"error": "temporarily_unavailable",
                                    "error_description": "try later"},
                              {"Retry-After": "2"})
        if kind == "token_requests":
            if form.get("grant_type") != "client_credentials":
                return self.reply(400, {"error": "unsupported_grant_type",
                                        "error_description": "AADSTS70003: grant type"})
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                return self.reply(401, {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided. "
                    "Ensure the secret being sent in the request is the client secret value, "
                    "not the client secret ID.",
                    "error_codes": [7000215]})
        else:
            if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                return self.reply(400, {"error": "unsupported_grant_type"})
            problem = verify_assertion(form.get("assertion", ""), url)
            if problem:
                return self.reply(400, {"error": "invalid_grant", "error_description": problem})
        with state_lock:
            state["issued"] += 1
            n = state["issued"]
        return self.reply(200, {"token_type": "Bearer", "expires_in": expires_in,
                                "access_token": f"tok-{n}-{secrets.token_hex(16)}"})

    def handle_any(self):
        parsed = urllib.parse.urlsplit(self.path)
        path, query = parsed.path, dict(urllib.parse.parse_qsl(parsed.query))
        own_url = f"http://127.0.0.1:{self.server.server_port}{path}"
        if self.command == "POST" and path.endswith("/oauth2/v2.0/token"):
            return self.token(own_url, "token_requests")
        if self.command == "POST" and path == "/google/token":
            return self.token(own_url, "jwt_requests")
        if path == "/control":
            settings = json.loads(self.read_body() or b"{}")
            with state_lock:
                if settings.pop("reset", False):
                    state.update(token_requests=0, jwt_requests=0, expires_in=3600,
                                 delay_ms=0, fail="")
                state.update(settings)
            return self.reply(200, {"ok": True})
        if path == "/stats":
            with state_lock:
                return self.reply(200, {k: state[k] for k in
                                        ("token_requests", "jwt_requests", "last_form")})
        if path == "/echo":
            body = self.read_body()
            return self.reply(200, {
                "method": self.command, "path": path, "query": parsed.query,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode(errors="replace"),
                "client_port": self.client_address[1]})
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            headers = {}
            if "retry_after" in query:
                headers["Retry-After"] = query["retry_after"]
            if "retry_after_date" in query:
                headers["Retry-After"] = email.utils.formatdate(
                    time.time() + int(query["retry_after_date"]), usegmt=True)
            return self.reply(code, {"error": {"code": f"Status{code}",
                                               "message": f"status {code} as asked"}}, headers)
        if path.startswith("/bytes/"):
            n = int(path.rsplit("/", 1)[1])
            if query.get("chunked"):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                left = n
                try:
                    while left:
                        part = min(left, 4096)
                        self.wfile.write(b"%x\r\n" % part + b"x" * part + b"\r\n")
                        left -= part
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client stopped reading: expected
                return None
            return self.reply(200, b"x" * n, content_type="text/plain")
        if path.startswith("/slow/"):
            time.sleep(int(path.rsplit("/", 1)[1]) / 1000)
            return self.reply(200, {"slow": True})
        if path == "/drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        return self.reply(404, {"message": f"no route {path}"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # clients that time out or give up on a body: part of the tests
        super().handle_error(request, client_address)


def main():
    global public_key
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--public-key")
    args = ap.parse_args()
    if args.public_key:
        from cryptography.hazmat.primitives import serialization
        with open(args.public_key, "rb") as f:
            public_key = serialization.load_pem_public_key(f.read())
    server = Server(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_port))
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
