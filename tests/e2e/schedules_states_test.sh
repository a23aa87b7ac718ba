#!/usr/bin/env bash
# Which schedules fire: a paused one does not until resumed (and the slots
# of its pause are not fired afterwards), a disabled one never does, and
# schedules whose expression, zone or task template became invalid in the
# table are reported by name and field while the others keep firing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/schedules_lib.sh"
e2e_init schedst

migrate
task='{"type":"export","connector":"noop","params":{}}'
sched add on --cron '* * * * * *' --task "$task" >/dev/null
sched add held --cron '* * * * * *' --task "$task" --paused >/dev/null
sched add off --cron '* * * * * *' --task "$task" >/dev/null
q "UPDATE schedules SET enabled = false WHERE name = 'off'" >/dev/null
# written by hand (or by an older version): invalid now, due now
q "INSERT INTO schedules (id, name, expression, timezone, task_template, next_fire_at) VALUES
   ('bad-expr-id', 'bad-expr', '0 61 * * * *', 'UTC', '$task', now()),
   ('bad-zone-id', 'bad-zone', '* * * * * *', 'Mars/Olympus', '$task', now()),
   ('bad-task-id', 'bad-task', '* * * * * *', 'UTC', '{\"type\":\"export\",\"params\":{}}', now()),
   ('no-next-id', 'no-next', '* * * * * *', 'UTC', '$task', NULL)" >/dev/null

start_cron c1
wait_for "on fires" 30 fire_count_at_least on 3
wait_for "no-next fires (its first slot computed by the leader)" 10 fire_count_at_least no-next 1
sleep 1
check_eq "a paused schedule does not fire" "$(fire_count held)" 0
check_eq "a disabled schedule does not fire" "$(fire_count off)" 0
for bad in bad-expr bad-zone bad-task; do
    check_eq "$bad does not fire" "$(fire_count $bad)" 0
done
check "bad-expr reported with its name and field" \
    grep -q 'schedule \\"bad-expr\\" (bad-expr-id) not fired: expression: position 3' "$E2E_DIR/c1.log"
check "bad-zone reported with its name and field" \
    grep -q 'schedule \\"bad-zone\\" (bad-zone-id) not fired: timezone: ' "$E2E_DIR/c1.log"
check "bad-task reported with its name and field" \
    grep -q 'schedule \\"bad-task\\" (bad-task-id) not fired: task_template/connector: ' "$E2E_DIR/c1.log"
check "an invalid schedule is looked at again in a minute, not at every tick" test \
    "$(q "SELECT count(*) FROM schedules WHERE name LIKE 'bad-%' AND next_fire_at > now() + interval '50 seconds'")" = 3
check_eq "each reported once so far" "$(grep -c 'not fired:' "$E2E_DIR/c1.log")" 3

# pause: no slot after it; resume: firing again from then on, the paused
# slots left out
sched pause on >/dev/null
paused_at=$(now_ms)
sleep 3
resumed_at=$(now_ms)
sched resume on >/dev/null
fired_since() { [ "$(fires "$1" | awk -v t="$2" '$1 > t' | wc -l)" -ge "$3" ]; }
wait_for "on fires again" 10 fired_since on "$resumed_at" 2
check_eq "no slot of the pause fired" \
    "$(fires on | awk -v p="$paused_at" -v r="$resumed_at" '$1 > p + 1000 && $1 <= r' | wc -l)" 0
sched resume held >/dev/null
wait_for "held fires once resumed" 10 fire_count_at_least held 2
check_eq "disabled still does not fire" "$(fire_count off)" 0
check "no task published for the schedules that did not fire" test \
    "$(q "SELECT count(*) FROM schedule_fires f JOIN schedules s ON s.id = f.schedule_id WHERE s.name IN ('off', 'bad-expr', 'bad-zone', 'bad-task')")" = 0
e2e_finish
