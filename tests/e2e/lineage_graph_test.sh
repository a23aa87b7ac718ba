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
API_STATUS=$(api GET "/v1/lineage?node=nowhere%7Cnothing" "$READ")
check "an unknown node: 404" api_error_is 404 not_found node
API_STATUS=$(api GET "/v1/lineage?node=no-bar" "$READ")
check "a malformed node: 400" api_error_is 400 invalid node
API_STATUS=$(api GET "/v1/lineage?node=$view&depth=11" "$READ")
check "depth out of range: 400" api_error_is 400 invalid depth
API_STATUS=$(api GET "/v1/lineage?node=$view&direction=sideways" "$READ")
check "bad direction: 400" api_error_is 400 invalid direction
e2e_finish
