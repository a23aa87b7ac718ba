#!/usr/bin/env bash
# The REST API's /v1/schedules (a scheduler running the api, cron and
# recorder roles; a noop worker): add a schedule of a task every 2 seconds
# and see it fire (last_run with its task id and state from the history,
# next_fire_at after it), list and show, replace it, pause (nothing fires)
# and resume, trigger a paused task schedule and a pipeline schedule, then
# delete. Bad input is 400 naming the field, an unknown name 404, a taken
# one 409, each in the one error shape; a read token may not change
# anything (403), a submit token may trigger but not add; every change is
# in audit_log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_e2e_lib.sh"
e2e_init apisched

api_start
api_tokens
start_worker a --concurrency 4
wait_assigned a

task='{"type":"export","connector":"noop","params":{"rows":3}}'
fires() { q "SELECT count(*) FROM schedule_fires f JOIN schedules s ON s.id = f.schedule_id WHERE s.name = '$1'"; }
fires_above() { [ "$(fires "$1")" -gt "$2" ]; }

# ---- add, and it fires -------------------------------------------------------
api POST /v1/schedules "{\"name\":\"every2s\",\"cron\":\"*/2 * * * * *\",\"task\":$task}"
check_status "POST /v1/schedules" 201
check_eq "the schedule as added" "$(jqb '[.name, .cron, .tz, .misfire, .catch_up_limit, .paused, .enabled, .task.connector, .pipeline, .last_run] | map(tostring) | join(" ")')" \
    "every2s */2 * * * * * UTC coalesce 10 false true noop null null"
check "it has a next fire time" test "$(jqb .next_fire_at)" != null
check "and times in RFC 3339 with ms" grep -qE '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z$' <<<"$(jqb .created_at)"
check "Location names it" grep -qi '^Location: /v1/schedules/every2s' <<<"$HEADERS"

wait_for "a slot's task succeeded" 60 api_is /v1/schedules/every2s .last_run.state succeeded
api GET /v1/schedules/every2s
check_status "GET /v1/schedules/every2s" 200
last_task=$(jqb .last_run.task_id)
check "last_run names the slot's task, which succeeds" task_wait_state "$last_task" succeeded 30
check_eq "the task is the schedule's" "$(q "SELECT schedule_id FROM tasks WHERE task_id = '$last_task'")" "$(jqb .id)"
check "next_fire_at is after the last slot" test "$(jqb .next_fire_at)" \> "$(jqb .last_run.fire_time)"
check_eq "show has the upcoming fire times" "$(jqb '.upcoming | length')" 3
check "and the fired slots" test "$(jqb '.fires | length')" -ge 1
api GET '/v1/schedules/every2s?fires=1'
check_eq "?fires limits them" "$(jqb '.fires | length')" 1

api GET /v1/schedules "" read
check_status "GET /v1/schedules" 200
check_eq "the list has it with its last run" "$(jqb '.schedules | map(.name + " " + (.last_run != null | tostring)) | join(",")')" "every2s true"

# ---- pause, resume ---------------------------------------------------------------
api POST /v1/schedules/every2s/pause
check_status "pause" 200
check_eq "paused" "$(jqb '[.paused, .state] | join(" ")')" "true paused"
sleep 1
n=$(fires every2s)
sleep 3
check_eq "a paused schedule does not fire" "$(fires every2s)" "$n"
api POST /v1/schedules/every2s/pause
check_status "pause again (already paused)" 200
api POST /v1/schedules/every2s/resume
check_status "resume" 200
check_eq "resumed" "$(jqb '[.paused, .state] | join(" ")')" "false enabled"
check "from now on" test "$(jqb .next_fire_at)" \> "$(date -u +%Y-%m-%dT%H:%M:%S)"
wait_for "it fires again" 30 fires_above every2s "$n"

# ---- replace ------------------------------------------------------------------
api PUT /v1/schedules/every2s "{\"cron\":\"0 3 * * *\",\"tz\":\"Europe/Paris\",\"task\":$task,\"misfire\":\"catch_up\",\"catch_up_limit\":2}"
check_status "PUT" 200
check_eq "the definition replaced" "$(jqb '[.cron, .tz, .misfire, .catch_up_limit] | map(tostring) | join(" ")')" "0 3 * * * Europe/Paris catch_up 2"
check_eq "next_fire_at follows the new expression (03:00 Paris)" "$(jqb '.next_fire_at[11:19]' | grep -cE '^0[12]:00:00$')" 1
api PUT /v1/schedules/every2s "{\"name\":\"every2s\",\"cron\":\"0 3 * * *\",\"tz\":\"Europe/Paris\",\"task\":$task,\"pipeline\":null,\"misfire\":\"catch_up\",\"catch_up_limit\":2}"
check_status "PUT with the path's name and a null pipeline (as GET shows it)" 200
api PUT /v1/schedules/every2s "{\"name\":\"other\",\"cron\":\"@daily\",\"task\":$task}"
check_error "PUT with another name" 400 invalid name
api PUT /v1/schedules/nope "{\"cron\":\"@daily\",\"task\":$task}"
check_error "PUT an unknown schedule" 404 not_found name

# ---- trigger ---------------------------------------------------------------------
api POST /v1/schedules "{\"name\":\"manual\",\"cron\":\"0 0 1 1 *\",\"task\":$task,\"paused\":true}" 
check_status "add a paused schedule" 201
api POST /v1/schedules/manual/trigger "" submit
check_status "trigger with a submit token" 202
trig=$(jqb .task_id)
check_eq "the answer names the schedule and the slot" "$(jqb '[.schedule, .already_fired, (.slot | test("^20.*Z$"))] | map(tostring) | join(" ")')" "manual false true"
check "and the task" grep -qi "^Location: /v1/tasks/$trig" <<<"$HEADERS"
task_wait_state "$trig" succeeded 60
check_eq "the triggered task ran, as the schedule's" "$(q "SELECT schedule_id = (SELECT id FROM schedules WHERE name = 'manual') FROM tasks WHERE task_id = '$trig'")" t
wait_for "last_run shows it" 30 api_is /v1/schedules/manual .last_run.task_id "$trig"
check_eq "its state from the history" "$(curl -s -H "Authorization: Bearer $TOKEN_read" "$API_URL/v1/schedules/manual" | jq -r .last_run.state)" succeeded

api POST /v1/pipelines '{"name":"two","steps":[{"name":"a","type":"export","connector":"noop","params":{"rows":1}},{"name":"b","type":"lineage","connector":"noop"}]}'
check_status "add a pipeline" 201
api POST /v1/schedules '{"name":"pipe","cron":"@yearly","pipeline":"two"}'
check_status "add a pipeline schedule" 201
check_eq "its target" "$(jqb '[.pipeline, (.task | tostring)] | join(" ")')" "two null"
api POST /v1/schedules/pipe/trigger
check_status "trigger a pipeline schedule" 202
prun=$(jqb .pipeline_run_id)
check "it names the run" test -n "$prun" -a "$prun" != null
wait_for "the run succeeds" 60 api_is "/v1/pipeline-runs/$prun" .state succeeded
check_eq "the run is the schedule's" "$(q "SELECT schedule_id = (SELECT id FROM schedules WHERE name = 'pipe') FROM pipeline_runs WHERE id = '$prun'")" t
wait_for "last_run shows the run succeeded" 30 api_is /v1/schedules/pipe '.last_run.pipeline_run_id + " " + .last_run.state' "$prun succeeded"

# ---- bad input, unknown and taken names --------------------------------------------
api POST /v1/schedules "{\"name\":\"a\",\"cron\":\"0 0 32 * *\",\"task\":$task}"
check_error "a bad expression" 400 invalid cron
check "the message gives the position" grep -q "position 5" <<<"$(jqb .error.message)"
api POST /v1/schedules "{\"name\":\"a\",\"cron\":\"@daily\",\"tz\":\"Mars/Olympus\",\"task\":$task}"
check_error "a bad zone" 400 invalid tz
api POST /v1/schedules "{\"name\":\"a\",\"cron\":\"0 0 30 2 *\",\"task\":$task}"
check_error "an expression that never fires" 400 invalid cron
api POST /v1/schedules "{\"name\":\"a\",\"cron\":\"@daily\",\"task\":$task,\"frequency\":\"often\"}"
check_error "an unknown field" 400 invalid frequency
api POST /v1/schedules '{"name":"a","cron":"@daily","task":{"type":"export","connector":"noop","params":{"fail":"often"}}}'
check_error "an invalid template" 400 invalid /task/params/fail
api POST /v1/schedules '{"name":"a","cron":"@daily","task":{"task_id":"01J00000000000000000000000","type":"export","connector":"noop"}}'
check_error "a template with a task_id" 400 invalid /task/task_id
api POST /v1/schedules "{\"name\":\"a\",\"cron\":\"@daily\",\"task\":$task,\"pipeline\":\"two\"}"
check_error "both task and pipeline" 400 invalid pipeline
api POST /v1/schedules '{"name":"a","cron":"@daily"}'
check_error "no target" 400 invalid task
api POST /v1/schedules "{\"cron\":\"@daily\",\"task\":$task}"
check_error "no name" 400 invalid name
api POST /v1/schedules "{\"name\":\"two words\",\"cron\":\"@daily\",\"task\":$task}"
check_error "a bad name" 400 invalid name
api POST /v1/schedules "{\"name\":\"a\",\"task\":$task}"
check_error "no cron" 400 invalid cron
api POST /v1/schedules "{\"name\":\"a\",\"cron\":\"@daily\",\"task\":$task,\"misfire\":\"sometimes\"}"
check_error "a bad misfire policy" 400 invalid misfire
api POST /v1/schedules "{\"name\":\"a\",\"cron\":\"@daily\",\"task\":$task,\"catch_up_limit\":5000}"
check_error "a catch-up limit over the maximum" 400 invalid catch_up_limit
api POST /v1/schedules "{\"name\":\"a\",\"cron\":\"@daily\",\"task\":$task,\"paused\":\"yes\"}"
check_error "paused not a boolean" 400 invalid paused
api POST /v1/schedules '{"name":"a","cron":"@daily","pipeline":"no-such-pipeline"}'
check_error "an unknown pipeline" 400 invalid pipeline
api POST /v1/schedules '{"name":"a","cron":'
check_error "malformed JSON" 400 invalid body
api POST /v1/schedules
check_error "no body" 400 invalid body
check_eq "nothing was added by bad requests" "$(q "SELECT count(*) FROM schedules WHERE name = 'a'")" 0
api POST /v1/schedules "{\"name\":\"manual\",\"cron\":\"@daily\",\"task\":$task}"
check_error "a taken name" 409 conflict name
api GET /v1/schedules/nope
check_error "GET an unknown schedule" 404 not_found name
api GET '/v1/schedules/two%20words'
check_error "GET a bad name" 400 invalid name
api POST /v1/schedules/nope/pause
check_error "pause an unknown schedule" 404 not_found name
api POST /v1/schedules/nope/resume
check_error "resume an unknown schedule" 404 not_found name
api POST /v1/schedules/nope/trigger
check_error "trigger an unknown schedule" 404 not_found name
api DELETE /v1/schedules/nope
check_error "DELETE an unknown schedule" 404 not_found name
api GET '/v1/schedules?sort=name'
check_error "an unknown query parameter" 400 invalid sort

# ---- roles -----------------------------------------------------------------------------
api POST /v1/schedules "{\"name\":\"r\",\"cron\":\"@daily\",\"task\":$task}" read
check_error "a read token cannot add" 403 forbidden null
api POST /v1/schedules "{\"name\":\"r\",\"cron\":\"@daily\",\"task\":$task}" submit
check_error "nor can a submit token" 403 forbidden null
api POST /v1/schedules/manual/pause "" read
check_error "a read token cannot pause" 403 forbidden null
api POST /v1/schedules/manual/trigger "" read
check_error "nor trigger" 403 forbidden null
api DELETE /v1/schedules/manual "" submit
check_error "a submit token cannot delete" 403 forbidden null
api GET /v1/schedules "" none
check_error "no token" 401 unauthorized Authorization
api GET /v1/schedules/manual "" read
check_status "a read token can read" 200

# ---- delete --------------------------------------------------------------------------------
api DELETE /v1/schedules/manual
check_status "DELETE" 204
check_eq "with no body" "$BODY" ""
api GET /v1/schedules/manual
check_error "then it is gone" 404 not_found name
check_eq "and its fired slots with it" "$(fires manual)" 0

# ---- the audit log ----------------------------------------------------------------------------
audit() { q "SELECT string_agg(action || ' ' || target, ',' ORDER BY id) FROM audit_log WHERE target_kind = 'schedules' AND actor LIKE 'token:$1-%'"; }
check_eq "admin changes are audited, in order" "$(audit admin)" \
    "POST /v1/schedules every2s,POST /v1/schedules/{name}/pause every2s,POST /v1/schedules/{name}/pause every2s,POST /v1/schedules/{name}/resume every2s,PUT /v1/schedules/{name} every2s,PUT /v1/schedules/{name} every2s,POST /v1/schedules manual,POST /v1/schedules pipe,POST /v1/schedules/{name}/trigger pipe,DELETE /v1/schedules/{name} manual"
check_eq "so is the submit token's trigger" "$(audit submit)" "POST /v1/schedules/{name}/trigger manual"
check_eq "with what it fired" "$(q "SELECT details->>'task_id' FROM audit_log WHERE action = 'POST /v1/schedules/{name}/trigger' AND target = 'manual'")" "$trig"
check_eq "the definition's audit keeps no params" "$(q "SELECT (details ? 'cron') AND NOT (details::text LIKE '%rows%') FROM audit_log WHERE action = 'POST /v1/schedules' AND target = 'every2s'")" t
check_eq "refused requests are not audited" "$(q "SELECT count(*) FROM audit_log WHERE target IN ('a', 'r', 'nope')")" 0
e2e_finish
