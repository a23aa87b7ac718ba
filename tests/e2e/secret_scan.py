#!/usr/bin/python3
"""secret_scan: look for secret values in files (tests/e2e/secret_scan_test.sh).

    secret_scan.py SECRETS_FILE PATH...

SECRETS_FILE holds one secret per line, "NAME<TAB>VALUE". Every file under
each PATH (directories are walked) is read as bytes and searched for every
secret in the forms it could take there: as it is, JSON-escaped,
URL-encoded (form bodies) and base64 (Basic credentials, sealed-looking
blobs; each of the three alignments). Prints one line per finding, naming
the file, the line and the secret's NAME (never its value), and exits 1
when there is any; exit 0 and a summary line when there is none.
"""
import base64
import json
import os
import sys
import urllib.parse


def forms(value):
    raw = value.encode()
    out = {raw, json.dumps(value)[1:-1].encode(), urllib.parse.quote(value, safe="").encode(),
           urllib.parse.quote_plus(value).encode()}
    for skip in range(3):
        # the base64 text of the bytes from `skip` on, without the last
        # group, which depends on what follows
        chunk = raw[skip:]
        chunk = chunk[:len(chunk) - len(chunk) % 3]
        if len(chunk) >= 12:
            out.add(base64.b64encode(chunk))
            out.add(base64.urlsafe_b64encode(chunk).rstrip(b"="))
    return [f for f in out if len(f) >= 8]


def files(paths):
    for path in paths:
        if os.path.isdir(path):
            for root, _, names in os.walk(path):
                for name in sorted(names):
                    yield os.path.join(root, name)
        elif os.path.exists(path):
            yield path
        else:
            raise SystemExit("secret_scan: %s does not exist" % path)


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    secrets = []
    with open(argv[1], encoding="utf-8") as f:
        for line in f:
            name, _, value = line.rstrip("\n").partition("\t")
            if len(value) < 8:
                raise SystemExit("secret_scan: secret %s is shorter than 8 characters" % name)
            secrets.append((name, forms(value)))
    findings = scanned = size = 0
    for path in files(argv[2:]):
        with open(path, "rb") as f:
            data = f.read()
        scanned += 1
        size += len(data)
        for name, patterns in secrets:
            for p in patterns:
                at = data.find(p)
                if at >= 0:
                    line = data.count(b"\n", 0, at) + 1
                    print("secret_scan: %s:%d holds secret %s" % (path, line, name))
                    findings += 1
                    break
    print("secret_scan: %d secret(s), %d file(s), %d bytes, %d finding(s)"
          % (len(secrets), scanned, size, findings))
    return 1 if findings or scanned == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
