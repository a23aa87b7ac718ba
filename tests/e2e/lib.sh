#!/usr/bin/env bash
# Shared helpers of the end-to-end tests: each test runs whole datafleet
# processes (workers, the recorder) against the real stack that tests/run
# started, in its own namespace: a topic prefix, a consumer group and a
# scratch PostgreSQL database of its own, so tests never see each other's
# tasks. Everything a test starts is stopped by an EXIT trap, whatever
# happens.
#
# Usage in a test:  source "$(dirname "$0")/lib.sh"; e2e_init name; ...; e2e_finish
set -euo pipefail

E2E_SRC=${DF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
E2E_BIN=${DF_BUILD_DIR:-$E2E_SRC/build/dev}
E2E_PIDS=()
E2E_PASSED=0
E2E_FAILED=0
E2E_FAILURES=() # failed checks and timeouts, printed again last (after the logs' tails)
E2E_ABORT=""    # the command that stopped the test (set -e), if one did

: "${DATAFLEET_KAFKA_BROKERS:?is not set: run the e2e tier through tests/run}"
: "${DATAFLEET_REDIS_URL:?is not set: run the e2e tier through tests/run}"
: "${DATAFLEET_DATABASE_URL:?is not set: run the e2e tier through tests/run}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# e2e_init NAME: a private namespace for this test.
e2e_init() {
    E2E_NAME=$1
    local tag
    tag="$(printf '%s%04x' "$1" $((RANDOM)))"
    tag=${tag//[^a-z0-9]/}
    E2E_DIR=$E2E_BIN/e2e-logs/$tag
    rm -rf "$E2E_DIR"
    mkdir -p "$E2E_DIR"
    export DATAFLEET_TOPIC_PREFIX="e2e.$tag."
    export DATAFLEET_GROUP="e2e-$tag-workers"
    export DATAFLEET_RECORDER_GROUP="e2e-$tag-recorder"
    E2E_ADMIN_URL=$DATAFLEET_DATABASE_URL
    E2E_DB="e2e_$tag"
    psql -q -v ON_ERROR_STOP=1 "$E2E_ADMIN_URL" -c "CREATE DATABASE $E2E_DB" >/dev/null
    export DATAFLEET_DATABASE_URL="${E2E_ADMIN_URL%/*}/$E2E_DB"
    trap e2e_cleanup EXIT
    trap 'E2E_ABORT="line $LINENO: $BASH_COMMAND (exit $?)"' ERR
    trap 'exit 130' INT TERM
    log "test $E2E_NAME: prefix $DATAFLEET_TOPIC_PREFIX, database $E2E_DB, logs $E2E_DIR"
}

e2e_cleanup() {
    local rc=$?
    for pid in "${E2E_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in "${E2E_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "${E2E_DB:-}" ]; then
        psql -q "$E2E_ADMIN_URL" -c "DROP DATABASE IF EXISTS $E2E_DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    if [ "$rc" -ne 0 ] && [ -n "${E2E_DIR:-}" ]; then
        for f in "$E2E_DIR"/*.log; do
            [ -f "$f" ] || continue
            echo "---- last lines of $f"
            tail -n 15 "$f"
        done
        # Last, so that a cut output still says why the test failed.
        echo "---- $E2E_NAME failed: $E2E_PASSED passed, $E2E_FAILED failed"
        [ -z "$E2E_ABORT" ] || echo "stopped by a failed command at $E2E_ABORT"
        for f in "${E2E_FAILURES[@]}"; do echo "$f"; done
    fi
    exit "$rc"
}

# start_worker ID [options...]: a worker in the background; its pid in $!.
start_worker() {
    local id=$1
    shift
    "$E2E_BIN/datafleet-worker" --worker-id "$id" --heartbeat 500ms --lease-ttl 3s \
        --kafka-props "session.timeout.ms=6000;heartbeat.interval.ms=500" "$@" \
        >>"$E2E_DIR/$id.log" 2>&1 &
    E2E_PIDS+=("$!")
    eval "PID_${id//-/_}=$!"
}

# wait_assigned ID...: each worker holds task partitions (its log says so).
wait_assigned() {
    local id
    for id in "$@"; do
        wait_for "worker $id assigned partitions" 60 grep -q "rebalance: assigned" "$E2E_DIR/$id.log"
    done
}

# start_recorder [ID]: the scheduler's recorder role.
start_recorder() {
    local id=${1:-recorder}
    "$E2E_BIN/datafleet-scheduler" --roles recorder --batch-wait 50ms run >>"$E2E_DIR/$id.log" 2>&1 &
    E2E_PIDS+=("$!")
    eval "PID_${id//-/_}=$!"
}

# stack_ctl ARGS...: deploy/local/stack on the suite's private stack (the
# tests that stop and start a part of it run alone: RUN_SERIAL), logging to
# stack.log; no package checks.
stack_ctl() {
    : "${DATAFLEET_HOME:?is not set: run through tests/run (the test stops and starts a part of the stack)}"
    DATAFLEET_SKIP_DEPS=1 "$E2E_SRC/deploy/local/stack" "$@" >>"$E2E_DIR/stack.log" 2>&1
}

# q SQL: one value from the test's database.
q() { psql -qtAX -v ON_ERROR_STOP=1 "$DATAFLEET_DATABASE_URL" -c "$1"; }

rcli() {
    local url=${DATAFLEET_REDIS_URL#redis://}
    local hostport=${url%%/*}
    redis-cli -h "${hostport%:*}" -p "${hostport##*:}" "$@"
}

# noop_tasks N PARAMS_JSON [extra JSON fields]: N task lines of NDJSON.
noop_tasks() {
    local n=$1 params=$2 extra=${3:-}
    python3 - "$n" "$params" "$extra" <<'PY'
import json, sys
n, params, extra = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
base = {"type": "export", "connector": "noop", "params": params}
if extra:
    base.update(json.loads(extra))
line = json.dumps(base, separators=(",", ":"))
sys.stdout.write((line + "\n") * n)
PY
}

# submit_ndjson FILE: submit, ids to FILE.ids; fails unless all accepted.
submit_ndjson() {
    "$E2E_BIN/datafleet-submit" --ndjson "$1" >"$1.ids" 2>>"$E2E_DIR/submit.log"
}

# wait_for DESCRIPTION TIMEOUT_S COMMAND...: poll until COMMAND succeeds.
wait_for() {
    local what=$1 timeout=$2
    shift 2
    local end=$((SECONDS + timeout))
    until "$@"; do
        if [ "$SECONDS" -ge "$end" ]; then
            log "timed out after ${timeout}s waiting for: $what"
            E2E_FAILURES+=("timed out after ${timeout}s waiting for: $what")
            return 1
        fi
        sleep 0.5
    done
}

# sql_is SQL EXPECTED: for wait_for.
sql_is() { [ "$(q "$1" 2>/dev/null)" = "$2" ]; }

# check DESCRIPTION COMMAND...: one assertion.
check() {
    local what=$1
    shift
    if "$@"; then
        E2E_PASSED=$((E2E_PASSED + 1))
        log "ok: $what"
    else
        E2E_FAILED=$((E2E_FAILED + 1))
        E2E_FAILURES+=("FAILED: $what")
        log "FAILED: $what"
    fi
}

# check_eq DESCRIPTION ACTUAL EXPECTED
check_eq() {
    if [ "$2" = "$3" ]; then
        E2E_PASSED=$((E2E_PASSED + 1))
        log "ok: $1 ($2)"
    else
        E2E_FAILED=$((E2E_FAILED + 1))
        E2E_FAILURES+=("FAILED: $1: got '$2', expected '$3'")
        log "FAILED: $1: got '$2', expected '$3'"
    fi
}

e2e_finish() {
    trap - ERR # its own status is the verdict, not a command that stopped the test
    echo "$E2E_PASSED passed, $E2E_FAILED failed"
    [ "$E2E_FAILED" -eq 0 ] && [ "$E2E_PASSED" -gt 0 ]
}

# redis_count_state STATE IDS_FILE: how many of the tasks have that state in
# Redis (one EVAL over all their keys).
redis_count_state() {
    local state=$1 file=$2
    local -a keys
    mapfile -t keys < <(sed 's/^/df:task:/' "$file")
    rcli EVAL "local n = 0 for _, k in ipairs(KEYS) do if redis.call('HGET', k, 'state') == ARGV[1] then n = n + 1 end end return n" \
        "${#keys[@]}" "${keys[@]}" "$state"
}

# ---- the sandbox platform (tests/fakes/sandbox, docs/SANDBOX.md) ------------
# What the connector tests share; powerbi_lib.sh and sheets_lib.sh add each
# vendor's accounts, connectors and views of what arrived.

# sandbox_start MINUTE_MS [FLAGS...]: a datafleet-sandbox of the test's own
# (--port 0, a vendor "minute" of MINUTE_MS), logging to sandbox.log; sets
# SANDBOX_URL and PID_sandbox.
sandbox_start() {
    local minute=$1 out=$E2E_DIR/sandbox.out i
    shift
    "$E2E_BIN/tools/datafleet-sandbox" --port 0 --minute-ms "$minute" "$@" \
        >"$out" 2>>"$E2E_DIR/sandbox.log" &
    E2E_PIDS+=("$!")
    PID_sandbox=$!
    for ((i = 0; i < 200; i++)); do
        [ -s "$out" ] && break
        sleep 0.05
    done
    SANDBOX_URL=$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())["listening"])' "$out")
}

# sandbox_post PATH JSON: POST to the sandbox, print the answer; sandbox_get PATH.
sandbox_post() { curl -sS -f -X POST "$SANDBOX_URL$1" -H 'Content-Type: application/json' --data-binary "$2"; }
sandbox_get() { curl -sS -f "$SANDBOX_URL$1"; }

# sandbox_fault JSON: add a fault rule; sandbox_faults_clear: remove them all.
sandbox_fault() { sandbox_post /_sandbox/faults "$1" >/dev/null; }
sandbox_faults_clear() { curl -sS -f -X DELETE "$SANDBOX_URL/_sandbox/faults" >/dev/null; }

# sandbox_requests ROUTE EXPR: a Python expression over r, the route's
# statistics ({"total", "by_status", "windows", "max_per_window"}; {} when
# the route had no call).
sandbox_requests() {
    sandbox_get "/_sandbox/requests?route=$1" | python3 -c 'import json, sys
r = json.load(sys.stdin)["routes"].get(sys.argv[1], {})
print(eval(sys.argv[2]))' "$1" "$2"
}

# connector_add FILE NAME KIND CONFIG_JSON SECRETS_JSON [LIMITS_JSON]: append
# a connector to the connectors file FILE (a JSON array; created if missing).
connector_add() {
    python3 - "$@" <<'PY'
import json, os, sys
file, name, kind, config, secrets = sys.argv[1:6]
limits = sys.argv[6] if len(sys.argv) > 6 else ""
conns = json.load(open(file)) if os.path.exists(file) else []
conn = {"name": name, "kind": kind, "config": json.loads(config), "secrets": json.loads(secrets)}
if limits:
    conn["limits"] = json.loads(limits)
conns.append(conn)
json.dump(conns, open(file, "w"), indent=1)
PY
}

# submit_export CONNECTOR PARAMS_JSON [SUBMIT OPTIONS...]: submit an export
# (--connector NAME among the options wins); prints the task id.
submit_export() {
    local connector=$1 params=$2
    shift 2
    "$E2E_BIN/datafleet-submit" --type export --connector "$connector" --params "$params" "$@" | tail -1
}

# task_wait_state TASK_ID STATE [TIMEOUT_S]: the task's history row reaches STATE.
task_wait_state() {
    wait_for "task $1 $2" "${3:-90}" sql_is "SELECT state FROM tasks WHERE task_id = '$1'" "$2"
}
