#!/usr/bin/env bash
# Four workers exporting into one spreadsheet as one service account stay
# within Google's per-user quota (60 write and 60 read requests per minute;
# a minute is 2 s here, in the sandbox and in the connector's minute_ms)
# through the fleet-wide rate limit in Redis: no 429, and no sandbox
# minute with more than 60 writes. The same load with the limit set far
# above the quota meets 429s, which are backed off and recovered.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sheets_lib.sh"
e2e_init sheetsquota

gs_start_sandbox
gs_spreadsheet shared Sheet1
conns=$E2E_DIR/connectors.json
gs_connectors "$conns" sheets
gs_connectors "$conns" sheets-unlimited "$E2E_DIR/sa.key" '{}' '{"requests_per_minute":100000}'
start_recorder
for w in w1 w2 w3 w4; do
    start_worker "$w" --concurrency 2 --connectors "$conns"
done
wait_assigned w1 w2 w3 w4
q "CREATE TABLE n AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 2000) g" >/dev/null
src=$(gs_pg "SELECT * FROM n ORDER BY id")

# write_windows: the most write requests (all routes) in one sandbox minute,
# and the total of 429 answers.
write_windows() {
    gs_get "/_sandbox/requests?route=sheets.*" | python3 -c 'import collections, json, sys
routes = json.load(sys.stdin)["routes"]
per = collections.Counter()
for name, r in routes.items():
    if name in ("sheets.spreadsheets.get", "sheets.values.get"):
        continue
    for w in r["windows"]:
        per[w["minute"]] += w["count"]
print(max(per.values()), sum(r["by_status"].get("429", 0) for r in routes.values()))'
}

# run CONNECTOR PREFIX: 8 exports of 2,000 rows in chunks of 100 (22 writes
# each), to 8 sheets; waits for them all.
run() {
    local ids=() id i
    for i in 1 2 3 4 5 6 7 8; do
        ids+=("$(gs_export "$(gs_params "$src" "{\"spreadsheet_id\":\"shared\",\"sheet\":\"$2$i\"}" \
            '{"chunk_rows":100}')" --connector "$1")")
    done
    for id in "${ids[@]}"; do
        gs_wait_state "$id" succeeded 180
    done
    RUN_WORKERS=$(for id in "${ids[@]}"; do gs_task "$id" worker; done | sort -u | wc -l)
}

start=$SECONDS
run sheets paced
took=$((SECONDS - start))
read -r max_writes n429 <<<"$(write_windows)"
check_eq "paced: no 429" "$n429" 0
check "paced: at most 60 writes in any sandbox minute ($max_writes)" test "$max_writes" -le 60
check "paced: the quota was the bound (busiest minute $max_writes writes)" test "$max_writes" -ge 45
check "paced: 176 writes took at least 5 s ($took s)" test "$took" -ge 5
check "paced: several workers shared the load ($RUN_WORKERS)" test "$RUN_WORKERS" -ge 2
for i in 1 2 3 4 5 6 7 8; do
    check_eq "paced: sheet $i holds every row once" "$(gs_rows_once shared "paced$i" 1 2000)" ok
done

# The same load with the limit far above the quota: Google's 429s, recovered.
sleep 2 # a fresh sandbox minute
run sheets-unlimited unpaced
read -r max_writes n429 <<<"$(write_windows)"
check "unpaced: Google answered 429 ($n429)" test "$n429" -gt 0
for i in 1 2 3 4 5 6 7 8; do
    check_eq "unpaced: sheet $i holds every row once" "$(gs_rows_once shared "unpaced$i" 1 2000)" ok
done
e2e_finish
