#!/usr/bin/env bash
# The worker is valgrind-clean through retries and polls: a retry through
# the scheduler, refreshes polled in place and through the scheduler, one
# whose poll fails and whose next attempt resumes the operation, one whose
# operation fails, a lineage task, and a SIGTERM drain (no invalid access,
# no definite leak).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/delayed_lib.sh"
e2e_init vgpoll
command -v valgrind >/dev/null || { echo "valgrind is not installed (deploy/local/install-deps installs it)"; exit 1; }

conns=$E2E_DIR/connectors.json
delayed_connectors "$conns"
start_scheduler
valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=9 \
    "$E2E_BIN/datafleet-worker" --worker-id vg --concurrency 4 --heartbeat 500ms \
    --inline-retry-max 300ms --connectors "$conns" >"$E2E_DIR/vg.log" 2>&1 &
vg=$!
E2E_PIDS+=("$vg")
wait_for "worker joined under valgrind" 120 grep -q "rebalance: assigned" "$E2E_DIR/vg.log"
ids=()
ids+=("$(sub --type export --connector noop --params '{"fail":"retryable","fail_attempts":1,"retry_after_ms":800}')")
ids+=("$(sub --type refresh --connector noop --params '{"duration_ms":800,"poll_ms":100}')")
ids+=("$(sub --type refresh --connector noop --params '{"duration_ms":2000,"poll_ms":500}')")
ids+=("$(sub --type refresh --connector fastnoop --params '{"duration_ms":2000,"poll_ms":400,"poll_fail":2,"retry_after_ms":600}')")
ids+=("$(sub --type refresh --connector noop --params '{"duration_ms":500,"poll_ms":400,"job_fail":"gone"}')")
ids+=("$(sub --type lineage --connector noop --params '{}')")
list=$(printf "'%s'," "${ids[@]}")
list=${list%,}
wait_for "every task ended" 180 sql_is "SELECT count(*) FROM tasks WHERE task_id IN ($list) AND state IN ('succeeded','failed','dead','cancelled')" 6
check_eq "5 succeeded, 1 failed" "$(q "SELECT string_agg(state, ',' ORDER BY state) FROM tasks WHERE task_id IN ($list)")" \
    "failed,succeeded,succeeded,succeeded,succeeded,succeeded"
check_eq "the lineage result" "$(task_col "${ids[5]}" "result->'lineage'->'edges'->0->'to'->>'name'")" target
kill -TERM "$vg"
wait "$vg" && rc=0 || rc=$?
check_eq "valgrind exit status (9 = errors found)" "$rc" 0
check "no errors" grep -q "ERROR SUMMARY: 0 errors" "$E2E_DIR/vg.log"
check "nothing definitely lost" bash -c "! grep -q 'definitely lost: [1-9]' '$E2E_DIR/vg.log'"
e2e_finish
