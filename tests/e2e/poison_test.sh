#!/usr/bin/env bash
# Poison messages (d): not JSON, schema-invalid, an unknown connector, an
# unknown type and a 2 MB body land in the DLQ with their reasons; the fleet
# keeps running and every valid task still finishes.
source "$(dirname "$0")/lib.sh"
e2e_init poison
export DATAFLEET_PARTITIONS=2

start_recorder
start_worker w1 --concurrency 4
# The topics exist once the worker has started.
topic=${DATAFLEET_TOPIC_PREFIX}tasks.export
wait_for "worker joined" 60 grep -q "rebalance: assigned" "$E2E_DIR/w1.log"

produce() { # key body-file
    kcat -P -b "$DATAFLEET_KAFKA_BROKERS" -t "$topic" -k "$1" -H schema=datafleet.task/v1 \
        -X message.max.bytes=4000000 "$2"
}
printf 'this is not json' >"$E2E_DIR/p1"
printf '{"task_id":"01J0000000000000000000BAD1","type":"export","connector":"noop","params":{},"submitted_at":"2026-01-01T00:00:00Z","extra":1}' >"$E2E_DIR/p2"
printf '{"task_id":"01J0000000000000000000BAD2","type":"export","connector":"nosuch","params":{},"submitted_at":"2026-01-01T00:00:00Z"}' >"$E2E_DIR/p3"
printf '{"task_id":"01J0000000000000000000BAD3","type":"frobnicate","connector":"noop","params":{},"submitted_at":"2026-01-01T00:00:00Z"}' >"$E2E_DIR/p4"
python3 -c 'import sys; sys.stdout.write("{\"pad\":\"" + "x" * 2097152 + "\"}")' >"$E2E_DIR/p5"

noop_tasks 50 '{}' >"$E2E_DIR/before.ndjson"
submit_ndjson "$E2E_DIR/before.ndjson"
for i in 1 2 3 4 5; do produce "poison-$i" "$E2E_DIR/p$i"; done
noop_tasks 50 '{}' >"$E2E_DIR/after.ndjson"
submit_ndjson "$E2E_DIR/after.ndjson"

wait_for "valid tasks succeeded" 120 sql_is "SELECT count(*) FROM tasks WHERE state = 'succeeded'" 100
kcat -C -b "$DATAFLEET_KAFKA_BROKERS" -t "${DATAFLEET_TOPIC_PREFIX}dlq" -o beginning -e -q \
    -X fetch.message.max.bytes=4000000 -f '%k|%h\n' >"$E2E_DIR/dlq.txt" 2>/dev/null || true
wait_for "5 DLQ messages" 30 bash -c "kcat -C -b '$DATAFLEET_KAFKA_BROKERS' -t '${DATAFLEET_TOPIC_PREFIX}dlq' -o beginning -e -q -f '%k|%h\n' > '$E2E_DIR/dlq.txt' 2>/dev/null; [ \$(grep -c '^poison' '$E2E_DIR/dlq.txt') -eq 5 ]"
check "not JSON: invalid_json" grep -q '^poison-1|.*dlq_reason=invalid_json' "$E2E_DIR/dlq.txt"
check "unknown field: schema_invalid at /extra" grep -q '^poison-2|.*dlq_reason=schema_invalid.*dlq_field=/extra' "$E2E_DIR/dlq.txt"
check "unknown connector" grep -q '^poison-3|.*dlq_reason=unknown_connector' "$E2E_DIR/dlq.txt"
check "unknown type: schema_invalid at /type" grep -q '^poison-4|.*dlq_reason=schema_invalid.*dlq_field=/type' "$E2E_DIR/dlq.txt"
check "2 MB body: message_too_large" grep -q '^poison-5|.*dlq_reason=message_too_large' "$E2E_DIR/dlq.txt"
wait_for "poison tasks with ids recorded dead" 30 \
    sql_is "SELECT count(*) FROM tasks WHERE state = 'dead'" 3
check_eq "dead tasks carry the reason" \
    "$(q "SELECT error_code FROM tasks WHERE task_id = '01J0000000000000000000BAD2'")" unknown_connector
check "the worker is still alive" kill -0 "$PID_w1"
e2e_finish
