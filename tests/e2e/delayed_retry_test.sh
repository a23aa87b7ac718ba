#!/usr/bin/env bash
# Durable retries (docs/RETRIES.md), with the scheduler running its cron and
# recorder roles: a retry due later than --inline-retry-max frees the
# worker, waits in delayed_tasks and is published by the scheduler when
# due, and the task succeeds at attempt 2, once; attempts end at the
# smaller of the task's max_attempts and the connector's policy, then the
# task is dead with a copy in the DLQ; without a Retry-After the policy's
# millisecond backoff retries in place.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/delayed_lib.sh"
e2e_init delayedretry

conns=$E2E_DIR/connectors.json
delayed_connectors "$conns"
start_scheduler
start_worker w1 --concurrency 2 --inline-retry-max 500ms --connectors "$conns"
wait_assigned w1

# ---- a Retry-After beyond --inline-retry-max: through the scheduler ----------
t=$(sub --type export --connector noop --params '{"fail":"retryable","fail_attempts":1,"retry_after_ms":3000}')
wait_for "the retry was scheduled" 30 sql_is "SELECT count(*) FROM delayed_tasks WHERE task_id = '$t'" 1
check_eq "the row is attempt 2, due at the event's time + Retry-After" \
    "$(q "SELECT d.attempt || '/' || d.poll_seq || '/' || d.reason || '/' || (d.due_at - e.at >= interval '3 s')
          FROM delayed_tasks d JOIN task_events e ON e.task_id = d.task_id AND e.state = 'retrying'
          WHERE d.task_id = '$t'")" "2/0/noop_retryable/true"
check_eq "meanwhile the task is retrying in Redis" "$(rcli HGET "df:task:$t" state)" retrying
wait_for "attempt 2 succeeded" 30 sql_is "SELECT state || '/' || attempt FROM tasks WHERE task_id = '$t'" succeeded/2
check_eq "the retrying event asked for at least the Retry-After" \
    "$(q "SELECT (error->>'retry_after_ms')::int >= 3000 FROM task_events WHERE task_id = '$t' AND state = 'retrying'")" t
check_eq "attempt 2 was published by the scheduler" \
    "$(q "SELECT worker FROM task_events WHERE task_id = '$t' AND attempt = 2 AND state = 'queued'")" datafleet-scheduler
check "and ran no sooner than the Retry-After" sql_is \
    "SELECT (SELECT min(at) FROM task_events WHERE task_id = '$t' AND attempt = 2 AND state = 'running')
          - (SELECT at FROM task_events WHERE task_id = '$t' AND state = 'retrying') >= interval '3 s'" t
check_eq "attempt 2 ran once" "$(events_of "$t" running 2)" 1
check_eq "the task succeeded once" "$(events_of "$t" succeeded)" 1
check_eq "nothing left delayed" "$(q "SELECT count(*) FROM delayed_tasks")" 0
check_eq "succeeded in Redis" "$(rcli HGET "df:task:$t" state)/$(rcli HGET "df:task:$t" attempt)" succeeded/2

# ---- attempts exhausted: min(task 5, connector policy 2) -------------------------
t=$(sub --type export --connector fewnoop --max-attempts 5 --params '{"fail":"retryable","retry_after_ms":800}')
wait_for "dead" 30 sql_is "SELECT state FROM tasks WHERE task_id = '$t'" dead
check_eq "after the policy's 2 attempts" "$(task_col "$t" attempt)" 2
check_eq "reason" "$(task_col "$t" error_code)" attempts_exhausted
check_eq "one durable retry" "$(events_of "$t" retrying)" 1
check "a copy in the DLQ" bash -c "kcat -C -b '$DATAFLEET_KAFKA_BROKERS' -t '${DATAFLEET_TOPIC_PREFIX}dlq' -o beginning -e -q -f '%k %h\n' | grep -q '^$t .*dlq_reason=attempts_exhausted'"
check_eq "dead in Redis" "$(rcli HGET "df:task:$t" state)" dead
check_eq "nothing left delayed" "$(q "SELECT count(*) FROM delayed_tasks")" 0

# ---- no Retry-After: the policy's backoff (20 ms, 40 ms) retries in place ---------
t=$(sub --type export --connector fastnoop --params '{"fail":"retryable","fail_attempts":2}')
wait_for "succeeded" 30 sql_is "SELECT state || '/' || attempt FROM tasks WHERE task_id = '$t'" succeeded/3
check_eq "in place: no retrying event" "$(events_of "$t" retrying)" 0
check "the waits were the policy's milliseconds" bash -c \
    "grep '\"task_id\":\"$t\"' '$E2E_DIR/w1.log' | grep -o 'retrying in place in [0-9]* ms' | awk '{ if (\$5 > 40) bad = 1; n++ } END { exit !(n == 2 && !bad) }'"
e2e_finish
