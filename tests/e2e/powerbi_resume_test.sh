#!/usr/bin/env bash
# powerbi exports that stop midway: cancelled (datafleet-submit cancel)
# they stop within seconds, leaving whole chunks; a worker killed with -9
# mid-export is resumed by another and the table holds every row exactly
# once. Then the chunk in flight (the checkpoint's inflight_* fields, as a
# worker killed between Power BI's answer and the checkpoint leaves them):
# one the runner checkpointed is ignored; one whose fate is unknown
# restarts a replace from the first row, and is counted (executeQueries)
# or sent again and reported for an append.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/powerbi_lib.sh"
e2e_init pbiresume

pbi_start_sandbox
pbi_connectors "$E2E_DIR/connectors.json"
start_recorder
start_worker w1 --concurrency 1 --inline-retry-max 5s --connectors "$E2E_DIR/connectors.json"
start_worker w2 --concurrency 1 --inline-retry-max 5s --connectors "$E2E_DIR/connectors.json"
wait_assigned w1 w2
q "CREATE TABLE clicks AS SELECT g AS id, 'page ' || (g % 97) AS page FROM generate_series(1, 25000) g" >/dev/null
all="SELECT * FROM clicks ORDER BY id"

# Cancelled mid-export: stops within seconds, whole chunks only.
pbi_fault '{"route":"powerbi.rows.post","latency_ms":200,"count":-1}'
t=$(pbi_export "$(pbi_params "$all" '{"dataset":"Cancel","table":"C"}' '{"chunk_rows":500}')")
wait_for "2 chunks written" 60 pbi_ckpt_at_least "$t" 1000
"$E2E_BIN/datafleet-submit" cancel "$t" >/dev/null
cancelled_at=$SECONDS
pbi_wait_state "$t" cancelled 30
check "cancelled within 5 s" test $((SECONDS - cancelled_at)) -le 5
n=$(pbi_row_count Cancel C)
check "stopped midway, whole chunks ($n rows)" test "$n" -lt 25000 -a $((n % 500)) -eq 0
check_eq "each of them once" "$(pbi_rows_once Cancel C 1 "$n")" ok
sleep 1
check_eq "nothing sent after the cancel" "$(pbi_row_count Cancel C)" "$n"

# The sandbox counts a table's rows through executeQueries, as Power BI
# does: an append can then tell whether the chunk on the wire when its
# worker died arrived, and every row must be there exactly once.
token=$(curl -sS -f "$PBI_URL/$PBI_TENANT/oauth2/v2.0/token" -d grant_type=client_credentials \
    --data-urlencode "client_id=$PBI_CLIENT" --data-urlencode "client_secret=$PBI_SECRET" \
    --data-urlencode "scope=https://analysis.windows.net/powerbi/api/.default" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
status=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' "$PBI_URL/v1.0/myorg/datasets/$(pbi_dataset_id Cancel)/executeQueries" \
    --data-binary '{"queries":[{"query":"EVALUATE ROW(\"n\", COUNTROWS('"'C'"'))"}]}')
can_count=$([ "$status" = 200 ] && echo yes || echo no)
log "executeQueries answers $status: counting rows: $can_count"
check_eq "the sandbox counts rows (executeQueries)" "$can_count" yes

# kill9 MODE TABLE: kill -9 the worker of an export midway (each POST
# takes 200 ms at the sandbox, so it most likely dies with a POST on the
# wire, which the sandbox still stores); another worker resumes after the
# checkpoint. Sets KILLED (the task id).
kill9() {
    local victim pid_var survivor
    KILLED=$(pbi_export "$(pbi_params "$all" "{\"dataset\":\"Killed\",\"table\":\"$2\",\"mode\":\"$1\"}" '{"chunk_rows":1000}')")
    wait_for "5 chunks written" 60 pbi_ckpt_at_least "$KILLED" 5000
    victim=$(rcli HGET "df:task:$KILLED" worker)
    log "$1: kill -9 $victim mid-export"
    pid_var="PID_$victim"
    kill -KILL "${!pid_var}"
    pbi_wait_state "$KILLED" succeeded 120
    survivor=$([ "$victim" = w1 ] && echo w2 || echo w1)
    check_eq "$1: finished by the other worker" "$(rcli HGET "df:task:$KILLED" worker)" "$survivor"
    check "$1: resumed after the checkpoint, or restarted" \
        test "$(pbi_task "coalesce(result->>'resumed_after_rows', '0')" "$KILLED")" -ge 5000 -o \
        "$(pbi_task attempt "$KILLED")" -gt 1
    start_worker "$victim" --concurrency 1 --inline-retry-max 5s --connectors "$E2E_DIR/connectors.json"
}

# Replace: every row exactly once, counted or not (an unknown chunk in
# flight restarts it from the first row).
pbi_post /_sandbox/powerbi/datasets '{"name":"Killed","tables":[{"name":"KR","columns":[{"name":"id","dataType":"Int64"},{"name":"page","dataType":"String"}]},{"name":"KA","columns":[{"name":"id","dataType":"Int64"},{"name":"page","dataType":"String"}]}]}' >/dev/null
kill9 replace KR
check_eq "replace: every row exactly once" "$(pbi_rows_once Killed KR 1 25000)" ok

# Append: exactly once when Power BI can count the table; else the chunk
# on the wire is sent again, and reported.
kill9 append KA
dups=$(pbi_task "coalesce(result->>'possible_duplicate_rows', '0')" "$KILLED")
check_eq "append: every row exactly once" "$(pbi_rows_once Killed KA 1 25000)" ok
check_eq "append: no possible duplicates reported" "$dups" 0
pbi_faults_clear

# seed DATASET TABLE MODE LAST: a table holding ids 1..LAST (an earlier
# export), and a new task id whose checkpoint says chunk 1 (10,000 rows) is
# written and chunk 2 was in flight with the table at 10,000 rows.
seed() {
    local t0
    t0=$(pbi_export "$(pbi_params "SELECT * FROM clicks WHERE id <= $4 ORDER BY id" "{\"dataset\":\"$1\",\"table\":\"$2\"}")")
    pbi_wait_state "$t0" succeeded
    SEEDED=$(pbi_new_id)
    rcli HSET "df:ckpt:$SEEDED" rows 10000 chunks 1 inflight_chunk "$5" inflight_rows 10000 \
        inflight_n 10000 inflight_skip 0 >/dev/null
    pbi_export "$(pbi_params "$all" "{\"dataset\":\"$1\",\"table\":\"$2\",\"mode\":\"$3\"}" '{"chunk_rows":10000}')" \
        --task-id "$SEEDED" >/dev/null
}

# A chunk in flight that the runner did checkpoint: nothing to settle.
seed Stale S append 10000 1
pbi_wait_state "$SEEDED" succeeded
check_eq "stale marker: resumed after 10,000" "$(pbi_task "result->>'resumed_after_rows'" "$SEEDED")" 10000
check_eq "every row once" "$(pbi_rows_once Stale S 1 25000)" ok

# Replace, chunk 2 in flight and landed (the table has 1..20,000).
seed Replace R replace 20000 2
pbi_wait_state "$SEEDED" succeeded
check_eq "replace: every row exactly once" "$(pbi_rows_once Replace R 1 25000)" ok
if [ "$can_count" = yes ]; then
    check_eq "counted: the landed chunk is not sent again" \
        "$(pbi_task "result->>'rows_found_landed'" "$SEEDED")" 10000
else
    check_eq "cannot count: restarted from the first row (attempt 2)" "$(pbi_task attempt "$SEEDED")" 2
    check_eq "all rows sent by the restart" "$(pbi_task "coalesce(result->>'resumed_after_rows', 'none')" "$SEEDED")" none
fi

# Append, chunk 2 in flight and landed.
seed Append A append 20000 2
pbi_wait_state "$SEEDED" succeeded
if [ "$can_count" = yes ]; then
    check_eq "counted: every row exactly once" "$(pbi_rows_once Append A 1 25000)" ok
else
    check_eq "cannot count: chunk 2 sent again (its rows twice)" "$(pbi_row_count Append A)" 35000
    check_eq "and reported in the result" "$(pbi_task "result->>'possible_duplicate_rows'" "$SEEDED")" 10000
    check "and in the log" grep -q "cannot tell whether it arrived: sending it again" "$E2E_DIR"/w*.log
fi
e2e_finish
