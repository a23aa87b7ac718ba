#!/usr/bin/env bash
# The lineage graph: the graph a succeeded lineage task reports
# (result.lineage; the noop connector reports the one its params give)
# is merged by the recorder into lineage_nodes / lineage_edges exactly,
# idempotently (a second report moves last_seen, keeps first_seen, adds
# nothing), edge ends nobody listed become "unknown" nodes, a malformed
# report is skipped without holding up the batch, and GET /v1/lineage walks
# the graph up, down or both within a depth.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_lib.sh"
e2e_init lineage

start_worker w1 --concurrency 4
api_start
READ=$(api_token read)
wait_assigned w1

graph='{"nodes": [
  {"namespace": "postgres://db:5432", "name": "sales.public.orders", "kind": "table"},
  {"namespace": "postgres://db:5432", "name": "sales.public.customers", "kind": "table"},
  {"namespace": "postgres://db:5432", "name": "sales.public.order_view", "kind": "view"},
  {"namespace": "powerbi://tenant-1", "name": "workspaces/w1/datasets/d1", "kind": "dataset", "attrs": {"title": "Sales"}},
  {"namespace": "powerbi://tenant-1", "name": "workspaces/w1/reports/r1", "kind": "report"}],
 "edges": [
  {"from": {"namespace": "postgres://db:5432", "name": "sales.public.orders"}, "to": {"namespace": "postgres://db:5432", "name": "sales.public.order_view"}},
  {"from": {"namespace": "postgres://db:5432", "name": "sales.public.customers"}, "to": {"namespace": "postgres://db:5432", "name": "sales.public.order_view"}},
  {"from": {"namespace": "postgres://db:5432", "name": "sales.public.order_view"}, "to": {"namespace": "powerbi://tenant-1", "name": "workspaces/w1/datasets/d1"}, "attrs": {"rows": 42}},
  {"from": {"namespace": "powerbi://tenant-1", "name": "workspaces/w1/datasets/d1"}, "to": {"namespace": "powerbi://tenant-1", "name": "workspaces/w1/reports/r1"}}]}'
lineage_task() { "$E2E_BIN/datafleet-submit" --type lineage --connector noop --params "{\"lineage\": $1}" | tail -1; }
nodes() { q "SELECT string_agg(namespace || '|' || name || '|' || kind, ' ' ORDER BY namespace, name) FROM lineage_nodes"; }
edges() {
    q "SELECT string_agg(f.name || '>' || t.name || ':' || e.kind, ' ' ORDER BY f.name, t.name)
         FROM lineage_edges e JOIN lineage_nodes f ON f.id = e.from_node JOIN lineage_nodes t ON t.id = e.to_node"
}

t1=$(lineage_task "$graph")
task_wait_state "$t1" succeeded 60
check_eq "the nodes, exactly" "$(nodes)" \
    "postgres://db:5432|sales.public.customers|table postgres://db:5432|sales.public.order_view|view postgres://db:5432|sales.public.orders|table powerbi://tenant-1|workspaces/w1/datasets/d1|dataset powerbi://tenant-1|workspaces/w1/reports/r1|report"
check_eq "the edges, exactly" "$(edges)" \
    "sales.public.customers>sales.public.order_view:feeds sales.public.order_view>workspaces/w1/datasets/d1:feeds sales.public.orders>sales.public.order_view:feeds workspaces/w1/datasets/d1>workspaces/w1/reports/r1:feeds"
check_eq "attributes kept" "$(q "SELECT attrs->>'title' FROM lineage_nodes WHERE name = 'workspaces/w1/datasets/d1'")" Sales
check_eq "edge attributes kept" "$(q "SELECT e.attrs->>'rows' FROM lineage_edges e JOIN lineage_nodes t ON t.id = e.to_node WHERE t.name = 'workspaces/w1/datasets/d1'")" 42

first=$(q "SELECT first_seen FROM lineage_nodes WHERE name = 'sales.public.orders'")
sleep 1
t2=$(lineage_task "$graph")
task_wait_state "$t2" succeeded 60
check_eq "reported again: nothing added" "$(q "SELECT count(*) FROM lineage_nodes")/$(q "SELECT count(*) FROM lineage_edges")" 5/4
check_eq "first_seen kept" "$(q "SELECT first_seen FROM lineage_nodes WHERE name = 'sales.public.orders'")" "$first"
check_eq "last_seen moved" "$(q "SELECT last_seen > first_seen FROM lineage_nodes WHERE name = 'sales.public.orders'")" t

# an edge to a node nobody listed; a malformed report; both beside a good one
t3=$(lineage_task '{"edges": [{"from": {"namespace": "powerbi://tenant-1", "name": "workspaces/w1/reports/r1"}, "to": {"namespace": "powerbi://tenant-1", "name": "workspaces/w1/dashboards/b1"}, "kind": "shown_on"}]}')
t4=$(lineage_task '{"nodes": "not a list", "edges": [{"from": 1, "to": [2]}, 7]}')
t5=$("$E2E_BIN/datafleet-submit" --type export --connector noop --params '{"rows": 3}' | tail -1)
for t in "$t3" "$t4" "$t5"; do task_wait_state "$t" succeeded 60; done
check_eq "an edge's unlisted end becomes an unknown node" "$(q "SELECT kind FROM lineage_nodes WHERE name = 'workspaces/w1/dashboards/b1'")" unknown
check_eq "with its edge" "$(q "SELECT e.kind FROM lineage_edges e JOIN lineage_nodes t ON t.id = e.to_node WHERE t.name = 'workspaces/w1/dashboards/b1'")" shown_on
check_eq "the malformed report added nothing" "$(q "SELECT count(*) FROM lineage_nodes")/$(q "SELECT count(*) FROM lineage_edges")" 6/5
check_eq "and held nothing up" "$(q "SELECT count(*) FROM tasks WHERE task_id IN ('$t4', '$t5') AND state = 'succeeded'")" 2

# ---- an export reports its own edge ----------------------------------------------------
ex=$("$E2E_BIN/datafleet-submit" --type export --connector noop --params \
    '{"source": {"kind": "postgres", "query": "SELECT g AS n FROM generate_series(1, 7) g"},
      "mapping": {"n": "number"}}' | tail -1)
task_wait_state "$ex" succeeded 60
edge_of_export() {
    q "SELECT f.namespace LIKE 'postgres://%:%' AND f.name LIKE '%/query/%' AND f.kind = 'query'
              AND t.namespace = 'noop://noop' AND t.name = 'target'
              AND e.attrs->>'rows' = '7' AND e.attrs->'mapping'->>'n' = 'number'
              AND e.attrs->>'task_id' = '$ex'
         FROM lineage_edges e JOIN lineage_nodes f ON f.id = e.from_node
         JOIN lineage_nodes t ON t.id = e.to_node WHERE t.namespace = 'noop://noop'"
}
check_eq "the export's edge: its query -> the target, rows, mapping, task" "$(edge_of_export)" t
check_eq "no password in any node" "$(q "SELECT count(*) FROM lineage_nodes WHERE namespace || name ~* 'password|:[^/@]*@'")" 0
check_eq "the graph now" "$(q "SELECT count(*) FROM lineage_nodes")/$(q "SELECT count(*) FROM lineage_edges")" 8/6

# ---- a PostgreSQL catalogue as a lineage source (connector kind postgres) ----------------
q "CREATE SCHEMA lg; CREATE TABLE lg.orders (id int, customer int); CREATE TABLE lg.customers (id int);
   CREATE VIEW lg.order_view AS SELECT o.id, c.id AS customer FROM lg.orders o JOIN lg.customers c ON c.id = o.customer;
   CREATE MATERIALIZED VIEW lg.order_counts AS SELECT count(*) AS n FROM lg.order_view;
   CREATE TABLE public.not_asked (x int)" >/dev/null
echo '[{"name": "catalog", "kind": "postgres"}]' >"$E2E_DIR/catalog.json"
"$E2E_BIN/datafleet-scheduler" connectors apply "$E2E_DIR/catalog.json" >>"$E2E_DIR/apply.log" 2>&1
wait_for "the worker loaded the catalog connector" 20 grep -q "loaded 1 connector(s) from PostgreSQL" "$E2E_DIR/w1.log"
cat_task=$("$E2E_BIN/datafleet-submit" lineage catalog --params '{"schemas": ["lg"]}' | tail -1)
task_wait_state "$cat_task" succeeded 60
db=$(q "SELECT current_database()")
check_eq "the catalogue's nodes, exactly" \
    "$(q "SELECT string_agg(name || ':' || kind, ' ' ORDER BY name) FROM lineage_nodes WHERE name LIKE '$db.%'")" \
    "$db.lg.customers:table $db.lg.order_counts:materialized_view $db.lg.order_view:view $db.lg.orders:table"
check_eq "the catalogue's edges, exactly" \
    "$(q "SELECT string_agg(f.name || '>' || t.name, ' ' ORDER BY f.name, t.name) FROM lineage_edges e
            JOIN lineage_nodes f ON f.id = e.from_node JOIN lineage_nodes t ON t.id = e.to_node
           WHERE f.name LIKE '$db.%'")" \
    "$db.lg.customers>$db.lg.order_view $db.lg.order_view>$db.lg.order_counts $db.lg.orders>$db.lg.order_view"
check_eq "in the database's namespace" "$(q "SELECT DISTINCT namespace FROM lineage_nodes WHERE name LIKE '$db.%'")" \
    "$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print("postgres://%s:%s" % (p.hostname, p.port))' "$DATAFLEET_DATABASE_URL")"
# an export whose query (with a bound argument) reads the view: its plan's
# tables feed the query node
ex2=$("$E2E_BIN/datafleet-submit" --type export --connector noop --params \
    '{"source": {"kind": "postgres", "query": "SELECT id FROM lg.order_view WHERE id > $1", "args": [0]}}' | tail -1)
task_wait_state "$ex2" succeeded 60
check_eq "an export's query is fed by the tables its plan reads" \
    "$(q "SELECT string_agg(f.name || ':' || f.kind, ' ' ORDER BY f.name) FROM lineage_edges e
            JOIN lineage_nodes f ON f.id = e.from_node JOIN lineage_nodes t ON t.id = e.to_node
           WHERE t.name = (SELECT result->'lineage'->'nodes'->0->>'name' FROM tasks WHERE task_id = '$ex2')")" \
    "$db.lg.customers:table $db.lg.orders:table"
show=$("$E2E_BIN/datafleet-submit" lineage show "$(q "SELECT namespace FROM lineage_nodes WHERE name = '$db.lg.order_counts'")|$db.lg.order_counts" up 2)
check_eq "datafleet-submit lineage show: the nodes upstream" "$(grep -c '^node ' <<<"$show")" 4
check "and the edges, by name" grep -q "^edge  .*|$db.lg.order_view -> .*|$db.lg.order_counts  feeds" <<<"$show"
"$E2E_BIN/datafleet-submit" lineage show 'a|b' sideways >/dev/null 2>&1 && rc=0 || rc=$?
check_eq "exit 2 for a bad direction" "$rc" 2
"$E2E_BIN/datafleet-submit" lineage show 'nowhere|nothing' >/dev/null 2>&1 && rc=0 || rc=$?
check_eq "exit 1 for an unknown node" "$rc" 1
bad_task=$("$E2E_BIN/datafleet-submit" --type lineage --connector catalog --params '{"schemas": ["a\"b"]}' | tail -1)
task_wait_state "$bad_task" failed 60
check_eq "a bad schema name fails, naming the param" "$(q "SELECT error_code || ': ' || error_message FROM tasks WHERE task_id = '$bad_task'")" \
    'invalid_params: params.schemas[0]: expected a schema name (1-63 characters, no quotes, backslashes, braces or commas)'

# ---- GET /v1/lineage ------------------------------------------------------------------
view='postgres://db:5432|sales.public.order_view'
API_STATUS=$(api GET "/v1/lineage?node=$view&direction=up&depth=1" "$READ")
check_eq "upstream of the view" "$API_STATUS $(jget 'sorted(n["name"] for n in r["nodes"])')" \
    '200 ["sales.public.customers", "sales.public.order_view", "sales.public.orders"]'
check_eq "with the edges between them" "$(jget 'len(r["edges"])')" 2
API_STATUS=$(api GET "/v1/lineage?node=$view&direction=down&depth=2" "$READ")
check_eq "downstream, two steps" "$(jget '[(n["name"], n["depth"]) for n in r["nodes"]]')" \
    '[["sales.public.order_view", 0], ["workspaces/w1/datasets/d1", 1], ["workspaces/w1/reports/r1", 2]]'
API_STATUS=$(api GET "/v1/lineage?node=$view&depth=10" "$READ")
check_eq "both ways: the whole connected graph" "$(jget 'len(r["nodes"])')/$(jget 'len(r["edges"])')" 6/5
id=$(jget 'r["node"]["id"]')
API_STATUS=$(api GET "/v1/lineage?node=$id&direction=up&depth=1" "$READ")
check_eq "by node id" "$API_STATUS $(jget 'r["node"]["name"]')" "200 sales.public.order_view"
API_STATUS=$(api GET "/v1/lineage?node=postgres://$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print("%s:%s" % (p.hostname, p.port))' "$DATAFLEET_DATABASE_URL")%7C$db.lg.order_counts&direction=up&depth=2" "$READ")
check_eq "the catalogue upstream of the materialized view" "$API_STATUS $(jget 'len(r["nodes"])')" "200 4"
API_STATUS=$(api GET "/v1/lineage?node=nowhere%7Cnothing" "$READ")
check "an unknown node: 404" api_error_is 404 not_found node
API_STATUS=$(api GET "/v1/lineage?node=no-bar" "$READ")
check "a malformed node: 400" api_error_is 400 invalid node
API_STATUS=$(api GET "/v1/lineage?node=$view&depth=11" "$READ")
check "depth out of range: 400" api_error_is 400 invalid depth
API_STATUS=$(api GET "/v1/lineage?node=$view&direction=sideways" "$READ")
check "bad direction: 400" api_error_is 400 invalid direction
e2e_finish
