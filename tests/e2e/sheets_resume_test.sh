#!/usr/bin/env bash
# google_sheets appends resume without writing a row twice. Before each
# append the connector records, in the export's checkpoint hash, the grid
# row count the sheet has once it landed; a resumed attempt reads the
# sheet's grid to tell whether the append in flight landed.
#   - crafted checkpoints: the append in flight landed (skipped), did not
#     land (sent again), or the sheet changed meanwhile (permanent);
#   - kill -9 of the worker while Google applies an append (the sandbox holds
#     it 3 s, then stores it: the answer never arrives), then the other
#     worker resumes: every row exactly once; the same for an upsert, whose
#     resumed attempt finds the landed rows by their keys.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sheets_lib.sh"
e2e_init sheetsresume

gs_start_sandbox
gs_spreadsheet r Sheet1
conns=$E2E_DIR/connectors.json
gs_connectors "$conns" sheets
start_recorder
start_worker w1 --concurrency 2 --connectors "$conns"
start_worker w2 --concurrency 2 --connectors "$conns"
wait_assigned w1 w2
q "CREATE TABLE n AS SELECT g AS id, 'row ' || g AS label FROM generate_series(1, 3000) g" >/dev/null
params() { gs_params "$(gs_pg "SELECT * FROM n WHERE id <= $2 ORDER BY id")" "{\"spreadsheet_id\":\"r\",\"sheet\":\"$1\"}" '{"chunk_rows":300}'; }
new_id() { "$E2E_BIN/datafleet-submit" --dry-run --type export --connector sheets | python3 -c 'import json, sys; print(json.load(sys.stdin)["task_id"])'; }

# resume_case SHEET ROWS_IN_SHEET CKPT_ROWS GRID_AFTER: a sheet holding the
# first ROWS_IN_SHEET rows, then an export of all 3,000 whose checkpoint says
# CKPT_ROWS were acknowledged and an append of 300 rows (ending at row
# CKPT_ROWS + 300) was in flight, to leave GRID_AFTER grid rows.
resume_case() {
    local sheet=$1 have=$2 ckpt=$3 grid=$4 pre id
    pre=$(gs_export "$(params "$sheet" "$have")")
    gs_wait_state "$pre" succeeded
    id=$(new_id)
    rcli HSET "df:ckpt:$id" rows "$ckpt" chunks $((ckpt / 300)) gs_grid_rows "$grid" \
        gs_req_rows 300 gs_req_end $((ckpt + 300)) >/dev/null
    gs_export "$(params "$sheet" 3000)" --task-id "$id" >/dev/null
    echo "$id"
}

landed=$(resume_case Landed 900 600 901)
gs_wait_state "$landed" succeeded
check_eq "in flight and landed: every row once" "$(gs_rows_once r Landed 1 3000)" ok
check_eq "in flight and landed: resumed after the checkpoint" "$(gs_task "$landed" "result->>'resumed_after_rows'")" 600
check_eq "in flight and landed: 7 appends, not 8" "$(gs_task "$landed" "result->>'rows_appended'")" 2100
lost=$(resume_case Lost 600 600 901)
gs_wait_state "$lost" succeeded
check_eq "in flight, not landed: every row once" "$(gs_rows_once r Lost 1 3000)" ok
check_eq "in flight, not landed: sent again" "$(gs_task "$lost" "result->>'rows_appended'")" 2400
changed=$(resume_case Changed 600 600 1000)
gs_wait_state "$changed" failed
msg=$(gs_task "$changed" "error_code || ': ' || error_message")
check "the sheet changed meanwhile: permanent, says which rows ($msg)" \
    grep -q "sheet_changed: sheet Changed has 601 grid rows, .* rows 601 to 900 may be missing" <<<"$msg"

# ---- kill -9 while an append is being applied --------------------------------------
gs_fault '{"route":"sheets.values.append","latency_ms":3000,"after":4,"count":1}'
appends_done() { [ "$(gs_requests sheets.values.append 'r.get("total", 0)')" -ge "$1" ]; }
base=$(gs_requests sheets.values.append 'r.get("total", 0)')
k=$(gs_export "$(params Killed 3000)")
wait_for "4 appends answered" 60 appends_done $((base + 4))
sleep 0.5 # the 5th is in the sandbox, held 3 s
owner=$(rcli HGET "df:task:$k" worker)
check "a worker runs it ($owner)" test -n "$owner"
victim=w1 survivor=w2
[ "$owner" = w2 ] && victim=w2 survivor=w1
eval "kill -KILL \$PID_$victim"
log "killed $victim (kill -9) during the 5th append"
gs_wait_state "$k" succeeded 120
check_eq "kill -9: every row exactly once" "$(gs_rows_once r Killed 1 3000)" ok
check_eq "kill -9: the other worker finished it" "$(gs_task "$k" worker)" "$survivor"
check_eq "kill -9: resumed after 4 chunks" "$(gs_task "$k" "result->>'resumed_after_rows'")" 1200
check "kill -9: the 5th append was found in the sheet" \
    grep -q "the append in flight (export rows 1201 to 1500) landed; skipping 300 rows" "$E2E_DIR/$survivor.log"
check_eq "kill -9: the checkpoint is gone" "$(rcli EXISTS "df:ckpt:$k")" 0

# ---- the same with an upsert: the landed rows are found by their keys ----------------
start_worker w3 --concurrency 2 --connectors "$conns"
wait_assigned w3
gs_fault '{"route":"sheets.values.append","latency_ms":3000,"after":4,"count":1}'
base=$(gs_requests sheets.values.append 'r.get("total", 0)')
u=$(gs_export "$(gs_params "$(gs_pg "SELECT * FROM n ORDER BY id")" \
    '{"spreadsheet_id":"r","sheet":"KilledUpsert","mode":"upsert","key_columns":["id"]}' '{"chunk_rows":300}')")
wait_for "4 appends answered" 60 appends_done $((base + 4))
sleep 0.5
owner=$(rcli HGET "df:task:$u" worker)
eval "kill -KILL \$PID_$owner"
log "killed $owner (kill -9) during the 5th append of the upsert"
gs_wait_state "$u" succeeded 120
check_eq "upsert, kill -9: every key exactly once" "$(gs_rows_once r KilledUpsert 1 3000)" ok
check_eq "upsert, kill -9: the landed chunk updated, not appended again" \
    "$(gs_task "$u" "(result->>'rows_updated') || '/' || (result->>'rows_appended')")" 300/1500
e2e_finish
