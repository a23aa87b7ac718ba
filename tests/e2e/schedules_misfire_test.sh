#!/usr/bin/env bash
# Misfire policies: three schedules fire every second; the only scheduler
# stops for 10 s and starts again, with --misfire-grace 2s. At the new
# leader's first tick R (the fired_at of the slots it takes, which is the
# tick's own clock), the slots since the last one fired are due; those more
# than the grace old (R - slot > 2 s) are missed:
#   coalesce       ONE slot fires for all of them: the latest due slot;
#   skip           only the slots within the grace (R - 2 s .. R) fire;
#   catch_up (3)   the 3 latest missed slots fire, then those within the grace.
# Afterwards each schedule fires every second again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/schedules_lib.sh"
e2e_init schedmis

migrate
task='{"type":"export","connector":"noop","params":{}}'
sched add co --cron '* * * * * *' --task "$task" >/dev/null
sched add sk --cron '* * * * * *' --task "$task" --misfire skip >/dev/null
sched add cu --cron '* * * * * *' --task "$task" --misfire catch_up --catch-up-limit 3 >/dev/null

three_each() { fire_count_at_least co 3 && fire_count_at_least sk 3 && fire_count_at_least cu 3; }
start_cron c1 --misfire-grace 2s
wait_for "3 slots of each fired" 30 three_each
kill -TERM "$PID_c1"
wait "$PID_c1" || true
stopped_at=$(now_ms)
log "scheduler stopped; down for 10 s"
sleep 10
restart_at=$(now_ms)
start_cron c2 --misfire-grace 2s
wait_for "c2 leads" 30 is_leader c2
sleep 3
sched pause co >/dev/null
sched pause sk >/dev/null
sched pause cu >/dev/null
sleep 1

# analyse NAME POLICY: checks the slots fired after the restart; prints a
# line "ok ..." or what is wrong.
analyse() {
    fires "$1" | python3 -c '
import sys
policy, restart, grace = sys.argv[1], int(sys.argv[2]), 2000
rows = [tuple(int(x) for x in l.split()[:2]) for l in sys.stdin if l.strip()]
before = [f for f, t in rows if t < restart]
after = [(f, t) for f, t in rows if t >= restart]
if not before or not after:
    print("no fires before or after the restart"); sys.exit()
last_before = max(before)
R = min(t for f, t in after)                 # the new leader first tick
burst = sorted(f for f, t in after if t == R)
rest = sorted(f for f, t in after if t > R)
due = list(range(last_before + 1000, R + 1, 1000))  # every second since the last fired slot
on_time = [s for s in due if R - s <= grace]
missed = [s for s in due if R - s > grace]
want = {"coalesce": [due[-1]], "skip": on_time, "catch_up": missed[-3:] + on_time}[policy]
later = list(range(R - R % 1000 + 1000, R - R % 1000 + 1000 + 1000 * len(rest), 1000))
problems = []
if len(missed) < 6:
    problems.append("only %d slots missed: the downtime did not show" % len(missed))
if burst != want:
    problems.append("first tick fired %s, expected %s" % (burst, want))
if rest != later:
    problems.append("later slots %s.., expected every second from %d" % (rest[:5], later[0] if later else 0))
print("; ".join(problems) if problems else
      "ok: %d due at the restart, %d missed; the first tick fired %d, then %d on time"
      % (len(due), len(missed), len(burst), len(rest)))' "$2" "$restart_at"
}
for s in "co coalesce" "sk skip" "cu catch_up"; do
    set -- $s
    result=$(analyse "$1" "$2")
    log "$2: $result"
    check "$2 after 10 s of downtime" test "${result%%:*}" = ok
done
check "each slot at most once" test "$(q "SELECT count(*) FROM (SELECT schedule_id, fire_time FROM schedule_fires GROUP BY 1, 2 HAVING count(*) > 1) d")" = 0
check_eq "one task id per fired slot" "$(q "SELECT count(DISTINCT task_id) FROM schedule_fires")" \
    "$(q "SELECT count(*) FROM schedule_fires")"
log "stopped at $stopped_at, restarted at $restart_at"
e2e_finish
