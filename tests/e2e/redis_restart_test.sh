#!/usr/bin/env bash
# Redis restarted empty under load (g): every task still ends terminal and its
# status is back in Redis (the recorder restores what Redis lost).
source "$(dirname "$0")/lib.sh"
e2e_init redisdown
N=3000
: "${DATAFLEET_HOME:?is not set: run through tests/run (the test restarts Redis)}"

start_recorder
start_worker w1 --concurrency 16
start_worker w2 --concurrency 16
noop_tasks "$N" '{"sleep_ms":[10,60]}' >"$E2E_DIR/tasks.ndjson"
submit_ndjson "$E2E_DIR/tasks.ndjson" &
submitter=$!
wait_for "load under way" 60 sql_is "SELECT count(*) > 100 FROM tasks WHERE state = 'succeeded'" t
log "restarting Redis empty"
check "Redis stopped" stack_ctl down redis
sleep 2
check "Redis started again (empty)" stack_ctl up redis
check "every task submitted" wait "$submitter"

wait_for "every task terminal in PostgreSQL" 180 \
    sql_is "SELECT count(*) FROM tasks WHERE state IN ('succeeded','failed','dead','cancelled')" "$N"
check_eq "all succeeded" "$(q "SELECT count(*) FROM tasks WHERE state = 'succeeded'")" "$N"
redis_all_succeeded() { [ "$(redis_count_state succeeded "$E2E_DIR/tasks.ndjson.ids")" = "$N" ]; }
wait_for "every task's status back in Redis" 90 redis_all_succeeded || true
check_eq "succeeded in Redis" "$(redis_count_state succeeded "$E2E_DIR/tasks.ndjson.ids")" "$N"
e2e_finish
