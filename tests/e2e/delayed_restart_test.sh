#!/usr/bin/env bash
# The scheduler's cron role killed -9 in the middle of the backoffs of 20
# retries, and started again after they are due: every task still runs
# its attempt 2 once. delayed_tasks is the only memory of the retries, so
# nothing is lost with the process. (The recorder runs in a process of its
# own here, so the killed process's group membership does not hold up the
# recording while Kafka waits for its session to expire.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/delayed_lib.sh"
e2e_init delayedrestart
N=20

start_scheduler recorder recorder
start_scheduler cron cron
start_worker w1 --concurrency 4 --inline-retry-max 500ms
wait_assigned w1

noop_tasks "$N" '{"fail":"retryable","fail_attempts":1,"retry_after_ms":4000}' >"$E2E_DIR/tasks.ndjson"
submit_ndjson "$E2E_DIR/tasks.ndjson"
wait_for "every retry scheduled" 30 sql_is "SELECT count(*) FROM delayed_tasks" "$N"
log "kill -9 the cron role (pid $PID_cron) mid-backoff"
kill -KILL "$PID_cron"
wait_for "the retries are due" 30 sql_is "SELECT count(*) FROM delayed_tasks WHERE due_at < now() - interval '1 s'" "$N"
check_eq "nobody published them" "$(q "SELECT count(*) FROM task_events WHERE attempt = 2")" 0
check_eq "still retrying in Redis" "$(redis_count_state retrying "$E2E_DIR/tasks.ndjson.ids")" "$N"
start_scheduler cron2 cron
wait_for "every task succeeded" 60 sql_is "SELECT count(*) FROM tasks WHERE state = 'succeeded' AND attempt = 2" "$N"
check_eq "each attempt 2 ran once" \
    "$(q "SELECT count(*) FROM task_events WHERE attempt = 2 AND state = 'running'")" "$N"
check_eq "each task succeeded once" "$(q "SELECT count(*) FROM task_events WHERE state = 'succeeded'")" "$N"
check_eq "nothing left delayed" "$(q "SELECT count(*) FROM delayed_tasks")" 0
check_eq "succeeded in Redis" "$(redis_count_state succeeded "$E2E_DIR/tasks.ndjson.ids")" "$N"
e2e_finish
