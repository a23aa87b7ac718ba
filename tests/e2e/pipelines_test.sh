#!/usr/bin/env bash
# Pipelines on the whole fleet (a scheduler running the cron and recorder
# roles, a noop worker), defined and run with `datafleet-scheduler
# pipelines`:
#   (a) export -> refresh -> lineage succeeds; the refresh is a simulated
#       platform operation the worker hands to the scheduler for durable
#       polling (noop duration_ms, workers with --inline-retry-max 200ms):
#       its task stays running across the polls and the step ends only when
#       the task does. Each step ran once, in order, each published only
#       after the step before it ended; the refresh task was published with
#       the export's result filled in (a whole-string template keeps its
#       type, one inside text is text) and lineage with the refresh's
#       platform id. A step published twice (a tick whose commit was lost)
#       runs once;
#   (b) a parallel group: two steps waiting for the same step run at the
#       same time, and the step waiting for both starts after both ended;
#   (c) the command's answers: a definition with a cycle or a template
#       naming a step not waited for is refused naming the field (exit 2),
#       adding a name twice needs --replace, unknown runs and pipelines
#       fail (exit 1), a disabled pipeline does not run, --json is JSON.
source "$(dirname "$0")/lib.sh"
e2e_init pipelines

P() { "$E2E_BIN/datafleet-scheduler" pipelines "$@"; }
start_scheduler() {
    "$E2E_BIN/datafleet-scheduler" --roles cron,recorder --batch-wait 50ms --tick 100ms run \
        >>"$E2E_DIR/scheduler.log" 2>&1 &
    E2E_PIDS+=("$!")
}
# step_q RUN STEP SQL_EXPR: one value of the step's task row.
step_q() { q "SELECT $3 FROM tasks t JOIN pipeline_steps s ON s.task_id = t.task_id WHERE s.run_id = '$1' AND s.step = '$2'"; }

"$E2E_BIN/datafleet-scheduler" migrate >>"$E2E_DIR/scheduler.log" 2>&1
start_scheduler
start_worker a --concurrency 4 --inline-retry-max 200ms
wait_assigned a

# ---- (a) export -> refresh -> lineage ---------------------------------------
cat >"$E2E_DIR/etl.json" <<'EOF'
{
  "description": "export, then refresh the dataset, then collect lineage",
  "steps": [
    {"name": "extract", "type": "export", "connector": "noop",
     "params": {"rows": 1234, "sleep_ms": 300}},
    {"name": "refresh", "type": "refresh", "connector": "noop", "max_attempts": 3, "deadline": "10m",
     "labels": {"team": "bi"},
     "params": {"rows": "${steps.extract.result.rows_written}", "duration_ms": 2500, "poll_ms": 800,
                "note": "${steps.extract.result.rows_written} rows from ${steps.extract.task_id} ($${literal})"}},
    {"name": "lineage", "type": "lineage", "connector": "noop",
     "params": {"run": "${run.id}", "pipeline": "${run.pipeline}", "refresh": "${steps.refresh.result.refresh_id}"}}
  ]
}
EOF
check "add etl" P add etl --file "$E2E_DIR/etl.json"
set +e
out=$(P run etl --wait --wait-timeout 90s 2>>"$E2E_DIR/cli.log"); rc=$?
set -e
echo "$out"
run=$(head -1 <<<"$out")
check_eq "run --wait: exit code" "$rc" 0
check_eq "run state" "$(q "SELECT state FROM pipeline_runs WHERE id = '$run'")" succeeded
check_eq "steps succeeded" "$(q "SELECT string_agg(step || '=' || state, ',' ORDER BY step) FROM pipeline_steps WHERE run_id = '$run'")" \
    "extract=succeeded,lineage=succeeded,refresh=succeeded"
check_eq "one task per step, all succeeded" \
    "$(q "SELECT count(*) || '/' || count(*) FILTER (WHERE state = 'succeeded') FROM tasks WHERE pipeline_run_id = '$run'")" "3/3"
check_eq "the export and lineage tasks ran once" \
    "$(q "SELECT string_agg(s.step || '=' || n, ',' ORDER BY s.step) FROM pipeline_steps s JOIN LATERAL (SELECT count(*) AS n FROM task_events e WHERE e.task_id = s.task_id AND e.state = 'running') x ON true WHERE s.run_id = '$run' AND s.step <> 'refresh'")" "extract=1,lineage=1"
refresh_task=$(step_q "$run" refresh t.task_id)
check_eq "the refresh started one platform operation" "$(rcli GET "df:noop:starts:$refresh_task")" 1
check "its polls went through the scheduler (durable)" \
    sql_is "SELECT count(*) > 0 FROM task_events WHERE task_id = '$refresh_task' AND state = 'progress' AND progress ? 'polls'" t
check_eq "step results copied" "$(q "SELECT result->>'rows_written' FROM pipeline_steps WHERE run_id = '$run' AND step = 'extract'")" 1234
refresh_id=$(q "SELECT result->>'refresh_id' FROM pipeline_steps WHERE run_id = '$run' AND step = 'refresh'")
check "the refresh step's result is the operation's" test -n "$refresh_id"
check_eq "lineage task: the refresh's platform id filled in" "$(step_q "$run" lineage "t.task->'params'->>'refresh'")" "$refresh_id"
check_eq "refresh task: rows filled in as a number" \
    "$(step_q "$run" refresh "jsonb_typeof(t.task->'params'->'rows') || ':' || (t.task->'params'->>'rows')")" "number:1234"
extract_task=$(q "SELECT task_id FROM pipeline_steps WHERE run_id = '$run' AND step = 'extract'")
check_eq "refresh task: a template inside text" "$(step_q "$run" refresh "t.task->'params'->>'note'")" \
    "1234 rows from $extract_task (\${literal})"
check_eq "refresh task: the template's other fields" \
    "$(step_q "$run" refresh "concat_ws(' ', t.type, t.max_attempts, t.labels->>'team', t.deadline > t.submitted_at + interval '9 minutes', t.submitted_by, t.pipeline_step, t.pipeline_run_id = '$run')")" \
    "refresh 3 bi t pipeline:etl refresh t"
check_eq "lineage task: run fields" "$(step_q "$run" lineage "(t.task->'params'->>'run') || ' ' || (t.task->'params'->>'pipeline')")" "$run etl"
check_eq "each step published after the one before it ended" \
    "$(q "SELECT bool_and(n.submitted_at >= p.finished_at) FROM pipeline_steps a JOIN tasks p ON p.task_id = a.task_id, pipeline_steps b JOIN tasks n ON n.task_id = b.task_id WHERE a.run_id = '$run' AND b.run_id = '$run' AND (a.step, b.step) IN (('extract', 'refresh'), ('refresh', 'lineage'))")" t
check "show: a table with the steps" grep -qE "^refresh +extract +succeeded +$(step_q "$run" refresh t.task_id)" <<<"$out"
json=$(P show "$run" --json)
check_eq "show --json" "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], [s["step"] for s in d["steps"]], d["steps"][1]["params"]["rows"], d["steps"][0]["result"])' <<<"$json")" \
    "succeeded ['extract', 'refresh', 'lineage'] 1234 {'rows_written': 1234}"
check "runs lists it" bash -c "'$E2E_BIN/datafleet-scheduler' pipelines runs etl | grep -qE '^$run +etl +succeeded +3/3'"

# A tick whose commit was lost after Kafka took the step: the step is
# pending again and is published again, under the same task id, and runs
# once.
q "UPDATE pipeline_runs SET state = 'running', finished_at = NULL WHERE id = '$run';
   UPDATE pipeline_steps SET state = 'pending' WHERE run_id = '$run' AND step = 'extract'" >/dev/null
wait_for "published again" 30 sql_is "SELECT count(*) FROM task_events WHERE task_id = '$extract_task' AND state = 'queued'" 2
wait_for "the run ends again" 30 sql_is "SELECT state FROM pipeline_runs WHERE id = '$run'" succeeded
check_eq "a step published twice runs once" \
    "$(q "SELECT count(*) FILTER (WHERE state = 'running') || ' ' || count(DISTINCT task_id) FROM task_events WHERE task_id IN (SELECT task_id FROM pipeline_steps WHERE run_id = '$run' AND step = 'extract')") $(step_q "$run" extract t.task_id)" \
    "1 1 $extract_task"

# ---- (b) a parallel group -----------------------------------------------------
cat >"$E2E_DIR/fan.json" <<'EOF'
{"steps": [
  {"name": "extract", "type": "export", "connector": "noop", "params": {"rows": 10}},
  {"name": "refresh_eu", "type": "refresh", "connector": "noop", "after": ["extract"], "params": {"sleep_ms": 2000}},
  {"name": "refresh_us", "type": "refresh", "connector": "noop", "after": ["extract"], "params": {"sleep_ms": 2000}},
  {"name": "lineage", "type": "lineage", "connector": "noop", "after": ["refresh_eu", "refresh_us"],
   "params": {"rows": "${steps.extract.result.rows_written}"}}
]}
EOF
check "add fan" P add fan --file "$E2E_DIR/fan.json"
set +e
fan=$(P run fan --wait --wait-timeout 90s --json 2>>"$E2E_DIR/cli.log"); rc=$?
set -e
check_eq "parallel run: exit code" "$rc" 0
frun=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])' <<<"$fan")
check_eq "parallel run succeeded" "$(q "SELECT state FROM pipeline_runs WHERE id = '$frun'")" succeeded
check_eq "the group's steps ran at the same time" \
    "$(q "SELECT eu.started_at < us.finished_at AND us.started_at < eu.finished_at FROM tasks eu, tasks us WHERE eu.pipeline_run_id = '$frun' AND eu.pipeline_step = 'refresh_eu' AND us.pipeline_run_id = '$frun' AND us.pipeline_step = 'refresh_us'")" t
check_eq "the join started after both" \
    "$(q "SELECT bool_and(j.submitted_at >= g.finished_at) FROM tasks j, tasks g WHERE j.pipeline_run_id = '$frun' AND j.pipeline_step = 'lineage' AND g.pipeline_run_id = '$frun' AND g.pipeline_step IN ('refresh_eu', 'refresh_us')")" t
check_eq "the join used a result from two steps back" \
    "$(q "SELECT task->'params'->>'rows' FROM tasks WHERE pipeline_run_id = '$frun' AND pipeline_step = 'lineage'")" 10

# ---- (c) the command's answers ------------------------------------------------
cat >"$E2E_DIR/cycle.json" <<'EOF'
{"steps": [
  {"name": "a", "type": "export", "connector": "noop", "after": ["c"]},
  {"name": "b", "type": "refresh", "connector": "noop"},
  {"name": "c", "type": "lineage", "connector": "noop"}
]}
EOF
cat >"$E2E_DIR/sibling.json" <<'EOF'
{"steps": [
  {"name": "a", "type": "export", "connector": "noop"},
  {"name": "b", "type": "refresh", "connector": "noop", "after": ["a"]},
  {"name": "c", "type": "lineage", "connector": "noop", "after": ["a"], "params": {"x": "${steps.b.result}"}}
]}
EOF
expect_rc() { # DESCRIPTION RC PATTERN COMMAND...
    local what=$1 want=$2 pattern=$3 out rc
    shift 3
    set +e
    out=$("$@" 2>&1); rc=$?
    set -e
    if [ "$rc" = "$want" ] && grep -qE -- "$pattern" <<<"$out"; then
        check_eq "$what" ok ok
    else
        check_eq "$what (exit $rc: $out)" "$rc" "$want"
    fi
}
expect_rc "a cycle is refused naming the field" 2 '/steps/1: .*cycle \(a -> c -> b -> a' P add cyc --file "$E2E_DIR/cycle.json"
expect_rc "a template on a step not waited for is refused" 2 '/steps/2/params/x: .*does not wait for step "b"' P add sib --file "$E2E_DIR/sibling.json"
expect_rc "adding a name twice needs --replace" 1 'exists already' P add etl --file "$E2E_DIR/etl.json"
expect_rc "--replace replaces" 0 'replaced' P add etl --file "$E2E_DIR/etl.json" --replace
expect_rc "an unknown pipeline" 1 'no enabled pipeline is named "nope"' P run nope
expect_rc "disable" 0 'pipeline fan disabled' P disable fan
expect_rc "a disabled pipeline does not run" 1 'no enabled pipeline is named "fan"' P run fan
expect_rc "enable" 0 'pipeline fan enabled' P enable fan
expect_rc "disable an unknown pipeline" 1 'no pipeline is named "nope"' P disable nope
expect_rc "an unknown run" 1 'no pipeline run has id' P show 01J0000000000000000000000A
expect_rc "a succeeded run has nothing to re-run" 1 'nothing to re-run' P rerun "$run"
expect_rc "an unknown command" 2 'unknown command' P frobnicate
expect_rc "--help" 0 'rerun RUN_ID' P --help
check_eq "nothing of the refused definitions was stored" "$(q "SELECT count(*) FROM pipelines WHERE name IN ('cyc', 'sib')")" 0
check_eq "list --json" "$(P list --json | python3 -c 'import json,sys; print(sorted((p["name"], p["steps"], p["last_run_state"]) for p in json.load(sys.stdin)))')" \
    "[('etl', 3, 'succeeded'), ('fan', 4, 'succeeded')]"
e2e_finish
