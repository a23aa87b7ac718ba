#!/usr/bin/env bash
# The REST API's role matrix, driven by the document the server serves: for
# every operation that needs a token (/openapi.json, `x-datafleet-role`),
# a call without a token is 401, a call with a token of a lower role is 403,
# and a call with a token of that role or above is neither (path
# parameters name things that do not exist and bodies are `{}`, so allowed
# calls answer 400 or 404 and change nothing). A route whose enforced role
# differs from its document fails here.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_lib.sh"
e2e_init apiroles

api_start --api-rate 1000 --api-burst 1000
export ROLE_read ROLE_submit ROLE_admin API_URL
ROLE_read=$(api_token read)
ROLE_submit=$(api_token submit)
ROLE_admin=$(api_token admin)
curl -sf "$API_URL/openapi.json" >"$E2E_DIR/openapi.json"

python3 - "$E2E_DIR/openapi.json" >"$E2E_DIR/matrix.log" <<'PY'
import json, os, sys, urllib.error, urllib.request

doc = json.load(open(sys.argv[1]))
url = os.environ["API_URL"]
tokens = {r: os.environ["ROLE_" + r] for r in ("read", "submit", "admin")}
rank = {"read": 1, "submit": 2, "admin": 3}
fill = {"id": None, "name": "no-such-name", "run_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "file": "none.css"}

def call(method, path, token, body):
    req = urllib.request.Request(url + path, method=method.upper(),
                                 data=body.encode() if body is not None else None)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code

ops = bad = 0
for path, item in sorted(doc["paths"].items()):
    for method, op in item.items():
        if method not in ("get", "post", "put", "patch", "delete"):
            continue
        secured = op.get("security", doc.get("security")) not in ([], None)
        role = op.get("x-datafleet-role")
        if not secured:
            continue
        ops += 1
        concrete = path
        for name in ("id", "name", "run_id", "file"):
            value = fill[name]
            if name == "id":
                value = "999999" if path.startswith("/v1/dlq") else "01ARZ3NDEKTSV4RRFFQ69G5FAV"
            concrete = concrete.replace("{%s}" % name, value)
        body = "{}" if "requestBody" in op else None
        got = {"none": call(method, concrete, None, body)}
        for r, t in tokens.items():
            got[r] = call(method, concrete, t, body)
        problems = []
        if role not in rank:
            problems.append("no x-datafleet-role")
        if got["none"] != 401:
            problems.append("no token: %s, expected 401" % got["none"])
        for r in tokens:
            if role in rank and rank[r] < rank[role] and got[r] != 403:
                problems.append("%s token: %s, expected 403" % (r, got[r]))
            if role in rank and rank[r] >= rank[role] and got[r] in (401, 403):
                problems.append("%s token: %s, expected to be let in" % (r, got[r]))
            if got[r] >= 500:
                problems.append("%s token: %s" % (r, got[r]))
        line = "%-6s %-36s %-6s %s" % (method.upper(), path, role, got)
        if problems:
            bad += 1
            line += "  <-- " + "; ".join(problems)
        print(line)
print("operations checked: %d, wrong: %d" % (ops, bad))
PY
cat "$E2E_DIR/matrix.log"
check "every secured operation was checked (at least 35)" \
    test "$(sed -n 's/^operations checked: \([0-9]*\),.*/\1/p' "$E2E_DIR/matrix.log")" -ge 35
check_eq "the enforced roles are the documented ones" \
    "$(sed -n 's/^operations checked: [0-9]*, wrong: \([0-9]*\)$/\1/p' "$E2E_DIR/matrix.log")" 0
check "the scan saw a 403 for a read token on an admin route" grep -q "POST   /v1/connectors .*'read': 403" "$E2E_DIR/matrix.log"
e2e_finish
