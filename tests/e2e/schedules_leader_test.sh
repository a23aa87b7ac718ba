#!/usr/bin/env bash
# Cron leadership: two schedulers run the cron role; the leader is killed
# with kill -9 while a schedule fires every second; the other takes over
# within 5 s and no slot is lost or fired twice.
#
# c2 tries the leader lock every 4 s (--leader-poll), and c1 is killed
# 0.3 s after one of c2's tries, so the takeover gap is about 3.7 s and
# holds 3 or 4 slots.
#
# The schedule uses the catch_up policy (limit 100), so the expectation is
# exact: every second's slot from the first one to the last fires exactly
# once (the slots of the takeover gap fire late, when the new leader takes
# over), and each slot's task runs once on the noop worker. A slot whose
# task the killed leader published without committing is published again
# with the same derived task id, and still runs once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/schedules_lib.sh"
e2e_init schedlead

migrate
start_recorder
start_worker w1 --concurrency 8
wait_assigned w1
out=$(sched add every-second --cron '* * * * * *' --misfire catch_up --catch-up-limit 100 \
    --task '{"type":"export","connector":"noop","params":{"sleep_ms":20}}')
first=$(first_slot "$out")
log "$out"

start_cron c1
wait_for "c1 leads" 30 is_leader c1
start_cron c2 --leader-poll 4s
wait_for "c2 stands by" 30 grep -q "standing by for the leader lock" "$E2E_DIR/c2.log"
# log_ms ID TEXT: the time (ms) of ID's first log line containing TEXT
log_ms() {
    python3 -c '
import json, sys, datetime
for line in open(sys.argv[1]):
    if sys.argv[2] in line:
        ts = json.loads(line)["ts"].replace("Z", "+00:00")
        print(int(datetime.datetime.fromisoformat(ts).timestamp() * 1000)); break' "$E2E_DIR/$1.log" "$2"
}
standby_at=$(log_ms c2 "standing by for the leader lock")
check "c2 does not lead while c1 does" bash -c "! grep -q 'leader now' '$E2E_DIR/c2.log'"
wait_for "8 slots fired" 30 fire_count_at_least every-second 8

# kill -9 0.3 s after one of c2's tries (they come every 4 s from its start)
python3 -c 'import sys, time
phase = (time.time() * 1000 - int(sys.argv[1])) % 4000
time.sleep(((300 - phase) % 4000) / 1000.0)' "$standby_at"
killed_at=$(now_ms)
kill -KILL "$PID_c1"
log "killed the leader c1 at $killed_at"
wait_for "c2 takes over" 15 is_leader c2
took_over=$(log_ms c2 "cron role: leader now")
log "c2 leads $((took_over - killed_at)) ms after the kill"
check "takeover within 5 s" test $((took_over - killed_at)) -le 5000

n=$(fire_count every-second)
wait_for "8 more slots fired by c2" 30 fire_count_at_least every-second $((n + 8))
sched pause every-second
sleep 1 # a batch in flight when pause ran commits now
stopped_at=$(now_ms)
wait_for "every fired slot's task succeeded" 60 all_fired_tasks_succeeded every-second

check_eq "slots every second from the first to the last, each once" \
    "$(contiguous_fires every-second | cut -d' ' -f1)" ok
log "fires: $(contiguous_fires every-second)"
check_eq "the first slot fired is the schedule's first" "$(fires every-second | head -1 | cut -d' ' -f1)" "$first"
last=$(fires every-second | tail -1 | cut -d' ' -f1)
check "the slots go on past the takeover" test "$last" -gt "$((took_over + 5000))"
check "no slot after the pause" test "$last" -le "$stopped_at"
gap=$(fires every-second | awk -v k="$killed_at" -v t="$took_over" '$1 > k && $1 < t' | wc -l)
late=$(fires every-second | awk -v k="$killed_at" -v t="$took_over" '$1 > k && $1 < t && $2 >= t' | wc -l)
log "slots of the takeover gap: $gap, fired by the new leader when it took over: $late"
check "the takeover gap held slots" test "$gap" -ge 2
check_eq "every slot of the gap was fired by the new leader (caught up)" "$late" "$gap"
check_eq "one task per slot" \
    "$(q "SELECT count(*) FROM tasks WHERE schedule_id = '$(schedule_id every-second)'")" \
    "$(fire_count every-second)"
check_eq "each slot's task ran once" "$(once_each every-second)" ok
check_eq "c1 was killed, c2 still runs" "$(kill -0 "$PID_c2" 2>/dev/null && echo alive)" alive
e2e_finish
