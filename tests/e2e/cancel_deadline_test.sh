#!/usr/bin/env bash
# Cancellation and deadlines: a running task cancelled through
# df:cancel:{id} stops; one cancelled before it starts never runs; a deadline
# passing mid-run cancels the task; a deadline already past at start makes it
# dead; a task that keeps failing uses its attempts and ends dead with a copy
# in the DLQ.
source "$(dirname "$0")/lib.sh"
e2e_init cancel

start_recorder
start_worker w1 --concurrency 4
sub() { "$E2E_BIN/datafleet-submit" "$@" | tail -1; }

long=$(sub --type export --connector noop --params '{"sleep_ms":60000}')
wait_for "long task running" 30 sql_is "SELECT state FROM tasks WHERE task_id = '$long'" running
"$E2E_BIN/datafleet-submit" cancel "$long" >/dev/null
wait_for "long task cancelled" 30 sql_is "SELECT state FROM tasks WHERE task_id = '$long'" cancelled
check_eq "cancelled within seconds, not after the sleep" \
    "$(q "SELECT extract(epoch FROM finished_at - started_at) < 10 FROM tasks WHERE task_id = '$long'")" t

early=$("$E2E_BIN/datafleet-submit" --dry-run --type export --connector noop |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["task_id"])')
"$E2E_BIN/datafleet-submit" cancel "$early" >/dev/null
sub --task-id "$early" --type export --connector noop --params '{}' >/dev/null
wait_for "pre-cancelled task cancelled" 30 sql_is "SELECT state FROM tasks WHERE task_id = '$early'" cancelled
check_eq "it never ran" "$(q "SELECT count(*) FROM task_events WHERE task_id = '$early' AND state = 'running'")" 0

late=$(sub --type export --connector noop --params '{"sleep_ms":60000}' --deadline 2s)
wait_for "deadline cancels it" 30 sql_is "SELECT state FROM tasks WHERE task_id = '$late'" cancelled
check_eq "with the reason" "$(q "SELECT error_code FROM tasks WHERE task_id = '$late'")" deadline_exceeded

past=$(sub --type export --connector noop --params '{}' --deadline 2020-01-01T00:00:00Z)
wait_for "past deadline: dead" 30 sql_is "SELECT state FROM tasks WHERE task_id = '$past'" dead

flaky=$(sub --type export --connector noop --max-attempts 3 --params '{"fail":"retryable","retry_after_ms":50}')
wait_for "exhausted: dead" 30 sql_is "SELECT state FROM tasks WHERE task_id = '$flaky'" dead
check_eq "after 3 attempts" "$(q "SELECT attempt FROM tasks WHERE task_id = '$flaky'")" 3
check_eq "reason" "$(q "SELECT error_code FROM tasks WHERE task_id = '$flaky'")" attempts_exhausted
check "a copy in the DLQ" bash -c "kcat -C -b '$DATAFLEET_KAFKA_BROKERS' -t '${DATAFLEET_TOPIC_PREFIX}dlq' -o beginning -e -q -f '%h\n' | grep -q 'dlq_reason=attempts_exhausted'"
e2e_finish
