#!/usr/bin/env bash
# 10,000 noop tasks over 3 workers all reach `succeeded` in Redis and
# PostgreSQL, each run exactly once, with exactly 10,000 rows in `tasks`.
source "$(dirname "$0")/lib.sh"
e2e_init flow
N=10000

start_recorder
start_worker w1
start_worker w2
start_worker w3
wait_assigned w1 w2 w3
noop_tasks "$N" '{}' >"$E2E_DIR/tasks.ndjson"
submit_ndjson "$E2E_DIR/tasks.ndjson"
check_eq "every task accepted" "$(wc -l <"$E2E_DIR/tasks.ndjson.ids")" "$N"

wait_for "all tasks succeeded in PostgreSQL" 180 \
    sql_is "SELECT count(*) FROM tasks WHERE state = 'succeeded'" "$N"
check_eq "rows in tasks" "$(q 'SELECT count(*) FROM tasks')" "$N"
check_eq "succeeded in PostgreSQL" "$(q "SELECT count(*) FROM tasks WHERE state = 'succeeded'")" "$N"
check_eq "succeeded in Redis" "$(redis_count_state succeeded "$E2E_DIR/tasks.ndjson.ids")" "$N"
check_eq "one run per task (running events)" \
    "$(q "SELECT count(*) FROM task_events WHERE state = 'running'")" "$N"
check_eq "one outcome per task" \
    "$(q "SELECT count(DISTINCT task_id) FROM task_events WHERE state = 'succeeded'")" "$N"
check_eq "the work was shared by the 3 workers" \
    "$(q "SELECT count(DISTINCT worker) FROM task_events WHERE state = 'succeeded'")" 3
e2e_finish
