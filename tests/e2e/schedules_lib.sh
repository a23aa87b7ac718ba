#!/usr/bin/env bash
# Helpers of the schedule tests (source after lib.sh and e2e_init): the
# cron role of datafleet-scheduler, the `schedules` command, and reading
# schedule_fires back.

# migrate: the schema, before any schedule is added.
migrate() {
    "$E2E_BIN/datafleet-scheduler" migrate >>"$E2E_DIR/migrate.log" 2>&1
}

# sched ARGS...: datafleet-scheduler schedules ARGS (the test's database and prefix).
sched() { "$E2E_BIN/datafleet-scheduler" schedules "$@"; }

# start_cron ID [options...]: a scheduler running the cron role only; pid in PID_<ID>.
start_cron() {
    local id=$1
    shift
    "$E2E_BIN/datafleet-scheduler" --roles cron --leader-poll 500ms "$@" run \
        >>"$E2E_DIR/$id.log" 2>&1 &
    E2E_PIDS+=("$!")
    eval "PID_${id//-/_}=$!"
}

# is_leader ID: its log says it leads.
is_leader() { grep -q '"msg":"cron role: leader now' "$E2E_DIR/$1.log"; }

# now_ms: the wall clock in ms (the schedules' clock).
now_ms() { date +%s%3N; }

# first_slot "ADD OUTPUT": the first slot printed by `schedules add`, in ms.
first_slot() {
    python3 - "$1" <<'PY'
import datetime, re, sys
m = re.search(r"first slot (\S+)", sys.argv[1])
print(int(datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp() * 1000))
PY
}

# schedule_id NAME
schedule_id() { q "SELECT id FROM schedules WHERE name = '$1'"; }

# fires NAME: "fire_ms fired_ms task_id" lines, in fire time order.
fires() {
    q "SELECT (extract(epoch FROM f.fire_time) * 1000)::bigint,
              (extract(epoch FROM f.fired_at) * 1000)::bigint, COALESCE(f.task_id, '-')
         FROM schedule_fires f JOIN schedules s ON s.id = f.schedule_id
        WHERE s.name = '$1' ORDER BY f.fire_time" | tr '|' ' '
}

# fire_count NAME
fire_count() {
    q "SELECT count(*) FROM schedule_fires f JOIN schedules s ON s.id = f.schedule_id
        WHERE s.name = '$1'"
}

# fire_count_at_least NAME N: for wait_for.
fire_count_at_least() { [ "$(fire_count "$1" 2>/dev/null || echo 0)" -ge "$2" ]; }

# all_fired_tasks_succeeded NAME: every fired slot's task is succeeded in the history.
all_fired_tasks_succeeded() {
    [ "$(q "SELECT count(*) FROM schedule_fires f JOIN schedules s ON s.id = f.schedule_id
             LEFT JOIN tasks t ON t.task_id = f.task_id
            WHERE s.name = '$1' AND t.state IS DISTINCT FROM 'succeeded'" 2>/dev/null)" = 0 ]
}

# contiguous_fires NAME: "ok N" when the fires are every second from the first to
# the last, each once (else why not).
contiguous_fires() {
    fires "$1" | python3 -c '
import sys
slots = [int(l.split()[0]) for l in sys.stdin if l.strip()]
if not slots:
    print("no fires"); sys.exit()
want = list(range(slots[0], slots[-1] + 1, 1000))
missing = sorted(set(want) - set(slots))
dups = len(slots) - len(set(slots))
print("ok %d" % len(slots) if not missing and not dups and len(slots) == len(want)
      else "%d fires, missing %s, duplicates %d" % (len(slots), missing[:10], dups))'
}

# once_each NAME: "ok" when each fired slot's task has exactly one running and
# one succeeded event (it ran once, even if published twice).
once_each() {
    local bad
    bad=$(q "SELECT count(*) FROM schedule_fires f JOIN schedules s ON s.id = f.schedule_id
              WHERE s.name = '$1' AND (
                (SELECT count(*) FROM task_events e WHERE e.task_id = f.task_id AND e.state = 'running') <> 1
                OR (SELECT count(*) FROM task_events e WHERE e.task_id = f.task_id AND e.state = 'succeeded') <> 1)")
    [ "$bad" = 0 ] && echo ok || echo "$bad tasks ran not exactly once"
}
