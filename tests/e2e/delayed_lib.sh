#!/usr/bin/env bash
# Helpers of the delayed-retry and durable-poll e2e tests (source after
# lib.sh and e2e_init): the scheduler with its cron role (which publishes
# delayed_tasks rows when due) and the recorder, a connectors file with
# noop connectors whose retry policy is scaled down to milliseconds, and
# ways to read a task's story.

# start_scheduler [ID [ROLES]]: datafleet-scheduler with the cron role (fast
# ticks) and, by default, the recorder.
start_scheduler() {
    local id=${1:-scheduler} roles=${2:-cron,recorder}
    "$E2E_BIN/datafleet-scheduler" --roles "$roles" --batch-wait 50ms --tick 100ms \
        --leader-poll 200ms run >>"$E2E_DIR/$id.log" 2>&1 &
    E2E_PIDS+=("$!")
    eval "PID_${id//-/_}=$!"
}

# delayed_connectors FILE: `fastnoop` retries after up to 20 ms, doubling
# to 200 ms; `fewnoop` the same, with 2 export attempts at most.
delayed_connectors() {
    cat >"$1" <<'JSON'
[
  {"name": "fastnoop", "kind": "noop", "retry": {"base_ms": 20, "cap_ms": 200}},
  {"name": "fewnoop", "kind": "noop", "retry": {"base_ms": 20, "cap_ms": 200,
   "by_type": {"export": {"max_attempts": 2}}}}
]
JSON
}

# sub ARGS...: submit one task, print its id.
sub() { "$E2E_BIN/datafleet-submit" "$@" | tail -1; }

# events_of ID STATE [ATTEMPT]: how many events of the task have that state.
events_of() {
    q "SELECT count(*) FROM task_events WHERE task_id = '$1' AND state = '$2'${3:+ AND attempt = $3}"
}

# task_col ID COLUMN-EXPRESSION: one value of the task's row.
task_col() { q "SELECT $2 FROM tasks WHERE task_id = '$1'"; }

# noop_starts ID: how many simulated platform operations the task started.
noop_starts() { rcli GET "df:noop:starts:$1"; }
