#!/usr/bin/env bash
# The REST API's connectors, workers and DLQ endpoints against a real fleet:
# a Power BI connector registered through the API with an inline secret
# (sealed in PostgreSQL, "***" in every answer) is tested with a probe task
# on a worker (ok against the sandbox; a wrong secret fails with Entra's
# error), updated, deleted; the workers list shows the worker and what it
# runs; a poison message and an exhausted task land in the DLQ, are browsed,
# requeued (a new task) and purged. Changes are admin-only and audited; no
# secret appears in a response, a log line or audit_log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/powerbi_lib.sh"
source "$(dirname "$0")/api_lib.sh"
e2e_init apifleet

DATAFLEET_SECRET_KEY=$("$E2E_BIN/datafleet-scheduler" keys generate)
export DATAFLEET_SECRET_KEY
pbi_start_sandbox
api_start
ADMIN=$(api_token admin)
SUBMIT=$(api_token submit)
READ=$(api_token read)
start_worker w1 --concurrency 4 --registry-poll 1s
wait_assigned w1

pbi_connectors "$E2E_DIR/conns.json" apipbi
def=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))[0]
d["secrets"] = {"client_secret": sys.argv[2]}
d["description"] = "Power BI in the sandbox"
print(json.dumps(d))' "$E2E_DIR/conns.json" "$PBI_SECRET")

# ---- connectors --------------------------------------------------------------------
API_STATUS=$(api POST /v1/connectors "$SUBMIT" "$def")
check "a submit token cannot register a connector" api_error_is 403 forbidden null
API_STATUS=$(api POST /v1/connectors "$ADMIN" "$def")
check_eq "create: 201 with the secret masked" "$API_STATUS $(jget 'r["secrets"]["client_secret"]') $(jget 'r["key_id"] is not None')" "201 *** true"
check "Location header" grep -qi "^Location: /v1/connectors/apipbi" "$E2E_DIR/resp.headers"
API_STATUS=$(api POST /v1/connectors "$ADMIN" "$def")
check "the same name again: 409" api_error_is 409 conflict /name
API_STATUS=$(api POST /v1/connectors "$ADMIN" '{"name":"Bad Name","kind":"noop"}')
check "bad name: 400 naming it" api_error_is 400 invalid /name
API_STATUS=$(api POST /v1/connectors "$ADMIN" '{"name":"k1","kind":"teradata"}')
check "unknown kind: 400 naming it" api_error_is 400 invalid /kind
API_STATUS=$(api POST /v1/connectors "$ADMIN" '{"name":"k1","kind":"noop","colour":"red"}')
check "unknown field: 400" api_error_is 400 invalid /colour
API_STATUS=$(api POST /v1/connectors "$ADMIN" '{"name":"k1","kind":"noop","config":{"password":"x"}}')
check "a secret in config is refused" test "$API_STATUS" = 400
API_STATUS=$(api GET /v1/connectors "$READ")
check_eq "list" "$API_STATUS $(jget '[c["name"] for c in r["connectors"]]')" '200 ["apipbi"]'
API_STATUS=$(api GET /v1/connectors/apipbi "$READ")
check_eq "show" "$API_STATUS $(jget 'r["kind"]') $(jget 'r["secrets"]')" '200 powerbi {"client_secret": "***"}'
API_STATUS=$(api GET /v1/connectors/nosuch "$READ")
check "unknown connector: 404" api_error_is 404 not_found name
API_STATUS=$(api GET /v1/connectors/BAD! "$READ")
check "bad name in the path: 400" api_error_is 400 invalid name
check_eq "sealed at rest" "$(q "SELECT count(*) FROM connectors c WHERE position('$PBI_SECRET' IN row_to_json(c)::text) > 0")" 0

wait_for "the worker loaded apipbi" 20 grep -q "connector(s) from PostgreSQL" "$E2E_DIR/w1.log"
API_STATUS=$(api POST "/v1/connectors/apipbi/test?timeout_ms=60000" "$SUBMIT")
check_eq "test: a probe on a worker succeeds" "$API_STATUS $(jget 'r["ok"]') $(jget 'r["state"]')" "200 true succeeded"
probe=$(jget 'r["task_id"]')
check_eq "as a probe task in the history" "$(q "SELECT type FROM tasks WHERE task_id = '$probe'")" probe
API_STATUS=$(api POST "/v1/connectors/apipbi/test?timeout_ms=5" "$SUBMIT")
check "test: a timeout out of range" api_error_is 400 invalid timeout_ms
API_STATUS=$(api POST "/v1/connectors/nosuch/test" "$SUBMIT")
check "test: unknown connector 404" api_error_is 404 not_found name

# a wrong secret: PUT the view back with another secret
API_STATUS=$(api GET /v1/connectors/apipbi "$READ")
bad=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
d["secrets"]["client_secret"] = "wrong-secret-0000"
print(json.dumps(d))' "$E2E_DIR/resp.json")
API_STATUS=$(api PUT /v1/connectors/apipbi "$ADMIN" "$bad")
check_eq "update: 200, still masked" "$API_STATUS $(jget 'r["secrets"]["client_secret"]')" "200 ***"
API_STATUS=$(api PUT /v1/connectors/apipbi "$ADMIN" '{"name":"other","kind":"noop"}')
check "update cannot rename" api_error_is 400 invalid /name
sleep 2 # the worker's registry poll (1 s)
API_STATUS=$(api POST "/v1/connectors/apipbi/test?timeout_ms=60000" "$SUBMIT")
check_eq "test with the wrong secret fails" "$API_STATUS $(jget 'r["ok"]')" "200 false"
check "with the platform's refusal" grep -qi "secret\|auth\|invalid_client" "$E2E_DIR/resp.json"

API_STATUS=$(api PUT /v1/connectors/apipbi "$ADMIN" "$def")
check_eq "the right secret back" "$API_STATUS" 200
API_STATUS=$(api POST /v1/connectors "$ADMIN" '{"name":"apinoop","kind":"noop","secrets":{"token":"noop-secret-4242"}}')
check_eq "a second connector" "$API_STATUS" 201
API_STATUS=$(api DELETE /v1/connectors/apinoop "$READ")
check "a read token cannot delete" api_error_is 403 forbidden null
API_STATUS=$(api DELETE /v1/connectors/apinoop "$ADMIN")
check_eq "delete: 204" "$API_STATUS" 204
API_STATUS=$(api DELETE /v1/connectors/apinoop "$ADMIN")
check "delete again: 404" api_error_is 404 not_found name
check_eq "connector changes are audited, by token" \
    "$(q "SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE target_kind = 'connectors' AND actor LIKE 'token:%'")" \
    "POST /v1/connectors,PUT /v1/connectors/{name},PUT /v1/connectors/{name},POST /v1/connectors,DELETE /v1/connectors/{name}"
check_eq "with the target" "$(q "SELECT target FROM audit_log WHERE action = 'DELETE /v1/connectors/{name}'")" apinoop
check_eq "audit details hold no secret" "$(q "SELECT count(*) FROM audit_log WHERE details::text LIKE '%$PBI_SECRET%' OR details::text LIKE '%noop-secret-4242%' OR details::text LIKE '%wrong-secret-0000%'")" 0

# ---- workers -----------------------------------------------------------------------------
API_STATUS=$(api POST /v1/tasks "$SUBMIT" '{"type":"export","connector":"noop","params":{"sleep_ms":60000}}')
slow=$(jget 'r["task_id"]')
api_wait_state "$slow" running "$READ"
wait_for "recorded running" 30 sql_is "SELECT state FROM tasks WHERE task_id = '$slow'" running
API_STATUS=$(api GET /v1/workers "$READ")
# df:workers is the stack's, shared with other tests: workers they killed
# stay listed (gone), so only this test's worker is looked at
check_eq "the worker is listed, alive" "$API_STATUS $(jget '[(w["id"], w["stale"]) for w in r["workers"] if w["id"] == "w1"]')" '200 [["w1", false]]'
check_eq "with what it runs" "$(jget "[t['task_id'] for w in r['workers'] if w['id'] == 'w1' for t in w['tasks']]")" "[\"$slow\"]"
API_STATUS=$(api GET "/v1/workers?stale_ms=0" "$READ")
check "bad stale_ms" api_error_is 400 invalid stale_ms
api POST "/v1/tasks/$slow/cancel" "$SUBMIT" >/dev/null

# ---- the DLQ ------------------------------------------------------------------------------
printf 'this is not json\n' | kcat -P -b "$DATAFLEET_KAFKA_BROKERS" -t "${DATAFLEET_TOPIC_PREFIX}tasks.export" -k poison-1
API_STATUS=$(api POST /v1/tasks "$SUBMIT" '{"type":"export","connector":"noop","max_attempts":1,"params":{"fail":"retryable","fail_attempts":1}}')
dead=$(jget 'r["task_id"]')
api_wait_state "$dead" dead "$READ"
wait_for "two DLQ rows" 60 sql_is "SELECT count(*) FROM dlq_messages" 2
API_STATUS=$(api GET "/v1/dlq?state=dead" "$READ")
check_eq "browse" "$API_STATUS $(jget 'len(r["messages"])') $(jget 'r["next_cursor"]')" "200 2 null"
API_STATUS=$(api GET "/v1/dlq?limit=1" "$READ")
cursor=$(jget 'r["next_cursor"]')
first=$(jget 'r["messages"][0]["id"]')
API_STATUS=$(api GET "/v1/dlq?limit=1&cursor=$cursor" "$READ")
check "the next page" test "$API_STATUS" = 200 -a "$(jget 'r["messages"][0]["id"]')" != "$first"
API_STATUS=$(api GET "/v1/dlq?task_id=$dead" "$READ")
dlq_dead=$(jget 'r["messages"][0]["id"]')
check_eq "filter by task" "$API_STATUS $(jget 'len(r["messages"])') $(jget 'r["messages"][0]["reason"]')" "200 1 attempts_exhausted"
dlq_poison=$(q "SELECT id FROM dlq_messages WHERE task_id IS NULL")
API_STATUS=$(api GET "/v1/dlq/$dlq_poison" "$READ")
check_eq "show the poison message" "$API_STATUS $(jget 'r["payload"].strip()')" "200 this is not json"
API_STATUS=$(api GET "/v1/dlq/abc" "$READ")
check "bad DLQ id" api_error_is 400 invalid id
API_STATUS=$(api GET "/v1/dlq/999999" "$READ")
check "unknown DLQ id: 404" api_error_is 404 not_found id
API_STATUS=$(api POST "/v1/dlq/$dlq_dead/requeue" "$SUBMIT")
check "requeue is admin-only" api_error_is 403 forbidden null
API_STATUS=$(api POST "/v1/dlq/$dlq_poison/requeue" "$ADMIN")
check "the poison message cannot be requeued" api_error_is 400 invalid payload
API_STATUS=$(api POST "/v1/dlq/$dlq_dead/requeue" "$ADMIN")
requeued=$(jget 'r["task_id"]')
check_eq "requeue: 202 with a new task" "$API_STATUS $(jget 'r["requeued_from"]')" "202 $dead"
api_wait_state "$requeued" dead "$READ" # it fails its one attempt again
check_eq "the new task ran" "$(q "SELECT count(*) FROM task_events WHERE task_id = '$requeued' AND state = 'running'")" 1
check_eq "the new task carries requeued_from" "$(jget 'r["labels"]["requeued_from"]')" "$dead"
API_STATUS=$(api POST "/v1/dlq/$dlq_dead/requeue" "$ADMIN")
check "requeue twice: 409" api_error_is 409 conflict state
API_STATUS=$(api POST /v1/dlq/purge "$ADMIN" '{}')
check "purge needs a condition" api_error_is 400 invalid body
API_STATUS=$(api POST /v1/dlq/purge "$ADMIN" '{"before":"soon"}')
check "purge: bad time" api_error_is 400 invalid /before
API_STATUS=$(api POST /v1/dlq/purge "$ADMIN" '{"all":true}')
check_eq "purge all dead (the poison and the requeued task that died again)" "$API_STATUS $(jget 'r["purged"]')" "200 2"
API_STATUS=$(api GET "/v1/dlq?state=dead" "$READ")
check_eq "none dead left" "$(jget 'len(r["messages"])')" 0
check_eq "DLQ changes are audited" "$(q "SELECT count(*) FROM audit_log WHERE target_kind = 'dlq'")" 2

# ---- no secret anywhere --------------------------------------------------------------------------
for s in "$PBI_SECRET" noop-secret-4242 wrong-secret-0000 "$ADMIN" "$SUBMIT" "$READ" "$DATAFLEET_SECRET_KEY"; do
    check "secret ${s:0:4}... in no response" bash -c "! grep -qF -- '$s' '$E2E_DIR/responses.log'"
    check "secret ${s:0:4}... in no log" bash -c "! grep -qF -- '$s' '$E2E_DIR'/w1.log '$E2E_DIR'/api.log '$E2E_DIR'/sandbox.log"
done
e2e_finish
