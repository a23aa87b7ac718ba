#!/usr/bin/env bash
# kill -9 the worker of a refresh while it polls its platform operation
# (the noop connector's simulated refresh), twice:
#   - polling in place (the wait is short): the worker holds the task; its
#     lease expires, another worker takes the message over (a takeover) and
#     polls the operation the dead one started, whose state it saved before
#     its first poll;
#   - polling through the scheduler (the wait is long): the worker holds
#     nothing while the next poll waits in delayed_tasks; another worker
#     takes the next poll (no takeover).
# Each refresh succeeds on another worker having started one operation.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/delayed_lib.sh"
e2e_init refreshkill

start_scheduler
for w in w1 w2 w3; do
    start_worker "$w" --concurrency 2 --inline-retry-max 1s
done
wait_assigned w1 w2 w3

# the worker that ran the task's last `running` event
runner_of() { q "SELECT worker FROM task_events WHERE task_id = '$1' AND state = 'running' ORDER BY at DESC LIMIT 1"; }
pid_of() { local v="PID_$1"; echo "${!v}"; }

# ---- polling in place ------------------------------------------------------------
r=$(sub --type refresh --connector noop --params '{"duration_ms":9000,"poll_ms":300}')
started_one() { test "$(noop_starts "$1")" = 1; } # evaluated at each try
wait_for "the operation started" 30 started_one "$r"
sleep 1
victim=$(runner_of "$r")
check "it polls in place on $victim" sql_is "SELECT count(*) FROM delayed_tasks WHERE task_id = '$r'" 0
log "kill -9 $victim (pid $(pid_of "$victim")) while it polls"
kill -KILL "$(pid_of "$victim")"
wait_for "succeeded" 90 sql_is "SELECT state FROM tasks WHERE task_id = '$r'" succeeded
check_eq "one operation started" "$(noop_starts "$r")" 1
check "on another worker" test "$(q "SELECT worker FROM tasks WHERE task_id = '$r'")" != "$victim"
check_eq "in one attempt" "$(task_col "$r" attempt)" 1
check_eq "the dead worker's run was a takeover" "$(rcli HGET "df:task:$r" takeovers)" 1
check_eq "succeeded once" "$(events_of "$r" succeeded)" 1

# ---- polling through the scheduler -----------------------------------------------
r=$(sub --type refresh --connector noop --params '{"duration_ms":9000,"poll_ms":2500}')
wait_for "a poll waits in delayed_tasks (due in more than 1.5 s)" 30 sql_is \
    "SELECT count(*) FROM delayed_tasks WHERE task_id = '$r' AND due_at > now() + interval '1.5 s'" 1
victim=$(runner_of "$r")
log "kill -9 $victim (pid $(pid_of "$victim")) while its poll waits"
kill -KILL "$(pid_of "$victim")"
wait_for "succeeded" 90 sql_is "SELECT state FROM tasks WHERE task_id = '$r'" succeeded
check_eq "one operation started" "$(noop_starts "$r")" 1
check "finished on the last worker" test "$(q "SELECT worker FROM tasks WHERE task_id = '$r'")" != "$victim"
check_eq "no takeover: nothing ran when the worker died" "$(rcli HGET "df:task:$r" takeovers)" ""
check_eq "succeeded once" "$(events_of "$r" succeeded)" 1
check "polled through the scheduler" sql_is \
    "SELECT count(*) >= 2 FROM task_events WHERE task_id = '$r' AND state = 'queued' AND worker = 'datafleet-scheduler'" t
e2e_finish
