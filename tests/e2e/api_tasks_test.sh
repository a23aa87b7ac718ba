#!/usr/bin/env bash
# The REST API's task endpoints and its guards, against a real fleet: tokens
# and the role matrix (401/403), submit with Idempotency-Key, list with
# filters and cursors, one task merged from Redis and PostgreSQL, its events
# and logs, cancel and retry, every class of bad input answered with a 4xx
# in the one error shape, the body limit, the per-token rate limit (429 +
# Retry-After), TLS, the audit of token changes and the API's metrics.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_lib.sh"
e2e_init api

start_worker w1 --concurrency 4
api_start
ADMIN=$(api_token admin)
SUBMIT=$(api_token submit)
READ=$(api_token read)
wait_assigned w1

# ---- no token needed: health, readiness, metrics --------------------------------
API_STATUS=$(api GET /healthz -)
check_eq "healthz" "$API_STATUS $(jget 'r["status"]')" "200 ok"
API_STATUS=$(api GET /readyz -)
check_eq "readyz names each dependency" "$API_STATUS $(jget 'sorted(r["checks"])')" \
    '200 ["kafka", "postgres", "redis"]'

# ---- authentication and roles -------------------------------------------------------
task='{"type":"export","connector":"noop","params":{"rows":5}}'
API_STATUS=$(api GET /v1/tasks -)
check "no token: 401 unauthorized" api_error_is 401 unauthorized Authorization
check "with WWW-Authenticate" grep -qi '^WWW-Authenticate: Bearer' "$E2E_DIR/resp.headers"
API_STATUS=$(api GET /v1/tasks "dft_notatoken")
check "unknown token: 401" api_error_is 401 unauthorized Authorization
API_STATUS=$(api GET /v1/tasks - "" -H "Authorization: Basic dXNlcjpwYXNz")
check "basic auth: 401" api_error_is 401 unauthorized Authorization
API_STATUS=$(api POST /v1/tasks "$READ" "$task")
check "read token cannot submit: 403" api_error_is 403 forbidden null
API_STATUS=$(api GET /v1/tasks "$READ")
check_eq "read token can list" "$API_STATUS" 200

# ---- submit ----------------------------------------------------------------------------
API_STATUS=$(api POST /v1/tasks "$SUBMIT" "$task")
id=$(jget 'r["task_id"]')
check_eq "submit: 202" "$API_STATUS $(jget 'r["state"]')" "202 queued"
check "Location header" grep -qi "^Location: /v1/tasks/$id" "$E2E_DIR/resp.headers"
api_wait_state "$id" succeeded "$READ"
check_eq "submitted_by names the token" "$(jget 'r["submitted_by"]')" "token:$(q "SELECT name FROM api_tokens WHERE role = 'submit'")"
check_eq "the original message is shown" "$(jget 'r["task"]["params"]')" '{"rows": 5}'
check_eq "with the live state from Redis" "$(jget '[r["live"]["state"], r["live"]["worker"], r["live"]["updated_at"][:2]]')" '["succeeded", "w1", "20"]'
wait_for "events recorded" 30 sql_is "SELECT count(*) > 2 FROM task_events WHERE task_id = '$id'" t
API_STATUS=$(api GET "/v1/tasks/$id/events" "$READ")
check_eq "events in order" "$API_STATUS $(jget '[e["state"] for e in r["events"] if e["state"] != "progress"]')" \
    '200 ["queued", "running", "succeeded"]'
API_STATUS=$(api GET "/v1/tasks/$id/logs" "$READ")
check_eq "logs" "$API_STATUS $(jget 'type(r["logs"]).__name__')" "200 list"
API_STATUS=$(api GET "/v1/tasks/$id/logs?attempt=x" "$READ")
check "logs: bad attempt" api_error_is 400 invalid attempt

# ---- Idempotency-Key ------------------------------------------------------------------------
API_STATUS=$(api POST /v1/tasks "$SUBMIT" "$task" -H "Idempotency-Key: order-42")
first=$(jget 'r["task_id"]')
check_eq "first use of a key: 202" "$API_STATUS" 202
API_STATUS=$(api POST /v1/tasks "$SUBMIT" "$task" -H "Idempotency-Key: order-42")
check_eq "same key, same body: the same task, 200" "$API_STATUS $(jget 'r["task_id"]') $(jget 'r["idempotent_replay"]')" "200 $first true"
API_STATUS=$(api POST /v1/tasks "$SUBMIT" '{"type":"export","connector":"noop","params":{"rows":6}}' -H "Idempotency-Key: order-42")
check "same key, other body: 409" api_error_is 409 conflict Idempotency-Key
API_STATUS=$(api POST /v1/tasks "$ADMIN" "$task" -H "Idempotency-Key: order-42")
check_eq "keys are per token" "$API_STATUS" 202
api_wait_state "$first" succeeded "$READ"
check_eq "the keyed task ran once" "$(q "SELECT count(*) FROM task_events WHERE task_id = '$first' AND state = 'running'")" 1

# ---- list, filters, cursors ------------------------------------------------------------------
API_STATUS=$(api GET "/v1/tasks?state=succeeded&type=export&connector=noop" "$READ")
check_eq "filtered list has the task" "$API_STATUS $(jget "any(t['task_id'] == '$id' for t in r['tasks'])")" "200 true"
check_eq "and only matching tasks" "$(jget 'all(t["state"] == "succeeded" and t["type"] == "export" for t in r["tasks"])')" true
API_STATUS=$(api GET "/v1/tasks?limit=1" "$READ")
cursor=$(jget 'r["next_cursor"]')
p1=$(jget 'r["tasks"][0]["task_id"]')
check_eq "limit 1: one task and a cursor" "$API_STATUS $(jget 'len(r["tasks"])') $([ "$cursor" != None ] && echo yes)" "200 1 yes"
API_STATUS=$(api GET "/v1/tasks?limit=1&cursor=$cursor" "$READ")
check "the next page is another task" test "$API_STATUS" = 200 -a "$(jget 'r["tasks"][0]["task_id"]')" != "$p1"
API_STATUS=$(api GET "/v1/tasks?since=2020-01-01T00:00:00Z&until=$(date -u +%Y-%m-%dT%H:%M:%SZ -d '+1 hour')" "$READ")
check_eq "since/until" "$API_STATUS $(jget "any(t['task_id'] == '$id' for t in r['tasks'])")" "200 true"
API_STATUS=$(api GET "/v1/tasks?since=2099-01-01T00:00:00Z" "$READ")
check_eq "since in the future: empty" "$API_STATUS $(jget 'len(r["tasks"])') $(jget 'r["next_cursor"]')" "200 0 null"

# ---- bad input: a 4xx in the one shape, never a crash -------------------------------------------
API_STATUS=$(api GET "/v1/tasks?cursor=garbage" "$READ")
check "bad cursor" api_error_is 400 invalid cursor
API_STATUS=$(api GET "/v1/tasks?cursor=c1.%FF%FE" "$READ")
check "bad cursor bytes" api_error_is 400 invalid cursor
API_STATUS=$(api GET "/v1/tasks?state=done" "$READ")
check "bad state" api_error_is 400 invalid state
API_STATUS=$(api GET "/v1/tasks?limit=0" "$READ")
check "limit 0" api_error_is 400 invalid limit
API_STATUS=$(api GET "/v1/tasks?limit=99999999999999999999" "$READ")
check "limit overflow" api_error_is 400 invalid limit
API_STATUS=$(api GET "/v1/tasks?since=yesterday" "$READ")
check "bad time" api_error_is 400 invalid since
API_STATUS=$(api GET "/v1/tasks?colour=red" "$READ")
check "unknown query parameter" api_error_is 400 invalid colour
API_STATUS=$(api GET "/v1/tasks/not-an-id" "$READ")
check "bad id" api_error_is 400 invalid id
# 26 base32 characters beyond a ULID's 128 bits: the message schema takes
# them, but /v1/tasks/{id} could not read such a task back
API_STATUS=$(api POST /v1/tasks "$SUBMIT" '{"task_id":"VA7ZBXVSR8T6K007XMNWAM15RD","type":"export","connector":"noop","params":{}}')
check "a task_id that is not a ULID: 400" api_error_is 400 invalid /task_id
API_STATUS=$(api GET "/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV" "$READ")
check "unknown id: 404" api_error_is 404 not_found id
API_STATUS=$(api POST /v1/tasks "$SUBMIT" '{"type": "export", ')
check "malformed JSON" api_error_is 400 invalid body
API_STATUS=$(api POST /v1/tasks "$SUBMIT" '[1, 2]')
check "not an object" api_error_is 400 invalid body
API_STATUS=$(api POST /v1/tasks "$SUBMIT" '{"type":"export","type":"refresh","connector":"noop","params":{}}')
check "duplicate keys" api_error_is 400 invalid body
API_STATUS=$(api POST /v1/tasks "$SUBMIT" '{"type":"export","connector":"noop","params":{},"colour":"red"}')
check "unknown field" api_error_is 400 invalid /colour
API_STATUS=$(api POST /v1/tasks "$SUBMIT" '{"type":"export","connector":"noop","params":{},"max_attempts":"3"}')
check "wrong type" api_error_is 400 invalid /max_attempts
API_STATUS=$(api POST /v1/tasks "$SUBMIT" '{"type":"export","connector":"Not A Name","params":{}}')
check "bad connector name" api_error_is 400 invalid /connector
API_STATUS=$(api POST /v1/tasks "$SUBMIT" '')
check "no body" api_error_is 400 invalid body
API_STATUS=$(api POST "/v1/tasks/$id/cancel" "$SUBMIT" '{"x":1}')
check "a body where none is taken" api_error_is 400 invalid body
python3 -c 'import json; print(json.dumps({"type":"export","connector":"noop","params":{"pad":"x"*2000000}}))' >"$E2E_DIR/big.json"
API_STATUS=$(api POST /v1/tasks "$SUBMIT" "@$E2E_DIR/big.json")
check "oversized body: 413" api_error_is 413 too_large body
API_STATUS=$(api POST /v1/tasks "$SUBMIT" "@$E2E_DIR/big.json" -H "Transfer-Encoding: chunked")
check "oversized chunked body: 413" api_error_is 413 too_large body
API_STATUS=$(api DELETE /v1/tasks "$ADMIN")
check "wrong method: 405" api_error_is 405 method_not_allowed null
API_STATUS=$(api GET /v1/nothing-here "$READ")
check "unknown path: 404" api_error_is 404 not_found path
check "the api is still up" curl -sf -o /dev/null "$API_URL/healthz"

# ---- cancel ---------------------------------------------------------------------------------------
API_STATUS=$(api POST /v1/tasks "$SUBMIT" '{"type":"export","connector":"noop","params":{"sleep_ms":60000}}')
slow=$(jget 'r["task_id"]')
api_wait_state "$slow" running "$READ"
API_STATUS=$(api POST "/v1/tasks/$slow/cancel" "$READ")
check "read token cannot cancel" api_error_is 403 forbidden null
API_STATUS=$(api POST "/v1/tasks/$slow/cancel" "$SUBMIT")
check_eq "cancel: 202" "$API_STATUS $(jget 'r["cancel_requested"]')" "202 true"
api_wait_state "$slow" cancelled "$READ" 30
API_STATUS=$(api POST "/v1/tasks/$slow/cancel" "$SUBMIT")
check "cancelling a cancelled task: 409" api_error_is 409 conflict id
API_STATUS=$(api POST "/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel" "$SUBMIT")
check "cancelling an unknown task: 404" api_error_is 404 not_found id

# ---- retry ----------------------------------------------------------------------------------------
API_STATUS=$(api POST /v1/tasks "$SUBMIT" '{"type":"export","connector":"noop","params":{"fail":"permanent"},"labels":{"team":"bi"}}')
bad=$(jget 'r["task_id"]')
api_wait_state "$bad" failed "$READ"
API_STATUS=$(api POST "/v1/tasks/$id/retry" "$SUBMIT")
check "retrying a succeeded task: 409" api_error_is 409 conflict id
API_STATUS=$(api POST "/v1/tasks/$bad/retry" "$SUBMIT")
again=$(jget 'r["task_id"]')
check_eq "retry: 202 with a new task" "$API_STATUS $(jget 'r["retry_of"]') $([ "$again" != "$bad" ] && echo new)" "202 $bad new"
api_wait_state "$again" failed "$READ"
check_eq "the retry carries the labels and retry_of" "$(jget 'sorted(r["labels"].items())')" "[[\"retry_of\", \"$bad\"], [\"team\", \"bi\"]]"

# ---- rate limit and TLS: two more api processes ---------------------------------------------------------
port=$("$E2E_SRC/tests/free-ports" 1)
"$E2E_BIN/datafleet-scheduler" --roles api --api-listen "127.0.0.1:$port" --api-rate 1 --api-burst 3 \
    run >>"$E2E_DIR/api-limited.log" 2>&1 &
E2E_PIDS+=("$!")
wait_for "limited api" 30 curl -sf -o /dev/null "http://127.0.0.1:$port/healthz"
codes=""
for _ in 1 2 3 4 5 6; do
    codes+="$(API_URL="http://127.0.0.1:$port" api GET "/v1/tasks?limit=1" "$READ") "
done
check_eq "burst of 3, then 429" "$codes" "200 200 200 429 429 429 "
API_STATUS=429
check "429 in the error shape" api_error_is 429 rate_limited null
check "with Retry-After" grep -qi '^Retry-After: [1-9]' "$E2E_DIR/resp.headers"
API_STATUS=$(API_URL="http://127.0.0.1:$port" api GET "/v1/tasks?limit=1" "$ADMIN")
check_eq "another token has its own bucket" "$API_STATUS" 200

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$E2E_DIR/tls.key" -out "$E2E_DIR/tls.crt" 2>/dev/null
tport=$("$E2E_SRC/tests/free-ports" 1)
"$E2E_BIN/datafleet-scheduler" --roles api --api-listen "127.0.0.1:$tport" \
    --tls-cert "$E2E_DIR/tls.crt" --tls-key "$E2E_DIR/tls.key" run >>"$E2E_DIR/api-tls.log" 2>&1 &
E2E_PIDS+=("$!")
wait_for "tls api" 30 curl -sf --cacert "$E2E_DIR/tls.crt" -o /dev/null "https://127.0.0.1:$tport/healthz"
API_STATUS=$(API_URL="https://127.0.0.1:$tport" api GET "/v1/tasks/$id" "$READ" "" --cacert "$E2E_DIR/tls.crt")
check_eq "over TLS" "$API_STATUS $(jget 'r["state"]')" "200 succeeded"
check "plain HTTP to the TLS port fails" bash -c "! curl -sf -m 5 -o /dev/null http://127.0.0.1:$tport/healthz"
check "--tls-cert without --tls-key is refused" bash -c \
    "! '$E2E_BIN/datafleet-scheduler' --roles api --api-listen 127.0.0.1:0 --tls-cert '$E2E_DIR/tls.crt' run >'$E2E_DIR/half-tls.log' 2>&1 && grep -q 'go together' '$E2E_DIR/half-tls.log'"

# ---- tokens: audit, revoke, defaults, metrics ------------------------------------------------------------
check_eq "token creation is audited" "$(q "SELECT count(*) FROM audit_log WHERE action = 'tokens create'")" 3
check_eq "only hashes are stored" "$(q "SELECT count(*) FROM api_tokens WHERE token_hash IN ('$ADMIN', '$SUBMIT', '$READ')")" 0
"$E2E_BIN/datafleet-scheduler" tokens revoke "$(q "SELECT name FROM api_tokens WHERE role = 'read'")" >/dev/null
API_STATUS=$(api GET /v1/tasks "$READ")
check "a revoked token: 401" api_error_is 401 unauthorized Authorization
check_eq "revocation is audited" "$(q "SELECT count(*) FROM audit_log WHERE action = 'tokens revoke'")" 1
check "binds to 127.0.0.1 by default" bash -c "'$E2E_BIN/datafleet-scheduler' --help | grep -A1 -- '--api-listen' | grep -q '127.0.0.1:8470'"
check "request metrics by route and status" bash -c \
    "curl -sf '$API_URL/metrics' | grep -q 'datafleet_api_requests_total{route=\"/v1/tasks\",method=\"POST\",status=\"202\"}'"
check "no token in any response" bash -c "! grep -qF -e '$ADMIN' -e '$SUBMIT' -e '$READ' '$E2E_DIR/responses.log'"
check "no token in any log" bash -c "! grep -rqF -e '$ADMIN' -e '$SUBMIT' -e '$READ' '$E2E_DIR'/*.log --exclude=responses.log --exclude=tokens.log"
e2e_finish
