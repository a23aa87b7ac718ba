#!/usr/bin/env bash
# A task id submitted twice runs once (h), both back to back and after the
# first run has finished.
source "$(dirname "$0")/lib.sh"
e2e_init dupid

start_recorder
start_worker w1 --concurrency 4
id1=$("$E2E_BIN/datafleet-submit" --type export --connector noop --params '{"sleep_ms":300}' | tail -1)
"$E2E_BIN/datafleet-submit" --task-id "$id1" --type export --connector noop --params '{"sleep_ms":300}' >/dev/null
wait_for "first task succeeded" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$id1'" succeeded
# and once more, long after it finished
"$E2E_BIN/datafleet-submit" --task-id "$id1" --type export --connector noop --params '{}' >/dev/null
sentinel=$("$E2E_BIN/datafleet-submit" --type export --connector noop --params '{}' | tail -1)
wait_for "sentinel succeeded" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$sentinel'" succeeded
sleep 1
check_eq "one run of the duplicated id" \
    "$(q "SELECT count(*) FROM task_events WHERE task_id = '$id1' AND state = 'running'")" 1
check_eq "one outcome of the duplicated id" \
    "$(q "SELECT count(*) FROM task_events WHERE task_id = '$id1' AND state = 'succeeded'")" 1
check_eq "one row" "$(q "SELECT count(*) FROM tasks WHERE task_id = '$id1'")" 1
e2e_finish
