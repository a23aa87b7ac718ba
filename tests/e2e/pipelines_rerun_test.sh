#!/usr/bin/env bash
# A failed step stops a pipeline run, and a run is re-run from its failed
# step (a scheduler running the cron and recorder roles, noop workers):
#   (a) export -> refresh (fails for good: params.fail = permanent) ->
#       lineage: the run fails with the reason recorded, lineage is skipped
#       and never published. `rerun` re-runs from the failed step with the
#       run's copy of the definition: it fails again, under a new task id.
#       With the pipeline's definition fixed, `rerun --current-definition`
#       ends succeeded; the export ran once and its result (kept from the
#       first run) is filled into the refresh task.
#   (b) extract -> {slow, bad} -> join, bad naming a connector no worker
#       has: bad ends dead while slow still runs; nothing more starts (join
#       skipped), the run stays running until slow ends, then fails; a
#       re-run is refused meanwhile. With the connector registered (worker
#       restarted with a connectors file, the pipeline unchanged), `rerun`
#       runs bad and join again and the run succeeds; slow keeps its task.
source "$(dirname "$0")/lib.sh"
e2e_init pipelines_rerun

P() { "$E2E_BIN/datafleet-scheduler" pipelines "$@"; }
start_scheduler() {
    "$E2E_BIN/datafleet-scheduler" --roles cron,recorder --batch-wait 50ms --tick 100ms run \
        >>"$E2E_DIR/scheduler.log" 2>&1 &
    E2E_PIDS+=("$!")
}
# run_p ARGS...: a pipelines command whose exit code is kept in $rc.
run_p() {
    set +e
    out=$(P "$@" 2>&1)
    rc=$?
    set -e
    echo "$out"
}
# tasks_of RUN STEP: "state,state,..." of the step's tasks, oldest first.
tasks_of() { q "SELECT string_agg(state, ',' ORDER BY submitted_at) FROM tasks WHERE pipeline_run_id = '$1' AND pipeline_step = '$2'"; }
step_state() { q "SELECT state FROM pipeline_steps WHERE run_id = '$1' AND step = '$2'"; }

"$E2E_BIN/datafleet-scheduler" migrate >>"$E2E_DIR/scheduler.log" 2>&1
start_scheduler
start_worker a --concurrency 4
wait_assigned a

# ---- (a) a failed middle step, re-run with the copy, then fixed ------------
cat >"$E2E_DIR/load.json" <<'EOF'
{"steps": [
  {"name": "extract", "type": "export", "connector": "noop", "params": {"rows": 42}},
  {"name": "refresh", "type": "refresh", "connector": "noop",
   "params": {"fail": "permanent", "rows": "${steps.extract.result.rows_written}"}},
  {"name": "lineage", "type": "lineage", "connector": "noop"}
]}
EOF
P add load --file "$E2E_DIR/load.json"
run_p run load --wait --wait-timeout 60s
run=$(head -1 <<<"$out")
check_eq "a failed run exits 4 with --wait" "$rc" 4
check_eq "run failed" "$(q "SELECT state FROM pipeline_runs WHERE id = '$run'")" failed
check "the reason is shown" grep -q "^reason    step refresh failed: noop_permanent: noop asked to fail (permanent)" <<<"$out"
check_eq "the failed step keeps its error" "$(q "SELECT state || ' ' || (error->>'code') FROM pipeline_steps WHERE run_id = '$run' AND step = 'refresh'")" "failed noop_permanent"
check_eq "the step after it is skipped" "$(step_state "$run" lineage)" skipped
check_eq "and never published" "$(q "SELECT count(*) FROM tasks WHERE pipeline_run_id = '$run' AND pipeline_step = 'lineage'")" 0
check_eq "runs shows the reason" "$(P runs load --json | python3 -c 'import json,sys; r=json.load(sys.stdin)[0]; print(r["state"], r["steps_succeeded"], r["reason"].split(" (")[0])')" \
    "failed 1/3 step refresh failed: noop_permanent: noop asked to fail"
first_refresh=$(q "SELECT task_id FROM pipeline_steps WHERE run_id = '$run' AND step = 'refresh'")

run_p rerun "$run" --wait --wait-timeout 60s
check_eq "a re-run with the run's copy fails the same way" "$rc" 4
check "it re-ran from the failed step" grep -q "running again from step(s) refresh, lineage" <<<"$out"
check_eq "under a new task id" "$(tasks_of "$run" refresh)" "failed,failed"
check "show counts the re-run" grep -qE "^refresh +extract +failed +[0-9A-Z]{26} +1 " <<<"$out"
check "a new task id" test "$(q "SELECT task_id FROM pipeline_steps WHERE run_id = '$run' AND step = 'refresh'")" != "$first_refresh"

sed -i 's/"fail": "permanent"/"fail": "none"/' "$E2E_DIR/load.json"
P add load --file "$E2E_DIR/load.json" --replace
run_p rerun "$run" --current-definition --wait --wait-timeout 60s
check_eq "re-run with the fixed definition succeeds" "$rc" 0
check_eq "run succeeded" "$(q "SELECT state || ' ' || (finished_at IS NOT NULL) FROM pipeline_runs WHERE id = '$run'")" "succeeded true"
check_eq "the export ran once" "$(tasks_of "$run" extract) $(q "SELECT count(*) FROM task_events e JOIN tasks t USING (task_id) WHERE t.pipeline_run_id = '$run' AND t.pipeline_step = 'extract' AND e.state = 'running'")" "succeeded 1"
check_eq "the refresh ran three times" "$(tasks_of "$run" refresh)" "failed,failed,succeeded"
check_eq "the kept export result filled in" "$(q "SELECT task->'params'->>'rows' FROM tasks WHERE task_id = (SELECT task_id FROM pipeline_steps WHERE run_id = '$run' AND step = 'refresh')")" 42
check_eq "lineage ran once" "$(tasks_of "$run" lineage)" succeeded
check_eq "the run took the current definition" "$(q "SELECT definition->'steps'->1->'params'->>'fail' FROM pipeline_runs WHERE id = '$run'")" none

# ---- (b) a failure in a parallel group; the cause fixed outside -----------
cat >"$E2E_DIR/fan.json" <<'EOF'
{"steps": [
  {"name": "extract", "type": "export", "connector": "noop", "params": {"rows": 3}},
  {"name": "slow", "type": "refresh", "connector": "noop", "after": ["extract"], "params": {"sleep_ms": 4000}},
  {"name": "bad", "type": "refresh", "connector": "warehouse", "after": ["extract"]},
  {"name": "join", "type": "lineage", "connector": "noop", "after": ["slow", "bad"],
   "params": {"rows": "${steps.extract.result.rows_written}"}}
]}
EOF
P add fan --file "$E2E_DIR/fan.json"
frun=$(P run fan)
wait_for "bad ends dead" 60 sql_is "SELECT state FROM pipeline_steps WHERE run_id = '$frun' AND step = 'bad'" dead
check_eq "nothing more starts: join skipped" "$(step_state "$frun" join)" skipped
check_eq "while slow runs, the run is still running" "$(q "SELECT state FROM pipeline_runs WHERE id = '$frun'")" running
check "show says why it is stopping" bash -c "'$E2E_BIN/datafleet-scheduler' pipelines show '$frun' | grep -q 'reason    step bad dead: unknown_connector'"
run_p rerun "$frun"
check_eq "a re-run is refused while steps are in flight" "$rc" 1
check "saying so" grep -q "still running" <<<"$out"
wait_for "the run fails once slow ended" 60 sql_is "SELECT state FROM pipeline_runs WHERE id = '$frun'" failed
check_eq "slow succeeded" "$(step_state "$frun" slow)" succeeded

kill -TERM "$PID_a"
wait "$PID_a" || true
echo '[{"name": "warehouse", "kind": "noop"}]' >"$E2E_DIR/connectors.json"
start_worker b --concurrency 4 --connectors "$E2E_DIR/connectors.json"
wait_assigned b
run_p rerun "$frun" --wait --wait-timeout 60s
check_eq "re-run with the connector registered succeeds" "$rc" 0
check "it re-ran bad and join only" grep -q "running again from step(s) bad, join" <<<"$out"
check_eq "bad: dead, then succeeded" "$(tasks_of "$frun" bad)" "dead,succeeded"
check_eq "slow kept its one task" "$(tasks_of "$frun" slow)" succeeded
check_eq "join ran once, with the export's result" "$(tasks_of "$frun" join) $(q "SELECT task->'params'->>'rows' FROM tasks WHERE pipeline_run_id = '$frun' AND pipeline_step = 'join'")" "succeeded 3"
check_eq "all steps succeeded" "$(q "SELECT count(*) FILTER (WHERE state = 'succeeded') FROM pipeline_steps WHERE run_id = '$frun'")" 4
e2e_finish
