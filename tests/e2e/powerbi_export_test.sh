#!/usr/bin/env bash
# powerbi exports against the sandbox: a PostgreSQL table of 25,000 rows
# goes into a new push dataset (created with typed columns) in 3 POSTs of
# at most 10,000 rows; 10,000 rows take 1 POST and 10,001 take 2; append
# adds, replace swaps the content; mapping renames columns; probe lists
# datasets; upsert, a bad dataset id and a string over 4,000 characters
# fail permanently with the reason.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/powerbi_lib.sh"
e2e_init pbiexport

pbi_start_sandbox
pbi_connectors "$E2E_DIR/connectors.json"
start_recorder
start_worker w1 --concurrency 4 --connectors "$E2E_DIR/connectors.json"
q "CREATE TABLE orders AS SELECT g AS id, 'customer ' || g AS name, g * 1.25::float8 AS price,
   (g % 2 = 0) AS paid, date '2024-01-01' + (g % 365) AS day,
   timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' AS created_at,
   CASE WHEN g % 10 = 0 THEN NULL ELSE jsonb_build_object('k', g) END AS extra
   FROM generate_series(1, 25000) g" >/dev/null
posts() { pbi_requests powerbi.rows.post 'r.get("total", 0)'; }

probe=$("$E2E_BIN/datafleet-submit" --type probe --connector pbi --params '{}' | tail -1)
pbi_wait_state "$probe" succeeded
check_eq "probe lists the datasets" "$(pbi_task "result->>'datasets'" "$probe")" 0

# Happy path: 25,000 rows, a new dataset, 3 POSTs.
t=$(pbi_export "$(pbi_params "SELECT * FROM orders ORDER BY id" '{"dataset":"Sales","table":"Orders"}')")
pbi_wait_state "$t" succeeded
check_eq "25,000 rows written" "$(pbi_task "result->>'rows_written'" "$t")" 25000
check_eq "in 3 chunks" "$(pbi_task "result->>'chunks'" "$t")" 3
check_eq "dataset created" "$(pbi_task "result->>'dataset_created'" "$t")" true
check_eq "3 POST rows requests, all 200" "$(pbi_requests powerbi.rows.post 'r["total"], r["by_status"]')" "(3, {'200': 3})"
check_eq "every row once" "$(pbi_rows_once Sales Orders 1 25000)" ok
check_eq "columns typed from the source" "$(pbi_get /_sandbox/powerbi/datasets | python3 -c 'import json, sys
d = [d for d in json.load(sys.stdin)["datasets"] if d["name"] == "Sales"][0]
print(d["defaultRetentionPolicy"], " ".join(c["name"] + ":" + c["dataType"] for c in d["tables"][0]["columns"]))')" \
    "basicFIFO id:Int64 name:String price:Double paid:Boolean day:DateTime created_at:DateTime extra:String"
check_eq "values as JSON: ISO 8601 dates, null, JSON text" "$(pbi_get "/_sandbox/powerbi/datasets/$(pbi_dataset_id Sales)/tables/Orders/rows" |
    python3 -c 'import json, sys; rows = json.load(sys.stdin)["rows"]; print(json.dumps(rows[9], sort_keys=True), json.dumps(rows[0]["extra"]))')" \
    '{"created_at": "2024-01-01T00:10:00Z", "day": "2024-01-11", "extra": null, "id": 10, "name": "customer 10", "paid": true, "price": 12.5} "{\"k\": 1}"'
check_eq "no checkpoint left" "$(rcli EXISTS "df:ckpt:$t")" 0

# Chunking at the limit: 10,000 rows = 1 POST, 10,001 = 2 (even when
# chunk_rows asks for more).
before=$(posts)
t=$(pbi_export "$(pbi_params "SELECT * FROM orders WHERE id <= 10000 ORDER BY id" '{"dataset":"Edge","table":"T10000"}' '{"chunk_rows":50000}')")
pbi_wait_state "$t" succeeded
check_eq "10,000 rows: 1 POST" "$(($(posts) - before))" 1
before=$(posts)
t=$(pbi_export "$(pbi_params "SELECT * FROM orders WHERE id <= 10001 ORDER BY id" '{"dataset":"Edge2","table":"T10001"}' '{"chunk_rows":50000}')")
pbi_wait_state "$t" succeeded
check_eq "10,001 rows: 2 POSTs" "$(($(posts) - before))" 2
check_eq "10,001 rows once" "$(pbi_rows_once Edge2 T10001 1 10001)" ok

# Append adds to the existing table; replace swaps its content.
t=$(pbi_export "$(pbi_params "SELECT * FROM orders WHERE id > 25000 - 100 ORDER BY id" '{"dataset":"Sales","table":"Orders","mode":"append"}')")
pbi_wait_state "$t" succeeded
check_eq "append into the existing dataset" "$(pbi_task "result->>'dataset_created'" "$t")" false
check_eq "appended 100 rows" "$(pbi_row_count Sales Orders)" 25100
t=$(pbi_export "$(pbi_params "SELECT * FROM orders WHERE id <= 500 ORDER BY id" '{"dataset":"Sales","table":"Orders","mode":"replace"}')")
pbi_wait_state "$t" succeeded
check_eq "replace leaves exactly the new rows" "$(pbi_rows_once Sales Orders 1 500)" ok
check_eq "one dataset named Sales" "$(pbi_dataset_count Sales)" 1

# Mapping renames columns (and must name source columns).
t=$(pbi_export "$(pbi_params "SELECT id, name FROM orders WHERE id <= 10 ORDER BY id" '{"dataset":"Mapped","table":"People"}' '{"mapping":{"name":"Customer"}}')")
pbi_wait_state "$t" succeeded
check_eq "mapped column" "$(pbi_get /_sandbox/powerbi/datasets | python3 -c 'import json, sys
d = [d for d in json.load(sys.stdin)["datasets"] if d["name"] == "Mapped"][0]
print(",".join(c["name"] for c in d["tables"][0]["columns"]))')" "id,Customer"
t=$(pbi_export "$(pbi_params "SELECT id FROM orders WHERE id <= 10" '{"dataset":"Mapped","table":"People"}' '{"mapping":{"nme":"Customer"}}')")
pbi_wait_state "$t" failed
check "a mapping of an unknown column fails ($(pbi_task error_message "$t"))" grep -q 'column "nme"' <<<"$(pbi_task error_message "$t")"

# Permanent failures, with the reason.
t=$(pbi_export "$(pbi_params "SELECT * FROM orders" '{"dataset":"Sales","table":"Orders","mode":"upsert","key_columns":["id"]}')")
pbi_wait_state "$t" failed
check_eq "upsert: invalid_target" "$(pbi_task error_code "$t")" invalid_target
check "upsert: says push datasets cannot" grep -q "upsert is not supported" <<<"$(pbi_task error_message "$t")"

t=$(pbi_export "$(pbi_params "SELECT * FROM orders" '{"dataset":"0b6e3bcf-1c1b-4a4f-9d0e-7d4f5a9a0001","table":"Orders"}')")
pbi_wait_state "$t" failed
msg=$(pbi_task error_message "$t")
check_eq "bad dataset id: permanent" "$(pbi_task error_code "$t")" platform_rejected
check "with Power BI's message ($msg)" grep -q "HTTP 404: ItemNotFound: Dataset 0b6e3bcf-1c1b-4a4f-9d0e-7d4f5a9a0001 is not found" <<<"$msg"
check_eq "after one attempt" "$(pbi_task attempt "$t")" 1

t=$(pbi_export "$(pbi_params "SELECT id, CASE WHEN id = 7 THEN repeat('x', 4001) ELSE 'short' END AS note FROM orders WHERE id <= 20 ORDER BY id" '{"dataset":"Notes","table":"N"}')")
pbi_wait_state "$t" failed
msg=$(pbi_task error_message "$t")
check_eq "long string: invalid_row" "$(pbi_task error_code "$t")" invalid_row
check "names the row and column ($msg)" grep -q "row 7, column note: a string of 4001 characters" <<<"$msg"
check_eq "nothing of that chunk was sent" "$(pbi_row_count Notes N)" 0
e2e_finish
