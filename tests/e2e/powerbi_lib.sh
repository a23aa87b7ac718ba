#!/usr/bin/env bash
# Helpers of the powerbi e2e tests (source after lib.sh and e2e_init): the
# sandbox of lib.sh with time scaled by --minute-ms 2000 (a Power BI
# "minute" is 2 s), an Entra app registered in it, a connectors file
# pointing a `powerbi` connector at it (secret from the environment), and
# ways to read what Power BI received.

PBI_MINUTE_MS=2000
PBI_TENANT=contoso
PBI_CLIENT=6731de76-14a6-49ae-97bc-6eba6914391e
export PBI_SECRET="pbi-e2e-secret-$RANDOM$RANDOM"

# pbi_start_sandbox [FLAGS...]: start the sandbox; sets PBI_URL.
pbi_start_sandbox() {
    sandbox_start "$PBI_MINUTE_MS" "$@"
    PBI_URL=$SANDBOX_URL
    pbi_post /_sandbox/entra/apps \
        "{\"tenant\":\"$PBI_TENANT\",\"client_id\":\"$PBI_CLIENT\",\"client_secret\":\"$PBI_SECRET\"}" >/dev/null
    log "sandbox at $PBI_URL"
}

# The sandbox helpers of lib.sh, under the names the powerbi tests use.
pbi_post() { sandbox_post "$@"; }
pbi_get() { sandbox_get "$@"; }
pbi_fault() { sandbox_fault "$@"; }
pbi_faults_clear() { sandbox_faults_clear; }
pbi_requests() { sandbox_requests "$@"; }
pbi_wait_state() { task_wait_state "$@"; }

# pbi_connectors FILE [NAME SECRET_ENV [EXTRA_CONFIG_JSON [LIMITS_JSON]]]:
# append a powerbi connector to the connectors file FILE (a JSON array).
pbi_connectors() {
    local file=$1 name=${2:-pbi} env=${3:-PBI_SECRET} extra=${4:-"{}"} limits=${5:-}
    connector_add "$file" "$name" powerbi "$(python3 -c 'import json, sys
url, tenant, client, minute, extra = sys.argv[1:6]
config = {"tenant_id": tenant, "client_id": client, "api_base_url": url + "/v1.0/myorg",
          "token_url": url + "/" + tenant + "/oauth2/v2.0/token", "minute_ms": int(minute)}
config.update(json.loads(extra))
print(json.dumps(config))' "$PBI_URL" "$PBI_TENANT" "$PBI_CLIENT" "$PBI_MINUTE_MS" "$extra")" \
        "{\"client_secret\": {\"env\": \"$env\"}}" "$limits"
}

# pbi_export PARAMS_JSON [SUBMIT OPTIONS...]: submit an export to connector
# pbi (or --connector NAME among the options); prints the task id.
pbi_export() { submit_export pbi "$@"; }

# pbi_params SQL TARGET_JSON [EXTRA_JSON]: export params from a PostgreSQL
# query of the test's database.
pbi_params() {
    python3 -c 'import json, sys
p = {"source": {"kind": "postgres", "query": sys.argv[1]}, "target": json.loads(sys.argv[2])}
p.update(json.loads(sys.argv[3]))
print(json.dumps(p))' "$1" "$2" "${3:-"{}"}"
}

# pbi_dataset_id NAME: the id of the (first) dataset named NAME, or "".
pbi_dataset_id() {
    pbi_get /_sandbox/powerbi/datasets | python3 -c 'import json, sys
ids = [d["id"] for d in json.load(sys.stdin)["datasets"] if d["name"] == sys.argv[1]]
print(ids[0] if ids else "")' "$1"
}

# pbi_dataset_count NAME: how many datasets are named NAME.
pbi_dataset_count() {
    pbi_get /_sandbox/powerbi/datasets | python3 -c 'import json, sys
print(sum(1 for d in json.load(sys.stdin)["datasets"] if d["name"] == sys.argv[1]))' "$1"
}

# pbi_row_count DATASET TABLE: rows stored in the table.
pbi_row_count() {
    pbi_get "/_sandbox/powerbi/datasets/$(pbi_dataset_id "$1")/tables/$2/rows" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["row_count"])'
}

# pbi_rows_once DATASET TABLE FIRST LAST [KEYCOL]: "ok" when the table holds
# each id FIRST..LAST exactly once and nothing else, else what is wrong.
pbi_rows_once() {
    pbi_get "/_sandbox/powerbi/datasets/$(pbi_dataset_id "$1")/tables/$2/rows" |
        python3 -c 'import collections, json, sys
first, last, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
seen = collections.Counter(r.get(key) for r in json.load(sys.stdin)["rows"])
dups = sorted(k for k, n in seen.items() if n > 1)
missing = [i for i in range(first, last + 1) if seen[i] == 0]
extra = sorted(k for k in seen if not (isinstance(k, int) and first <= k <= last))
if dups or missing or extra:
    print("duplicates %d (first %s), missing %d (first %s), unexpected %d" % (
        len(dups), dups[:3], len(missing), missing[:3], len(extra)))
else:
    print("ok")' "$3" "$4" "${5:-id}"
}

# pbi_task FIELD TASK_ID: a column of the task's row in the history.
pbi_task() { q "SELECT $1 FROM tasks WHERE task_id = '$2'"; }

# pbi_ckpt_at_least TASK_ID ROWS: the task's checkpoint says ROWS or more
# were written (for wait_for).
pbi_ckpt_at_least() {
    local rows
    rows=$(rcli HGET "df:ckpt:$1" rows 2>/dev/null)
    [ "${rows:-0}" -ge "$2" ]
}

# pbi_new_id: a task id that was not submitted yet.
pbi_new_id() {
    "$E2E_BIN/datafleet-submit" --dry-run --type probe --connector pbi |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["task_id"])'
}
