#!/usr/bin/env bash
# datafleet-scheduler schedules: every subcommand, its --help, its checks
# of bad input (exit 2, naming the option and what was expected), "no such
# schedule" (exit 3), a taken name (exit 4), the table and --json, and
# trigger: a slot at the current second, published and run once, claimed
# like any slot so a second trigger within that second fires nothing more.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/schedules_lib.sh"
e2e_init schedcli

# run_rc EXPECTED_RC DESCRIPTION ARGS...: run `schedules ARGS`, keep its
# stdout in $OUT and stderr in $ERR, check its exit code.
run_rc() {
    local want=$1 what=$2 rc=0
    shift 2
    OUT=$(sched "$@" 2>"$E2E_DIR/stderr") || rc=$?
    ERR=$(cat "$E2E_DIR/stderr")
    check_eq "$what: exit $want" "$rc" "$want"
}
# has TEXT: $OUT or $ERR holds TEXT.
has() { grep -qF -- "$1" <<<"$OUT$ERR"; }

migrate
task='{"type":"export","connector":"noop","params":{"rows":7}}'

for cmd in list show add pause resume delete trigger; do
    run_rc 0 "$cmd --help" "$cmd" --help
    check "$cmd --help shows its usage" has "Usage: datafleet-scheduler schedules $cmd"
done
run_rc 0 "schedules --help" --help
check "the overview lists the commands" has "trigger NAME"
run_rc 2 "no command"
run_rc 2 "unknown command" frobnicate
check "the unknown command is named" has '"frobnicate"'
run_rc 2 "unknown option" list --no-such-option
run_rc 2 "a missing NAME" show

# add: bad input
run_rc 2 "bad expression" add a --cron '0 0 32 * *' --task "$task"
check "the expression error gives the position" has "--cron: position 5"
check "and points at it" has "      ^"
run_rc 2 "bad zone" add a --cron '0 0 * * *' --tz Mars/Olympus --task "$task"
check "the zone error names --tz" has "--tz:"
run_rc 2 "an expression that never fires" add a --cron '0 0 30 2 *' --task "$task"
check "never fires" has "never fires"
run_rc 2 "a template that is not JSON" add a --cron '@daily' --task '{"type":'
check "the JSON error names --task" has "--task: not JSON"
run_rc 2 "an invalid template" add a --cron '@daily' \
    --task '{"type":"export","connector":"noop","params":{"fail":"often"}}'
check "the template error names the field" has "--task: /params/fail:"
run_rc 2 "a template with a task_id" add a --cron '@daily' \
    --task '{"task_id":"01J00000000000000000000000","type":"export","connector":"noop","params":{}}'
check "task_id is the slot's" has "/task_id: is set by the scheduler"
run_rc 2 "a template without a connector" add a --cron '@daily' --task '{"type":"export","params":{}}'
check "the missing field is named" has "/connector"
run_rc 2 "both --task and --pipeline" add a --cron '@daily' --task "$task" --pipeline p
run_rc 2 "no target" add a --cron '@daily'
run_rc 2 "no --cron" add a --task "$task"
check "--cron is required" has "--cron"
run_rc 2 "an unknown pipeline" add a --cron '@daily' --pipeline no-such-pipeline
check "the pipeline is named" has '--pipeline: no pipeline named "no-such-pipeline"'
run_rc 2 "a bad name" add 'two words' --cron '@daily' --task "$task"
run_rc 2 "a bad misfire policy" add a --cron '@daily' --task "$task" --misfire sometimes
run_rc 2 "a catch-up limit over the maximum" add a --cron '@daily' --task "$task" --catch-up-limit 5000
check_eq "nothing was added" "$(q "SELECT count(*) FROM schedules")" 0

# add, list, show
run_rc 0 "add" add nightly --cron '0 2 * * *' --tz Europe/Paris --task "$task" --misfire catch_up --catch-up-limit 3
check "add prints the first slot" has "first slot"
echo "$task" >"$E2E_DIR/task.json"
run_rc 0 "add from a file, paused" add yearly --cron '0 0 0 1 1 *' --task-file "$E2E_DIR/task.json" --paused
run_rc 4 "add a taken name" add nightly --cron '@hourly' --task "$task"
check "the taken name is named" has 'a schedule named "nightly" exists'
run_rc 0 "list" list
check "the table has its header" has "NAME     EXPRESSION"
check "the table shows nightly with its zone and target" grep -qE '^nightly +0 2 \* \* \* +Europe/Paris +export noop +enabled +- +20' <<<"$OUT"
check "the table shows yearly paused" grep -qE '^yearly .* paused +- +\(paused\)$' <<<"$OUT"
run_rc 0 "list --json" list --json
check_eq "list --json: two schedules, their fields" "$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
n = d[0]
print(len(d), n["name"], n["timezone"], n["misfire_policy"], n["catch_up_limit"], n["state"],
      n["task_template"]["params"]["rows"], d[1]["state"], d[1]["next_fire_at"] is not None)' "$OUT")" \
    "2 nightly Europe/Paris catch_up 3 enabled 7 paused True"
run_rc 0 "show --json" show nightly --json
check_eq "show: next fire is 02:00 in Paris (01:00 UTC in winter)" \
    "$(python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(d["next_fire_at"][11:], len(d["upcoming"]), d["fires"])' "$OUT")" \
    "01:00:00.000Z 3 []"
run_rc 0 "show" show nightly
check "show names the policy" has "misfire policy  catch_up (at most 3 missed slots)"
run_rc 3 "show an unknown schedule" show nope

# pause / resume
run_rc 0 "pause" pause nightly
check "paused" has "schedule nightly paused"
run_rc 0 "pause again" pause nightly
check "already paused" has "already paused"
run_rc 3 "pause an unknown schedule" pause nope
run_rc 0 "resume" resume nightly
check "resume gives the next slot" has "resumed; next slot"
run_rc 0 "resume again" resume nightly
check "not paused" has "is not paused"
run_rc 3 "resume an unknown schedule" resume nope

# trigger: no cron leader runs here, the command publishes itself
start_recorder
start_worker w1 --concurrency 4
wait_assigned w1
run_rc 0 "trigger a paused schedule" trigger yearly
check "trigger prints the slot and its task" grep -qE '^yearly: slot .*Z fired: task [0-9A-Z]{26}$' <<<"$OUT"
tid=${OUT##* }
wait_for "the triggered task succeeded" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$tid'" succeeded
check_eq "it is the schedule's, submitted by it" \
    "$(q "SELECT schedule_id = '$(schedule_id yearly)', submitted_by, result->>'rows_written' FROM tasks WHERE task_id = '$tid'")" \
    "t|scheduler:yearly|7"
check_eq "its slot is recorded with the task" "$(fires yearly | cut -d' ' -f3)" "$tid"
# twice in a row: the same second fires once
sched trigger nightly >"$E2E_DIR/t1" 2>&1
sched trigger nightly >"$E2E_DIR/t2" 2>&1
slots=$(cut -d' ' -f3 "$E2E_DIR/t1" "$E2E_DIR/t2" | sort -u | wc -l)
log "$(cat "$E2E_DIR/t1" "$E2E_DIR/t2")"
check_eq "two triggers: one fire per distinct second" "$(fire_count nightly)" "$slots"
if [ "$slots" = 1 ]; then
    check "the second trigger of that second says so" grep -q "already fired: $(cut -d' ' -f6 "$E2E_DIR/t1")" "$E2E_DIR/t2"
fi
run_rc 3 "trigger an unknown schedule" trigger nope
run_rc 0 "list shows the last run" list
wait_for "the nightly tasks succeeded" 60 all_fired_tasks_succeeded nightly
run_rc 0 "list" list
check "last run: the task's state and its slot" grep -qE '^nightly .* succeeded 20[0-9-]+T[0-9:]+Z ' <<<"$OUT"

# delete
run_rc 0 "delete" delete yearly
run_rc 3 "delete again" delete yearly
run_rc 3 "show a deleted schedule" show yearly
check_eq "its fires went with it" "$(q "SELECT count(*) FROM schedule_fires WHERE task_id = '$tid'")" 0
check_eq "its task stays in the history" "$(q "SELECT state FROM tasks WHERE task_id = '$tid'")" succeeded

# PostgreSQL unreachable
run_rc 1 "no database" list --database-url "postgresql://datafleet@127.0.0.1:1/none"
check "the failure is said" has "cannot connect to PostgreSQL"
e2e_finish
