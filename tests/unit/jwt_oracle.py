#!/usr/bin/python3
"""Independent check of an RS256 JWT made by df_jwt (oracle for jwt_test).

Usage: jwt_oracle.py PUBLIC_KEY_PEM JWT_FILE

Verifies the signature with Debian's python3-cryptography (RSASSA-PKCS1-v1_5,
SHA-256) over "header.claims", checks the compact form (three base64url parts,
no padding) and prints {"header": ..., "claims": ...} on success. Exits 1
with the reason on stderr otherwise.
"""
import base64
import json
import re
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def b64url_decode(part: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", part):
        raise ValueError(f"not base64url without padding: {part[:20]}...")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        public_key = serialization.load_pem_public_key(f.read())
    with open(sys.argv[2], "r", encoding="ascii") as f:
        token = f.read().strip()
    parts = token.split(".")
    if len(parts) != 3:
        print(f"want 3 parts, got {len(parts)}", file=sys.stderr)
        return 1
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
        public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"),
                          padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, InvalidSignature) as e:
        print(f"invalid JWT: {type(e).__name__} {e}", file=sys.stderr)
        return 1
    print(json.dumps({"header": header, "claims": claims}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
