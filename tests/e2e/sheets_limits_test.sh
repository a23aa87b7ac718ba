#!/usr/bin/env bash
# google_sheets exports at Google's limits: the sandbox refuses request
# bodies over 2 MB (Google's advice, here enforced), so 11 MB of rows must
# arrive in many requests, each under it (append and replace); a chunk is
# never more than 10,000 rows; a write that would take a spreadsheet past
# 10,000,000 cells fails permanently before Google is asked, after the
# chunks that fit; a cell of more than 50,000 characters fails permanently
# naming its row and column.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sheets_lib.sh"
e2e_init sheetslimits

gs_start_sandbox --sheets-max-payload-bytes 2097152
gs_spreadsheet wide Sheet1
gs_post /_sandbox/sheets "{\"spreadsheet_id\":\"full\",\"sheets\":[\"Big\"],\"row_count\":399990,\"column_count\":25,\"editors\":[\"$GS_EMAIL\"]}" >/dev/null
conns=$E2E_DIR/connectors.json
gs_connectors "$conns" sheets
start_recorder
start_worker w1 --concurrency 2 --connectors "$conns"
wait_assigned w1

# ---- request payloads: 400 rows of ~28 KB --------------------------------------
q "CREATE TABLE blobs AS SELECT g AS id, repeat(md5(g::text), 300) AS a, repeat(md5((-g)::text), 300) AS b,
   repeat('é', 9000) AS c FROM generate_series(1, 400) g" >/dev/null
big=$(gs_pg "SELECT * FROM blobs ORDER BY id")
a1=$(gs_export "$(gs_params "$big" '{"spreadsheet_id":"wide","sheet":"Blobs","mode":"append"}')")
gs_wait_state "$a1" succeeded 120
check_eq "payload: every row once" "$(gs_rows_once wide Blobs 1 400)" ok
check_eq "payload: the cells arrived whole" "$(gs_values wide Blobs '[len(v[400][1]), len(v[400][3])]')" "[9600, 9000]"
check_eq "payload: one chunk" "$(gs_task "$a1" "result->>'chunks'")" 1
n=$(gs_requests sheets.values.append 'r.get("by_status", {}).get("200", 0)')
check "payload: split in at least 11 appends ($n)" test "$n" -ge 11
check_eq "payload: none refused" "$(gs_requests sheets.values.append 'sorted(r["by_status"])')" "['200']"
r1=$(gs_export "$(gs_params "$big" '{"spreadsheet_id":"wide","sheet":"Blobs","mode":"replace"}')")
gs_wait_state "$r1" succeeded 120
check_eq "payload, replace: every row once" "$(gs_rows_once wide Blobs 1 400)" ok
n=$(gs_requests sheets.values.update 'r.get("by_status", {}).get("200", 0)')
check "payload, replace: at least 11 updates ($n)" test "$n" -ge 11
check_eq "payload, replace: none refused" "$(gs_requests sheets.values.update 'sorted(r["by_status"])')" "['200']"

# ---- chunks: never more than 10,000 rows ------------------------------------------
c1=$(gs_export "$(gs_params "$(gs_pg "SELECT g AS n FROM generate_series(1, 25000) g")" \
    '{"spreadsheet_id":"wide","sheet":"Numbers"}' '{"chunk_rows":50000}')")
gs_wait_state "$c1" succeeded 120
check_eq "chunks of at most 10,000 rows" "$(gs_task "$c1" "result->>'chunks'")" 3
check_eq "25,000 rows once" "$(gs_rows_once wide Numbers 1 25000)" ok

# ---- 10,000,000 cells per spreadsheet -----------------------------------------------
# "full" has 9,999,750 cells; a new 3-column sheet leaves room for 82 rows
# (its header included): the first chunk of 50 fits, the second would not.
rows_before=$(gs_requests sheets.values.append 'r.get("by_status", {}).get("400", 0)')
f1=$(gs_export "$(gs_params "$(gs_pg "SELECT g AS id, g * 2 AS twice, 'x' AS tag FROM generate_series(1, 200) g")" \
    '{"spreadsheet_id":"full","sheet":"Small"}' '{"chunk_rows":50}')")
gs_wait_state "$f1" failed
msg=$(gs_task "$f1" "error_code || ': ' || error_message")
check "cell limit: permanent, before Google refuses ($msg)" \
    grep -q "cell_limit: writing would take spreadsheet full to 10000053 cells (sheet Small: 101 rows x 3 columns); Google Sheets holds at most 10000000 cells" <<<"$msg"
check_eq "cell limit: the chunks that fit are there" "$(gs_rows_once full Small 1 50)" ok
check_eq "cell limit: Google never had to refuse" \
    "$(gs_requests sheets.values.append 'r.get("by_status", {}).get("400", 0)')" "$rows_before"
check_eq "cell limit: one attempt" "$(gs_task "$f1" attempt)" 1

# ---- 50,000 characters per cell ---------------------------------------------------------
python3 -c 'import sys
with open(sys.argv[1], "w") as f:
    f.write("id,note\n1,short\n2,fine\n3,%s\n4,after\n" % ("y" * 60000))' "$E2E_DIR/long.csv"
l1=$(gs_export "$(gs_params "{\"kind\":\"csv\",\"path\":\"$E2E_DIR/long.csv\"}" '{"spreadsheet_id":"wide","sheet":"Long"}')")
gs_wait_state "$l1" failed
msg=$(gs_task "$l1" "error_code || ': ' || error_message")
check "a 60,000-character cell: permanent, named ($msg)" \
    grep -q "invalid_value: row 3, column note: 60000 characters; a Google Sheets cell holds at most 50000" <<<"$msg"
e2e_finish
