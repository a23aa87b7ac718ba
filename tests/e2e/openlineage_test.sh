#!/usr/bin/env bash
# OpenLineage: workers send a RunEvent when each attempt starts and when it
# ends (COMPLETE, FAIL, ABORT), with the export's datasets as inputs and
# outputs and the error as a run facet, to an endpoint with a bearer token;
# every event is valid under OpenLineage.json (2-0-2). An endpoint that is
# down delays events, never a task: they arrive once it is back. A worker
# whose endpoint never answers keeps a bounded buffer (the oldest dropped)
# and still finishes its tasks.
source "$(dirname "$0")/lib.sh"
e2e_init openlineage
OL=$E2E_SRC/tests/e2e/openlineage
command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c 'import jsonschema' || {
    echo "python3-jsonschema is needed (deploy/local/install-deps installs it)" >&2
    exit 1
}

events=$E2E_DIR/events.ndjson fail=$E2E_DIR/endpoint-down token="ol-token-$RANDOM$RANDOM"
touch "$events"
/usr/bin/python3 "$OL/receiver.py" "$events" "$fail" "$token" >"$E2E_DIR/receiver.port" 2>>"$E2E_DIR/receiver.log" &
E2E_PIDS+=("$!")
wait_for "the receiver" 10 test -s "$E2E_DIR/receiver.port"
url="http://127.0.0.1:$(cat "$E2E_DIR/receiver.port")/api/v1/lineage"

start_recorder
DATAFLEET_OPENLINEAGE_TOKEN=$token start_worker w1 --concurrency 4 --openlineage-url "$url" \
    --types export
wait_assigned w1
sub() { "$E2E_BIN/datafleet-submit" "$@" | tail -1; }
count_events() { wc -l <"$events"; }

ok=$(sub --type export --connector noop --params \
    '{"source": {"kind": "postgres", "query": "SELECT g FROM generate_series(1, 5) g"}}')
bad=$(sub --type export --connector noop --params '{"fail": "permanent"}')
flaky=$(sub --type export --connector noop --max-attempts 3 \
    --params '{"fail": "retryable", "fail_attempts": 1, "retry_after_ms": 50}')
for t in "$ok" "$bad"; do wait_for "task $t ended" 60 sql_is "SELECT state IN ('succeeded', 'failed') FROM tasks WHERE task_id = '$t'" t; done
task_wait_state "$flaky" succeeded 60
wait_for "8 events (2 + 2 + 2 attempts x 2)" 30 bash -c "[ \$(wc -l <'$events') -ge 8 ]"
summary() {
    python3 - "$events" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs = {}
for ev in evs:
    runs.setdefault(ev["run"]["runId"], []).append(ev)
out = []
for rid, evs_ in runs.items():
    types = "+".join(e["eventType"] for e in evs_)
    last = evs_[-1]
    ins = ",".join(d["namespace"].split("://")[0] + ":" + ("query" if "/query/" in d["name"] else d["name"])
                   for d in last.get("inputs", []))
    outs = ",".join(d["namespace"] + "|" + d["name"] for d in last.get("outputs", []))
    err = last["run"]["facets"].get("errorMessage", {}).get("message", "")[:20]
    out.append("%s %s in=%s out=%s err=%s" % (last["job"]["name"], types, ins, outs, err))
print("\n".join(sorted(out)))
PY
}
summary >"$E2E_DIR/summary.txt"
cat "$E2E_DIR/summary.txt"
check "a START and a COMPLETE for the export, with its input and output" \
    grep -q "export.noop START+COMPLETE in=postgres:query out=noop://noop|target err=$" "$E2E_DIR/summary.txt"
check "a START and a FAIL with the error for the failed task" \
    grep -q "export.noop START+FAIL in= out= err=noop asked to fail" "$E2E_DIR/summary.txt"
check_eq "the retried task: two runs (attempts), one failed, one complete" \
    "$(grep -c "export.noop START+" "$E2E_DIR/summary.txt")" 4
check_eq "every run has one START and one end" \
    "$(python3 -c 'import json, sys, collections
c = collections.Counter(); e = collections.Counter()
for l in open(sys.argv[1]):
    ev = json.loads(l); c[ev["run"]["runId"]] += ev["eventType"] == "START"; e[ev["run"]["runId"]] += ev["eventType"] != "START"
print(all(c[r] == 1 and e[r] == 1 for r in c), len(c))' "$events")" "True 4"
check "every event is valid under OpenLineage.json" /usr/bin/python3 "$OL/validate.py" "$events"
printf '%s\n' '{"eventType": "BEGIN", "eventTime": "now", "run": {"runId": "not-a-uuid"}, "job": {"namespace": "x", "name": "y"}, "producer": "p", "schemaURL": "s"}' >"$E2E_DIR/planted.ndjson"
check "the validator refuses a bad event (self-check)" bash -c "! /usr/bin/python3 '$OL/validate.py' '$E2E_DIR/planted.ndjson' >'$E2E_DIR/planted.out'"
check "the token is in no log" bash -c "! grep -rqF '$token' '$E2E_DIR'/w1.log '$E2E_DIR'/recorder.log"

# ---- the endpoint goes down, then comes back ------------------------------------------
touch "$fail"
before=$(count_events)
late=$(sub --type export --connector noop --params '{"rows": 2}')
task_wait_state "$late" succeeded 60
check_eq "the task succeeds while the endpoint is down" "$(q "SELECT state FROM tasks WHERE task_id = '$late'")" succeeded
sleep 2
check_eq "nothing arrived meanwhile" "$(count_events)" "$before"
rm -f "$fail"
wait_for "the held events arrive once it is back" 60 bash -c "[ \$(wc -l <'$events') -ge $((before + 2)) ]"
check "still valid" /usr/bin/python3 "$OL/validate.py" "$events"

# ---- an endpoint that never answers: a bounded buffer ---------------------------------------
mport=$("$E2E_SRC/tests/free-ports" 1)
dead=$("$E2E_SRC/tests/free-ports" 1)
start_worker w2 --concurrency 4 --openlineage-url "http://127.0.0.1:$dead/api/v1/lineage" \
    --openlineage-buffer 3 --metrics-listen "127.0.0.1:$mport" --types lineage
wait_assigned w2
ids=()
for _ in 1 2 3 4 5; do ids+=("$(sub --type lineage --connector noop --params '{}')"); done
for t in "${ids[@]}"; do task_wait_state "$t" succeeded 60; done
check_eq "its tasks all succeed" "$(q "SELECT count(*) FROM tasks WHERE task_id IN ('$(IFS=,; echo "${ids[*]}" | sed "s/,/','/g")') AND state = 'succeeded' AND worker = 'w2'")" 5
dropped() { curl -sf "http://127.0.0.1:$mport/metrics" | sed -n 's/^datafleet_openlineage_events_total{result="dropped"} \([0-9.e+]*\)$/\1/p'; }
wait_for "events dropped past the buffer" 20 bash -c "[ -n \"\$(curl -sf 'http://127.0.0.1:$mport/metrics' | grep 'datafleet_openlineage_events_total{result=\"dropped\"}')\" ]"
check "10 events for 5 tasks, at most 3 held: at least 6 dropped" \
    python3 -c "import sys; sys.exit(0 if float('$(dropped)') >= 6 else 1)"
e2e_finish
