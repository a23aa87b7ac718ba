#!/usr/bin/env bash
# A BI pipeline on the sandbox, end to end: export -> refresh -> lineage.
#   1. `export` pushes a PostgreSQL view's rows into a Power BI push
#      dataset (its result.lineage: the tables the query's plan reads ->
#      the query -> the Power BI table);
#   2. `refresh` refreshes a Power BI dataset once the export ended (one
#      platform refresh, polled through the scheduler);
#   3. `scan` (Power BI scanner lineage) and `catalogue` (the database's
#      catalogue through a `postgres` connector) collect lineage.
# The run succeeds, each step starts after the steps it needs, and the
# graph in lineage_nodes / lineage_edges is exactly the union of what the
# three lineage sources describe: the sandbox's scanner fixture, the
# catalogue of the schema, and the export's edges.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/delayed_lib.sh"
source "$(dirname "$0")/powerbi_lib.sh"
e2e_init bipipeline

WS_SALES=5a1e5000-0000-4000-8000-000000000001
WS_FIN=f1a4ce00-0000-4000-8000-000000000002
conns=$E2E_DIR/connectors.json

pbi_start_sandbox
pbi_connectors "$conns" pbi PBI_SECRET '{"refresh_poll_ms": 300, "refresh_poll_max_ms": 1000, "scan_poll_ms": 300}'
connector_add "$conns" warehouse postgres '{}' '{}'
"$E2E_BIN/datafleet-scheduler" migrate >>"$E2E_DIR/scheduler.log" 2>&1
start_scheduler
start_worker w1 --concurrency 2 --inline-retry-max 300ms --connectors "$conns"
start_worker w2 --concurrency 2 --inline-retry-max 300ms --connectors "$conns"
wait_assigned w1 w2

q "CREATE SCHEMA bp;
   CREATE TABLE bp.volunteers AS
     SELECT g AS id, 'Volunteer ' || g AS name, (ARRAY['north','south'])[1 + g % 2] AS region, g % 3 = 0 AS active
       FROM generate_series(1, 900) g;
   CREATE TABLE bp.regions (region text PRIMARY KEY, lead text);
   INSERT INTO bp.regions VALUES ('north', 'Ana'), ('south', 'Raj');
   CREATE VIEW bp.active_volunteers AS
     SELECT v.id, v.name, v.region, r.lead FROM bp.volunteers v JOIN bp.regions r USING (region) WHERE v.active" >/dev/null

# The dataset the refresh step refreshes: one of the fixture's (the
# scanner reports it), found by its name in the fixture.
pbi_get "/_sandbox/powerbi/lineage-fixture?tenant_id=$PBI_TENANT" >"$E2E_DIR/fixture.json"
sales_model=$(pbi_get "/_sandbox/powerbi/refreshables" | python3 -c 'import json, sys
print(next(d["id"] for d in json.load(sys.stdin)["refreshables"] if d["name"] == "Sales Model"))')
pbi_post "/_sandbox/powerbi/refreshables/$sales_model" '{"duration_ms": 1200}' >/dev/null

cat >"$E2E_DIR/pipeline.json" <<EOF
{"description": "active volunteers to Power BI, the model refreshed, lineage collected",
 "steps": [
  {"name": "export", "type": "export", "connector": "pbi",
   "params": {"source": {"kind": "postgres", "query": "SELECT id, name, region, lead FROM bp.active_volunteers ORDER BY id"},
              "target": {"dataset": "Volunteers", "table": "active", "mode": "replace"}, "chunk_rows": 100}},
  {"name": "refresh", "type": "refresh", "connector": "pbi", "after": ["export"],
   "params": {"dataset": "$sales_model", "workspace": "$WS_SALES"}},
  {"name": "scan", "type": "lineage", "connector": "pbi", "after": ["refresh"],
   "params": {"workspaces": ["$WS_SALES", "$WS_FIN"]}},
  {"name": "catalogue", "type": "lineage", "connector": "warehouse", "after": ["export"],
   "params": {"schemas": ["bp"]}}
 ]}
EOF
check "the pipeline is added" "$E2E_BIN/datafleet-scheduler" pipelines add bi --file "$E2E_DIR/pipeline.json"
set +e
out=$("$E2E_BIN/datafleet-scheduler" pipelines run bi --wait --wait-timeout 90s 2>>"$E2E_DIR/cli.log")
rc=$?
set -e
echo "$out"
run=$(head -1 <<<"$out")
check_eq "run --wait: exit code" "$rc" 0
check_eq "every step succeeded" \
    "$(q "SELECT string_agg(step || '=' || state, ',' ORDER BY step) FROM pipeline_steps WHERE run_id = '$run'")" \
    "catalogue=succeeded,export=succeeded,refresh=succeeded,scan=succeeded"
step() { q "SELECT t.$2 FROM pipeline_steps s JOIN tasks t ON t.task_id = s.task_id WHERE s.run_id = '$run' AND s.step = '$1'"; }
check_eq "the export wrote the active volunteers" "$(step export "result->>'rows_written'")" 300
check_eq "Power BI has them" "$(pbi_get /_sandbox/powerbi/datasets | python3 -c 'import json, sys
print(sum(t["row_count"] for d in json.load(sys.stdin)["datasets"] if d["name"] == "Volunteers" for t in d["tables"]))')" 300
check_eq "each step started after the steps it needs ended" \
    "$(q "SELECT bool_and(n.submitted_at >= p.finished_at) FROM pipeline_steps a JOIN tasks p ON p.task_id = a.task_id,
            pipeline_steps b JOIN tasks n ON n.task_id = b.task_id
           WHERE a.run_id = '$run' AND b.run_id = '$run'
             AND (a.step, b.step) IN (('export', 'refresh'), ('refresh', 'scan'), ('export', 'catalogue'))")" t
check_eq "one platform refresh" "$(pbi_get "/_sandbox/powerbi/refreshables/$sales_model" | python3 -c 'import json, sys
d = json.load(sys.stdin); print(d["refreshes_accepted"], d["refreshes"][0]["status"])')" "1 Completed"
check_eq "the refresh step reports it" "$(step refresh "result->>'status'")" Completed
check "the refresh was polled through the scheduler" sql_is \
    "SELECT count(*) >= 1 FROM task_events e JOIN pipeline_steps s ON s.task_id = e.task_id
      WHERE s.run_id = '$run' AND s.step = 'refresh' AND e.state = 'queued' AND e.worker = 'datafleet-scheduler'" t

# ---- the whole graph in PostgreSQL ----------------------------------------------------
db=$(q "SELECT current_database()")
pg_ns=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print("postgres://%s:%s" % (p.hostname, p.port))' "$DATAFLEET_DATABASE_URL")
query_node=$(q "SELECT t.result->'lineage'->'nodes'->0->>'name' FROM tasks t JOIN pipeline_steps s ON s.task_id = t.task_id
                 WHERE s.run_id = '$run' AND s.step = 'export'")
check "the export names its query in the database" grep -qE "^$db/query/[0-9a-f]{12}\$" <<<"$query_node"
wait_for "the scanner's graph merged" 30 sql_is "SELECT count(*) > 0 FROM lineage_nodes WHERE namespace = 'powerbi://$PBI_TENANT' AND kind = 'dashboard'" t
q "SELECT namespace, name, kind FROM lineage_nodes" >"$E2E_DIR/pg_nodes.txt"
q "SELECT f.namespace, f.name, t.namespace, t.name, e.kind FROM lineage_edges e
     JOIN lineage_nodes f ON f.id = e.from_node JOIN lineage_nodes t ON t.id = e.to_node" >"$E2E_DIR/pg_edges.txt"
graph=$(python3 - "$E2E_DIR/fixture.json" "$E2E_DIR/pg_nodes.txt" "$E2E_DIR/pg_edges.txt" "$pg_ns" "$db" "$query_node" "$PBI_TENANT" <<'PY'
import json, sys
fixture, nodes_txt, edges_txt, pg, db, query, tenant = sys.argv[1:8]
want = json.load(open(fixture))
rows = lambda p: {tuple(l.split("|")) for l in open(p).read().splitlines() if l}
got_n, got_e = rows(nodes_txt), rows(edges_txt)
want_n = {(n["namespace"], n["name"], n["kind"]) for n in want["nodes"]}
want_e = {(e["from"]["namespace"], e["from"]["name"], e["to"]["namespace"], e["to"]["name"], e["kind"]) for e in want["edges"]}
rel = lambda r: db + ".bp." + r
pbi_table = ("powerbi://" + tenant, "workspaces/myorg/datasets/Volunteers/tables/active")
# the catalogue: two tables and the view reading them
want_n |= {(pg, rel("volunteers"), "table"), (pg, rel("regions"), "table"), (pg, rel("active_volunteers"), "view")}
want_e |= {(pg, rel("volunteers"), pg, rel("active_volunteers"), "feeds"), (pg, rel("regions"), pg, rel("active_volunteers"), "feeds")}
# the export: the tables its plan reads -> its query -> the Power BI table
want_n |= {(pg, query, "query"), pbi_table + ("table",)}
want_e |= {(pg, rel("volunteers"), pg, query, "feeds"), (pg, rel("regions"), pg, query, "feeds"), (pg, query) + pbi_table + ("feeds",)}
print("equal %d nodes %d edges" % (len(want_n), len(want_e)) if (got_n, got_e) == (want_n, want_e) else
      "differ: nodes missing %s unexpected %s, edges missing %s unexpected %s" % (
          sorted(want_n - got_n), sorted(got_n - want_n), sorted(want_e - got_e), sorted(got_e - want_e)))
PY
)
check_eq "lineage_nodes/lineage_edges: exactly the fixture, the catalogue and the export" "$graph" "equal 17 nodes 18 edges"
check_eq "the export's edge carries its rows and task" \
    "$(q "SELECT e.attrs->>'rows' || ' ' || (e.attrs->>'task_id' = '$(step export task_id)')
            FROM lineage_edges e JOIN lineage_nodes t ON t.id = e.to_node WHERE t.name = 'workspaces/myorg/datasets/Volunteers/tables/active'")" "300 true"
check_eq "a view the plan expands keeps its catalogue kind" "$(q "SELECT kind FROM lineage_nodes WHERE name = '$db.bp.active_volunteers'")" view

# ---- the run again: the graph is merged, not doubled ------------------------------------
first_seen=$(q "SELECT first_seen FROM lineage_nodes WHERE name = '$db.bp.volunteers'")
set +e
"$E2E_BIN/datafleet-scheduler" pipelines run bi --wait --wait-timeout 90s >>"$E2E_DIR/cli.log" 2>&1
rc=$?
set -e
check_eq "a second run succeeds" "$rc" 0
wait_for "the second run's graph merged" 30 sql_is \
    "SELECT last_seen > first_seen FROM lineage_nodes WHERE namespace = 'powerbi://$PBI_TENANT' AND kind = 'dashboard' LIMIT 1" t
check_eq "the same graph: nothing added" "$(q "SELECT count(*) FROM lineage_nodes")/$(q "SELECT count(*) FROM lineage_edges")" 17/18
check_eq "first_seen kept" "$(q "SELECT first_seen FROM lineage_nodes WHERE name = '$db.bp.volunteers'")" "$first_seen"
check_eq "two refreshes in all" "$(pbi_get "/_sandbox/powerbi/refreshables/$sales_model" | python3 -c 'import json, sys; print(json.load(sys.stdin)["refreshes_accepted"])')" 2
e2e_finish
