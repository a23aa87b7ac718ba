#!/usr/bin/env bash
# A task is followed across processes and platforms by its W3C trace:
#   1. the traceparent given to datafleet-submit travels in the Kafka headers
#      of the task and of its events; the worker's log lines of the task carry
#      its trace_id; the source API the export reads receives a child span of
#      the same trace (same trace id, another parent id);
#   2. a submit without one starts a trace of its own per task;
#   3. a retry re-published by the scheduler after its backoff continues the
#      trace of the run that failed (delayed_tasks keeps the traceparent);
#   4. a malformed --traceparent is refused (exit 2).
source "$(dirname "$0")/lib.sh"
e2e_init trace

TP=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
TRACE=4bf92f3577b34da6a3ce929d0e0e4736

# A JSON API that records the traceparent of each request it serves.
read -r API_PORT < <("$E2E_SRC/tests/free-ports" 1)
python3 - "$API_PORT" "$E2E_DIR/api-headers.log" >"$E2E_DIR/api.log" 2>&1 <<'PY' &
import http.server, json, sys
port, log = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, "a") as f:
            f.write((self.headers.get("traceparent") or "-") + "\n")
        body = json.dumps([{"id": i, "name": "row%d" % i} for i in range(5)]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
E2E_PIDS+=("$!")

"$E2E_BIN/datafleet-scheduler" --roles cron,recorder --batch-wait 50ms --tick 100ms run \
    >>"$E2E_DIR/scheduler.log" 2>&1 &
E2E_PIDS+=("$!")
start_worker w1 --concurrency 2 --inline-retry-max 200ms --log-level debug
wait_assigned w1
wait_for "the source API is up" 20 curl -fs "http://127.0.0.1:$API_PORT/" -o /dev/null

# 1. A traced export from the API.
id=$("$E2E_BIN/datafleet-submit" --traceparent "$TP" --type export --connector noop \
    --params "{\"source\":{\"kind\":\"http_json\",\"url\":\"http://127.0.0.1:$API_PORT/rows\"},\"target\":{\"table\":\"t\"}}")
wait_for "the export ended" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$id'" succeeded
check_eq "rows read through the API" "$(q "SELECT result->>'rows_written' FROM tasks WHERE task_id = '$id'")" 5

headers_of() { # topic key -> the traceparent header of each message with that key
    kcat -b "$DATAFLEET_KAFKA_BROKERS" -C -t "$1" -e -q -f '%k %h\n' 2>/dev/null |
        awk -v k="$2" '$1 == k' | grep -o 'traceparent=[0-9a-f-]*' | cut -d= -f2 | sort -u
}
check_eq "the task message carries the traceparent" \
    "$(headers_of "${DATAFLEET_TOPIC_PREFIX}tasks.export" "$id")" "$TP"
check_eq "every event of the task carries it" \
    "$(headers_of "${DATAFLEET_TOPIC_PREFIX}events" "$id")" "$TP"
lines=$(grep -c "\"task_id\":\"$id\"" "$E2E_DIR/w1.log" || true)
traced=$(grep "\"task_id\":\"$id\"" "$E2E_DIR/w1.log" | grep -c "\"trace_id\":\"$TRACE\"" || true)
check "the worker logged the task" test "$lines" -gt 0
check_eq "every worker log line of the task has its trace_id" "$traced" "$lines"
sent=$(sort -u "$E2E_DIR/api-headers.log")
check "the API got a traceparent of the same trace" grep -q "^00-$TRACE-[0-9a-f]\{16\}-01$" <<<"$sent"
check "as a child span (another parent id)" test "$sent" != "$TP"

# 2. No traceparent given: one trace per task, valid.
ids=$(printf '{"type":"export","connector":"noop","params":{}}\n{"type":"export","connector":"noop","params":{}}\n' |
    "$E2E_BIN/datafleet-submit" --ndjson -)
a=$(sed -n 1p <<<"$ids")
b=$(sed -n 2p <<<"$ids")
ta=$(headers_of "${DATAFLEET_TOPIC_PREFIX}tasks.export" "$a")
tb=$(headers_of "${DATAFLEET_TOPIC_PREFIX}tasks.export" "$b")
check "a submit without one starts a trace" grep -q '^00-[0-9a-f]\{32\}-[0-9a-f]\{16\}-01$' <<<"$ta"
check "one per task" test "${ta:3:32}" != "${tb:3:32}"

# 3. A retry published by the scheduler after a backoff keeps the trace.
rid=$("$E2E_BIN/datafleet-submit" --traceparent "$TP" --type export --connector noop \
    --params '{"fail":"retryable","fail_attempts":1,"retry_after_ms":1500}')
wait_for "the retry ran" 60 sql_is "SELECT state || attempt FROM tasks WHERE task_id = '$rid'" succeeded2
check_eq "both attempts' messages carry the task's trace" \
    "$(headers_of "${DATAFLEET_TOPIC_PREFIX}tasks.export" "$rid" | cut -c4-35 | sort -u)" "$TRACE"
check_eq "two task messages (the submit and the re-publish)" \
    "$(kcat -b "$DATAFLEET_KAFKA_BROKERS" -C -t "${DATAFLEET_TOPIC_PREFIX}tasks.export" -e -q -f '%k\n' 2>/dev/null | grep -c "^$rid$")" 2

# 4. A malformed traceparent is refused.
set +e
"$E2E_BIN/datafleet-submit" --traceparent "00-XYZ" --type export --connector noop --dry-run \
    >/dev/null 2>"$E2E_DIR/bad.err"
rc=$?
set -e
check_eq "a malformed --traceparent exits 2" "$rc" 2
check "and says what was expected" grep -q "expected a W3C traceparent" "$E2E_DIR/bad.err"
e2e_finish
