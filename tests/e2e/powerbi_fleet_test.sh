#!/usr/bin/env bash
# A fleet of 4 workers exporting into one Power BI dataset keeps Power BI's
# limit of 120 POST rows requests per dataset per minute together (the
# fleet-wide rate limit in Redis): 16 exports of 750 rows in chunks of 10
# (1,200 POSTs) never pass 120 in a (scaled, 2 s) sandbox minute and never
# see a 429, yet run close to the limit; the exports that start together
# create one dataset, not several; every row arrives once. Then, with every
# POST held 400 ms by the sandbox, 16 more exports on the 8 task slots of
# the fleet never have more than Power BI's 5 POST rows requests in
# progress at once (one Redis slot per request): the sandbox refuses none.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/powerbi_lib.sh"
e2e_init pbifleet

pbi_start_sandbox
pbi_connectors "$E2E_DIR/connectors.json"
start_recorder
for w in w1 w2 w3 w4; do
    start_worker "$w" --concurrency 2 --connectors "$E2E_DIR/connectors.json"
done
wait_assigned w1 w2 w3 w4
q "CREATE TABLE visits AS SELECT g AS id, 'visitor ' || g AS who FROM generate_series(1, 750) g" >/dev/null

# visit_exports FILE DATASET ROWS: 16 exports (NDJSON) of the first ROWS
# visits into DATASET's table Visits, chunks of 10, each row tagged with
# its export's number.
visit_exports() {
    python3 -c 'import json, sys
file, dataset, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(file, "w") as f:
    for i in range(1, 17):
        f.write(json.dumps({"type": "export", "connector": "pbi", "params": {
            "source": {"kind": "postgres", "query":
                       "SELECT id, who, %d AS task FROM visits WHERE id <= %d ORDER BY id" % (i, rows)},
            "target": {"dataset": dataset, "table": "Visits", "mode": "append"}, "chunk_rows": 10}}) + "\n")' "$@"
}

visit_exports "$E2E_DIR/tasks.ndjson" Fleet 750
started=$SECONDS
submit_ndjson "$E2E_DIR/tasks.ndjson"
wait_for "16 exports done" 180 sql_is "SELECT count(*) FROM tasks WHERE state = 'succeeded'" 16
log "1,200 POSTs in $((SECONDS - started)) s"

check_eq "1,200 POSTs, all 200 (no 429)" "$(pbi_requests powerbi.rows.post 'r["total"], r["by_status"]')" "(1200, {'200': 1200})"
max=$(pbi_requests powerbi.rows.post 'r["max_per_window"]')
check "at most 120 POSTs in any sandbox minute ($max)" test "$max" -le 120
check "close to the limit: over 90 in the busiest minute ($max)" test "$max" -gt 90
check_eq "every export in its first attempt" "$(q "SELECT max(attempt) FROM tasks")" 1
check "the exports ran on several workers" sql_is \
    "SELECT count(DISTINCT worker) >= 3 FROM task_events WHERE state = 'running'" t
check_eq "one dataset created for all" "$(pbi_dataset_count Fleet)" 1
check_eq "each row of each export once" "$(pbi_get "/_sandbox/powerbi/datasets/$(pbi_dataset_id Fleet)/tables/Visits/rows" |
    python3 -c 'import collections, json, sys
seen = collections.Counter((r["task"], r["id"]) for r in json.load(sys.stdin)["rows"])
want = {(t, i) for t in range(1, 17) for i in range(1, 751)}
print("ok" if set(seen) == want and max(seen.values()) == 1 else "wrong: %d keys, max %d" % (len(seen), max(seen.values())))')" ok

# ---- at most 5 POST rows requests in progress per dataset ---------------------
pbi_fault '{"route":"powerbi.rows.post","latency_ms":400,"count":-1}'
visit_exports "$E2E_DIR/slow.ndjson" Slow 30
submit_ndjson "$E2E_DIR/slow.ndjson"
wait_for "16 slow exports done" 180 sql_is "SELECT count(*) FROM tasks WHERE state = 'succeeded'" 32
pbi_faults_clear
pending=$(pbi_get /_sandbox/powerbi/datasets | python3 -c 'import json, sys
d = [d for d in json.load(sys.stdin)["datasets"] if d["name"] == "Slow"][0]
print("max %d at once, %d refused, %d rows" % (d["max_pending_posts"], d["pending_posts_refused"], d["tables"][0]["row_count"]))')
check_eq "slow POSTs: 5 in progress at most (and at times), none refused, every row" "$pending" \
    "max 5 at once, 0 refused, 480 rows"
check_eq "slow POSTs: all 200 (no 429)" "$(pbi_requests powerbi.rows.post 'r["total"], r["by_status"]')" "(1248, {'200': 1248})"
e2e_finish
