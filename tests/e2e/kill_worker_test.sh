#!/usr/bin/env bash
# kill -9 one of three workers mid-run (b): every task still ends terminal,
# and no task runs to completion twice.
source "$(dirname "$0")/lib.sh"
e2e_init kill9
N=1500

start_recorder
start_worker w1 --concurrency 8
start_worker w2 --concurrency 8
start_worker w3 --concurrency 8
wait_assigned w1 w2 w3

noop_tasks "$N" '{"sleep_ms":[20,120]}' >"$E2E_DIR/tasks.ndjson"
submit_ndjson "$E2E_DIR/tasks.ndjson"
wait_for "some tasks done" 60 sql_is "SELECT count(*) > 100 FROM tasks WHERE state = 'succeeded'" t
wait_for "w2 running tasks" 60 sql_is "SELECT count(*) > 0 FROM task_events WHERE worker = 'w2' AND state = 'running'" t
log "kill -9 worker w2 (pid $PID_w2)"
kill -KILL "$PID_w2"

wait_for "every task terminal" 180 \
    sql_is "SELECT count(*) FROM tasks WHERE state IN ('succeeded','failed','dead','cancelled')" "$N"
check_eq "all succeeded" "$(q "SELECT count(*) FROM tasks WHERE state = 'succeeded'")" "$N"
check_eq "no task completed twice" \
    "$(q "SELECT count(*) FROM (SELECT task_id FROM task_events WHERE state = 'succeeded' GROUP BY task_id HAVING count(*) > 1) t")" 0
check_eq "succeeded in Redis" "$(redis_count_state succeeded "$E2E_DIR/tasks.ndjson.ids")" "$N"
check "w2 had run tasks before it died" sql_is \
    "SELECT count(*) > 0 FROM task_events WHERE worker = 'w2' AND state = 'running'" t
e2e_finish
