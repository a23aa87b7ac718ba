#!/usr/bin/env bash
# The worker is valgrind-clean through a small mixed load: successes, a
# permanent failure, an in-place retry, a poison message, a cancel, and a
# SIGTERM drain (no invalid access, no definite leak).
source "$(dirname "$0")/lib.sh"
e2e_init valgrind
command -v valgrind >/dev/null || { echo "valgrind is not installed (deploy/local/install-deps installs it)"; exit 1; }

start_recorder
valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=9 \
    "$E2E_BIN/datafleet-worker" --worker-id vg --concurrency 4 --heartbeat 500ms \
    >"$E2E_DIR/vg.log" 2>&1 &
vg=$!
E2E_PIDS+=("$vg")
wait_for "worker joined under valgrind" 120 grep -q "rebalance: assigned" "$E2E_DIR/vg.log"
noop_tasks 20 '{"rows":3}' >"$E2E_DIR/ok.ndjson"
submit_ndjson "$E2E_DIR/ok.ndjson"
noop_tasks 1 '{"fail":"permanent"}' >"$E2E_DIR/fail.ndjson"
submit_ndjson "$E2E_DIR/fail.ndjson"
noop_tasks 1 '{"fail":"retryable","fail_attempts":1,"retry_after_ms":10}' >"$E2E_DIR/retry.ndjson"
submit_ndjson "$E2E_DIR/retry.ndjson"
printf 'junk' | kcat -P -b "$DATAFLEET_KAFKA_BROKERS" -t "${DATAFLEET_TOPIC_PREFIX}tasks.export" -k junk
long=$("$E2E_BIN/datafleet-submit" --type export --connector noop --params '{"sleep_ms":60000}' | tail -1)
wait_for "22 tasks done" 120 sql_is "SELECT count(*) FROM tasks WHERE state IN ('succeeded','failed')" 22
wait_for "long task running" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$long'" running
"$E2E_BIN/datafleet-submit" cancel "$long" >/dev/null
wait_for "long task cancelled" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$long'" cancelled
kill -TERM "$vg"
wait "$vg" && rc=0 || rc=$?
check_eq "valgrind exit status (9 = errors found)" "$rc" 0
check "no errors" grep -q "ERROR SUMMARY: 0 errors" "$E2E_DIR/vg.log"
check "nothing definitely lost" bash -c "! grep -q 'definitely lost: [1-9]' '$E2E_DIR/vg.log'"
e2e_finish
