#!/usr/bin/env bash
# What the deployment files assume of the programs, checked on real
# processes against the real stack: started the way the container image
# starts them (deploy/docker/entrypoint.sh, a secret given as a *_FILE),
# with the metrics listener on every address as the image sets it, a
# worker and a scheduler answer the probes of the Kubernetes manifests
# (/healthz, /readyz) and serve the metrics the alerts read; the worker
# publishes its heartbeat under the id it was given (the pod name in
# Kubernetes, host-instance under systemd); the scheduler takes the cron
# leadership; and both stop on SIGTERM, with exit code 0, well within the
# stop timeouts of the manifests and units (45 s for a worker, 30 s for a
# scheduler).
set -euo pipefail
src=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${DF_BUILD_DIR:-$src/build/dev}
: "${DATAFLEET_KAFKA_BROKERS:?is not set: run the integration tier through tests/run}"
: "${DATAFLEET_REDIS_URL:?is not set: run the integration tier through tests/run}"
: "${DATAFLEET_DATABASE_URL:?is not set: run the integration tier through tests/run}"
entry=$src/deploy/docker/entrypoint.sh
tmp=$(mktemp -d)
pids=()
tag=deploy$((RANDOM))
admin_url=$DATAFLEET_DATABASE_URL
db=it_$tag
cleanup() {
    local rc=$?
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    if [ "$rc" -ne 0 ]; then
        for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "---- $f"; tail -n 15 "$f"; }; done
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
passed=0; failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

psql -q -v ON_ERROR_STOP=1 "$admin_url" -c "CREATE DATABASE $db" >/dev/null
export DATAFLEET_DATABASE_URL=${admin_url%/*}/$db
export DATAFLEET_TOPIC_PREFIX="it.$tag." DATAFLEET_GROUP="it-$tag-workers" DATAFLEET_RECORDER_GROUP="it-$tag-recorder"
read -r worker_port scheduler_port < <("$src/tests/free-ports" 2)
# A keyring of its own, in the format deploy/compose/init-secrets and the
# Kubernetes example make (base64 of 32 bytes), read from a file.
(umask 077 && head -c 32 /dev/urandom | base64 >"$tmp/secret-key")
export DATAFLEET_SECRET_KEY_FILE=$tmp/secret-key
unset DATAFLEET_SECRET_KEY

# The Redis URL reaches the worker only through the entry point's
# DATAFLEET_REDIS_URL_FILE, as a Secret file would.
printf '%s\n' "$DATAFLEET_REDIS_URL" >"$tmp/redis_url"
redis_url=$DATAFLEET_REDIS_URL
worker_id="datafleet-worker-export-7d9c5-x2kqp"
env -u DATAFLEET_REDIS_URL DATAFLEET_REDIS_URL_FILE="$tmp/redis_url" \
    DATAFLEET_METRICS_LISTEN="0.0.0.0:$worker_port" DATAFLEET_TYPES=export DATAFLEET_WORKER_ID="$worker_id" \
    PATH="$bin:$PATH" sh "$entry" datafleet-worker >"$tmp/worker.log" 2>&1 &
worker_pid=$!
pids+=("$worker_pid")
DATAFLEET_METRICS_LISTEN="0.0.0.0:$scheduler_port" DATAFLEET_ROLES=cron,recorder \
    PATH="$bin:$PATH" sh "$entry" datafleet-scheduler run >"$tmp/scheduler.log" 2>&1 &
scheduler_pid=$!
pids+=("$scheduler_pid")

# wait_for SECONDS COMMAND...: until the command succeeds.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}
probe() { curl -fsS -o /dev/null "http://127.0.0.1:$1$2"; }
metric() { # PORT REGEX: (the whole page first: grep -q on a pipe would cut curl off)
    local page
    page=$(curl -fsS "http://127.0.0.1:$1/metrics") && grep -q "$2" <<<"$page"
}

# listening PORT: a socket listens on every IPv4 address (0.0.0.0) at PORT.
listening() { grep -qi "^ *[0-9]*: 00000000:$(printf '%04X' "$1") 00000000:0000 0A " /proc/net/tcp; }
for name in worker scheduler; do
    port_var=${name}_port
    port=${!port_var}
    if wait_for 30 probe "$port" /healthz; then ok; else bad "$name: /healthz on port $port"; fi
    if listening "$port"; then ok; else bad "$name: metrics listener on 0.0.0.0:$port (every address)"; fi
    if probe "$port" /readyz; then ok; else bad "$name: /readyz"; fi
    if metric "$port" "^datafleet_build_info{program=\"datafleet-$name\""; then ok
    else bad "$name: datafleet_build_info on /metrics"; fi
done
# The series the alerts read, as far as these processes serve them.
if wait_for 30 metric "$scheduler_port" '^datafleet_scheduler_leader 1$'; then ok
else bad "scheduler: datafleet_scheduler_leader 1 (the only cron role leads)"; fi
heartbeat() { [ -n "$(redis-cli -u "$redis_url" ZSCORE df:workers "$worker_id")" ]; }
if wait_for 30 heartbeat; then ok
else bad "worker: heartbeat under its given id $worker_id in df:workers"; fi
# One task through the fleet, then the worker reports the lag of its
# partitions (librdkafka statistics, every 5 s).
if "$bin/datafleet-submit" --type export --connector noop --params '{"rows": 1}' --wait --wait-timeout 60s \
    >"$tmp/submit.log" 2>&1; then ok; else bad "a task through the worker and the recorder"; fi
if wait_for 30 metric "$worker_port" "^datafleet_kafka_consumer_lag{group=\"it-$tag-workers.export\""; then ok
else bad "worker: datafleet_kafka_consumer_lag of its group GROUP.export (KEDA's consumerGroup)"; fi

# SIGTERM: both stop cleanly within the stop timeouts.
for name in worker scheduler; do
    pid_var=${name}_pid
    pid=${!pid_var}
    start=$SECONDS
    kill -TERM "$pid" 2>/dev/null || true
    set +e
    wait "$pid"; rc=$?
    set -e
    took=$((SECONDS - start))
    limit=30
    [ "$name" = worker ] && limit=45
    if [ "$rc" -eq 0 ] && [ "$took" -lt "$limit" ]; then ok; echo "$name: stopped on SIGTERM in ${took}s (exit 0)"
    else bad "$name: SIGTERM -> exit $rc after ${took}s (limit ${limit}s)"; fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
