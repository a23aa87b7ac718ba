#!/usr/bin/env bash
# Durable polling of platform operations (docs/RETRIES.md), with the noop
# connector's simulated refresh and the scheduler running its cron and
# recorder roles:
#   - a refresh polled 5+ times through the scheduler while the worker's
#     one slot runs other tasks in between, ends succeeded having started
#     one operation, with no takeover; its original message delivered
#     again meanwhile is acknowledged without starting another;
#   - a 5xx-style failure while polling: the next attempt, published by
#     the scheduler, resumes the same operation;
#   - the deadline passing while it polls cancels it (deadline_exceeded);
#   - an operation that fails on the platform fails the task with its
#     message.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/delayed_lib.sh"
e2e_init refreshpoll

conns=$E2E_DIR/connectors.json
delayed_connectors "$conns"
start_scheduler
start_worker w1 --concurrency 1 --inline-retry-max 300ms --connectors "$conns"
wait_assigned w1

# ---- polls through the scheduler; the slot runs other tasks meanwhile ----------
params='{"duration_ms":4000,"poll_ms":500}'
r=$(sub --type refresh --connector noop --params "$params")
wait_for "polling through the scheduler" 30 sql_is "SELECT count(*) > 0 FROM delayed_tasks WHERE task_id = '$r' AND reason = 'poll'" t
# the original message once more (as a redelivery would bring it)
sub --task-id "$r" --type refresh --connector noop --params "$params" >/dev/null
noop_tasks 6 '{"sleep_ms":150}' >"$E2E_DIR/exports.ndjson"
submit_ndjson "$E2E_DIR/exports.ndjson"
wait_for "the refresh succeeded" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$r'" succeeded
wait_for "the exports succeeded" 30 sql_is "SELECT count(*) FROM tasks WHERE type = 'export' AND state = 'succeeded'" 6
check_eq "one operation started" "$(noop_starts "$r")" 1
check "5 polls or more, published by the scheduler" sql_is \
    "SELECT count(*) >= 5 FROM task_events WHERE task_id = '$r' AND state = 'queued' AND worker = 'datafleet-scheduler'" t
check "the operation was polled 5 times or more" sql_is "SELECT (result->>'polls')::int >= 5 FROM tasks WHERE task_id = '$r'" t
check_eq "the exports ran while it polled (one slot)" \
    "$(q "SELECT count(*) FROM tasks e, tasks r WHERE r.task_id = '$r' AND e.type = 'export'
          AND e.finished_at > r.started_at AND e.finished_at < r.finished_at")" 6
check_eq "in one attempt" "$(task_col "$r" attempt)" 1
check_eq "it succeeded once" "$(events_of "$r" succeeded)" 1
check_eq "no takeover counted" "$(rcli HGET "df:task:$r" takeovers)" ""
check "the original message again was acknowledged without running" \
    grep -q "task $r: this message (attempt 1, poll 0) is superseded" "$E2E_DIR/w1.log"
check_eq "succeeded in Redis" "$(rcli HGET "df:task:$r" state)" succeeded

# ---- a 5xx while polling: attempt 2 resumes the same operation ---------------
r=$(sub --type refresh --connector fastnoop --params '{"duration_ms":3000,"poll_ms":500,"poll_fail":3,"retry_after_ms":1000}')
wait_for "succeeded" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$r'" succeeded
check_eq "at attempt 2" "$(task_col "$r" attempt)" 2
check_eq "after one durable retry" "$(q "SELECT error->>'code' FROM task_events WHERE task_id = '$r' AND state = 'retrying'")" noop_unavailable
check_eq "attempt 2 published by the scheduler" \
    "$(q "SELECT state || ' by ' || worker FROM task_events WHERE task_id = '$r' AND attempt = 2 ORDER BY at, event_id LIMIT 1")" \
    "queued by datafleet-scheduler"
check_eq "one operation started" "$(noop_starts "$r")" 1
check "the same operation went on being polled (4 polls or more)" sql_is "SELECT (result->>'polls')::int >= 4 FROM tasks WHERE task_id = '$r'" t

# ---- the deadline passes while it polls ------------------------------------------
r=$(sub --type refresh --connector noop --params '{"duration_ms":60000,"poll_ms":1000}' --deadline 3s)
wait_for "cancelled" 30 sql_is "SELECT state FROM tasks WHERE task_id = '$r'" cancelled
check_eq "deadline_exceeded" "$(task_col "$r" error_code)" deadline_exceeded
check "at the deadline, not at the operation's end" sql_is \
    "SELECT finished_at - submitted_at < interval '8 s' FROM tasks WHERE task_id = '$r'" t
check_eq "one operation started" "$(noop_starts "$r")" 1

# ---- the operation fails on the platform -------------------------------------------
r=$(sub --type refresh --connector noop --params '{"duration_ms":1200,"poll_ms":400,"job_fail":"the dataset source is gone"}')
wait_for "failed" 30 sql_is "SELECT state FROM tasks WHERE task_id = '$r'" failed
check_eq "with the platform's reason" "$(task_col "$r" error_code)" noop_job_failed
check "and message" grep -q "the dataset source is gone" <<<"$(task_col "$r" error_message)"
check_eq "nothing left delayed" "$(q "SELECT count(*) FROM delayed_tasks")" 0
e2e_finish
