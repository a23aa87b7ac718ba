#!/usr/bin/env bash
# An outcome whose event never reached Kafka (the worker died between
# recording the end in Redis and producing the event) is not lost: the next
# worker to receive the message finds the task ended, re-sends the recorded
# event (same event_id) instead of running the task again, and the history
# ends with the task succeeded and one outcome event.
source "$(dirname "$0")/lib.sh"
e2e_init lostoutcome

start_recorder
start_worker w1 --concurrency 2
id=$("$E2E_BIN/datafleet-submit" --dry-run --type export --connector noop |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["task_id"])')
now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
event="{\"event_id\":\"01J00000000000000000000EV1\",\"task_id\":\"$id\",\"attempt\":1,\"state\":\"succeeded\",\"at\":\"$now\",\"worker\":\"gone\",\"type\":\"export\",\"connector\":\"noop\",\"result\":{\"rows_written\":7}}"
# What a run that died right after its Redis update leaves behind:
rcli HSET "df:task:$id" state succeeded attempt 1 worker gone event "$event" >/dev/null
"$E2E_BIN/datafleet-submit" --task-id "$id" --type export --connector noop --params '{}' >/dev/null
wait_for "the recorded outcome reached the history" 60 \
    sql_is "SELECT state FROM tasks WHERE task_id = '$id'" succeeded
check_eq "with the recorded event" \
    "$(q "SELECT event_id FROM task_events WHERE task_id = '$id' AND state = 'succeeded'")" 01J00000000000000000000EV1
check_eq "and its result" "$(q "SELECT result->>'rows_written' FROM tasks WHERE task_id = '$id'")" 7
check_eq "the task was not run again" \
    "$(q "SELECT count(*) FROM task_events WHERE task_id = '$id' AND state = 'running'")" 0
e2e_finish
