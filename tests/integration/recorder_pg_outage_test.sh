#!/usr/bin/env bash
# recorder_pg_outage_test: the scheduler's recorder role (the real
# datafleet-scheduler binary) through a PostgreSQL outage. It records a
# first wave of events; then the stack's PostgreSQL is stopped (pg_ctl stop
# -m fast) for 10 s while a second wave and duplicates of the first are
# produced; then it is started again. Every event must land exactly once,
# every task end succeeded, the recorder must log one warning for the
# outage and one info line when it is over, and stop cleanly on SIGTERM.
#
# Needs the stack tests/run starts (DATAFLEET_HOME and the client
# variables): it stops and restarts that PostgreSQL, so it must not run in
# parallel with other tests using it. PostgreSQL is started again whatever
# happens (trap).
set -euo pipefail
cd "${DF_SOURCE_DIR:-$(dirname "$0")/../..}"

PROG=recorder_pg_outage_test
TASKS=200      # per wave; 3 events each
OUTAGE_S=10
WAIT_S=90

fail() {
  printf '%s: FAIL: %s\n' "$PROG" "$*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

for v in DATAFLEET_HOME DATAFLEET_KAFKA_BROKERS DATAFLEET_REDIS_URL DATAFLEET_DATABASE_URL; do
  [[ -n "${!v:-}" ]] || fail "$v is not set: run the integration tier through tests/run"
done
STACK=deploy/local/stack
"$STACK" status >/dev/null || fail "the stack of DATAFLEET_HOME=$DATAFLEET_HOME is not running and ready ('$STACK status')"
PG_BIN=${DATAFLEET_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DATA=$DATAFLEET_HOME/postgres/data     # deploy/local/stack's layout
PG_LOG=$DATAFLEET_HOME/postgres/log/postgres.log
[[ -f "$PG_DATA/postmaster.pid" ]] || fail "no running PostgreSQL in $PG_DATA"
SCHEDULER=${DF_BUILD_DIR:-build/dev}/datafleet-scheduler
[[ -x "$SCHEDULER" ]] || fail "$SCHEDULER not built"
command -v kcat >/dev/null || fail "kcat not found (deploy/local/install-deps)"
[[ "$DATAFLEET_DATABASE_URL" == postgresql://*/* && "$DATAFLEET_DATABASE_URL" != *\?* ]] ||
  fail "DATAFLEET_DATABASE_URL is not a postgresql://.../db URL without parameters"

ID=$(printf '%07d' "$$")
DB=df_outage_$$
DB_URL=${DATAFLEET_DATABASE_URL%/*}/$DB
PREFIX=ro$$.
TOPIC=${PREFIX}events
REDIS_URL=${DATAFLEET_REDIS_URL%/*}/10 # a db of its own: flushed at the end
WORK=$(mktemp -d)
REC_LOG=$WORK/recorder.log
RECORDER=""
PG_STOPPED=0

as_pg() { if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi; }

# Close inherited descriptors above 2, so that the PostgreSQL server started
# from here holds no pipe of ctest's (ctest would wait for it).
close_extra_fds() {
  local fd n
  for fd in /proc/"$BASHPID"/fd/*; do
    n=${fd##*/}
    if [[ "$n" =~ ^[0-9]+$ ]] && ((n > 2)); then eval "exec $n>&-" 2>/dev/null || true; fi
  done
}

pg_start() {
  (close_extra_fds; as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -s -w -t 60 \
    </dev/null >/dev/null 2>&1)
}

cleanup() {
  local rc=$?
  if ((PG_STOPPED)); then
    pg_start || echo "$PROG: could not start PostgreSQL again: see $PG_LOG" >&2
  fi
  if [[ -n "$RECORDER" ]] && kill -0 "$RECORDER" 2>/dev/null; then
    kill -TERM "$RECORDER" 2>/dev/null || true
    wait "$RECORDER" 2>/dev/null || true
  fi
  psql -X -q "$DATAFLEET_DATABASE_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
    >/dev/null 2>&1 || true
  redis-cli -u "$REDIS_URL" FLUSHDB >/dev/null 2>&1 || true
  if ((rc != 0)) && [[ -f "$REC_LOG" ]]; then
    echo "---- recorder warnings and errors ----" >&2
    grep -E '"level":"(warn|error)"' "$REC_LOG" | tail -n 30 >&2 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

sql() { psql -X -q -t -A "$DB_URL" -c "$1"; }

wait_sql() { # SQL WANT
  local got="" i
  for ((i = 0; i < WAIT_S * 5; i++)); do
    got=$(sql "$1" 2>/dev/null || true)
    [[ "$got" == "$2" ]] && return 0
    sleep 0.2
  done
  echo "$got"
  return 1
}

# Event lines "key|json" for tasks [FROM, FROM+TASKS): queued, running,
# succeeded, one second apart per task.
events() { # FROM
  local i k t at ms state task
  local base=$(($(date +%s) - 3600))
  for ((i = $1; i < $1 + TASKS; i++)); do
    task=$(printf '01HT%sT%014d' "$ID" "$i")
    for k in 0 1 2; do
      case $k in 0) state=queued ;; 1) state=running ;; 2) state=succeeded ;; esac
      t=$((base + i))
      ms=$((k * 100))
      TZ=UTC printf -v at '%(%Y-%m-%dT%H:%M:%S)T' "$t"
      printf '%s|{"event_id":"01HT%sE%014d","task_id":"%s","attempt":1,"state":"%s","at":"%s.%03dZ","worker":"outage-test","type":"export","connector":"noop"}\n' \
        "$task" "$ID" $((i * 3 + k)) "$task" "$state" "$at" "$ms"
    done
  done
}

produce() { kcat -b "$DATAFLEET_KAFKA_BROKERS" -P -t "$TOPIC" -K '|' -H schema=datafleet.event/v1; }

t_start=$SECONDS
psql -X -q "$DATAFLEET_DATABASE_URL" -c "CREATE DATABASE $DB" >/dev/null ||
  fail "cannot create database $DB (the datafleet role needs CREATEDB)"

DATAFLEET_DATABASE_URL=$DB_URL DATAFLEET_REDIS_URL=$REDIS_URL \
  DATAFLEET_TOPIC_PREFIX=$PREFIX DATAFLEET_PARTITIONS=3 DATAFLEET_RECORDER_GROUP=ro$$-recorder \
  DATAFLEET_LOG_LEVEL=info "$SCHEDULER" run --roles recorder 2>"$REC_LOG" &
RECORDER=$!

for ((i = 0; i < 300; i++)); do
  kcat -b "$DATAFLEET_KAFKA_BROKERS" -L -t "$TOPIC" 2>/dev/null | grep -q 'with 3 partitions' && break
  kill -0 "$RECORDER" 2>/dev/null || fail "the recorder exited at start"
  sleep 0.2
done
kcat -b "$DATAFLEET_KAFKA_BROKERS" -L -t "$TOPIC" 2>/dev/null | grep -q 'with 3 partitions' ||
  fail "the recorder did not create $TOPIC"

events 0 >"$WORK/wave1"
events "$TASKS" >"$WORK/wave2"

# Wave 1, recorded normally.
produce <"$WORK/wave1"
got=$(wait_sql "SELECT count(*) FROM task_events" $((TASKS * 3))) ||
  fail "wave 1: $got events recorded, expected $((TASKS * 3))"
echo "$PROG: wave 1 recorded ($((TASKS * 3)) events) after $((SECONDS - t_start)) s"

# The outage: stop PostgreSQL; while it is down, produce wave 2 (in two
# parts) and duplicates of wave 1; start it again after OUTAGE_S seconds.
PG_STOPPED=1
as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -s -w -t 60 >/dev/null ||
  fail "pg_ctl stop failed"
t_down=$SECONDS
head -n "$TASKS" "$WORK/wave2" | produce
sleep 3
tail -n +$((TASKS + 1)) "$WORK/wave2" | produce
head -n 150 "$WORK/wave1" | produce # at-least-once delivery: the same messages again
while ((SECONDS - t_down < OUTAGE_S)); do sleep 0.5; done
kill -0 "$RECORDER" 2>/dev/null || fail "the recorder exited during the outage"
pg_start || fail "pg_ctl start failed (see $PG_LOG)"
PG_STOPPED=0
echo "$PROG: PostgreSQL was down for $((SECONDS - t_down)) s"

got=$(wait_sql "SELECT count(*) FROM task_events" $((TASKS * 6))) ||
  fail "after the outage: $got events recorded, expected $((TASKS * 6))"
echo "$PROG: all $((TASKS * 6)) events recorded $((SECONDS - t_down)) s after the stop"
sleep 1 # duplicates still in flight would show now
got=$(sql "SELECT count(*) || '/' || count(DISTINCT event_id) FROM task_events")
[[ "$got" == "$((TASKS * 6))/$((TASKS * 6))" ]] || fail "events/distinct ids: $got"
got=$(sql "SELECT count(*) FILTER (WHERE state = 'succeeded') || '/' || count(*) FROM tasks")
[[ "$got" == "$((TASKS * 2))/$((TASKS * 2))" ]] || fail "succeeded/all tasks: $got"
got=$(sql "SELECT count(*) FROM task_events WHERE event_id NOT LIKE '01HT${ID}E%'")
[[ "$got" == 0 ]] || fail "$got unexpected events"

warnings=$(grep -c 'PostgreSQL unavailable' "$REC_LOG" || true)
[[ "$warnings" == 1 ]] || fail "expected one outage warning, got $warnings"
grep -q 'PostgreSQL is back after a [0-9]* ms outage' "$REC_LOG" ||
  fail "no recovery line in the recorder's log"
grep -o 'PostgreSQL is back after a [0-9]* ms outage' "$REC_LOG" | sed "s/^/$PROG: recorder: /"

kill -TERM "$RECORDER"
rc=0
wait "$RECORDER" || rc=$?
RECORDER=""
[[ "$rc" == 0 ]] || fail "the recorder exited with status $rc after SIGTERM"

echo "$PROG: passed in $((SECONDS - t_start)) s"
echo "1 passed, 0 failed"
