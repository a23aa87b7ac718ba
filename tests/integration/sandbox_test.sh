#!/usr/bin/env bash
# sandbox_test: datafleet-sandbox (tests/fakes/sandbox) against the vendor
# contracts it stands in for: Entra client credentials, Power BI push
# datasets and their limits, Google's service-account JWT grant, Sheets v4
# values/spreadsheets and quotas, plus fault injection, inspection and
# scaled time. Needs no other server: it starts sandboxes on free ports
# (--port 0) and stops them on exit (trap). Tools: curl, python3, and
# python3-cryptography or the openssl CLI (RSA keys and RS256 JWTs).
set -uo pipefail
cd "${DF_SOURCE_DIR:-$(dirname "$0")/../..}" || exit 1

PROG=sandbox_test
BIN=${DF_BUILD_DIR:-build/dev}/tools/datafleet-sandbox
WORK=$(mktemp -d)
B=$WORK/body
H=$WORK/headers
PIDS=()
PASSED=0
FAILED=0

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

ok() { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$1"; }
bad() { FAILED=$((FAILED + 1)); printf 'FAIL %s: %s\n' "$1" "$2"; }
die() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  echo "$PASSED passed, $((FAILED + 1)) failed"
  exit 1
}

for tool in curl python3; do
  command -v "$tool" >/dev/null || die "$tool not found"
done
[[ -x "$BIN" ]] || die "$BIN not built (cmake --build --preset dev)"

# ---- helpers ----

# start NAME [FLAGS...]: run a sandbox on a free port; sets URL_<NAME>.
start() {
  local name=$1 out=$WORK/$1.out i
  shift
  "$BIN" --port 0 "$@" >"$out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  printf -v "PID_$name" '%s' "$!"
  for ((i = 0; i < 100; i++)); do
    [[ -s "$out" ]] && break
    sleep 0.05
  done
  local url
  url=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["listening"])' \
    "$out" 2>/dev/null) || die "sandbox $name did not print its listening line"
  printf -v "URL_$name" '%s' "$url"
}

# call METHOD PATH [CURL ARGS...]: request $URL+PATH; sets STATUS (000 and
# CURL_RC on a transport error), body in $B, headers in $H.
call() {
  local method=$1 path=$2
  shift 2
  : >"$B"
  : >"$H"
  STATUS=$(curl -sS -o "$B" -D "$H" -w '%{http_code}' -X "$method" "$URL$path" "$@" 2>"$WORK/curl.err")
  CURL_RC=$?
}

# py EXPR: evaluate a Python expression over d (the JSON body or None), h
# (headers, lower-case names) and b (raw body); exit 0 when true.
py() {
  python3 - "$B" "$H" "$1" <<'EOF'
import json, sys
b = open(sys.argv[1], "rb").read()
try:
    d = json.loads(b) if b.strip() else None
except ValueError:
    d = None
h = {}
for line in open(sys.argv[2], encoding="latin-1"):
    if ":" in line:
        k, v = line.split(":", 1)
        h[k.strip().lower()] = v.strip()
sys.exit(0 if eval(sys.argv[3]) else 1)
EOF
}

# expect NAME STATUS [EXPR]: the last call answered STATUS and EXPR holds.
expect() {
  local name=$1 want=$2 expr=${3:-True}
  if [[ "$STATUS" == "$want" ]] && py "$expr"; then
    ok "$name"
  else
    bad "$name" "status $STATUS (want $want), body: $(head -c 500 "$B")"
  fi
}

# value EXPR: print a Python expression over d.
value() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$B" "$1"
}

json() { curl -sS -X "$1" "$URL$2" -H 'Content-Type: application/json' --data-binary "$3"; }

# burst METHOD PATH TOKEN BODYFILE COUNT: COUNT requests on one keep-alive
# connection; the summary (statuses, first 429) in $B, STATUS=000.
burst() {
  STATUS=000
  python3 "$WORK/burst.py" "$URL" "$@" >"$B"
}

# wait_fresh_minute MS: sleep until at least MS are left in the sandbox minute.
wait_fresh_minute() {
  local left
  left=$(curl -sS "$URL/_sandbox/clock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ms_to_next_minute"])')
  if ((left < $1)); then
    sleep "$(python3 -c "print(($left + 50) / 1000)")"
  fi
}

cat >"$WORK/keys.py" <<'EOF'
# keys.py PRIVATE PUBLIC: a 2048-bit RSA key pair in PEM files.
import subprocess, sys
priv, pub = sys.argv[1:3]
try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    open(priv, "wb").write(k.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    open(pub, "wb").write(k.public_key().public_bytes(serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo))
except ImportError:
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", priv], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", priv, "-pubout", "-out", pub], check=True)
EOF

cat >"$WORK/jwt.py" <<'EOF'
# jwt.py KEY ISS AUD IAT EXP SCOPE TAMPER: an RS256 JWT on stdout.
import base64, json, subprocess, sys
def b64(x):
    return base64.urlsafe_b64encode(x).rstrip(b"=").decode()
key, iss, aud, iat, exp, scope, tamper = sys.argv[1:8]
claims = {"iss": iss, "aud": aud, "iat": int(iat), "exp": int(exp)}
if scope:
    claims["scope"] = scope
signing = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode()) + "." + \
          b64(json.dumps(claims).encode())
try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    k = serialization.load_pem_private_key(open(key, "rb").read(), None)
    sig = k.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
except ImportError:
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key, "-binary"],
                         input=signing.encode(), capture_output=True, check=True).stdout
if tamper == "1":
    sig = bytes([sig[0] ^ 1]) + sig[1:]
print(signing + "." + b64(sig))
EOF

cat >"$WORK/burst.py" <<'EOF'
# burst.py URL METHOD PATH TOKEN BODYFILE COUNT: COUNT requests on one
# keep-alive connection; prints the statuses and the first 429.
import http.client, json, sys, urllib.parse
url, method, path, token, body_file, count = sys.argv[1:7]
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
body = open(body_file, "rb").read() if body_file != "-" else None
out = {"statuses": [], "first_429": None}
for i in range(int(count)):
    headers = {"Authorization": "Bearer " + token}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    out["statuses"].append(r.status)
    if r.status == 429 and out["first_429"] is None:
        out["first_429"] = {"index": i, "retry_after": r.getheader("Retry-After"),
                            "body": json.loads(data)}
print(json.dumps(out))
EOF

cat >"$WORK/together.py" <<'EOF'
# together.py URL TOKEN PATH:COUNT...: COUNT POST rows requests to each
# PATH, all sent at once (one thread and connection each, released by one
# barrier); prints per path the statuses (sorted) and the first 429.
import http.client, json, sys, threading, urllib.parse
url, token, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
u = urllib.parse.urlparse(url)
jobs = [(p, i) for spec in specs for p, n in [spec.rsplit(":", 1)] for i in range(int(n))]
barrier = threading.Barrier(len(jobs))
out = {p: {"statuses": [], "first_429": None} for p, _ in jobs}
lock = threading.Lock()
def one(path, i):
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    body = json.dumps({"rows": [{"ProductID": 1000 + i}]})
    conn.connect()
    barrier.wait()
    conn.request("POST", path, body=body, headers={"Authorization": "Bearer " + token,
                                                   "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    with lock:
        out[path]["statuses"].append(r.status)
        if r.status == 429 and out[path]["first_429"] is None:
            out[path]["first_429"] = {"retry_after": r.getheader("Retry-After"), "body": json.loads(data)}
threads = [threading.Thread(target=one, args=job) for job in jobs]
for t in threads:
    t.start()
for t in threads:
    t.join()
for v in out.values():
    v["statuses"].sort()
print(json.dumps(out))
EOF

PBI_SCOPE=https://analysis.windows.net/powerbi/api/.default
SHEETS_SCOPE=https://www.googleapis.com/auth/spreadsheets

# entra_token TENANT ID SECRET: prints an access token.
entra_token() {
  curl -sS -X POST "$URL/$1/oauth2/v2.0/token" -d grant_type=client_credentials -d "client_id=$2" \
    --data-urlencode "client_secret=$3" --data-urlencode "scope=$PBI_SCOPE" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# jwt KEY ISS AUD IAT EXP SCOPE [TAMPER]
jwt() { python3 "$WORK/jwt.py" "$1" "$2" "$3" "$4" "$5" "$6" "${7:-0}"; }

google_token_call() {
  call POST /token -d grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer \
    --data-urlencode "assertion=$1"
}

# ---- start-up and options ----

if "$BIN" --help >/dev/null; then ok "--help exits 0"; else bad "--help" "non-zero exit"; fi
if diff <("$BIN" --help-markdown) <(sed -n '/<!-- options:begin -->/,/<!-- options:end -->/p' docs/SANDBOX.md | sed '1d;$d') >"$WORK/doc.diff"; then
  ok "docs/SANDBOX.md options table matches --help-markdown"
else
  bad "docs/SANDBOX.md options table" "drifted from --help-markdown: $(head -c 600 "$WORK/doc.diff")"
fi
"$BIN" --listen 0.0.0.0:0 >/dev/null 2>&1
if [[ $? -eq 2 ]]; then ok "a non-loopback --listen is refused (exit 2)"; else bad "--listen 0.0.0.0" "not refused"; fi

start A --minute-ms 8000
start B --minute-ms 3000 --powerbi-posts-per-minute 3 --sheets-write-per-minute-project 4 \
  --sheets-max-payload-bytes 2048 --sheets-max-cells 30000 --max-body-bytes 100000
start C --token-ttl 1 --powerbi-expired-status 401
URL=$URL_A

call GET /_sandbox/health
expect "health" 200 'd["ok"] is True'

# ---- Entra ----

json POST /_sandbox/entra/apps '{"tenant":"contoso","client_id":"app-1","client_secret":"s3cret-value"}' >/dev/null
call POST /contoso/oauth2/v2.0/token -d grant_type=client_credentials -d client_id=app-1 \
  -d client_secret=s3cret-value --data-urlencode "scope=$PBI_SCOPE"
expect "entra: client credentials grant" 200 \
  'd["token_type"] == "Bearer" and d["expires_in"] == 3599 and d["ext_expires_in"] == 3599 and len(d["access_token"]) > 20'
call POST /contoso/oauth2/v2.0/token -d grant_type=client_credentials -d client_id=app-1 \
  -d client_secret=wrong --data-urlencode "scope=$PBI_SCOPE"
expect "entra: invalid_client body (AADSTS7000215, HTTP 401 as Entra answers)" 401 \
  'd["error"] == "invalid_client" and d["error_codes"] == [7000215] and d["error_description"].startswith("AADSTS7000215: Invalid client secret provided.") and "\r\nTrace ID: " in d["error_description"] and all(k in d for k in ("timestamp", "trace_id", "correlation_id"))'
call POST /fabrikam/oauth2/v2.0/token -d grant_type=client_credentials -d client_id=app-1 \
  -d client_secret=s3cret-value --data-urlencode "scope=$PBI_SCOPE"
expect "entra: unknown tenant (AADSTS90002)" 400 'd["error"] == "invalid_request" and d["error_codes"] == [90002]'
call POST /contoso/oauth2/v2.0/token -d grant_type=password -d client_id=app-1
expect "entra: unsupported grant_type" 400 'd["error"] == "unsupported_grant_type" and d["error_codes"] == [70003]'
call POST /contoso/oauth2/v2.0/token -d grant_type=client_credentials -d client_id=app-1 \
  -d client_secret=s3cret-value --data-urlencode "scope=https://analysis.windows.net/powerbi/api/Dataset.ReadWrite.All"
expect "entra: scope without /.default" 400 'd["error"] == "invalid_scope" and d["error_codes"] == [1002012]'
call POST /contoso/oauth2/v2.0/token -d grant_type=client_credentials -d client_id=app-1 \
  -d client_secret=s3cret-value --data-urlencode "scope=https://graph.microsoft.com/.default"
expect "entra: unknown resource" 400 'd["error"] == "invalid_resource" and d["error_codes"] == [500011]'
call POST /contoso/oauth2/v2.0/token -d client_id=app-1
expect "entra: missing grant_type" 400 'd["error_codes"] == [900144] and "grant_type" in d["error_description"]'
call POST /contoso/oauth2/v2.0/token -d grant_type=client_credentials -d client_id=nobody \
  -d client_secret=x --data-urlencode "scope=$PBI_SCOPE"
expect "entra: unknown client_id" 400 'd["error"] == "unauthorized_client" and d["error_codes"] == [700016]'
call GET /contoso/oauth2/v2.0/token
expect "entra: GET refused (AADSTS900561)" 400 'd["error_codes"] == [900561]'
call POST /contoso/oauth2/v2.0/token -u app-1:s3cret-value -d grant_type=client_credentials \
  --data-urlencode "scope=$PBI_SCOPE"
expect "entra: client_secret_basic" 200 '"access_token" in d'

# ---- Power BI ----

TOKEN=$(entra_token contoso app-1 s3cret-value)
AUTH=(-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json')
DATASET_BODY='{"name":"Sales","defaultMode":"Push","tables":[{"name":"Product","columns":[
  {"name":"ProductID","dataType":"Int64"},{"name":"Name","dataType":"string"},
  {"name":"IsCompete","dataType":"bool"},{"name":"ManufacturedOn","dataType":"DateTime"},
  {"name":"Price","dataType":"Double"}]}]}'
call POST /v1.0/myorg/datasets "${AUTH[@]}" --data-binary "$DATASET_BODY"
expect "powerbi: create push dataset (201)" 201 \
  'd["name"] == "Sales" and len(d["id"]) == 36 and d["defaultRetentionPolicy"] == "None"'
DS=$(value 'd["id"]')
call GET /v1.0/myorg/datasets "${AUTH[@]}"
expect "powerbi: list datasets" 200 'any(x["id"] == "'"$DS"'" and x["addRowsAPIEnabled"] for x in d["value"])'
call GET "/v1.0/myorg/datasets/$DS/tables" "${AUTH[@]}"
expect "powerbi: list tables" 200 '[t["name"] for t in d["value"]] == ["Product"]'

ROWS='{"rows":[{"ProductID":1,"Name":"Adjustable Race","IsCompete":true,"ManufacturedOn":"07/30/2014","Price":1.5},
  {"ProductID":2,"Name":"LL Crankarm","IsCompete":false,"ManufacturedOn":"2014-07-30T10:00:00Z"},
  {"ProductID":2,"Name":"LL Crankarm","IsCompete":false,"ManufacturedOn":"2014-07-30T10:00:00Z"}]}'
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary "$ROWS"
expect "powerbi: push rows" 200
call GET "/_sandbox/powerbi/datasets/$DS/tables/Product/rows"
expect "inspect: exact rows in arrival order, duplicates kept" 200 \
  'd["row_count"] == 3 and [r["ProductID"] for r in d["rows"]] == [1, 2, 2] and d["rows"][0] == {"ProductID": 1, "Name": "Adjustable Race", "IsCompete": True, "ManufacturedOn": "07/30/2014", "Price": 1.5}'

python3 -c 'import json; print(json.dumps({"rows": [{"ProductID": i} for i in range(10001)]}))' >"$WORK/rows10001.json"
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary "@$WORK/rows10001.json"
expect "powerbi: 10,001 rows in one POST refused" 400 'd["error"]["code"] == "InvalidRequest" and "10001" in d["error"]["message"]'
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary '{"rows":[{"ProductID":"seven"}]}'
expect "powerbi: wrong type names the column" 400 '"ProductID" in d["error"]["message"] and "Int64" in d["error"]["message"]'
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary '{"rows":[{"Colour":"red"}]}'
expect "powerbi: unknown column named" 400 '"Colour" in d["error"]["message"]'
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary '{"rows":[{"ManufacturedOn":"yesterday"}]}'
expect "powerbi: bad DateTime named" 400 '"ManufacturedOn" in d["error"]["message"]'
python3 -c 'import json; print(json.dumps({"rows": [{"Name": "x" * 4000}]}))' >"$WORK/s4000.json"
python3 -c 'import json; print(json.dumps({"rows": [{"Name": "x" * 4001}]}))' >"$WORK/s4001.json"
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary "@$WORK/s4000.json"
expect "powerbi: 4,000-character string accepted" 200
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary "@$WORK/s4001.json"
expect "powerbi: 4,001-character string refused, column named" 400 '"Name" in d["error"]["message"] and "4001" in d["error"]["message"]'
call POST "/v1.0/myorg/datasets/$DS/tables/Nope/rows" "${AUTH[@]}" --data-binary '{"rows":[]}'
expect "powerbi: unknown table 404" 404 'd["error"]["code"] == "ItemNotFound"'
call POST /v1.0/myorg/datasets/00000000-0000-4000-8000-000000000000/tables/Product/rows "${AUTH[@]}" --data-binary '{"rows":[]}'
expect "powerbi: unknown dataset 404" 404 'd["error"]["code"] == "ItemNotFound" and "is not found" in d["error"]["message"]'
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/plain' --data-binary '{"rows":[]}'
expect "powerbi: wrong content type 415" 415 'd["error"]["code"] == "UnsupportedMediaType"'
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary '{"rows":['
expect "powerbi: bad JSON 400 BadRequest" 400 'd["error"]["code"] == "BadRequest" and d["error"]["details"][0]["target"] == "requestMessage"'
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary '{"lines":[]}'
expect "powerbi: missing rows field" 400 'd["error"]["code"] == "BadRequest"'
call PATCH "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}"
expect "powerbi: wrong method 405" 405 '"POST" in h.get("allow", "")'
call GET /v1.0/myorg/datasets -H "Authorization: Bearer not-a-token"
expect "powerbi: bad token 401" 401 'd["error"]["code"] == "PowerBINotAuthorizedException" and "www-authenticate" in h'
call GET /v1.0/myorg/datasets
expect "powerbi: no token 401" 401

cols75=$(python3 -c 'import json; print(json.dumps({"name":"wide","tables":[{"name":"W","columns":[{"name":"c%d" % i,"dataType":"Int64"} for i in range(75)]}]}))')
cols76=$(python3 -c 'import json; print(json.dumps({"name":"wide","tables":[{"name":"W","columns":[{"name":"c%d" % i,"dataType":"Int64"} for i in range(76)]}]}))')
call POST /v1.0/myorg/datasets "${AUTH[@]}" --data-binary "$cols75"
expect "powerbi: 75 columns accepted" 201
call POST /v1.0/myorg/datasets "${AUTH[@]}" --data-binary "$cols76"
expect "powerbi: 76 columns refused" 400 'd["error"]["code"] == "InvalidRequest" and "76" in d["error"]["message"]'
call POST /v1.0/myorg/datasets "${AUTH[@]}" --data-binary '{"name":"x","tables":[{"name":"T","columns":[{"name":"a","dataType":"Int64"}]}],"compatibilityLevel":1}'
expect "powerbi: unknown property refused like model binding" 400 '"compatibilityLevel" in d["error"]["details"][0]["message"]'

call PUT "/v1.0/myorg/datasets/$DS/tables/Product" "${AUTH[@]}" --data-binary \
  '{"name":"Product","columns":[{"name":"ProductID","dataType":"Int64"},{"name":"Name","dataType":"string"},{"name":"Colour","dataType":"string"}]}'
expect "powerbi: PUT table schema" 200 '[c["name"] for c in d["columns"]] == ["ProductID", "Name", "Colour"]'
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary '{"rows":[{"ProductID":9,"Colour":"red"}]}'
expect "powerbi: rows with the new column" 200
call DELETE "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}"
expect "powerbi: delete rows" 200
call GET "/_sandbox/powerbi/datasets/$DS/tables/Product/rows"
expect "inspect: rows gone after DELETE" 200 'd["row_count"] == 0 and d["rows"] == []'

GROUP=11111111-2222-4333-8444-555555555555
call POST "/v1.0/myorg/groups/$GROUP/datasets?defaultRetentionPolicy=basicFIFO" "${AUTH[@]}" --data-binary "$DATASET_BODY"
expect "powerbi: create in a workspace (basicFIFO)" 201 'd["defaultRetentionPolicy"] == "basicFIFO"'
GDS=$(value 'd["id"]')
call GET "/v1.0/myorg/datasets/$GDS" "${AUTH[@]}"
expect "powerbi: a workspace dataset is not in My workspace" 404
call GET "/v1.0/myorg/groups/$GROUP/datasets/$GDS" "${AUTH[@]}"
expect "powerbi: get dataset in its workspace" 200 'd["id"] == "'"$GDS"'"'

# 120 POST rows requests per minute per dataset: the 121st gets 429.
call POST /v1.0/myorg/datasets "${AUTH[@]}" --data-binary "$DATASET_BODY"
RATE_DS=$(value 'd["id"]')
echo '{"rows":[{"ProductID":1}]}' >"$WORK/one.json"
wait_fresh_minute 4000
burst POST "/v1.0/myorg/datasets/$RATE_DS/tables/Product/rows" "$TOKEN" "$WORK/one.json" 121
expect "powerbi: 121st POST rows in a minute -> 429 + Retry-After" 000 \
  'd["statuses"][:120] == [200] * 120 and d["statuses"][120] == 429 and 1 <= int(d["first_429"]["retry_after"]) <= 8 and d["first_429"]["body"]["error"]["code"] == "TooManyRequests"'
call GET "/_sandbox/requests?route=powerbi.rows.post"
expect "inspect: requests per route, status and window" 200 \
  'd["routes"]["powerbi.rows.post"]["max_per_window"] >= 121 and d["routes"]["powerbi.rows.post"]["by_status"]["429"] == 1'

# 5 pending POST rows requests per dataset: with every POST held 1.5 s
# (a latency fault), 7 sent at once to one dataset -> 5 stored, 2 refused
# at once with 429; 2 more to another dataset at the same time pass.
call POST /v1.0/myorg/datasets "${AUTH[@]}" --data-binary "$DATASET_BODY"
PEND_DS=$(value 'd["id"]')
call POST /v1.0/myorg/datasets "${AUTH[@]}" --data-binary "$DATASET_BODY"
PEND_DS2=$(value 'd["id"]')
P1="/v1.0/myorg/datasets/$PEND_DS/tables/Product/rows"
json POST /_sandbox/faults '{"route":"powerbi.rows.post","latency_ms":1500,"count":-1}' >/dev/null
STATUS=000
python3 "$WORK/together.py" "$URL" "$TOKEN" "$P1:7" "/v1.0/myorg/datasets/$PEND_DS2/tables/Product/rows:2" >"$B"
json DELETE /_sandbox/faults '' >/dev/null
expect "powerbi: 7 POST rows at once -> 5 pending, 2 refused with 429 + Retry-After" 000 \
  'd["'"$P1"'"]["statuses"] == [200] * 5 + [429] * 2 and (lambda e: e["body"]["error"]["code"] == "TooManyRequests" and "at most 5 may be pending" in e["body"]["error"]["message"] and e["retry_after"] == "1")(d["'"$P1"'"]["first_429"])'
expect "powerbi: the pending limit is per dataset" 000 \
  'd["/v1.0/myorg/datasets/'"$PEND_DS2"'/tables/Product/rows"]["statuses"] == [200, 200]'
call GET /_sandbox/powerbi/datasets
expect "inspect: 5 rows stored, at most 5 pending, 2 refused, none pending now" 200 \
  '[(t["row_count"], x["max_pending_posts"], x["pending_posts_refused"], x["pending_posts"]) for x in d["datasets"] if x["id"] == "'"$PEND_DS"'" for t in x["tables"]] == [(5, 5, 2, 0)]'
call POST "$P1" "${AUTH[@]}" --data-binary '{"rows":[{"ProductID":7}]}'
expect "powerbi: once answered, POST rows pass again" 200

# 1,000,000 rows per hour per dataset: 100 x 10,000 pass, the next is refused.
call POST /v1.0/myorg/datasets "${AUTH[@]}" --data-binary "$DATASET_BODY"
HOUR_DS=$(value 'd["id"]')
python3 -c 'import json; print(json.dumps({"rows": [{"ProductID": i, "Name": "n%d" % i} for i in range(10000)]}))' >"$WORK/rows10000.json"
burst POST "/v1.0/myorg/datasets/$HOUR_DS/tables/Product/rows" "$TOKEN" "$WORK/rows10000.json" 100
expect "powerbi: 100 POSTs of 10,000 rows accepted" 000 'd["statuses"] == [200] * 100'
call POST "/v1.0/myorg/datasets/$HOUR_DS/tables/Product/rows" "${AUTH[@]}" --data-binary @"$WORK/one.json"
expect "powerbi: rows per hour limit -> 429 + Retry-After" 429 \
  '"rows per hour limit" in d["error"]["message"] and int(h["retry-after"]) >= 1'
call GET /_sandbox/powerbi/datasets
expect "inspect: 1,000,000 rows stored" 200 \
  '[t["row_count"] for x in d["datasets"] if x["id"] == "'"$HOUR_DS"'" for t in x["tables"]] == [1000000]'

# Tokens expire: forced through the control API.
json POST /_sandbox/tokens/expire '' >/dev/null
call GET /v1.0/myorg/datasets -H "Authorization: Bearer $TOKEN"
expect "powerbi: expired token -> TokenExpired (403, as Power BI answers)" 403 \
  'd["error"]["code"] == "TokenExpired" and d["error"]["message"] == "Access token has expired, resubmit with a new access token"'
TOKEN=$(entra_token contoso app-1 s3cret-value)
AUTH=(-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json')

# ---- faults ----

json POST /_sandbox/faults '{"route":"powerbi.rows.post","status":503,"count":2,"retry_after_s":3}' >/dev/null
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary '{"rows":[{"ProductID":100}]}'
expect "fault: 1st call 503 + Retry-After" 503 'h["retry-after"] == "3" and d["error"]["code"] == "ServiceUnavailable"'
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary '{"rows":[{"ProductID":100}]}'
expect "fault: 2nd call 503" 503
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary '{"rows":[{"ProductID":100}]}'
expect "fault: 3rd call passes" 200
call GET "/_sandbox/powerbi/datasets/$DS/tables/Product/rows"
expect "inspect: faulted calls stored nothing" 200 '[r["ProductID"] for r in d["rows"]] == [100]'
json POST /_sandbox/faults '{"route":"powerbi.datasets.list","latency_ms":600}' >/dev/null
start_ns=$(date +%s%N)
call GET /v1.0/myorg/datasets "${AUTH[@]}"
elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
if [[ "$STATUS" == 200 ]] && ((elapsed_ms >= 600)); then ok "fault: latency ($elapsed_ms ms)"; else bad "fault: latency" "status $STATUS after $elapsed_ms ms"; fi
json POST /_sandbox/faults '{"route":"powerbi.*","drop_connection":true}' >/dev/null
call GET /v1.0/myorg/datasets "${AUTH[@]}"
if [[ "$CURL_RC" == 52 ]]; then ok "fault: dropped connection -> curl error 52"; else bad "fault: drop" "curl rc $CURL_RC, status $STATUS"; fi
json POST /_sandbox/faults '{"route":"powerbi.rows.post","status":500,"after":1,"body":{"error":{"code":"Custom","message":"x"}}}' >/dev/null
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary '{"rows":[{"ProductID":101}]}'
expect "fault: 'after' lets the first call through" 200
call POST "/v1.0/myorg/datasets/$DS/tables/Product/rows" "${AUTH[@]}" --data-binary '{"rows":[{"ProductID":102}]}'
expect "fault: custom body" 500 'd["error"]["code"] == "Custom"'
json POST /_sandbox/faults '{"route":"sheets.values.update","status":429,"count":-1}' >/dev/null
call DELETE /_sandbox/faults
expect "fault: DELETE clears the rules" 200 'd["cleared"] == 1'
call POST /_sandbox/faults --data-binary '{"status":503}'
expect "fault: a rule without route refused" 400 '"route" in d["error"]'

# ---- Google OAuth ----

python3 "$WORK/keys.py" "$WORK/sa.key" "$WORK/sa.pub" || die "could not make an RSA key"
python3 "$WORK/keys.py" "$WORK/other.key" "$WORK/other.pub" || die "could not make an RSA key"
SA=exporter@datafleet-test.iam.gserviceaccount.com
QSA=quota@datafleet-test.iam.gserviceaccount.com
python3 -c 'import json,sys; print(json.dumps({"client_email": sys.argv[1], "public_key_pem": open(sys.argv[2]).read(), "project": sys.argv[3]}))' \
  "$SA" "$WORK/sa.pub" datafleet-test >"$WORK/sa.json"
python3 -c 'import json,sys; print(json.dumps({"client_email": sys.argv[1], "public_key_pem": open(sys.argv[2]).read(), "project": sys.argv[3]}))' \
  "$QSA" "$WORK/sa.pub" quota-project >"$WORK/qsa.json"
call POST /_sandbox/google/service-accounts -H 'Content-Type: application/json' --data-binary "@$WORK/sa.json"
expect "google: register a service account" 201 'd["token_audience"] == "'"$URL"'/token"'
json POST /_sandbox/google/service-accounts "@$WORK/qsa.json" >/dev/null
curl -sS -X POST "$URL/_sandbox/google/service-accounts" --data-binary "@$WORK/qsa.json" >/dev/null
NOW=$(date +%s)
AUD=$URL/token
google_token_call "$(jwt "$WORK/sa.key" "$SA" "$AUD" "$NOW" $((NOW + 3600)) "$SHEETS_SCOPE")"
expect "google: valid RS256 JWT -> access token" 200 \
  'd["token_type"] == "Bearer" and d["expires_in"] == 3599 and d["access_token"].startswith("ya29.")'
GTOKEN=$(value 'd["access_token"]')
google_token_call "$(jwt "$WORK/sa.key" "$SA" "$AUD" "$NOW" $((NOW + 3600)) "$SHEETS_SCOPE" 1)"
expect "google: tampered signature" 400 'd == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}'
google_token_call "$(jwt "$WORK/other.key" "$SA" "$AUD" "$NOW" $((NOW + 3600)) "$SHEETS_SCOPE")"
expect "google: signed by another key" 400 'd["error_description"] == "Invalid JWT Signature."'
google_token_call "$(jwt "$WORK/sa.key" "$SA" https://oauth2.googleapis.com/token "$NOW" $((NOW + 3600)) "$SHEETS_SCOPE")"
expect "google: wrong aud" 400 'd == {"error": "invalid_grant", "error_description": "Invalid JWT: Failed audience check."}'
google_token_call "$(jwt "$WORK/sa.key" "$SA" "$AUD" "$NOW" $((NOW + 7200)) "$SHEETS_SCOPE")"
expect "google: exp 2 h after iat" 400 \
  'd["error"] == "invalid_grant" and d["error_description"].startswith("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")'
google_token_call "$(jwt "$WORK/sa.key" "$SA" "$AUD" $((NOW - 7200)) $((NOW - 3600)) "$SHEETS_SCOPE")"
expect "google: expired JWT" 400 'd["error_description"].startswith("Invalid JWT: Token must be a short-lived token")'
google_token_call "$(jwt "$WORK/sa.key" "$SA" "$AUD" $((NOW + 600)) $((NOW + 1200)) "$SHEETS_SCOPE")"
expect "google: iat in the future" 400 'd["error"] == "invalid_grant"'
google_token_call "$(jwt "$WORK/sa.key" nobody@x.iam.gserviceaccount.com "$AUD" "$NOW" $((NOW + 3600)) "$SHEETS_SCOPE")"
expect "google: unknown account" 400 'd["error_description"] == "Invalid grant: account not found"'
google_token_call "$(jwt "$WORK/sa.key" "$SA" "$AUD" "$NOW" $((NOW + 3600)) "")"
expect "google: missing scope" 400 'd["error"] == "invalid_scope"'
call POST /token -d grant_type=client_credentials
expect "google: unsupported grant_type" 400 'd["error"] == "unsupported_grant_type"'
google_token_call "not.a.jwt"
expect "google: malformed assertion" 400 'd["error"] == "invalid_grant"'
google_token_call "$(jwt "$WORK/sa.key" "$SA" "$AUD" "$NOW" $((NOW + 3600)) https://www.googleapis.com/auth/drive.metadata.readonly)"
RO_TOKEN=$(value 'd["access_token"]')

# ---- Sheets ----

G=(-H "Authorization: Bearer $GTOKEN" -H 'Content-Type: application/json')
call POST /_sandbox/sheets -H 'Content-Type: application/json' --data-binary '{"spreadsheet_id":"sheet-1","title":"Export","sheets":["Sheet1","Other data"]}'
expect "sheets: create a spreadsheet (control API)" 201 '[s["properties"]["title"] for s in d["sheets"]] == ["Sheet1", "Other data"]'
call GET /v4/spreadsheets/sheet-1 "${G[@]}"
expect "sheets: spreadsheets.get" 200 \
  'd["spreadsheetId"] == "sheet-1" and d["sheets"][0]["properties"]["gridProperties"] == {"rowCount": 1000, "columnCount": 26}'
call POST "/v4/spreadsheets/sheet-1/values/Sheet1!A1:append?valueInputOption=RAW" "${G[@]}" \
  --data-binary '{"values":[["id","name","active"],[1,"a",true],[2,"b",false]]}'
expect "sheets: values.append to an empty sheet" 200 \
  'd["updates"]["updatedRange"] == "Sheet1!A1:C3" and d["updates"]["updatedRows"] == 3 and d["updates"]["updatedCells"] == 9 and "tableRange" not in d'
call POST "/v4/spreadsheets/sheet-1/values/Sheet1!A1:C1:append?valueInputOption=USER_ENTERED&insertDataOption=INSERT_ROWS" "${G[@]}" \
  --data-binary '{"values":[["3","c","TRUE"]]}'
expect "sheets: values.append after the table" 200 \
  'd["tableRange"] == "Sheet1!A1:C3" and d["updates"]["updatedRange"] == "Sheet1!A4:C4"'
call PUT "/v4/spreadsheets/sheet-1/values/'Other%20data'!B2?valueInputOption=RAW" "${G[@]}" \
  --data-binary '{"values":[["x",1.5],["y",null,"z"]]}'
expect "sheets: values.update" 200 \
  "d[\"updatedRange\"] == \"'Other data'!B2:D3\" and d[\"updatedCells\"] == 4 and d[\"updatedRows\"] == 2"
call GET "/v4/spreadsheets/sheet-1/values/Sheet1" "${G[@]}"
expect "sheets: values.get (FORMATTED_VALUE)" 200 \
  'd["range"] == "Sheet1!A1:Z1001" and d["values"] == [["id","name","active"],["1","a","TRUE"],["2","b","FALSE"],["3","c","TRUE"]]'
call GET "/v4/spreadsheets/sheet-1/values/Sheet1!A2:C?valueRenderOption=UNFORMATTED_VALUE" "${G[@]}"
expect "sheets: values.get (UNFORMATTED_VALUE, USER_ENTERED parsed)" 200 \
  'd["values"] == [[1,"a",True],[2,"b",False],[3,"c",True]]'
call POST "/v4/spreadsheets/sheet-1/values/Sheet1!A2:C2:clear" "${G[@]}"
expect "sheets: values.clear" 200 'd["clearedRange"] == "Sheet1!A2:C2"'
call GET "/_sandbox/sheets/sheet-1"
expect "inspect: cell values per sheet" 200 \
  'd["sheets"][0]["values"] == [["id","name","active"],[],[2,"b",False],[3,"c",True]] and d["sheets"][1]["values"] == [[], [None,"x",1.5], [None,"y",None,"z"]]'
call PUT "/v4/spreadsheets/sheet-1/values/Sheet1!A1:B2?valueInputOption=RAW" "${G[@]}" --data-binary '{"values":[[1,2,3]]}'
expect "sheets: writing outside the range" 400 'd["error"]["status"] == "INVALID_ARGUMENT" and "tried writing to column [C]" in d["error"]["message"]'
call PUT "/v4/spreadsheets/sheet-1/values/Sheet1!A1" "${G[@]}" --data-binary '{"values":[[1]]}'
expect "sheets: valueInputOption required" 400 '"valueInputOption" in d["error"]["message"]'
call GET "/v4/spreadsheets/sheet-1/values/Nowhere!A1" "${G[@]}"
expect "sheets: bad range" 400 'd["error"] == {"code": 400, "message": "Unable to parse range: Nowhere!A1", "status": "INVALID_ARGUMENT"}'
call GET "/v4/spreadsheets/sheet-1/values/Sheet1!A1:B2000" "${G[@]}"
expect "sheets: range beyond the grid" 400 '"exceeds grid limits" in d["error"]["message"]'
call GET "/v4/spreadsheets/missing/values/A1" "${G[@]}"
expect "sheets: unknown spreadsheet" 404 'd["error"]["status"] == "NOT_FOUND"'
call GET "/v4/spreadsheets/sheet-1/values/A1" -H "Authorization: Bearer ya29.bogus"
expect "sheets: bad token" 401 'd["error"]["status"] == "UNAUTHENTICATED"'
call GET "/v4/spreadsheets/sheet-1/values/A1"
expect "sheets: no credentials" 403 'd["error"]["status"] == "PERMISSION_DENIED"'
call GET "/v4/spreadsheets/sheet-1/values/A1" -H "Authorization: Bearer $RO_TOKEN"
expect "sheets: token without a Sheets scope" 403 '"insufficient authentication scopes" in d["error"]["message"]'
call PUT "/v4/spreadsheets/sheet-1/values/A1?valueInputOption=RAW" "${G[@]}" --data-binary '{"values":[[1]],"colour":"red"}'
expect "sheets: unknown field in ValueRange" 400 '"Unknown name \"colour\"" in d["error"]["message"]'
call POST "/v4/spreadsheets/sheet-1:batchUpdate" "${G[@]}" --data-binary \
  '{"requests":[{"addSheet":{"properties":{"title":"Staging"}}},{"deleteDimension":{"range":{"sheetId":0,"dimension":"ROWS","startIndex":1,"endIndex":2}}}]}'
expect "sheets: batchUpdate addSheet + deleteDimension" 200 \
  'd["replies"][0]["addSheet"]["properties"]["title"] == "Staging" and d["replies"][1] == {}'
call POST "/v4/spreadsheets/sheet-1:batchUpdate" "${G[@]}" --data-binary \
  '{"requests":[{"addSheet":{"properties":{"title":"Fresh"}}},{"addSheet":{"properties":{"title":"staging"}}}]}'
expect "sheets: batchUpdate is all or nothing" 400 '"already exists" in d["error"]["message"]'
call GET /_sandbox/sheets/sheet-1
expect "inspect: after batchUpdate" 200 \
  '[s["title"] for s in d["sheets"]] == ["Sheet1", "Other data", "Staging"] and d["sheets"][0]["values"][1] == [2, "b", False] and d["sheets"][0]["row_count"] == 1000'

# values:batchUpdate: several ValueRanges in one write request, all or nothing.
call POST "/v4/spreadsheets/sheet-1/values:batchUpdate" "${G[@]}" --data-binary \
  '{"valueInputOption":"RAW","data":[{"range":"Staging!A1:C2","values":[["k","v","n"],[1,"one",null]]},{"range":"Staging!B5","majorDimension":"COLUMNS","values":[["x","y"],[true]]},{"range":"'"'Other data'"'!A1","values":[["t"]]}]}'
expect "sheets: values.batchUpdate, three ranges on two sheets" 200 \
  'd["spreadsheetId"] == "sheet-1" and d["totalUpdatedRows"] == 5 and d["totalUpdatedColumns"] == 6 and d["totalUpdatedCells"] == 9 and d["totalUpdatedSheets"] == 2 and [r["updatedRange"] for r in d["responses"]] == ["Staging!A1:C2", "Staging!B5:C6", "'"'Other data'"'!A1"] and "updatedData" not in d["responses"][0]'
call GET /_sandbox/sheets/sheet-1
expect "inspect: the batch's cells (null keeps a cell, COLUMNS transposed)" 200 \
  'd["sheets"][2]["values"] == [["k","v","n"],[1,"one"],[],[],[None,"x",True],[None,"y"]] and d["sheets"][1]["values"][0] == ["t"]'
call POST "/v4/spreadsheets/sheet-1/values:batchUpdate" "${G[@]}" --data-binary \
  '{"valueInputOption":"USER_ENTERED","includeValuesInResponse":true,"responseValueRenderOption":"UNFORMATTED_VALUE","data":[{"range":"Staging!A2:B2","values":[["2","TRUE"]]}]}'
expect "sheets: values.batchUpdate, USER_ENTERED and updatedData" 200 \
  'd["responses"][0]["updatedData"] == {"range": "Staging!A2:B2", "majorDimension": "ROWS", "values": [[2, True]]} and d["totalUpdatedCells"] == 2'
call POST "/v4/spreadsheets/sheet-1/values:batchUpdate" "${G[@]}" --data-binary \
  '{"valueInputOption":"RAW","data":[{"range":"Staging!A1","values":[["changed"]]},{"range":"Staging!A1:B1","values":[[1,2,3]]}]}'
expect "sheets: values.batchUpdate with one range too small" 400 '"tried writing to column [C]" in d["error"]["message"]'
call POST "/v4/spreadsheets/sheet-1/values:batchUpdate" "${G[@]}" --data-binary \
  '{"valueInputOption":"RAW","data":[{"range":"Staging!A1","values":[["changed"]]},{"range":"Nowhere!A1","values":[[1]]}]}'
expect "sheets: values.batchUpdate with a bad range" 400 'd["error"]["message"] == "Unable to parse range: Nowhere!A1"'
call GET /_sandbox/sheets/sheet-1
expect "inspect: a refused values.batchUpdate wrote nothing" 200 'd["sheets"][2]["values"][0] == ["k","v","n"]'
call POST "/v4/spreadsheets/sheet-1/values:batchUpdate" "${G[@]}" --data-binary '{"data":[{"range":"Staging!A1","values":[[1]]}]}'
expect "sheets: values.batchUpdate needs valueInputOption" 400 '"valueInputOption" in d["error"]["message"]'
call POST "/v4/spreadsheets/sheet-1/values:batchUpdate" "${G[@]}" --data-binary '{"valueInputOption":"RAW","data":[{"range":"Staging!A1","values":[[1]],"colour":"red"}]}'
expect "sheets: values.batchUpdate, unknown field in data[0]" 400 '"Unknown name \"colour\" at '"'data[0]'"'" in d["error"]["message"]'
call POST "/v4/spreadsheets/sheet-1/values:batchUpdate" "${G[@]}" --data-binary '{"valueInputOption":"RAW","data":[{"values":[[1]]}]}'
expect "sheets: values.batchUpdate, a ValueRange without range" 400 '"range is required" in d["error"]["message"]'
call POST "/v4/spreadsheets/sheet-1/values:batchUpdate" "${G[@]}" --data-binary '{"valueInputOption":"RAW","data":[{"range":"Staging!A1200","values":[["far"]]}]}'
expect "sheets: values.batchUpdate grows the grid" 200 'd["responses"][0]["updatedRange"] == "Staging!A1200"'
call GET "/v4/spreadsheets/sheet-1/values:batchUpdate" "${G[@]}"
expect "sheets: GET values:batchUpdate is no method" 404 'd["error"]["message"] == "Method not found."'
call POST "/v4/spreadsheets/missing/values:batchUpdate" "${G[@]}" --data-binary '{"valueInputOption":"RAW","data":[]}'
expect "sheets: values.batchUpdate of an unknown spreadsheet" 404 'd["error"]["status"] == "NOT_FOUND"'
json POST /_sandbox/faults '{"route":"sheets.values.batchUpdate","status":503}' >/dev/null
call POST "/v4/spreadsheets/sheet-1/values:batchUpdate" "${G[@]}" --data-binary '{"valueInputOption":"RAW","data":[{"range":"Staging!A1","values":[["faulted"]]}]}'
expect "fault: values.batchUpdate 503 in Google's shape" 503 'd["error"]["status"] == "UNAVAILABLE"'
call GET /_sandbox/sheets/sheet-1
expect "inspect: the faulted values.batchUpdate wrote nothing" 200 'd["sheets"][2]["values"][0] == ["k","v","n"] and d["sheets"][2]["row_count"] == 1200'
call GET "/_sandbox/requests?route=sheets.values.batchUpdate"
expect "inspect: values.batchUpdate requests by status" 200 \
  'd["routes"]["sheets.values.batchUpdate"]["by_status"] == {"200": 3, "400": 5, "404": 1, "503": 1}'

# Per-user write quota (60 per minute by default): a fresh user's 61st write.
NOW=$(date +%s)
google_token_call "$(jwt "$WORK/sa.key" "$QSA" "$AUD" "$NOW" $((NOW + 3600)) "$SHEETS_SCOPE")"
QTOKEN=$(value 'd["access_token"]')
echo '{"values":[["q"]]}' >"$WORK/q.json"
wait_fresh_minute 4000
burst PUT "/v4/spreadsheets/sheet-1/values/Sheet1%21H1?valueInputOption=RAW" "$QTOKEN" "$WORK/q.json" 61
expect "sheets: 61st write in a minute -> 429 RESOURCE_EXHAUSTED" 000 \
  'd["statuses"][:60] == [200] * 60 and d["statuses"][60] == 429 and d["first_429"]["body"]["error"]["status"] == "RESOURCE_EXHAUSTED" and "per minute per user" in d["first_429"]["body"]["error"]["message"]'
call POST "/v4/spreadsheets/sheet-1/values:batchUpdate" -H "Authorization: Bearer $QTOKEN" -H 'Content-Type: application/json' \
  --data-binary '{"valueInputOption":"RAW","data":[{"range":"Sheet1!H2","values":[["late"]]}]}'
expect "sheets: values.batchUpdate counts as a write (429)" 429 'd["error"]["details"][0]["metadata"]["quota_limit"] == "WriteRequestsPerMinutePerUser"'
call GET "/v4/spreadsheets/sheet-1/values/Sheet1!H1" -H "Authorization: Bearer $QTOKEN"
expect "sheets: reads have their own quota" 200 'd["values"] == [["q"]]'

# ---- sandbox B: scaled time, small limits ----

URL=$URL_B
json POST /_sandbox/entra/apps '{"tenant":"t","client_id":"a","client_secret":"sec-1234"}' >/dev/null
TOKEN=$(entra_token t a sec-1234)
AUTH=(-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json')
call POST /_sandbox/powerbi/datasets -H 'Content-Type: application/json' \
  --data-binary '{"id":"ds-b","name":"b","tables":[{"name":"T","columns":[{"name":"n","dataType":"Int64"}]}]}'
expect "control: pre-create a dataset" 201 'd["id"] == "ds-b"'
wait_fresh_minute 2000
echo '{"rows":[{"n":1}]}' >"$WORK/n.json"
burst POST /v1.0/myorg/datasets/ds-b/tables/T/rows "$TOKEN" "$WORK/n.json" 4
RETRY=$(value 'd["first_429"]["retry_after"]')
expect "scaled minute: 4th POST with a limit of 3 -> 429" 000 'd["statuses"] == [200, 200, 200, 429] and 1 <= int(d["first_429"]["retry_after"]) <= 3'
sleep "$RETRY"
call POST /v1.0/myorg/datasets/ds-b/tables/T/rows "${AUTH[@]}" --data-binary @"$WORK/n.json"
expect "scaled minute: accepted again after Retry-After" 200

json POST /_sandbox/google/service-accounts "@$WORK/sa.json" >/dev/null
json POST /_sandbox/google/service-accounts "@$WORK/qsa.json" >/dev/null
python3 -c 'import json,sys; print(json.dumps({"client_email": "second@datafleet-test.iam.gserviceaccount.com", "public_key_pem": open(sys.argv[1]).read(), "project": "datafleet-test"}))' \
  "$WORK/sa.pub" | curl -sS -X POST "$URL/_sandbox/google/service-accounts" --data-binary @- >/dev/null
NOW=$(date +%s)
google_token_call "$(jwt "$WORK/sa.key" "$SA" "$URL/token" "$NOW" $((NOW + 600)) "$SHEETS_SCOPE")"
T1=$(value 'd["access_token"]')
google_token_call "$(jwt "$WORK/sa.key" second@datafleet-test.iam.gserviceaccount.com "$URL/token" "$NOW" $((NOW + 600)) "$SHEETS_SCOPE")"
T2=$(value 'd["access_token"]')
json POST /_sandbox/sheets '{"spreadsheet_id":"b1"}' >/dev/null
echo '{"values":[[1]]}' >"$WORK/v.json"
wait_fresh_minute 2000
python3 "$WORK/burst.py" "$URL" PUT "/v4/spreadsheets/b1/values/A1?valueInputOption=RAW" "$T1" "$WORK/v.json" 3 >"$WORK/p1.json"
burst PUT "/v4/spreadsheets/b1/values/A1?valueInputOption=RAW" "$T2" "$WORK/v.json" 2
expect "sheets: per-project write quota shared by users" 000 \
  'd["statuses"] == [200, 429] and "per minute per user" not in d["first_429"]["body"]["error"]["message"] and d["first_429"]["body"]["error"]["details"][0]["metadata"]["quota_limit"] == "WriteRequestsPerMinutePerProject"'
wait_fresh_minute 2500
python3 -c 'import json; print(json.dumps({"values": [["x" * 100] * 26]}))' >"$WORK/big.json"
call PUT "/v4/spreadsheets/b1/values/A1?valueInputOption=RAW" -H "Authorization: Bearer $T1" -H 'Content-Type: application/json' --data-binary "@$WORK/big.json"
expect "sheets: payload over --sheets-max-payload-bytes" 400 '"Request payload size exceeds the limit: 2048 bytes." == d["error"]["message"]'
call PUT "/v4/spreadsheets/b1/values/A2000?valueInputOption=RAW" -H "Authorization: Bearer $T1" -H 'Content-Type: application/json' --data-binary '{"values":[[1]]}'
expect "sheets: cells limit per spreadsheet" 400 '"above the limit of 30000 cells" in d["error"]["message"]'
python3 -c 'import json; print(json.dumps({"valueInputOption": "RAW", "data": [{"range": "A%d" % (i + 1), "values": [["x" * 100]]} for i in range(20)]}))' >"$WORK/bigbatch.json"
call POST "/v4/spreadsheets/b1/values:batchUpdate" -H "Authorization: Bearer $T1" -H 'Content-Type: application/json' --data-binary "@$WORK/bigbatch.json"
expect "sheets: values.batchUpdate payload over --sheets-max-payload-bytes" 400 '"Request payload size exceeds the limit: 2048 bytes." == d["error"]["message"]'
call POST "/v4/spreadsheets/b1/values:batchUpdate" -H "Authorization: Bearer $T1" -H 'Content-Type: application/json' \
  --data-binary '{"valueInputOption":"RAW","data":[{"range":"A1","values":[[2]]},{"range":"A2000","values":[[1]]}]}'
expect "sheets: values.batchUpdate past the cells limit" 400 '"above the limit of 30000 cells" in d["error"]["message"]'
head -c 200000 /dev/zero | tr '\0' 'x' >"$WORK/huge.txt"
call POST /v1.0/myorg/datasets/ds-b/tables/T/rows "${AUTH[@]}" --data-binary "@$WORK/huge.txt"
expect "a body over --max-body-bytes -> 413" 413

# ---- sandbox C: tokens expire by themselves ----

URL=$URL_C
json POST /_sandbox/entra/apps '{"tenant":"t","client_id":"a","client_secret":"sec-1234"}' >/dev/null
TOKEN=$(entra_token t a sec-1234)
json POST /_sandbox/google/service-accounts "@$WORK/sa.json" >/dev/null
NOW=$(date +%s)
google_token_call "$(jwt "$WORK/sa.key" "$SA" "$URL/token" "$NOW" $((NOW + 600)) "$SHEETS_SCOPE")"
expect "--token-ttl sets expires_in" 200 'd["expires_in"] == 1'
T1=$(value 'd["access_token"]')
json POST /_sandbox/sheets '{"spreadsheet_id":"c1"}' >/dev/null
sleep 1.2
call GET /v1.0/myorg/datasets -H "Authorization: Bearer $TOKEN"
expect "powerbi: token past its ttl (--powerbi-expired-status 401)" 401 'd["error"]["code"] == "TokenExpired"'
call GET /v4/spreadsheets/c1 -H "Authorization: Bearer $T1"
expect "sheets: token past its ttl" 401 'd["error"]["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"'

# ---- reset and logs ----

URL=$URL_A
call POST /_sandbox/reset
call GET /_sandbox/powerbi/datasets
expect "reset forgets everything" 200 'd["datasets"] == []'
if python3 - "$WORK/A.err" <<'EOF'; then ok "stderr is JSON lines with ts, level, component, msg"; else bad "logs" "a stderr line is not a JSON log line"; fi
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines
for line in lines:
    rec = json.loads(line)
    assert all(k in rec for k in ("ts", "level", "component", "msg")), line
EOF

for name in A B C; do
  pid_var=PID_$name
  kill -TERM "${!pid_var}"
  wait "${!pid_var}"
  rc=$?
  if [[ $rc -eq 0 ]]; then
    ok "sandbox $name stops cleanly on SIGTERM"
  else
    bad "sandbox $name stop" "exit status $rc: $(grep -v '^{' "$WORK/$name.err" | head -c 2000)"
  fi
done
PIDS=()

echo "$PASSED passed, $FAILED failed"
[[ "$FAILED" -eq 0 ]]
