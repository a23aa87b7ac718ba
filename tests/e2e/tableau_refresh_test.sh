#!/usr/bin/env bash
# tableau refresh, lineage and probe tasks against the sandbox's Tableau
# REST and Metadata API routes, polled through the scheduler, two workers:
#   - a data source refresh by name succeeds (one job; the session signed in
#     once and shared through Redis);
#   - a failed extract refresh fails the task with Tableau's notes;
#   - two tasks on one workbook make ONE job (coalesced_into);
#   - 5xx on Query Job while polling, and a worker killed mid-poll: the same
#     job is resumed (one POST);
#   - a refresh already queued outside datafleet (409093) is adopted;
#   - the Metadata API rejects a malformed query with GraphQL errors;
#   - the deadline; 429 with Retry-After while polling (a durable retry);
#   - the session expired mid-poll (401002): one sign-in again, same job;
#   - a job that never starts fails after pending_timeout_ms;
#   - bad params name the field; a wrong PAT fails as auth_failed;
#   - the Metadata API lineage equals the sandbox's fixture exactly (nodes
#     with their attributes, edges), in result.lineage and in
#     lineage_nodes / lineage_edges.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/delayed_lib.sh"
e2e_init tableau

conns=$E2E_DIR/connectors.json
sandbox_start 1000
log "sandbox at $SANDBOX_URL"
export TB_SECRET="pat-secret-$RANDOM$RANDOM"
site_id=$(sandbox_post /_sandbox/tableau/pats "{\"name\": \"datafleet\", \"secret\": \"$TB_SECRET\", \"site\": \"acme\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["site_id"])')
tb_conf() {
    python3 -c 'import json, sys
c = {"server_url": sys.argv[1], "site": "acme", "pat_name": sys.argv[2], "refresh_poll_ms": 300,
     "refresh_poll_max_ms": 1000, "pending_timeout_ms": 3000}
print(json.dumps(c))' "$SANDBOX_URL" "$1"
}
connector_add "$conns" tab tableau "$(tb_conf datafleet)" '{"pat_secret": {"env": "TB_SECRET"}}'
connector_add "$conns" tab_wrong tableau "$(tb_conf datafleet)" '{"pat_secret": "not-the-secret"}'
python3 - "$conns" <<'PY'
import json, sys
conns = json.load(open(sys.argv[1]))
for c in conns:
    c["retry"] = {"base_ms": 200, "cap_ms": 1000, "by_type": {"refresh": {"base_ms": 200, "cap_ms": 1000, "max_attempts": 6}}}
json.dump(conns, open(sys.argv[1], "w"))
PY
start_scheduler
start_worker w1 --concurrency 2 --inline-retry-max 300ms --connectors "$conns"
start_worker w2 --concurrency 2 --inline-retry-max 300ms --connectors "$conns"
wait_assigned w1 w2

# item KIND NAME BEHAVIOUR_JSON: a refreshable item; prints its LUID.
item() {
    sandbox_post /_sandbox/tableau/items "$(python3 -c 'import json, sys
b = json.loads(sys.argv[3]); b.update({"kind": sys.argv[1], "name": sys.argv[2]}); print(json.dumps(b))' "$1" "$2" "$3")" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
# seen ID EXPR: a Python expression over d, the sandbox's view of item ID.
seen() {
    sandbox_get "/_sandbox/tableau/items/$1" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$2"
}
posts() { seen "$1" 'd["refreshes"] + d["conflicts"]'; }
refresh() {
    local params=$1
    shift
    sub --type refresh --connector tab --params "$params" "$@"
}
signins() { sandbox_requests tableau.signin 'r.get("total", 0)'; }

# ---- success, a data source by name ------------------------------------------------------
ok=$(item datasource "Ok Extract" '{"run_ms": 1200}')
t=$(refresh '{"datasource": "Ok Extract"}')
task_wait_state "$t" succeeded 60
check_eq "one refresh posted" "$(posts "$ok")" 1
check_eq "the result names Tableau's job" "$(task_col "$t" "result->>'job_id'")" "$(seen "$ok" 'd["jobs"][0]["id"]')"
check_eq "finishCode 0" "$(task_col "$t" "result->>'finish_code'")" 0
check "polled through the scheduler" sql_is \
    "SELECT count(*) >= 1 FROM task_events WHERE task_id = '$t' AND state = 'queued' AND worker = 'datafleet-scheduler'" t
check_eq "the lock is released" "$(rcli EXISTS "df:refresh:tableau:datasource:$ok")" 0
check_eq "one sign-in for every request of both workers (the session is shared)" "$(signins)" 1
check_eq "the PAT secret is in no task row or event" \
    "$(q "SELECT count(*) FROM task_events WHERE (error::text || coalesce(result::text, '')) LIKE '%$TB_SECRET%'")" 0

# ---- failure with Tableau's notes ---------------------------------------------------------
bad=$(item workbook "Broken Workbook" '{"run_ms": 500, "finish_code": 1, "notes": "com.tableausoftware.nativeapi.dll.DataSourceException: password authentication failed for user reader"}')
t=$(refresh "{\"workbook\": \"$bad\"}")
task_wait_state "$t" failed 60
check_eq "refresh_failed" "$(task_col "$t" error_code)" refresh_failed
check "with Tableau's notes" grep -q "password authentication failed for user reader" <<<"$(task_col "$t" error_message)"
check_eq "one refresh posted" "$(posts "$bad")" 1
can=$(item datasource "Cancelled Extract" '{"run_ms": 300, "finish_code": 2, "notes": "cancelled by an administrator"}')
t=$(refresh "{\"datasource\": \"$can\"}")
task_wait_state "$t" failed 60
check_eq "finishCode 2: refresh_cancelled" "$(task_col "$t" error_code)" refresh_cancelled

# ---- two tasks, one workbook: one job -----------------------------------------------------
co=$(item workbook "Shared Workbook" '{"run_ms": 2500}')
a=$(refresh "{\"workbook\": \"$co\"}")
owns_job() { rcli GET "df:refresh:tableau:workbook:$co" | grep -q '"job_id"'; }
wait_for "the first owns the workbook with its job" 30 owns_job
b=$(refresh '{"workbook": "Shared Workbook"}')
task_wait_state "$a" succeeded 60
task_wait_state "$b" succeeded 60
check_eq "one job for both" "$(posts "$co")" 1
check_eq "both report it" "$(task_col "$a" "result->>'job_id'")" "$(task_col "$b" "result->>'job_id'")"
check_eq "the second was coalesced into the first" "$(task_col "$b" "result->>'coalesced_into'")" "$a"

# ---- 5xx on Query Job while polling: the same job ------------------------------------------
fl=$(item datasource "Flaky Extract" '{"run_ms": 2500}')
sandbox_fault '{"route": "tableau.jobs.get", "status": 503, "after": 2, "count": 4}'
t=$(refresh "{\"datasource\": \"$fl\"}" --max-attempts 8)
task_wait_state "$t" succeeded 90
sandbox_faults_clear
check_eq "one POST refreshes" "$(posts "$fl")" 1
check "after a retry (attempt $(task_col "$t" attempt))" test "$(task_col "$t" attempt)" -ge 2

# ---- a worker killed mid-poll ------------------------------------------------------------------
kl=$(item datasource "Killed Extract" '{"run_ms": 6000}')
t=$(refresh "{\"datasource\": \"$kl\"}")
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

# ---- a refresh already queued outside datafleet: adopted -------------------------------------
# The outside job runs long enough to still be queued or running when the
# task asks, however slow the machine (the task then waits for it to end).
ad=$(item datasource "Busy Extract" '{"run_ms": 6000}')
token=$(curl -sS -X POST "$SANDBOX_URL/api/3.21/auth/signin" -H 'Content-Type: application/json' \
    -d "{\"credentials\": {\"personalAccessTokenName\": \"datafleet\", \"personalAccessTokenSecret\": \"$TB_SECRET\", \"site\": {\"contentUrl\": \"acme\"}}}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["credentials"]["token"])')
curl -sS -f -X POST "$SANDBOX_URL/api/3.21/sites/$site_id/datasources/$ad/refresh" -H "X-Tableau-Auth: $token" \
    -H 'Content-Type: application/json' -d '{}' >/dev/null
gql() {
    curl -sS -X POST "$SANDBOX_URL/api/metadata/graphql" -H "X-Tableau-Auth: $token" \
        -H 'Content-Type: application/json' -d "$(python3 -c 'import json, sys; print(json.dumps({"query": sys.argv[1]}))' "$1")" |
        python3 -c 'import json, sys
d = json.load(sys.stdin)
print("errors" if d.get("errors") and d["errors"][0].get("message") and "data" not in d else sorted(d.get("data", {})))'
}
t=$(refresh "{\"datasource\": \"$ad\"}")
check_eq "the Metadata API answers a well-formed query" "$(gql 'query q { workbooks { luid name } }')" "['workbooks']"
check_eq "a malformed GraphQL query gets GraphQL errors" "$(gql '{ workbooks { luid name }')" errors
task_wait_state "$t" succeeded 60
check_eq "adopted the queued job" "$(task_col "$t" "result->>'adopted'")" true
check_eq "no second job (409093 seen once)" "$(seen "$ad" 'str(d["refreshes"]) + "/" + str(d["conflicts"])')" 1/1
check_eq "the job it reports is that one" "$(task_col "$t" "result->>'job_id'")" "$(seen "$ad" 'd["jobs"][0]["id"]')"

# ---- the deadline ---------------------------------------------------------------------------
sl=$(item datasource "Slow Extract" '{"run_ms": 60000}')
t=$(refresh "{\"datasource\": \"$sl\"}" --deadline 4s)
task_wait_state "$t" cancelled 30
check_eq "deadline_exceeded" "$(task_col "$t" error_code)" deadline_exceeded
check_eq "one POST refreshes" "$(posts "$sl")" 1

# ---- 429 with Retry-After while polling ------------------------------------------------------
th=$(item datasource "Throttled Extract" '{"run_ms": 2000}')
sandbox_fault '{"route": "tableau.jobs.get", "status": 429, "retry_after_s": 5, "after": 1, "count": 1}'
t=$(refresh "{\"datasource\": \"$th\"}")
task_wait_state "$t" succeeded 60
sandbox_faults_clear
check_eq "one POST refreshes" "$(posts "$th")" 1
check_eq "a durable retry, rate_limited" "$(q "SELECT error->>'code' FROM task_events WHERE task_id = '$t' AND state = 'retrying'")" rate_limited
check "waiting Tableau's Retry-After" sql_is \
    "SELECT (error->>'retry_after_ms')::int >= 5000 FROM task_events WHERE task_id = '$t' AND state = 'retrying'" t

# ---- the session expired mid-poll: one sign-in again, the same job ---------------------------
ex=$(item datasource "Expiring Extract" '{"run_ms": 2000}')
before=$(signins)
t=$(refresh "{\"datasource\": \"$ex\"}")
ex_posted() { [ "$(posts "$ex")" = 1 ]; }
wait_for "the refresh accepted" 30 ex_posted
sandbox_post /_sandbox/tokens/expire '{}' >/dev/null
task_wait_state "$t" succeeded 60
check_eq "one POST refreshes after the session expired" "$(posts "$ex")" 1
check_eq "401002 signed in again once" "$(($(signins) - before))" 1

# ---- a job that never starts -----------------------------------------------------------------
pe=$(item workbook "Queued Workbook" '{"queue_ms": -1}')
t=$(refresh "{\"workbook\": \"$pe\"}")
task_wait_state "$t" failed 60
check_eq "refresh_pending_timeout" "$(task_col "$t" error_code)" refresh_pending_timeout
check "after pending_timeout_ms" sql_is "SELECT finished_at - started_at >= interval '3 s' FROM tasks WHERE task_id = '$t'" t

# ---- bad params, a wrong PAT -----------------------------------------------------------------
t=$(refresh '{"datasource": "No Such Extract"}')
task_wait_state "$t" failed 30
check_eq "an unknown name: not_found" "$(task_col "$t" error_code)" not_found
check "naming the param" grep -q "params.datasource" <<<"$(task_col "$t" error_message)"
t=$(refresh '{"datasource": "x", "workbook": "y"}')
task_wait_state "$t" failed 30
check_eq "both kinds: invalid_params" "$(task_col "$t" error_code)" invalid_params
t=$(sub --type refresh --connector tab_wrong --params '{"datasource": "Ok Extract"}')
task_wait_state "$t" failed 30
check_eq "a wrong PAT: auth_failed" "$(task_col "$t" error_code)" auth_failed
check "with Tableau's sign-in error" grep -q "401001" <<<"$(task_col "$t" error_message)"
check "the wrong secret is not in the message" bash -c "! grep -q not-the-secret <<<'$(task_col "$t" error_message)'"

# ---- probe -----------------------------------------------------------------------------------
t=$(sub --type probe --connector tab --params '{}')
task_wait_state "$t" succeeded 30
check_eq "probe: the site" "$(task_col "$t" "result->>'site_id'")/$(task_col "$t" "result->>'site_name'")" "$site_id/acme"

# ---- Metadata API lineage ----------------------------------------------------------------------
ns="tableau://$(python3 -c 'import sys, urllib.parse as u; print(u.urlparse(sys.argv[1]).netloc)' "$SANDBOX_URL")/acme"
t=$(sub --type lineage --connector tab --params '{}')
task_wait_state "$t" succeeded 60
sandbox_get "/_sandbox/tableau/lineage-fixture?namespace=$(python3 -c 'import sys, urllib.parse as u; print(u.quote(sys.argv[1], safe=""))' "$ns")" >"$E2E_DIR/fixture.json"
task_col "$t" "result->'lineage'" >"$E2E_DIR/lineage.json"
cmp_graph=$(python3 - "$E2E_DIR/fixture.json" "$E2E_DIR/lineage.json" <<'PY'
import json, sys
want, got = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
key_n = lambda g: {(n["namespace"], n["name"], n["kind"], json.dumps(n.get("attrs"), sort_keys=True)) for n in g["nodes"]}
key_e = lambda g: {(e["from"]["namespace"], e["from"]["name"], e["to"]["namespace"], e["to"]["name"], e["kind"]) for e in g["edges"]}
same = key_n(want) == key_n(got) and key_e(want) == key_e(got) and len(got["nodes"]) == len(want["nodes"]) and len(got["edges"]) == len(want["edges"])
print("equal %d nodes %d edges" % (len(want["nodes"]), len(want["edges"])) if same else "differ")
PY
)
check_eq "result.lineage equals the fixture" "$cmp_graph" "equal 10 nodes 9 edges"
wait_for "the graph merged" 30 sql_is "SELECT count(*) FROM lineage_nodes WHERE namespace = '$ns'" 10
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
check_eq "table attributes kept" "$(q "SELECT attrs->>'database' || '.' || (attrs->>'schema') || '.' || (attrs->>'name') FROM lineage_nodes WHERE namespace = '$ns' AND kind = 'table' ORDER BY name LIMIT 1")" sales_dw.public.orders
q "SELECT name, attrs FROM lineage_nodes WHERE namespace = '$ns'" >"$E2E_DIR/pg_attrs.txt"
pg_attrs=$(python3 - "$E2E_DIR/fixture.json" "$E2E_DIR/pg_attrs.txt" <<'PY'
import json, sys
want = {n["name"]: n["attrs"] for n in json.load(open(sys.argv[1]))["nodes"]}
got = {}
for l in open(sys.argv[2]).read().splitlines():
    if l:
        name, attrs = l.split("|", 1)
        got[name] = json.loads(attrs)
bad = sorted(k for k in want if {a: v for a, v in got.get(k, {}).items() if a in want[k]} != want[k])
print("equal" if not bad and set(got) == set(want) else "differ: %s" % bad)
PY
)
check_eq "every node's attributes in lineage_nodes" "$pg_attrs" equal
e2e_finish
