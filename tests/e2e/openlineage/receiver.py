#!/usr/bin/env python3
"""A stand-in OpenLineage endpoint for the tests: POST /api/v1/lineage
appends each body (one JSON event) as a line to EVENTS_FILE and answers 201;
while FAIL_FILE exists it answers 503 instead. Prints its port on stdout."""
import http.server
import os
import sys

events_file, fail_file, token = sys.argv[1], sys.argv[2], sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/api/v1/lineage":
            self.send_response(404)
        elif self.headers.get("Authorization") != "Bearer " + token:
            self.send_response(401)
        elif os.path.exists(fail_file):
            self.send_response(503)
        else:
            with open(events_file, "ab") as f:
                f.write(body.replace(b"\n", b" ") + b"\n")
            self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
