#!/usr/bin/env bash
# PostgreSQL stopped for 10 s under load (f): the recorder holds its batch,
# reconnects, and afterwards `tasks` and `task_events` are complete.
source "$(dirname "$0")/lib.sh"
e2e_init pgdown
N=2000
: "${DATAFLEET_HOME:?is not set: run through tests/run (the test stops and starts PostgreSQL)}"

start_recorder
start_worker w1 --concurrency 16
start_worker w2 --concurrency 16
noop_tasks "$N" '{"sleep_ms":[0,20]}' >"$E2E_DIR/tasks.ndjson"
submit_ndjson "$E2E_DIR/tasks.ndjson" &
submitter=$!
wait_for "some history written" 60 sql_is "SELECT count(*) > 0 FROM tasks" t
log "stopping PostgreSQL for 10 s"
check "PostgreSQL stopped" stack_ctl down postgres
sleep 10
check "PostgreSQL started again" stack_ctl up postgres
log "PostgreSQL is back"
check "every task submitted" wait "$submitter"

wait_for "every task recorded succeeded" 180 \
    sql_is "SELECT count(*) FROM tasks WHERE state = 'succeeded'" "$N"
check_eq "rows in tasks" "$(q 'SELECT count(*) FROM tasks')" "$N"
check_eq "queued + running + succeeded events of every task" \
    "$(q "SELECT count(*) FROM task_events WHERE state IN ('queued','running','succeeded')")" $((3 * N))
check "the recorder saw the outage and recovered" grep -q "PostgreSQL" "$E2E_DIR/recorder.log"
check "the recorder is still alive" kill -0 "$PID_recorder"
e2e_finish
