#!/usr/bin/env bash
# SIGTERM under load drains cleanly (e): the signalled worker finishes or
# hands back its tasks and leaves; nothing is left `running`, every task
# ends succeeded, none twice.
source "$(dirname "$0")/lib.sh"
e2e_init drain
N=400

start_recorder
start_worker w1 --concurrency 8 --grace 3s
start_worker w2 --concurrency 8 --grace 3s
wait_assigned w1 w2
noop_tasks "$N" '{"sleep_ms":[50,400]}' >"$E2E_DIR/tasks.ndjson"
submit_ndjson "$E2E_DIR/tasks.ndjson"
wait_for "load under way" 60 sql_is "SELECT count(*) > 50 FROM tasks WHERE state = 'succeeded'" t
log "SIGTERM to w1"
kill -TERM "$PID_w1"
wait_for "w1 exited" 30 bash -c "! kill -0 $PID_w1 2>/dev/null"
wait "$PID_w1" && rc=0 || rc=$?
check_eq "w1 exit status" "$rc" 0
check "w1 said it stopped" grep -q "worker stopped" "$E2E_DIR/w1.log"

wait_for "every task terminal" 180 \
    sql_is "SELECT count(*) FROM tasks WHERE state IN ('succeeded','failed','dead','cancelled')" "$N"
check_eq "all succeeded" "$(q "SELECT count(*) FROM tasks WHERE state = 'succeeded'")" "$N"
if [ "$(q "SELECT count(*) FROM tasks WHERE state <> 'succeeded'")" != 0 ]; then
    log "tasks not succeeded, and their events:"
    q "SELECT t.task_id, t.state, t.attempt, t.worker, t.error_code, t.error_message FROM tasks t WHERE t.state <> 'succeeded'"
    q "SELECT e.task_id, e.state, e.attempt, e.worker, e.at, e.error FROM task_events e JOIN tasks t USING (task_id) WHERE t.state <> 'succeeded' ORDER BY e.task_id, e.at"
fi
check_eq "none left running in PostgreSQL" "$(q "SELECT count(*) FROM tasks WHERE state = 'running'")" 0
check_eq "none left running in Redis" "$(redis_count_state running "$E2E_DIR/tasks.ndjson.ids")" 0
check_eq "none succeeded twice" \
    "$(q "SELECT count(*) FROM (SELECT task_id FROM task_events WHERE state = 'succeeded' GROUP BY task_id HAVING count(*) > 1) t")" 0
e2e_finish
