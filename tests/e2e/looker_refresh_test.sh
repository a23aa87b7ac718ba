#!/usr/bin/env bash
# looker refresh (PDT rebuild, datagroup trigger), lineage and probe tasks
# against the sandbox's Looker API 4.0 routes, polled through the
# scheduler, two workers:
#   - a PDT rebuild succeeds (one build; full_rebuild passed through);
#   - a failed build fails the task with Looker's message;
#   - two tasks on one PDT make ONE build (coalesced_into);
#   - 5xx while polling and a worker killed mid-poll resume the same
#     materialization; 429 while polling is a durable retry;
#   - the deadline; a build that stays queued fails after pending_timeout_ms;
#   - a datagroup trigger (by model::name) sets triggered_at;
#   - bad params name the field; wrong credentials fail as auth_failed;
#   - lineage (models/explores -> looks -> dashboards) equals the sandbox's
#     fixture exactly, in result.lineage and in PostgreSQL.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/delayed_lib.sh"
e2e_init looker

conns=$E2E_DIR/connectors.json
sandbox_start 1000
log "sandbox at $SANDBOX_URL"
export LOOKER_SECRET="looker-secret-$RANDOM$RANDOM"
sandbox_post /_sandbox/looker/clients "{\"client_id\": \"datafleet\", \"client_secret\": \"$LOOKER_SECRET\"}" >/dev/null
conf=$(python3 -c 'import json, sys
print(json.dumps({"base_url": sys.argv[1] + "/api/4.0", "client_id": "datafleet", "refresh_poll_ms": 300,
                  "refresh_poll_max_ms": 1000, "pending_timeout_ms": 3000}))' "$SANDBOX_URL")
connector_add "$conns" lk looker "$conf" '{"client_secret": {"env": "LOOKER_SECRET"}}'
connector_add "$conns" lk_wrong looker "$conf" '{"client_secret": "not-the-secret"}'
python3 - "$conns" <<'PY'
import json, sys
conns = json.load(open(sys.argv[1]))
for c in conns:
    c["retry"] = {"base_ms": 200, "cap_ms": 1000, "by_type": {"refresh": {"base_ms": 200, "cap_ms": 1000, "max_attempts": 8}}}
json.dump(conns, open(sys.argv[1], "w"))
PY
start_scheduler
start_worker w1 --concurrency 2 --inline-retry-max 300ms --connectors "$conns"
start_worker w2 --concurrency 2 --inline-retry-max 300ms --connectors "$conns"
wait_assigned w1 w2

# pdt VIEW BEHAVIOUR_JSON: a PDT of model sales.
pdt() {
    sandbox_post /_sandbox/looker/pdts "$(python3 -c 'import json, sys
b = json.loads(sys.argv[2]); b.update({"model": "sales", "view": sys.argv[1]}); print(json.dumps(b))' "$1" "$2")" >/dev/null
}
starts() { sandbox_get /_sandbox/looker/pdts | python3 -c 'import json, sys
print(next(p["starts"] for p in json.load(sys.stdin)["pdts"] if p["view"] == sys.argv[1]))' "$1"; }
rebuild() {
    local view=$1
    shift
    sub --type refresh --connector lk --params "{\"pdt\": {\"model\": \"sales\", \"view\": \"$view\"}}" "$@" --max-attempts 8
}

# ---- success, full rebuild --------------------------------------------------------------------
pdt orders_pdt '{"run_ms": 1200}'
t=$(sub --type refresh --connector lk --params '{"pdt": {"model": "sales", "view": "orders_pdt"}, "full_rebuild": true}')
task_wait_state "$t" succeeded 60
check_eq "one build" "$(starts orders_pdt)" 1
check_eq "done" "$(task_col "$t" "result->>'status'")" done
check "polled through the scheduler" sql_is \
    "SELECT count(*) >= 1 FROM task_events WHERE task_id = '$t' AND state = 'queued' AND worker = 'datafleet-scheduler'" t
check_eq "the lock is released" "$(rcli EXISTS "df:refresh:looker:pdt:sales.orders_pdt")" 0
check_eq "the client secret is in no event" "$(q "SELECT count(*) FROM task_events WHERE (coalesce(error::text, '') || coalesce(result::text, '')) LIKE '%$LOOKER_SECRET%'")" 0

# ---- failure with Looker's message ---------------------------------------------------------------
pdt broken_pdt '{"run_ms": 400, "fail": true, "message": "ERROR: relation \"public.orders_raw\" does not exist"}'
t=$(rebuild broken_pdt)
task_wait_state "$t" failed 60
check_eq "refresh_failed" "$(task_col "$t" error_code)" refresh_failed
check "with Looker's message" grep -q 'relation "public.orders_raw" does not exist' <<<"$(task_col "$t" error_message)"

# ---- two tasks, one PDT: one build ----------------------------------------------------------------
pdt shared_pdt '{"run_ms": 2500}'
a=$(rebuild shared_pdt)
owns_build() { rcli GET "df:refresh:looker:pdt:sales.shared_pdt" | grep -q '"materialization_id"'; }
wait_for "the first owns the PDT with its build" 30 owns_build
b=$(rebuild shared_pdt)
task_wait_state "$a" succeeded 60
task_wait_state "$b" succeeded 60
check_eq "one build for both" "$(starts shared_pdt)" 1
check_eq "both report it" "$(task_col "$a" "result->>'materialization_id'")" "$(task_col "$b" "result->>'materialization_id'")"
check_eq "the second was coalesced into the first" "$(task_col "$b" "result->>'coalesced_into'")" "$a"

# ---- 5xx while polling; a worker killed mid-poll; 429 ------------------------------------------------
pdt flaky_pdt '{"run_ms": 2500}'
sandbox_fault '{"route": "looker.pdt.status", "status": 503, "after": 2, "count": 4}'
t=$(rebuild flaky_pdt)
task_wait_state "$t" succeeded 90
sandbox_faults_clear
check_eq "one build after 5xx while polling" "$(starts flaky_pdt)" 1
check "after retries (attempt $(task_col "$t" attempt))" test "$(task_col "$t" attempt)" -ge 2
pdt killed_pdt '{"run_ms": 6000}'
t=$(rebuild killed_pdt)
started_once() { [ "$(starts killed_pdt)" = 1 ]; }
wait_for "the build started" 30 started_once
victim=$(rcli HGET "df:task:$t" worker)
case $victim in *w1*) kill -9 "$PID_w1" ;; *) kill -9 "$PID_w2" ;; esac
log "killed the worker of task $t ($victim) mid-poll"
task_wait_state "$t" succeeded 90
check_eq "one build after the kill" "$(starts killed_pdt)" 1
case $victim in *w1*) start_worker w1 --concurrency 2 --inline-retry-max 300ms --connectors "$conns" ;;
*) start_worker w2 --concurrency 2 --inline-retry-max 300ms --connectors "$conns" ;; esac
wait_assigned w1 w2
pdt throttled_pdt '{"run_ms": 2000}'
sandbox_fault '{"route": "looker.pdt.status", "status": 429, "retry_after_s": 4, "after": 1, "count": 1}'
t=$(rebuild throttled_pdt)
task_wait_state "$t" succeeded 60
sandbox_faults_clear
check_eq "429 while polling: one build" "$(starts throttled_pdt)" 1
check "a durable retry waiting Retry-After" sql_is \
    "SELECT (error->>'retry_after_ms')::int >= 4000 FROM task_events WHERE task_id = '$t' AND state = 'retrying'" t

# ---- deadline, pending timeout ------------------------------------------------------------------
pdt slow_pdt '{"run_ms": 60000}'
t=$(rebuild slow_pdt --deadline 4s)
task_wait_state "$t" cancelled 30
check_eq "deadline_exceeded" "$(task_col "$t" error_code)" deadline_exceeded
pdt queued_pdt '{"queue_ms": -1}'
t=$(rebuild queued_pdt)
task_wait_state "$t" failed 60
check_eq "refresh_pending_timeout" "$(task_col "$t" error_code)" refresh_pending_timeout

# ---- datagroup trigger ------------------------------------------------------------------------------
t=$(sub --type refresh --connector lk --params '{"datagroup": "sales::nightly"}')
task_wait_state "$t" succeeded 30
check_eq "the datagroup triggered once" "$(sandbox_get /_sandbox/looker/datagroups | python3 -c 'import json, sys
d = next(d for d in json.load(sys.stdin)["datagroups"] if d["id"] == "sales::nightly"); print(d["triggers"])')" 1
check "triggered_at: now" sql_is "SELECT abs((result->>'triggered_at')::bigint - extract(epoch FROM now())::bigint) < 60 FROM tasks WHERE task_id = '$t'" t

# ---- bad params, wrong credentials, probe --------------------------------------------------------
t=$(sub --type refresh --connector lk --params '{"pdt": {"model": "sales"}}')
task_wait_state "$t" failed 30
check "a PDT without its view names the param" grep -q "^params.pdt: expected" <<<"$(task_col "$t" error_message)"
t=$(sub --type refresh --connector lk --params '{"datagroup": "nope::none"}')
task_wait_state "$t" failed 30
check_eq "an unknown datagroup: invalid_params" "$(task_col "$t" error_code)" invalid_params
t=$(sub --type refresh --connector lk --params '{"pdt": {"model": "sales", "view": "no_such_pdt"}}')
task_wait_state "$t" failed 30
check_eq "an unknown PDT: not_found" "$(task_col "$t" error_code)" not_found
t=$(sub --type refresh --connector lk_wrong --params '{"datagroup": "sales::nightly"}')
task_wait_state "$t" failed 30
check_eq "wrong credentials: auth_failed" "$(task_col "$t" error_code)" auth_failed
t=$(sub --type probe --connector lk --params '{}')
task_wait_state "$t" succeeded 30
check_eq "probe: the API user" "$(task_col "$t" "result->>'display_name'")" "datafleet API user"

# ---- the sandbox's run_look / run_query / stop (Looker's contract) -----------------------------------
lk_token=$(curl -sS -X POST "$SANDBOX_URL/api/4.0/login" --data-urlencode client_id=datafleet \
    --data-urlencode "client_secret=$LOOKER_SECRET" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
lk_get() { curl -sS -H "Authorization: token $lk_token" "$SANDBOX_URL/api/4.0/$1"; }
check_eq "run_look json" "$(lk_get looks/1/run/json | python3 -c 'import json, sys; r = json.load(sys.stdin); print(len(r), r[0]["orders.region"])')" "3 north"
check_eq "run_look csv" "$(lk_get looks/2/run/csv | head -1)" "customers.region,customers.count"
check_eq "run_query json (a query tile)" "$(lk_get queries/103/run/json | python3 -c 'import json, sys; print(json.load(sys.stdin)[2]["orders.count"])')" 30
check_eq "an unsupported format: 400" "$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: token $lk_token" "$SANDBOX_URL/api/4.0/looks/1/run/xlsx")" 400
pdt stopped_pdt '{"run_ms": 60000}'
mid=$(lk_get derived_table/sales/stopped_pdt/start | python3 -c 'import json, sys; print(json.load(sys.stdin)["materialization_id"])')
check_eq "stop ends the build" "$(lk_get "derived_table/$mid/stop" | python3 -c 'import json, sys; print(json.loads(json.load(sys.stdin)["resp_text"])["status"])')" error
check_eq "without a token: 401" "$(curl -sS -o /dev/null -w '%{http_code}' "$SANDBOX_URL/api/4.0/looks/1/run/json")" 401

# ---- lineage -----------------------------------------------------------------------------------------
ns="looker://$(python3 -c 'import sys, urllib.parse as u; print(u.urlparse(sys.argv[1]).netloc)' "$SANDBOX_URL")"
t=$(sub --type lineage --connector lk --params '{}')
task_wait_state "$t" succeeded 60
sandbox_get "/_sandbox/looker/lineage-fixture?namespace=$(python3 -c 'import sys, urllib.parse as u; print(u.quote(sys.argv[1], safe=""))' "$ns")" >"$E2E_DIR/fixture.json"
task_col "$t" "result->'lineage'" >"$E2E_DIR/lineage.json"
cmp_graph=$(python3 - "$E2E_DIR/fixture.json" "$E2E_DIR/lineage.json" <<'PY'
import json, sys
want, got = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
key_n = lambda g: {(n["namespace"], n["name"], n["kind"]) for n in g["nodes"]}
key_e = lambda g: {(e["from"]["namespace"], e["from"]["name"], e["to"]["namespace"], e["to"]["name"], e["kind"]) for e in g["edges"]}
same = key_n(want) == key_n(got) and key_e(want) == key_e(got) and len(got["nodes"]) == len(want["nodes"]) and len(got["edges"]) == len(want["edges"])
print("equal %d nodes %d edges" % (len(want["nodes"]), len(want["edges"])) if same else "differ: %s %s" % (sorted(key_n(want) ^ key_n(got)), sorted(key_e(want) ^ key_e(got))))
PY
)
check_eq "result.lineage equals the fixture" "$cmp_graph" "equal 8 nodes 8 edges"
wait_for "the graph merged" 30 sql_is "SELECT count(*) FROM lineage_nodes WHERE namespace = '$ns'" 8
q "SELECT namespace, name, kind FROM lineage_nodes WHERE namespace = '$ns'" >"$E2E_DIR/pg_nodes.txt"
q "SELECT f.namespace, f.name, t.namespace, t.name, e.kind FROM lineage_edges e
   JOIN lineage_nodes f ON f.id = e.from_node JOIN lineage_nodes t ON t.id = e.to_node
   WHERE f.namespace = '$ns' OR t.namespace = '$ns'" >"$E2E_DIR/pg_edges.txt"
pg_graph=$(python3 - "$E2E_DIR/fixture.json" "$E2E_DIR/pg_nodes.txt" "$E2E_DIR/pg_edges.txt" <<'PY'
import json, sys
want = json.load(open(sys.argv[1]))
rows = lambda p: {tuple(l.split("|")) for l in open(p).read().splitlines() if l}
got_n, got_e = rows(sys.argv[2]), rows(sys.argv[3])
want_n = {(n["namespace"], n["name"], n["kind"]) for n in want["nodes"]}
want_e = {(e["from"]["namespace"], e["from"]["name"], e["to"]["namespace"], e["to"]["name"], e["kind"]) for e in want["edges"]}
print("equal" if (got_n, got_e) == (want_n, want_e) else "differ: %s %s" % (sorted(want_n ^ got_n), sorted(want_e ^ got_e)))
PY
)
check_eq "lineage_nodes/lineage_edges equal the fixture" "$pg_graph" equal
e2e_finish
