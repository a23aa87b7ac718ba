#!/usr/bin/env bash
# A task that keeps taking its worker down is quarantined: with
# --max-takeovers 2, after its worker is killed twice while running it, the
# next worker sends it to the DLQ (reason quarantined) and records it dead
# instead of running it a third time.
source "$(dirname "$0")/lib.sh"
e2e_init quarantine

start_recorder
start_worker a --concurrency 2 --max-takeovers 2
bad=$("$E2E_BIN/datafleet-submit" --type export --connector noop --params '{"sleep_ms":60000}' | tail -1)
running_on() { sql_is "SELECT count(*) FROM task_events WHERE task_id = '$bad' AND state = 'running' AND worker = '$1'" 1; }
wait_for "running on a" 60 running_on a
kill -KILL "$PID_a"
start_worker b --concurrency 2 --max-takeovers 2
wait_for "running again on b (takeover 1)" 60 running_on b
kill -KILL "$PID_b"
start_worker c --concurrency 2 --max-takeovers 2
wait_for "quarantined: dead" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$bad'" dead
check_eq "reason" "$(q "SELECT error_code FROM tasks WHERE task_id = '$bad'")" quarantined
check_eq "not run a third time" \
    "$(q "SELECT count(*) FROM task_events WHERE task_id = '$bad' AND state = 'running'")" 2
check "in the DLQ" bash -c "kcat -C -b '$DATAFLEET_KAFKA_BROKERS' -t '${DATAFLEET_TOPIC_PREFIX}dlq' -o beginning -e -q -f '%h\n' | grep -q 'dlq_reason=quarantined'"
ok=$("$E2E_BIN/datafleet-submit" --type export --connector noop --params '{}' | tail -1)
wait_for "the fleet goes on" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$ok'" succeeded
check "worker c is alive" kill -0 "$PID_c"
e2e_finish
