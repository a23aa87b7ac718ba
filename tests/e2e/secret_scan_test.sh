#!/usr/bin/env bash
# secret_scan_test: no secret value leaves where it belongs. A run of the
# whole system with known secrets: the sandbox's Power BI app secret (inline
# in the workers' connectors file), a wrong one (from the environment, the
# connector whose authentication fails), a Google service account's private
# key (a file), the REST API's bearer tokens (good, revoked and made up) and
# the fleet key DATAFLEET_SECRET_KEY (which seals the token cache). The
# scheduler (api,recorder,cron), a worker and the sandbox run exports,
# probes, an auth failure, a cancel and a retry, submitted and read through
# the API. Then tests/e2e/secret_scan.py looks for every secret (as it is,
# JSON-escaped, URL-encoded, base64) in:
#   - every log line of the scheduler, the worker, the sandbox and the CLIs
#   - every API response body the test received
#   - every message of every Kafka topic of the run (key, value, headers)
#   - the PostgreSQL history (a data-only dump of the test's database)
# and must find none. A self-check plants secrets (a Kafka header, a JSON
# body, a log line) and the scan must then find each of them, so a scanner
# that reads nothing cannot pass.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_scheduler_lib.sh"
source "$(dirname "$0")/powerbi_lib.sh"
source "$(dirname "$0")/sheets_lib.sh"
e2e_init secretscan

scan="$E2E_SRC/tests/e2e/secret_scan.py"
secrets=$E2E_DIR/secrets.tsv # NAME<TAB>VALUE, never scanned itself
: >"$secrets"
secret() { printf '%s\t%s\n' "$1" "$2" >>"$secrets"; }

# ---- secrets --------------------------------------------------------------------
export DATAFLEET_SECRET_KEY
DATAFLEET_SECRET_KEY="e2e:$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
unset DATAFLEET_SECRET_KEY_FILE
secret DATAFLEET_SECRET_KEY "${DATAFLEET_SECRET_KEY#e2e:}"
secret powerbi_client_secret "$PBI_SECRET"
export PBI_WRONG_SECRET="wrong-secret-$RANDOM$RANDOM$RANDOM"
secret powerbi_wrong_client_secret "$PBI_WRONG_SECRET"

pbi_start_sandbox
GS_URL=$SANDBOX_URL
gs_keypair sa
gs_account "$GS_EMAIL" "$E2E_DIR/sa.pub"
gs_spreadsheet book Orders
# the private key's body lines (base64 DER), each a secret of its own
i=0
while read -r line; do
    i=$((i + 1))
    secret "google_private_key_line_$i" "$line"
done < <(grep -v '^-----' "$E2E_DIR/sa.key")

conns=$E2E_DIR/connectors.json
connector_add "$conns" pbi powerbi "$(python3 -c 'import json, sys
url, tenant, client, minute = sys.argv[1:5]
print(json.dumps({"tenant_id": tenant, "client_id": client, "api_base_url": url + "/v1.0/myorg",
                  "token_url": url + "/" + tenant + "/oauth2/v2.0/token", "minute_ms": int(minute)}))' \
    "$PBI_URL" "$PBI_TENANT" "$PBI_CLIENT" "$PBI_MINUTE_MS")" \
    "{\"client_secret\": \"$PBI_SECRET\"}"
pbi_connectors "$conns" pbi-bad PBI_WRONG_SECRET
gs_connectors "$conns" sheets

api_migrate
admin=$(api_token ss-admin admin)
submitter=$(api_token ss-submit submit)
revoked=$(api_token ss-revoked read)
secret api_token_admin "$admin"
secret api_token_submit "$submitter"
secret api_token_revoked "$revoked"
"$E2E_BIN/datafleet-scheduler" tokens revoke ss-revoked >>"$E2E_DIR/tokens.log" 2>&1
made_up="dfk_made_up_$RANDOM$RANDOM$RANDOM$RANDOM"
secret api_token_made_up "$made_up"
log "$(wc -l <"$secrets") secrets"

api_start api,recorder,cron
start_worker ss-worker --connectors "$conns"
wait_assigned ss-worker

# ---- a run that touches every secret ---------------------------------------------
q "CREATE TABLE orders AS SELECT g AS id, 'order ' || g AS what FROM generate_series(1, 300) g" >/dev/null
submit() { # submit BODY -> task id (202 expected)
    local status file
    read -r status file < <(api_call "$submitter" POST /v1/tasks "$1")
    [ "$status" = 202 ] || { log "submit answered $status: $(cat "$file")"; return 1; }
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["task_id"])' "$file"
}
pg_source='{"kind":"postgres","query":"SELECT * FROM orders ORDER BY id"}'
t_pbi=$(submit "{\"type\":\"export\",\"connector\":\"pbi\",\"params\":{\"source\":$pg_source,\"target\":{\"dataset\":\"Secrets\",\"table\":\"Orders\"},\"chunk_rows\":100}}")
t_bad=$(submit "{\"type\":\"export\",\"connector\":\"pbi-bad\",\"params\":{\"source\":$pg_source,\"target\":{\"dataset\":\"Bad\",\"table\":\"Orders\"}}}")
t_probe=$(submit '{"type":"probe","connector":"pbi","params":{}}')
t_gs=$(submit "{\"type\":\"export\",\"connector\":\"sheets\",\"params\":{\"source\":$pg_source,\"target\":{\"spreadsheet_id\":\"book\",\"sheet\":\"Orders\"}}}")
t_fail=$(submit '{"type":"export","connector":"noop","params":{"fail":"permanent"}}')
t_long=$(submit '{"type":"export","connector":"noop","params":{"sleep_ms":60000}}')

task_wait_state "$t_pbi" succeeded 90
task_wait_state "$t_bad" failed 60
task_wait_state "$t_probe" succeeded 60
task_wait_state "$t_gs" succeeded 90
task_wait_state "$t_fail" failed 60
check_eq "the wrong secret failed auth" "$(q "SELECT error_code FROM tasks WHERE task_id = '$t_bad'")" auth
wait_for "the long task runs" 30 sql_is "SELECT state FROM tasks WHERE task_id = '$t_long'" running
read -r status _ < <(api_call "$submitter" POST "/v1/tasks/$t_long/cancel")
check_eq "cancel accepted" "$status" 202
read -r status _ < <(api_call "$submitter" POST "/v1/tasks/$t_fail/retry")
check_eq "retry accepted" "$status" 202
task_wait_state "$t_long" cancelled 60
# a body with a secret-named key is refused (never published)
read -r status _ < <(api_call "$submitter" POST /v1/tasks "{\"type\":\"export\",\"connector\":\"noop\",\"params\":{\"client_secret\":\"$PBI_SECRET\"}}")
check_eq "a task carrying a credential is refused" "$status" 400
for t in "$t_pbi" "$t_bad" "$t_probe" "$t_gs" "$t_fail" "$t_long"; do
    for path in "" /events /logs; do
        read -r status _ < <(api_call "$admin" GET "/v1/tasks/$t$path")
        [ "$status" = 200 ] || check_eq "GET /v1/tasks/$t$path" "$status" 200
    done
done
read -r status _ < <(api_call "$admin" GET "/v1/tasks?limit=500")
check_eq "list" "$status" 200
for bad in "$revoked" "$made_up"; do
    read -r status _ < <(api_call "$bad" GET /v1/tasks)
    check_eq "a revoked or made-up token is refused" "$status" 401
done
for path in /metrics /readyz /healthz; do
    read -r status _ < <(api_call "$admin" GET "$path")
    check_eq "GET $path" "$status" 200
done
answers=$(ls "$E2E_DIR/api-bodies"/*.json | wc -l)
log "$answers API answers kept"
check "every API answer was kept" test "$answers" -ge 30

# Stop the processes so their last lines are written.
kill -TERM "$PID_api" "$PID_ss_worker" "$PID_sandbox" 2>/dev/null || true
wait "$PID_api" "$PID_ss_worker" "$PID_sandbox" 2>/dev/null || true

# ---- what the run left behind -------------------------------------------------------
# dump_kafka DIR: every message of the run's topics, one file per topic.
dump_kafka() {
    local dir=$1 topic
    mkdir -p "$dir"
    for topic in $(kcat -b "$DATAFLEET_KAFKA_BROKERS" -L -J | python3 -c 'import json, sys
for t in json.load(sys.stdin)["topics"]:
    if t["topic"].startswith(sys.argv[1]):
        print(t["topic"])' "$DATAFLEET_TOPIC_PREFIX"); do
        kcat -b "$DATAFLEET_KAFKA_BROKERS" -C -t "$topic" -o beginning -e -q \
            -f 'partition=%p offset=%o key=%k headers=%h value=%s\n' >"$dir/$topic.txt"
    done
}
dump_kafka "$E2E_DIR/kafka"
topics=$(ls "$E2E_DIR/kafka" | wc -l)
messages=$(cat "$E2E_DIR/kafka"/*.txt | grep -c '^partition=' || true)
log "kafka: $topics topics, $messages messages"
check "kafka holds the run's task and event topics" test "$topics" -ge 5
check "kafka holds the run's messages" test "$messages" -ge 20
pg_dump --data-only "$DATAFLEET_DATABASE_URL" >"$E2E_DIR/history.sql"
logs=("$E2E_DIR"/*.log)
log "scanning ${#logs[@]} logs, $answers API answers, $topics topics, the history"

check "no secret in logs, API answers, Kafka or the history" \
    /usr/bin/python3 "$scan" "$secrets" "${logs[@]}" "$E2E_DIR/api-bodies" "$E2E_DIR/kafka" \
    "$E2E_DIR/history.sql"

# ---- self-check: planted secrets are found ---------------------------------------------
planted=$E2E_DIR/planted
mkdir -p "$planted"
printf 'hello' | kcat -b "$DATAFLEET_KAFKA_BROKERS" -P -t "${DATAFLEET_TOPIC_PREFIX}dlq" \
    -H "x-note=$PBI_SECRET" -k planted
dump_kafka "$planted/kafka"
printf '{"echo":%s}\n' "$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$admin")" \
    >"$planted/body.json"
printf '{"msg":"posting client_secret=%s"}\n' \
    "$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote_plus(sys.argv[1]))' "$DATAFLEET_SECRET_KEY")" \
    >"$planted/worker.log"
rc=0
/usr/bin/python3 "$scan" "$secrets" "$planted" >"$E2E_DIR/planted.out" || rc=$?
cat "$E2E_DIR/planted.out"
check_eq "the scan fails on planted secrets" "$rc" 1
check "it finds the Kafka header" grep -q "dlq.txt:[0-9]* holds secret powerbi_client_secret" "$E2E_DIR/planted.out"
check "it finds the token in a body" grep -q "body.json:1 holds secret api_token_admin" "$E2E_DIR/planted.out"
check "it finds the URL-encoded key in a log" grep -q "worker.log:1 holds secret DATAFLEET_SECRET_KEY" "$E2E_DIR/planted.out"
e2e_finish
