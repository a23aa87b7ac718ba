#!/usr/bin/env bash
# The REST API's /v1/pipelines and /v1/pipeline-runs (a scheduler running
# the api, cron and recorder roles; a noop worker): define pipelines, list
# and show them, start a run and follow it to succeeded with its steps'
# tasks; a run whose middle step fails (noop params.fail = permanent)
# fails with the reason, is re-run from the failed step (fails again under
# a new task id), and once the definition is replaced (PUT) a re-run with
# ?current_definition=true succeeds. Runs are paged with a cursor. Bad
# input is 400 naming the field, unknown names and runs 404, a taken name
# or a run that cannot be re-run 409, each in the one error shape; a read
# token cannot change anything (403); every change is in audit_log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_e2e_lib.sh"
e2e_init apipipe

api_start
api_tokens
start_worker a --concurrency 4
wait_assigned a

ok_def='"steps":[{"name":"extract","type":"export","connector":"noop","params":{"rows":5}},{"name":"refresh","type":"refresh","connector":"noop","params":{"rows":"${steps.extract.result.rows_written}"}}]'
load_def() {
    printf '"description":"nightly load","steps":[{"name":"extract","type":"export","connector":"noop","params":{"rows":42}},{"name":"refresh","type":"refresh","connector":"noop","params":{"fail":"%s","rows":"${steps.extract.result.rows_written}"}},{"name":"lineage","type":"lineage","connector":"noop"}]' "$1"
}
run_state() { api_is "/v1/pipeline-runs/$1" .state "$2"; }

# ---- define, list, show --------------------------------------------------------
api POST /v1/pipelines "{\"name\":\"ok\",$ok_def}"
check_status "POST /v1/pipelines" 201
check_eq "the pipeline as added" "$(jqb '[.name, .enabled, .steps, .running, (.last_run | tostring), (.definition.steps | length), (.recent_runs | length)] | map(tostring) | join(" ")')" \
    "ok true 2 0 null 2 0"
check "Location names it" grep -qi '^Location: /v1/pipelines/ok' <<<"$HEADERS"
api POST /v1/pipelines "{\"name\":\"load\",$(load_def permanent)}"
check_status "add a second one" 201
check_eq "its description" "$(jqb .description)" "nightly load"
api GET /v1/pipelines "" read
check_status "GET /v1/pipelines" 200
check_eq "the list, by name" "$(jqb '.pipelines | map(.name + ":" + (.steps | tostring)) | join(",")')" "load:3,ok:2"

# ---- a run that succeeds ------------------------------------------------------------
api POST /v1/pipelines/ok/runs "" submit
check_status "start a run with a submit token" 202
run=$(jqb .run_id)
check_eq "the answer" "$(jqb '[.pipeline, .state, .links.self] | join(" ")')" "ok running /v1/pipeline-runs/$run"
check "Location names the run" grep -qi "^Location: /v1/pipeline-runs/$run" <<<"$HEADERS"
wait_for "the run succeeds" 60 run_state "$run" succeeded
api GET "/v1/pipeline-runs/$run" "" read
check_status "GET the run" 200
check_eq "its steps, in order, succeeded with their tasks" "$(jqb '.steps | map(.step + " " + .state + " " + (.task_id | test("^[0-9A-Z]{26}$") | tostring)) | join(",")')" \
    "extract succeeded true,refresh succeeded true"
check_eq "the template filled in from the export's result" "$(jqb '.steps[1].params.rows')" 5
check_eq "the step's task is in the history" "$(q "SELECT state FROM tasks WHERE task_id = '$(jqb '.steps[0].task_id')'")" succeeded
check_eq "times and no reason" "$(jqb '[(.started_at | test("Z$")), (.finished_at | test("Z$")), .reason] | map(tostring) | join(" ")')" "true true null"
api GET /v1/pipelines/ok
check_eq "show has the last run and recent runs" "$(jqb '[.last_run.run_id, .last_run.state, .recent_runs[0].run_id, .recent_runs[0].steps_succeeded] | join(" ")')" "$run succeeded $run 2/2"

# ---- a run that fails, re-run ----------------------------------------------------------
api POST /v1/pipelines/load/runs
check_status "start a run that will fail" 202
frun=$(jqb .run_id)
wait_for "it fails" 60 run_state "$frun" failed
api GET "/v1/pipeline-runs/$frun"
check_eq "the failed step keeps its error, the next is skipped" "$(jqb '.steps | map(.step + " " + .state + " " + (.error.code // "-")) | join(",")')" \
    "extract succeeded -,refresh failed noop_permanent,lineage skipped -"
check "the reason" grep -q "^step refresh failed: noop_permanent" <<<"$(jqb .reason)"
first_refresh=$(jqb '.steps[1].task_id')
check_eq "the skipped step has no task" "$(jqb '.steps[2].task_id')" null

api POST "/v1/pipeline-runs/$frun/rerun" "" submit
check_status "rerun" 202
check_eq "it re-runs from the failed step" "$(jqb '[.run_id, .state, (.reset | join(","))] | join(" ")')" "$frun running refresh,lineage"
wait_for "it fails again" 60 run_state "$frun" failed
api GET "/v1/pipeline-runs/$frun"
check "under a new task id" test "$(jqb '.steps[1].task_id')" != "$first_refresh"
check_eq "counted as a re-run" "$(jqb '.steps[1].rerun')" 1
check_eq "the export ran once" "$(q "SELECT count(*) FROM tasks WHERE pipeline_run_id = '$frun' AND pipeline_step = 'extract'")" 1

api PUT /v1/pipelines/load "{$(load_def none)}"
check_status "PUT a fixed definition" 200
check_eq "replaced" "$(jqb '.definition.steps[1].params.fail')" none
api POST "/v1/pipeline-runs/$frun/rerun?current_definition=true"
check_status "rerun with the current definition" 202
wait_for "the run succeeds" 60 run_state "$frun" succeeded
check_eq "the refresh ran three times" "$(q "SELECT string_agg(state, ',' ORDER BY submitted_at) FROM tasks WHERE pipeline_run_id = '$frun' AND pipeline_step = 'refresh'")" "failed,failed,succeeded"
check_eq "the kept export result filled in" "$(curl -s -H "Authorization: Bearer $TOKEN_read" "$API_URL/v1/pipeline-runs/$frun" | jq -r '.steps[1].params.rows')" 42
api POST "/v1/pipeline-runs/$frun/rerun"
check_error "a succeeded run cannot be re-run" 409 conflict run_id

# ---- runs, paged ------------------------------------------------------------------------------
api POST /v1/pipelines/ok/runs
run2=$(jqb .run_id)
api POST /v1/pipelines/ok/runs
run3=$(jqb .run_id)
api GET '/v1/pipelines/ok/runs?limit=2' "" read
check_status "GET runs" 200
check_eq "the first page, newest first" "$(jqb '.runs | map(.run_id) | join(",")')" "$run3,$run2"
cursor=$(jqb .next_cursor)
check "a cursor to the next page" test "$cursor" != null
api GET "/v1/pipelines/ok/runs?limit=2&cursor=$cursor" "" read
check_eq "the last page" "$(jqb '[(.runs | map(.run_id) | join(",")), (.next_cursor | tostring)] | join(" ")')" "$run null"
check_eq "a run's fields" "$(jqb '.runs[0] | [.pipeline, .state, .steps_succeeded, (.started_at | test("Z$"))] | map(tostring) | join(" ")')" "ok succeeded 2/2 true"
api GET '/v1/pipelines/ok/runs?cursor=c1.bm9wZQ'
check_error "a cursor of another kind" 400 invalid cursor
api GET '/v1/pipelines/ok/runs?cursor=garbage'
check_error "a made-up cursor" 400 invalid cursor
api GET '/v1/pipelines/ok/runs?limit=0'
check_error "limit out of range" 400 invalid limit
wait_for "the extra runs end" 60 run_state "$run3" succeeded

# ---- bad input, unknown, taken, disabled ---------------------------------------------------------
api POST /v1/pipelines "{\"name\":\"ok\",$ok_def}"
check_error "a taken name" 409 conflict name
api POST /v1/pipelines "{$ok_def}"
check_error "no name" 400 invalid name
api POST /v1/pipelines "{\"name\":\"Bad Name\",$ok_def}"
check_error "a bad name" 400 invalid name
api POST /v1/pipelines "{\"name\":\"x\",$ok_def,\"schedule\":\"@daily\"}"
check_error "an unknown field" 400 invalid schedule
api POST /v1/pipelines '{"name":"x","steps":[{"name":"a","type":"export","connector":"noop"},{"name":"b","type":"export","connector":"noop","after":["c"]}]}'
check_error "after naming an unknown step" 400 invalid /steps/1/after/0
api POST /v1/pipelines '{"name":"x","steps":[]}'
check_error "no steps" 400 invalid /steps
api POST /v1/pipelines '{"name":"x","steps":[{"name":"a","type":"export","connector":"noop","params":{"r":"${steps.b.result.x}"}}]}'
check_error "a template naming a step it does not wait for" 400 invalid /steps/0/params/r
check_eq "nothing was added by bad requests" "$(q "SELECT count(*) FROM pipelines WHERE name = 'x'")" 0
api PUT /v1/pipelines/load "{\"name\":\"other\",$(load_def none)}"
check_error "PUT with another name in the body" 400 invalid name
api PUT /v1/pipelines/nope "{$ok_def}"
check_error "PUT an unknown pipeline" 404 not_found name
api GET /v1/pipelines/nope
check_error "GET an unknown pipeline" 404 not_found name
api GET /v1/pipelines/Bad%20Name
check_error "GET a bad name" 400 invalid name
api POST /v1/pipelines/nope/runs
check_error "start a run of an unknown pipeline" 404 not_found name
api GET /v1/pipelines/nope/runs
check_error "runs of an unknown pipeline" 404 not_found name
api GET /v1/pipeline-runs/01J00000000000000000000000
check_error "an unknown run" 404 not_found run_id
api GET /v1/pipeline-runs/not-an-id
check_error "a bad run id" 400 invalid run_id
api POST /v1/pipeline-runs/01J00000000000000000000000/rerun
check_error "rerun an unknown run" 404 not_found run_id
api POST "/v1/pipeline-runs/$frun/rerun?current_definition=maybe"
check_error "a bad current_definition" 400 invalid current_definition
api POST /v1/pipelines/ok/runs '{"params":{}}'
check_error "starting a run takes no body" 400 invalid body
"$E2E_BIN/datafleet-scheduler" pipelines disable ok >/dev/null
api POST /v1/pipelines/ok/runs
check_error "a disabled pipeline does not start" 409 conflict name
api GET /v1/pipelines/ok
check_eq "it shows disabled" "$(jqb .enabled)" false

# ---- roles ----------------------------------------------------------------------------------------
api POST /v1/pipelines "{\"name\":\"r\",$ok_def}" read
check_error "a read token cannot add" 403 forbidden null
api POST /v1/pipelines "{\"name\":\"r\",$ok_def}" submit
check_error "nor can a submit token" 403 forbidden null
api POST /v1/pipelines/load/runs "" read
check_error "a read token cannot start a run" 403 forbidden null
api POST "/v1/pipeline-runs/$frun/rerun" "" read
check_error "nor re-run one" 403 forbidden null
api GET /v1/pipelines "" none
check_error "no token" 401 unauthorized Authorization

# ---- the audit log -----------------------------------------------------------------------------------
audit() { q "SELECT string_agg(action || ' ' || target, ',' ORDER BY id) FROM audit_log WHERE actor LIKE 'token:$1-%'"; }
check_eq "the submit token's changes are audited" "$(audit submit)" \
    "POST /v1/pipelines/{name}/runs ok,POST /v1/pipeline-runs/{run_id}/rerun $frun"
check_eq "the admin token's" "$(audit admin)" \
    "POST /v1/pipelines ok,POST /v1/pipelines load,POST /v1/pipelines/{name}/runs load,PUT /v1/pipelines/{name} load,POST /v1/pipeline-runs/{run_id}/rerun $frun,POST /v1/pipelines/{name}/runs ok,POST /v1/pipelines/{name}/runs ok"
check_eq "with details" "$(q "SELECT details->>'run_id' FROM audit_log WHERE action = 'POST /v1/pipelines/{name}/runs' AND actor LIKE 'token:submit-%'")" "$run"
check_eq "a rerun's details name the steps reset" "$(q "SELECT details->'reset' FROM audit_log WHERE action = 'POST /v1/pipeline-runs/{run_id}/rerun' AND actor LIKE 'token:submit-%'")" '["refresh", "lineage"]'
check_eq "refused requests are not audited" "$(q "SELECT count(*) FROM audit_log WHERE target IN ('x', 'r', 'nope')")" 0
e2e_finish
