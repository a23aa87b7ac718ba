#!/usr/bin/env bash
# Helpers of the google_sheets e2e tests (source after lib.sh and
# e2e_init): the sandbox of lib.sh with time scaled by --minute-ms (a
# Google "minute" is GS_MINUTE_MS), a service account whose
# RSA key the test makes with openssl and registers with the sandbox (the
# private key in a file the connectors file references), a connectors file
# with a `google_sheets` connector pointed at the sandbox, and ways to read
# what Google Sheets holds.

GS_MINUTE_MS=${GS_MINUTE_MS:-2000}
GS_EMAIL=exporter@datafleet-e2e.iam.gserviceaccount.com

# gs_keypair NAME: an RSA key pair NAME.key (PKCS#8) and NAME.pub in E2E_DIR.
gs_keypair() {
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$E2E_DIR/$1.key" 2>/dev/null
    openssl pkey -in "$E2E_DIR/$1.key" -pubout -out "$E2E_DIR/$1.pub"
    chmod 600 "$E2E_DIR/$1.key"
}

# gs_start_sandbox [FLAGS...]: start the sandbox and register the service
# account GS_EMAIL (key pair "sa"); sets GS_URL.
gs_start_sandbox() {
    sandbox_start "$GS_MINUTE_MS" "$@"
    GS_URL=$SANDBOX_URL
    [ -f "$E2E_DIR/sa.key" ] || gs_keypair sa
    gs_account "$GS_EMAIL" "$E2E_DIR/sa.pub"
    log "sandbox at $GS_URL"
}

# gs_account EMAIL PUBLIC_KEY_FILE: register a service account.
gs_account() {
    gs_post /_sandbox/google/service-accounts "$(python3 -c 'import json, sys
print(json.dumps({"client_email": sys.argv[1], "public_key_pem": open(sys.argv[2]).read()}))' \
        "$1" "$2")" >/dev/null
}

# The sandbox helpers of lib.sh, under the names the sheets tests use.
gs_post() { sandbox_post "$@"; }
gs_get() { sandbox_get "$@"; }
gs_fault() { sandbox_fault "$@"; }
gs_faults_clear() { sandbox_faults_clear; }
gs_requests() { sandbox_requests "$@"; }
gs_wait_state() { task_wait_state "$@"; }

# gs_spreadsheet ID [SHEET...]: a spreadsheet the service account may edit.
gs_spreadsheet() {
    local id=$1
    shift
    gs_post /_sandbox/sheets "$(python3 -c 'import json, sys
d = {"spreadsheet_id": sys.argv[1], "title": "e2e " + sys.argv[1], "editors": [sys.argv[2]]}
if len(sys.argv) > 3:
    d["sheets"] = sys.argv[3:]
print(json.dumps(d))' "$id" "$GS_EMAIL" "$@")" >/dev/null
}

# gs_connectors FILE [NAME [KEY_FILE [EXTRA_CONFIG_JSON [LIMITS_JSON]]]]:
# append a google_sheets connector to the connectors file FILE.
gs_connectors() {
    local file=$1 name=${2:-sheets} key=${3:-$E2E_DIR/sa.key} extra=${4:-"{}"} limits=${5:-}
    connector_add "$file" "$name" google_sheets "$(python3 -c 'import json, sys
url, email, minute, extra = sys.argv[1:5]
config = {"client_email": email, "token_url": url + "/token", "api_base_url": url,
          "minute_ms": int(minute)}
config.update(json.loads(extra))
print(json.dumps(config))' "$GS_URL" "$GS_EMAIL" "$GS_MINUTE_MS" "$extra")" \
        "$(python3 -c 'import json, sys; print(json.dumps({"private_key": {"file": sys.argv[1]}}))' "$key")" \
        "$limits"
}

# gs_export PARAMS_JSON [SUBMIT OPTIONS...]: submit an export to connector
# sheets (or --connector NAME among the options); prints the task id.
gs_export() { submit_export sheets "$@"; }

# gs_params SOURCE_JSON TARGET_JSON [EXTRA_JSON]: export params.
gs_params() {
    python3 -c 'import json, sys
p = {"source": json.loads(sys.argv[1]), "target": json.loads(sys.argv[2])}
p.update(json.loads(sys.argv[3]))
print(json.dumps(p))' "$1" "$2" "${3:-"{}"}"
}

# gs_pg SQL: a postgres source of the test's database.
gs_pg() { python3 -c 'import json, sys; print(json.dumps({"kind": "postgres", "query": sys.argv[1]}))' "$1"; }

# gs_values ID SHEET EXPR: a Python expression over v, the sheet's values
# as the sandbox holds them (rows of typed cells, header first).
gs_values() {
    gs_get "/_sandbox/sheets/$1" | python3 -c 'import json, sys
s = [s for s in json.load(sys.stdin)["sheets"] if s["title"] == sys.argv[1]]
v = s[0].get("values", []) if s else None
print(eval(sys.argv[2]))' "$2" "$3"
}

# gs_rows_once ID SHEET FIRST LAST [COL]: "ok" when the sheet holds a header
# row and then each id FIRST..LAST (column COL, default 0) exactly once,
# else what is wrong.
gs_rows_once() {
    gs_get "/_sandbox/sheets/$1" | python3 -c 'import collections, json, sys
title, first, last, col = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = [s for s in json.load(sys.stdin)["sheets"] if s["title"] == title]
rows = s[0].get("values", []) if s else []
seen = collections.Counter(r[col] if len(r) > col else None for r in rows[1:])
dups = sorted(k for k, n in seen.items() if n > 1)
missing = [i for i in range(first, last + 1) if seen[i] == 0]
extra = [k for k in seen if not (isinstance(k, int) and first <= k <= last)]
if not s or dups or missing or extra:
    print("sheet %s, duplicates %d (first %s), missing %d (first %s), unexpected %d (%s)" % (
        bool(s), len(dups), dups[:3], len(missing), missing[:3], len(extra), extra[:3]))
else:
    print("ok")' "$2" "$3" "$4" "${5:-0}"
}

# gs_task ID COLUMN: one column of the task's history row.
gs_task() { q "SELECT $2 FROM tasks WHERE task_id = '$1'"; }
