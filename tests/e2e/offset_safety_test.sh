#!/usr/bin/env bash
# Offset safety (c): on a one-partition topic, a slow task at offset k with
# fast tasks after it; the worker is killed while the slow one runs. After a
# restart the slow one runs again, the fast ones do not (they are already
# terminal, so they are acknowledged without running).
source "$(dirname "$0")/lib.sh"
e2e_init offsets
export DATAFLEET_PARTITIONS=1

start_recorder
start_worker w1 --concurrency 4
slow=$("$E2E_BIN/datafleet-submit" --type export --connector noop --params '{"sleep_ms":10000}' | tail -1)
noop_tasks 20 '{}' >"$E2E_DIR/fast.ndjson"
submit_ndjson "$E2E_DIR/fast.ndjson"
wait_for "fast tasks succeeded" 60 sql_is "SELECT count(*) FROM tasks WHERE state = 'succeeded'" 20
wait_for "slow task running" 30 sql_is "SELECT state FROM tasks WHERE task_id = '$slow'" running
sleep 2 # let the offsets of the fast ones be committed if they were going to be (they must not)
log "kill -9 w1 while the slow task runs"
kill -KILL "$PID_w1"
start_worker w1b --concurrency 4 --log-level debug
# The slow task's lease (3 s) must expire; then it runs again, this time to the end.
wait_for "slow task succeeded after the restart" 120 \
    sql_is "SELECT state FROM tasks WHERE task_id = '$slow'" succeeded

check_eq "the slow task ran twice (killed, then again)" \
    "$(q "SELECT count(*) FROM task_events WHERE task_id = '$slow' AND state = 'running'")" 2
check_eq "its second run was on the new worker" \
    "$(q "SELECT worker FROM task_events WHERE task_id = '$slow' AND state = 'succeeded'")" w1b
check_eq "each fast task ran exactly once" \
    "$(q "SELECT count(*) FROM task_events WHERE task_id <> '$slow' AND state = 'running'")" 20
check_eq "no fast task succeeded twice" \
    "$(q "SELECT count(*) FROM task_events WHERE task_id <> '$slow' AND state = 'succeeded'")" 20
check "the new worker acknowledged the fast tasks without running them" \
    grep -q "already finished" "$E2E_DIR/w1b.log"
e2e_finish
