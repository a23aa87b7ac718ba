#!/usr/bin/env bash
# powerbi refresh and lineage tasks against the sandbox, polled through the
# scheduler (--inline-retry-max 300ms), two workers:
#   - a refresh succeeds with the notify option it asked for;
#   - a refresh that fails on Power BI fails the task with Power BI's
#     serviceExceptionJson (errorCode and errorDescription);
#   - two tasks on one dataset make ONE platform refresh: both succeed,
#     the second's result names the first (coalesced_into);
#   - 5xx on the refresh history while polling: the next attempt resumes
#     the same refresh (one POST); a worker killed mid-poll: another one
#     resumes it (one POST);
#   - the deadline passes while it polls: cancelled, deadline_exceeded;
#   - 429 with a long Retry-After while polling: a durable retry, one POST;
#   - a refresh that stays queued on Power BI (Unknown, no attempt) fails
#     after pending_timeout_ms with refresh_pending_timeout;
#   - the scanner lineage task's graph equals the sandbox's fixture exactly
#     (in result.lineage; and in lineage_nodes/lineage_edges once the
#     recorder merges lineage there).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/delayed_lib.sh"
source "$(dirname "$0")/powerbi_lib.sh"
e2e_init pbirefresh

LAB=1ab00000-0000-4000-8000-0000000000aa
WS_SALES=5a1e5000-0000-4000-8000-000000000001
WS_FIN=f1a4ce00-0000-4000-8000-000000000002
conns=$E2E_DIR/connectors.json

pbi_start_sandbox
pbi_connectors "$conns" pbi PBI_SECRET \
    '{"refresh_poll_ms": 400, "refresh_poll_max_ms": 1500, "pending_timeout_ms": 3000, "scan_poll_ms": 300}'
python3 - "$conns" <<'PY'
import json, sys
conns = json.load(open(sys.argv[1]))
conns[0]["retry"] = {"base_ms": 200, "cap_ms": 1000, "by_type": {"refresh": {"base_ms": 200, "cap_ms": 1000, "max_attempts": 5}}}
json.dump(conns, open(sys.argv[1], "w"))
PY
start_scheduler
start_worker w1 --concurrency 2 --inline-retry-max 300ms --connectors "$conns"
start_worker w2 --concurrency 2 --inline-retry-max 300ms --connectors "$conns"
wait_assigned w1 w2

# refreshable NAME BEHAVIOUR_JSON: a refreshable dataset in the LAB
# workspace; prints its id.
refreshable() {
    pbi_post /_sandbox/powerbi/refreshables \
        "$(python3 -c 'import json, sys
b = json.loads(sys.argv[3]); b.update({"name": sys.argv[1], "group_id": sys.argv[2]})
print(json.dumps(b))' "$1" "$LAB" "$2")" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
# seen ID EXPR: a Python expression over d, the sandbox's view of dataset ID.
seen() {
    pbi_get "/_sandbox/powerbi/refreshables/$1" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$2"
}
# posts ID: the POST refreshes the dataset received (accepted or refused).
posts() { seen "$1" 'd["refreshes_accepted"] + d["conflicts"] + d["over_daily_limit"]'; }
refresh() {
    local params=$1
    shift
    sub --type refresh --connector pbi --params "$params" "$@"
}

# ---- success, by name, with a notify option --------------------------------------------
ok=$(refreshable "Ok Model" '{"duration_ms": 2000}')
t=$(refresh "{\"dataset\": \"Ok Model\", \"workspace\": \"$LAB\", \"notify_option\": \"MailOnFailure\"}")
task_wait_state "$t" succeeded 60
check_eq "one refresh posted" "$(posts "$ok")" 1
check_eq "with the notify option" "$(seen "$ok" 'd["refreshes"][0]["notifyOption"]')" MailOnFailure
check_eq "the result names Power BI's refresh" "$(task_col "$t" "result->>'refresh_id'")" \
    "$(seen "$ok" 'd["refreshes"][0]["requestId"]')"
check_eq "status Completed" "$(task_col "$t" "result->>'status'")" Completed
check "polled through the scheduler" sql_is \
    "SELECT count(*) >= 1 FROM task_events WHERE task_id = '$t' AND state = 'queued' AND worker = 'datafleet-scheduler'" t
check_eq "the lock is released" "$(rcli EXISTS "df:refresh:pbi:dataset:$ok")" 0

# ---- failure with Power BI's message -----------------------------------------------------
bad=$(refreshable "Broken Model" '{"duration_ms": 600, "outcome": "Failed", "error_code": "ModelRefreshFailed_CredentialsNotSpecified", "error_description": "The credentials of data source sql.contoso.net are missing."}')
t=$(refresh "{\"dataset\": \"$bad\", \"workspace\": \"$LAB\"}")
task_wait_state "$t" failed 60
check_eq "refresh_failed" "$(task_col "$t" error_code)" refresh_failed
check "with Power BI's error code" grep -q ModelRefreshFailed_CredentialsNotSpecified <<<"$(task_col "$t" error_message)"
check "and description" grep -q "credentials of data source sql.contoso.net are missing" <<<"$(task_col "$t" error_message)"
check_eq "one refresh posted" "$(posts "$bad")" 1

# ---- two tasks, one dataset: one refresh --------------------------------------------------
co=$(refreshable "Shared Model" '{"duration_ms": 3000}')
a=$(refresh "{\"dataset\": \"$co\", \"workspace\": \"$LAB\"}")
b=$(refresh "{\"dataset\": \"Shared Model\", \"workspace\": \"$LAB\"}")
task_wait_state "$a" succeeded 60
task_wait_state "$b" succeeded 60
check_eq "one platform refresh for both" "$(posts "$co")" 1
check_eq "both report it" "$(task_col "$a" "result->>'refresh_id'")" "$(task_col "$b" "result->>'refresh_id'")"
coalesced=$(q "SELECT task_id || '>' || (result->>'coalesced_into') FROM tasks WHERE task_id IN ('$a', '$b') AND result ? 'coalesced_into'")
check "one was coalesced into the other ($coalesced)" test "$coalesced" = "$b>$a" -o "$coalesced" = "$a>$b"

# ---- 5xx on the history while polling: the same refresh is resumed ------------------------
fl=$(refreshable "Flaky Model" '{"duration_ms": 2500}')
pbi_fault '{"route": "powerbi.refreshes.get", "status": 503, "after": 2, "count": 6}'
t=$(refresh "{\"dataset\": \"$fl\", \"workspace\": \"$LAB\"}")
task_wait_state "$t" succeeded 90
pbi_faults_clear
check_eq "one POST refreshes" "$(posts "$fl")" 1
check "after a retry (attempt $(task_col "$t" attempt))" test "$(task_col "$t" attempt)" -ge 2
check_eq "which polled the same refresh" "$(task_col "$t" "result->>'refresh_id'")" "$(seen "$fl" 'd["refreshes"][0]["requestId"]')"

# ---- a worker killed mid-poll --------------------------------------------------------------
kl=$(refreshable "Killed Model" '{"duration_ms": 6000}')
t=$(refresh "{\"dataset\": \"$kl\", \"workspace\": \"$LAB\"}")
posted_once() { [ "$(posts "$kl")" = 1 ]; }
wait_for "the refresh accepted" 30 posted_once
victim=$(rcli HGET "df:task:$t" worker)
case $victim in *w1*) kill -9 "$PID_w1" ;; *) kill -9 "$PID_w2" ;; esac
log "killed the worker of task $t ($victim) mid-poll"
task_wait_state "$t" succeeded 90
check_eq "one POST refreshes after the kill" "$(posts "$kl")" 1
case $victim in *w1*) start_worker w1 --concurrency 2 --inline-retry-max 300ms --connectors "$conns" ;;
*) start_worker w2 --concurrency 2 --inline-retry-max 300ms --connectors "$conns" ;; esac
wait_assigned w1 w2

# ---- the deadline ---------------------------------------------------------------------------
sl=$(refreshable "Slow Model" '{"duration_ms": 60000}')
t=$(refresh "{\"dataset\": \"$sl\", \"workspace\": \"$LAB\"}" --deadline 4s)
task_wait_state "$t" cancelled 30
check_eq "deadline_exceeded" "$(task_col "$t" error_code)" deadline_exceeded
check "at the deadline" sql_is "SELECT finished_at - submitted_at < interval '10 s' FROM tasks WHERE task_id = '$t'" t
check_eq "one POST refreshes" "$(posts "$sl")" 1

# ---- 429 with a long Retry-After while polling --------------------------------------------
th=$(refreshable "Throttled Model" '{"duration_ms": 2000}')
pbi_fault '{"route": "powerbi.refreshes.get", "status": 429, "retry_after_s": 6, "after": 2, "count": 1}'
t=$(refresh "{\"dataset\": \"$th\", \"workspace\": \"$LAB\"}")
task_wait_state "$t" succeeded 60
pbi_faults_clear
check_eq "one POST refreshes" "$(posts "$th")" 1
check_eq "a durable retry, rate_limited" "$(q "SELECT error->>'code' FROM task_events WHERE task_id = '$t' AND state = 'retrying'")" rate_limited
check "waiting Power BI's Retry-After" sql_is \
    "SELECT (error->>'retry_after_ms')::int >= 6000 FROM task_events WHERE task_id = '$t' AND state = 'retrying'" t

# ---- stuck queued on Power BI ----------------------------------------------------------------
pe=$(refreshable "Queued Model" '{"queue_ms": -1}')
t=$(refresh "{\"dataset\": \"$pe\", \"workspace\": \"$LAB\"}")
task_wait_state "$t" failed 60
check_eq "refresh_pending_timeout" "$(task_col "$t" error_code)" refresh_pending_timeout
check "a clear message" grep -q "still pending on the platform after" <<<"$(task_col "$t" error_message)"
check "after pending_timeout_ms" sql_is "SELECT finished_at - started_at >= interval '3 s' FROM tasks WHERE task_id = '$t'" t

# ---- bad params ---------------------------------------------------------------------------------
t=$(refresh "{\"dataset\": \"No Such Model\", \"workspace\": \"$LAB\"}")
task_wait_state "$t" failed 30
check_eq "an unknown dataset name: invalid_target" "$(task_col "$t" error_code)" invalid_target
t=$(refresh "{\"dataset\": \"$ok\", \"workspace\": \"$LAB\", \"notify_option\": \"Always\"}")
task_wait_state "$t" failed 30
check "a bad notify option names the field" grep -q "params.notify_option" <<<"$(task_col "$t" error_message)"

# ---- scanner lineage ----------------------------------------------------------------------------
pbi_post /_sandbox/powerbi/scanner '{"scan_ms": 1500}' >/dev/null
t=$(sub --type lineage --connector pbi --params "{\"workspaces\": [\"$WS_SALES\", \"$WS_FIN\"]}")
task_wait_state "$t" succeeded 60
pbi_get "/_sandbox/powerbi/lineage-fixture?tenant_id=$PBI_TENANT" >"$E2E_DIR/fixture.json"
task_col "$t" "result->'lineage'" >"$E2E_DIR/lineage.json"
cmp_graph=$(python3 - "$E2E_DIR/fixture.json" "$E2E_DIR/lineage.json" <<'PY'
import json, sys
want, got = (json.load(open(p)) for p in sys.argv[1:3])
def nodes(g): return {(n["namespace"], n["name"], n["kind"]) for n in g["nodes"]}
def edges(g): return {(e["from"]["namespace"], e["from"]["name"], e["to"]["namespace"], e["to"]["name"], e["kind"]) for e in g["edges"]}
problems = []
for what, f in (("nodes", nodes), ("edges", edges)):
    w, g = f(want), f(got)
    if len(g) != len(got[what]): problems.append("duplicate %s" % what)
    if w - g: problems.append("missing %s %s" % (what, sorted(w - g)[:3]))
    if g - w: problems.append("unexpected %s %s" % (what, sorted(g - w)[:3]))
print("; ".join(problems) or "equal %d nodes %d edges" % (len(want["nodes"]), len(want["edges"])))
PY
)
check_eq "result.lineage equals the fixture" "$cmp_graph" "equal 12 nodes 13 edges"
check "polled the scan through the scheduler" sql_is \
    "SELECT count(*) >= 1 FROM task_events WHERE task_id = '$t' AND state = 'queued' AND worker = 'datafleet-scheduler'" t
# The graph in PostgreSQL: the recorder merges result.lineage into
# lineage_nodes/lineage_edges.
wait_for "the graph merged" 30 sql_is "SELECT count(*) > 0 FROM lineage_nodes WHERE namespace = 'powerbi://$PBI_TENANT'" t
q "SELECT namespace, name, kind FROM lineage_nodes WHERE namespace = 'powerbi://$PBI_TENANT'" >"$E2E_DIR/pg_nodes.txt"
q "SELECT f.namespace, f.name, t.namespace, t.name, e.kind FROM lineage_edges e
   JOIN lineage_nodes f ON f.id = e.from_node JOIN lineage_nodes t ON t.id = e.to_node
   WHERE f.namespace = 'powerbi://$PBI_TENANT' OR t.namespace = 'powerbi://$PBI_TENANT'" >"$E2E_DIR/pg_edges.txt"
pg_graph=$(python3 - "$E2E_DIR/fixture.json" "$E2E_DIR/pg_nodes.txt" "$E2E_DIR/pg_edges.txt" <<'PY'
import json, sys
want = json.load(open(sys.argv[1]))
rows = lambda p: {tuple(l.split("|")) for l in open(p).read().splitlines() if l}
got_n, got_e = rows(sys.argv[2]), rows(sys.argv[3])
want_n = {(n["namespace"], n["name"], n["kind"]) for n in want["nodes"]}
want_e = {(e["from"]["namespace"], e["from"]["name"], e["to"]["namespace"], e["to"]["name"], e["kind"]) for e in want["edges"]}
print("equal" if (got_n, got_e) == (want_n, want_e) else
  "differ: nodes missing %d unexpected %d, edges missing %d unexpected %d" % (
      len(want_n - got_n), len(got_n - want_n), len(want_e - got_e), len(got_e - want_e)))
PY
)
check_eq "lineage_nodes/lineage_edges equal the fixture" "$pg_graph" equal
e2e_finish
