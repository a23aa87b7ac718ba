#!/usr/bin/env bash
# powerbi exports through Power BI's failures (sandbox fault rules): a 429
# with Retry-After and two 503s are retried in place; an access token that
# expires mid-export (Power BI's 403 TokenExpired) is refreshed once; a
# token refused even fresh fails `auth`; dropped connections are recovered;
# 503s that do not end are bounded (retryable, then dead); a bad client
# secret fails at once with Entra's AADSTS message. Every recovered export
# has each row exactly once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/powerbi_lib.sh"
e2e_init pbifaults

pbi_start_sandbox
# A second app whose connector has the wrong secret (its own client id:
# the fleet's token cache is per app).
pbi_post /_sandbox/entra/apps "{\"tenant\":\"$PBI_TENANT\",\"client_id\":\"app-two\",\"client_secret\":\"app-two-secret\"}" >/dev/null
export PBI_WRONG_SECRET=not-the-secret
pbi_connectors "$E2E_DIR/connectors.json"
pbi_connectors "$E2E_DIR/connectors.json" pbi-bad PBI_WRONG_SECRET '{"client_id":"app-two"}'
start_recorder
# Retries due within 5 s run in place (there is no scheduler here to run
# them later).
start_worker w1 --concurrency 2 --inline-retry-max 5s --connectors "$E2E_DIR/connectors.json"
q "CREATE TABLE events AS SELECT g AS id, 'event ' || g AS what FROM generate_series(1, 25000) g" >/dev/null
tokens() { pbi_requests entra.token 'r.get("by_status", {}).get("200", 0)'; }
status_count() { pbi_requests powerbi.rows.post "r.get('by_status', {}).get('$1', 0)"; }

# 429 with Retry-After, then 503 twice: retried in place, the task succeeds.
pbi_fault '{"route":"powerbi.rows.post","status":429,"retry_after_s":1,"count":1,"after":1}'
pbi_fault '{"route":"powerbi.rows.post","status":503,"count":2,"after":2}'
t=$(pbi_export "$(pbi_params "SELECT * FROM events ORDER BY id" '{"dataset":"FE429","table":"E429"}' '{"chunk_rows":5000}')")
pbi_wait_state "$t" succeeded
check_eq "429 and 503 x2 answered" "$(status_count 429) $(status_count 503)" "1 2"
check_eq "in one attempt" "$(pbi_task attempt "$t")" 1
check_eq "every row once" "$(pbi_rows_once FE429 E429 1 25000)" ok
check "the worker waited as Retry-After said" grep -q 'HTTP 429: TooManyRequests.*retrying in 1000 ms' "$E2E_DIR/w1.log"

# The token expires mid-export: Power BI answers 403 TokenExpired once, the
# connector gets a new token and goes on.
pbi_fault '{"route":"powerbi.rows.post","latency_ms":150,"count":-1}'
before=$(tokens)
t=$(pbi_export "$(pbi_params "SELECT * FROM events ORDER BY id" '{"dataset":"FExpiry","table":"Expiry"}' '{"chunk_rows":1000}')")
wait_for "3 chunks written" 60 pbi_ckpt_at_least "$t" 3000
pbi_post /_sandbox/tokens/expire '{}' >/dev/null
pbi_wait_state "$t" succeeded
pbi_faults_clear
check_eq "one TokenExpired" "$(status_count 403)" 1
check_eq "one new token" "$(($(tokens) - before))" 1
check_eq "every row once" "$(pbi_rows_once FExpiry Expiry 1 25000)" ok

# A token refused even when fresh: refreshed once, then `auth`.
pbi_fault '{"route":"powerbi.rows.post","status":401,"count":2}'
before=$(tokens)
t=$(pbi_export "$(pbi_params "SELECT * FROM events WHERE id <= 10 ORDER BY id" '{"dataset":"FRefused","table":"Refused"}')")
pbi_wait_state "$t" failed
check_eq "refused twice: auth" "$(pbi_task error_code "$t")" auth
check "with Power BI's answer ($(pbi_task error_message "$t"))" grep -q "Power BI refused a fresh access token: HTTP 401" <<<"$(pbi_task error_message "$t")"
check_eq "after exactly one refresh" "$(($(tokens) - before))" 1
check_eq "no retry of an auth failure" "$(pbi_task attempt "$t")" 1

# Dropped connections (curl: empty reply): sent again, nothing lost.
pbi_fault '{"route":"powerbi.rows.post","drop_connection":true,"count":2,"after":1}'
t=$(pbi_export "$(pbi_params "SELECT * FROM events ORDER BY id" '{"dataset":"FDropped","table":"Dropped"}')")
pbi_wait_state "$t" succeeded
check_eq "2 dropped connections" "$(status_count 0)" 2
check_eq "every row once" "$(pbi_rows_once FDropped Dropped 1 25000)" ok
check_eq "the lost answers were checked by counting rows: no possible duplicates" \
    "$(pbi_task "coalesce(result->>'possible_duplicate_rows', '0')" "$t")" 0

# 503 that does not end: a few tries in place, then retryable; dead after
# the task's attempts.
pbi_fault '{"route":"powerbi.rows.post","status":503,"count":-1}'
before=$(status_count 503)
t=$(pbi_export "$(pbi_params "SELECT * FROM events WHERE id <= 10 ORDER BY id" '{"dataset":"FDown","table":"Down"}')" --max-attempts 2)
pbi_wait_state "$t" dead 120
pbi_faults_clear
check_eq "attempts exhausted" "$(pbi_task error_code "$t")" attempts_exhausted
check "with Power BI's 503" grep -q "HTTP 503" <<<"$(pbi_task error_message "$t")"
check_eq "5 tries per attempt" "$(($(status_count 503) - before))" 10

# A wrong client secret: failed at once, Entra's message kept.
before=$(pbi_requests powerbi.rows.post 'r.get("total", 0)')
t=$(pbi_export "$(pbi_params "SELECT * FROM events ORDER BY id" '{"dataset":"FBadSecret","table":"BadSecret"}')" --connector pbi-bad)
pbi_wait_state "$t" failed 30
msg=$(pbi_task error_message "$t")
check_eq "bad secret: auth" "$(pbi_task error_code "$t")" auth
check "with Entra's AADSTS message ($msg)" grep -q "invalid_client: AADSTS7000215: Invalid client secret provided" <<<"$msg"
check_eq "in one attempt" "$(pbi_task attempt "$t")" 1
check "within seconds" sql_is "SELECT extract(epoch FROM finished_at - started_at) < 5 FROM tasks WHERE task_id = '$t'" t
check_eq "no rows sent" "$(pbi_requests powerbi.rows.post 'r.get("total", 0)')" "$before"
check "the secret is in no log line" bash -c "! grep -rqF -e '$PBI_SECRET' -e '$PBI_WRONG_SECRET' '$E2E_DIR'/w1.log"
e2e_finish
