#!/usr/bin/env bash
# google_sheets exports through Google's failures (sandbox faults): 429
# RESOURCE_EXHAUSTED without and with Retry-After, 503 and dropped
# connections on appends (which may have landed: the grid tells, so no row
# is written twice), slow answers, an access token expired mid-export (one
# new token), a 503 that does not end (bounded retries, then a retryable
# outcome), and cancellation mid-export.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sheets_lib.sh"
e2e_init sheetsfaults

gs_start_sandbox
gs_spreadsheet f Sheet1
conns=$E2E_DIR/connectors.json
gs_connectors "$conns" sheets
start_recorder
start_worker w1 --concurrency 2 --connectors "$conns"
wait_assigned w1
q "CREATE TABLE n AS SELECT g AS id, 'row ' || g AS label FROM generate_series(1, 3000) g" >/dev/null
src=$(gs_pg "SELECT * FROM n ORDER BY id")
exp() { gs_export "$(gs_params "$src" "{\"spreadsheet_id\":\"f\",\"sheet\":\"$1\"}" '{"chunk_rows":300}')" "${@:2}"; }
status_count() { gs_requests "$1" "r.get('by_status', {}).get('$2', 0)"; }
rows_over() { [ "$(gs_values f "$1" 'len(v or [])')" -gt "$2" ]; }

# ---- 429 ------------------------------------------------------------------------
gs_fault '{"route":"sheets.values.append","status":429,"count":2,"after":2}'
t=$(exp T429)
gs_wait_state "$t" succeeded 120
check_eq "429 without Retry-After: backed off, every row once" "$(gs_rows_once f T429 1 3000)" ok
check_eq "429: both answered" "$(status_count sheets.values.append 429)" 2
check_eq "429: one attempt" "$(gs_task "$t" attempt)" 1
gs_fault '{"route":"sheets.values.append","status":429,"retry_after_s":1,"count":1,"after":1}'
t=$(exp T429b)
gs_wait_state "$t" succeeded 120
check_eq "429 with Retry-After: every row once" "$(gs_rows_once f T429b 1 3000)" ok
check "429 with Retry-After: waited as told" grep -q "retry 1 of 5 in 1000 ms" "$E2E_DIR/w1.log"

# ---- 503 and dropped connections on appends: did it land? ---------------------------
gs_fault '{"route":"sheets.values.append","status":503,"count":2,"after":3}'
gs_fault '{"route":"sheets.values.get","status":503,"count":1}'
gs_fault '{"route":"sheets.spreadsheets.get","status":500,"count":1,"after":1}'
t=$(exp T503)
gs_wait_state "$t" succeeded 120
check_eq "503: every row once" "$(gs_rows_once f T503 1 3000)" ok
check "503: the grid was checked" grep -q "append of 300 rows to T503: HTTP 503.*checking whether it landed" "$E2E_DIR/w1.log"
gs_fault '{"route":"sheets.values.append","drop_connection":true,"count":2,"after":4}'
t=$(exp Tdrop)
gs_wait_state "$t" succeeded 120
check_eq "dropped connections: every row once" "$(gs_rows_once f Tdrop 1 3000)" ok
check_eq "dropped connections: both dropped" "$(status_count sheets.values.append 0)" 2

# ---- slow answers ----------------------------------------------------------------------
gs_fault '{"route":"sheets.*","latency_ms":1500,"count":4}'
t=$(exp Tslow)
gs_wait_state "$t" succeeded 120
check_eq "latency: every row once" "$(gs_rows_once f Tslow 1 3000)" ok

# ---- an access token expired mid-export ---------------------------------------------------
tokens=$(status_count google.token 200)
gs_fault '{"route":"sheets.values.append","latency_ms":700,"count":10}'
t=$(exp Texpired)
wait_for "appends under way" 60 rows_over Texpired 600
gs_post /_sandbox/tokens/expire '{}' >/dev/null
gs_wait_state "$t" succeeded 120
check_eq "expired token: every row once" "$(gs_rows_once f Texpired 1 3000)" ok
check_eq "expired token: refused once" "$(status_count sheets.values.append 401)" 1
check_eq "expired token: one new token" "$(status_count google.token 200)" $((tokens + 1))
check_eq "expired token: one attempt" "$(gs_task "$t" attempt)" 1
gs_faults_clear

# ---- a 503 that lasts: bounded retries, then retryable --------------------------------------
gs_fault '{"route":"sheets.values.append","status":503,"count":-1,"after":2}'
t=$(exp Tdown --max-attempts 1)
start=$SECONDS
gs_wait_state "$t" dead 120
check "lasting 503: gave up within a minute ($((SECONDS - start)) s)" test $((SECONDS - start)) -lt 60
check_eq "lasting 503: retryable, exhausted" "$(gs_task "$t" error_code)" attempts_exhausted
check "lasting 503: Google's message kept" grep -q "UNAVAILABLE: The service is currently unavailable" <<<"$(gs_task "$t" error_message)"
check_eq "lasting 503: the rows before it, once" "$(gs_rows_once f Tdown 1 600)" ok
gs_faults_clear

# ---- cancellation mid-export -------------------------------------------------------------------
gs_fault '{"route":"sheets.values.append","latency_ms":500,"count":-1}'
t=$(exp Tcancel)
wait_for "appends under way" 60 rows_over Tcancel 600
"$E2E_BIN/datafleet-submit" cancel "$t" >/dev/null
start=$SECONDS
gs_wait_state "$t" cancelled 30
check "cancelled within seconds ($((SECONDS - start)) s)" test $((SECONDS - start)) -lt 10
rows=$(gs_values f Tcancel 'len(v) - 1')
check "cancelled: stopped early ($rows rows)" test "$rows" -lt 3000
check_eq "cancelled: what was written, once" "$(gs_rows_once f Tcancel 1 "$rows")" ok
sleep 2
check_eq "cancelled: nothing written after" "$(gs_values f Tcancel 'len(v) - 1')" "$rows"
gs_faults_clear
e2e_finish
