#!/usr/bin/env bash
# google_sheets exports on the real stack against the sandbox: a PostgreSQL
# table and a CSV file in the three modes (append twice: one header, rows
# after rows; replace: the sheet holds only the new rows; upsert: rows of
# known keys updated in place, the others appended, a second run changes
# nothing), the type conversion, probes, a spreadsheet that does not exist
# (permanent, Google's NOT_FOUND message), a key Google does not know
# (auth failure with Google's invalid_grant message) and a sheet whose
# header is not the export's.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sheets_lib.sh"
e2e_init sheetsexport

gs_start_sandbox
gs_spreadsheet book Sheet1
# An account registered with sa's public key, used with another valid RSA
# key (an account of its own: no token of GS_EMAIL's in the fleet cache can
# stand in for it, however the cache is keyed).
gs_keypair stranger
gs_account other@datafleet-e2e.iam.gserviceaccount.com "$E2E_DIR/sa.pub"
conns=$E2E_DIR/connectors.json
gs_connectors "$conns" sheets
gs_connectors "$conns" sheets-book "$E2E_DIR/sa.key" '{"spreadsheet_id":"book"}'
gs_connectors "$conns" sheets-stranger "$E2E_DIR/stranger.key" \
    '{"client_email":"other@datafleet-e2e.iam.gserviceaccount.com"}'
# The key as the JSON key file Google hands out.
python3 -c 'import json, sys
print(json.dumps({"type": "service_account", "client_email": sys.argv[1],
                  "private_key": open(sys.argv[2]).read(), "private_key_id": "k1",
                  "token_uri": "https://oauth2.googleapis.com/token"}))' \
    "$GS_EMAIL" "$E2E_DIR/sa.key" >"$E2E_DIR/sa.json"
gs_connectors "$conns" sheets-json "$E2E_DIR/sa.json" '{"spreadsheet_id":"book"}'
gs_post /_sandbox/sheets '{"spreadsheet_id":"private","editors":["someone@else.example"]}' >/dev/null
start_recorder
start_worker w1 --concurrency 4 --connectors "$conns"
wait_assigned w1

q "CREATE TABLE orders AS SELECT g AS id, 'customer ' || g AS customer, g * 2.25 AS amount,
   (g % 3 = 0) AS paid, date '2024-01-01' + g AS day,
   timestamptz '2024-01-01 00:00:00+00' + g * interval '90 minutes' AS created,
   CASE WHEN g % 10 = 0 THEN NULL ELSE g % 7 END AS qty
   FROM generate_series(1, 3000) g" >/dev/null
pg() { gs_pg "SELECT * FROM orders WHERE id BETWEEN $1 AND $2 ORDER BY id"; }

# ---- append: a PostgreSQL table, twice -------------------------------------
t1=$(gs_export "$(gs_params "$(pg 1 2000)" '{"spreadsheet_id":"book","sheet":"Orders","mode":"append"}' '{"chunk_rows":700}')")
gs_wait_state "$t1" succeeded
t2=$(gs_export "$(gs_params "$(pg 2001 3000)" '{"spreadsheet_id":"book","sheet":"Orders"}')")
gs_wait_state "$t2" succeeded
check_eq "append: every row once, header once" "$(gs_rows_once book Orders 1 3000)" ok
check_eq "append: 3 chunks for 2,000 rows of 700" "$(gs_task "$t1" "result->>'chunks'")" 3
check_eq "append: rows written" "$(gs_task "$t1" "result->>'rows_written'")" 2000
check_eq "the sheet was created with the header" \
    "$(gs_values book Orders 'v[0]')" "['id', 'customer', 'amount', 'paid', 'day', 'created', 'qty']"
check_eq "types: numbers, booleans, ISO dates and times as text, NULL empty" \
    "$(gs_values book Orders 'v[10]')" "[10, 'customer 10', 22.5, False, '2024-01-11', '2024-01-01T15:00:00Z', '']"
check_eq "appended rows follow in order" "$(gs_values book Orders '[r[0] for r in v[1999:2003]]')" "[1999, 2000, 2001, 2002]"
check_eq "the checkpoint is gone" "$(rcli EXISTS "df:ckpt:$t1")" 0

# ---- replace: a CSV file over the sheet ---------------------------------------
printf 'sku,label,price,active\n' >"$E2E_DIR/products.csv"
for i in $(seq 1 250); do printf '%d,"item %d, ""large""",%d.5,%s\n' "$i" "$i" "$i" $([ $((i % 2)) = 0 ] && echo true || echo false); done >>"$E2E_DIR/products.csv"
csv="{\"kind\":\"csv\",\"path\":\"$E2E_DIR/products.csv\"}"
r1=$(gs_export "$(gs_params "$csv" '{"sheet":"Orders","mode":"replace"}' '{"chunk_rows":100}')" --connector sheets-book)
gs_wait_state "$r1" succeeded
check_eq "replace: only the CSV rows (spreadsheet from the connector's config)" "$(gs_rows_once book Orders 1 250)" ok
check_eq "replace: the CSV's header" "$(gs_values book Orders 'v[0]')" "['sku', 'label', 'price', 'active']"
check_eq "replace: text with quotes and commas" "$(gs_values book Orders 'v[2]')" "[2, 'item 2, \"large\"', 2.5, True]"
check_eq "replace: nothing below" "$(gs_values book Orders 'len(v)')" 251
r2=$(gs_export "$(gs_params "$csv" '{"spreadsheet_id":"book","sheet":"Orders","mode":"replace"}')")
gs_wait_state "$r2" succeeded
check_eq "replace again: the same sheet" "$(gs_rows_once book Orders 1 250)" ok
check_eq "replace: values.update, never append" "$(gs_requests sheets.values.append 'r.get("total", 0)')" 4

# The CSV appended, and upserted by sku after a price change.
c1=$(gs_export "$(gs_params "$csv" '{"spreadsheet_id":"book","sheet":"CsvAppend"}' '{"chunk_rows":100}')")
gs_wait_state "$c1" succeeded
check_eq "csv append: every row once" "$(gs_rows_once book CsvAppend 1 250)" ok
c2=$(gs_export "$(gs_params "$csv" '{"spreadsheet_id":"book","sheet":"CsvUpsert","mode":"upsert","key_columns":["sku"]}')")
gs_wait_state "$c2" succeeded
sed -i 's/^7,\(.*\),7\.5,/7,\1,70.25,/' "$E2E_DIR/products.csv"
printf '251,new item,1.5,true\n' >>"$E2E_DIR/products.csv"
c3=$(gs_export "$(gs_params "$csv" '{"spreadsheet_id":"book","sheet":"CsvUpsert","mode":"upsert","key_columns":["sku"]}')")
gs_wait_state "$c3" succeeded
check_eq "csv upsert: every key once" "$(gs_rows_once book CsvUpsert 1 251)" ok
check_eq "csv upsert: the changed price in place" "$(gs_values book CsvUpsert 'v[7][2]')" 70.25
check_eq "csv upsert: 250 updated, 1 appended" \
    "$(gs_task "$c3" "(result->>'rows_updated') || '/' || (result->>'rows_appended')")" 250/1

# ---- upsert: keys updated in place, new keys appended ------------------------
up() {
    gs_export "$(gs_params "$(gs_pg "$1")" '{"spreadsheet_id":"book","sheet":"Upserts","mode":"upsert","key_columns":["id"]}' '{"chunk_rows":400}')"
}
u1=$(up "SELECT id, customer, amount FROM orders WHERE id <= 1000 ORDER BY id")
gs_wait_state "$u1" succeeded
q "UPDATE orders SET customer = 'changed ' || id WHERE id % 100 = 0" >/dev/null
u2=$(up "SELECT id, customer, amount FROM orders WHERE id BETWEEN 501 AND 1500 ORDER BY id DESC")
gs_wait_state "$u2" succeeded
check_eq "upsert: each key once" "$(gs_rows_once book Upserts 1 1500)" ok
check_eq "upsert: 500 rows updated, 500 appended" \
    "$(gs_task "$u2" "(result->>'rows_updated') || '/' || (result->>'rows_appended')")" 500/500
check_eq "upsert: updated in place" "$(gs_values book Upserts 'v[600]')" "[600, 'changed 600', 1350.0]"
check_eq "upsert: untouched rows kept" "$(gs_values book Upserts 'v[100]')" "[100, 'customer 100', 225.0]"
check_eq "upsert: new keys after the old ones" "$(gs_values book Upserts '[v[1001][0], v[1500][0]]')" "[1500, 1001]"
u3=$(up "SELECT id, customer, amount FROM orders WHERE id BETWEEN 501 AND 1500 ORDER BY id DESC")
gs_wait_state "$u3" succeeded
check_eq "upsert again: nothing appended" "$(gs_task "$u3" "result->>'rows_appended'")" 0
check_eq "upsert again: the same sheet" "$(gs_rows_once book Upserts 1 1500)" ok
bad=$(gs_export "$(gs_params "$(gs_pg "SELECT id, customer FROM orders WHERE id < 5")" '{"spreadsheet_id":"book","sheet":"Upserts","mode":"upsert","key_columns":["nope"]}')")
gs_wait_state "$bad" failed
check "upsert: an unknown key column is named" grep -q "key_columns: nope is not a column" <<<"$(gs_task "$bad" error_message)"

# ---- probes --------------------------------------------------------------------
p1=$("$E2E_BIN/datafleet-submit" --type probe --connector sheets-book --params '{}' | tail -1)
gs_wait_state "$p1" succeeded
check_eq "probe: the configured spreadsheet's sheets" "$(gs_task "$p1" "result->'sheets'")" '["Sheet1", "Orders", "CsvAppend", "CsvUpsert", "Upserts"]'
p2=$("$E2E_BIN/datafleet-submit" --type probe --connector sheets --params '{}' | tail -1)
gs_wait_state "$p2" succeeded
check_eq "probe without a spreadsheet: a token" "$(gs_task "$p2" "result->>'token'")" true

p4=$("$E2E_BIN/datafleet-submit" --type probe --connector sheets-json --params '{}' | tail -1)
gs_wait_state "$p4" succeeded
check_eq "probe with a JSON key file" "$(gs_task "$p4" "result->>'spreadsheet_id'")" book

# ---- failures --------------------------------------------------------------------
nf=$(gs_export "$(gs_params "$(pg 1 10)" '{"spreadsheet_id":"no-such-book","sheet":"S"}')")
gs_wait_state "$nf" failed
msg=$(gs_task "$nf" "error_code || ': ' || error_message")
check "bad spreadsheet: permanent, with Google's NOT_FOUND ($msg)" \
    grep -q "not_found: spreadsheet no-such-book: HTTP 404: NOT_FOUND: Requested entity was not found." <<<"$msg"
check_eq "bad spreadsheet: one attempt" "$(gs_task "$nf" attempt)" 1
pd=$(gs_export "$(gs_params "$(pg 1 10)" '{"spreadsheet_id":"private","sheet":"S"}')")
gs_wait_state "$pd" failed
msg=$(gs_task "$pd" "error_code || ': ' || error_message")
check "not shared with the account: permanent ($msg)" \
    grep -q "permission_denied: .*PERMISSION_DENIED: The caller does not have permission" <<<"$msg"
ns=$(gs_export "$(gs_params "$(pg 1 10)" '{"spreadsheet_id":"book","sheet":"S"}')" --connector sheets-stranger)
gs_wait_state "$ns" failed
msg=$(gs_task "$ns" "error_code || ': ' || error_message")
check "bad private key: auth failure with Google's invalid_grant ($msg)" \
    grep -q "auth_failed: .*Google token: .*invalid_grant: Invalid JWT Signature." <<<"$msg"
check_eq "bad private key: no sheet written" "$(gs_values book S 'v')" None
p3=$("$E2E_BIN/datafleet-submit" --type probe --connector sheets-stranger --params '{}' | tail -1)
gs_wait_state "$p3" failed
check_eq "probe with a bad key: auth" "$(gs_task "$p3" error_code)" auth_failed
hm=$(gs_export "$(gs_params "$(pg 1 10)" '{"spreadsheet_id":"book","sheet":"Upserts","mode":"append"}')")
gs_wait_state "$hm" failed
check "a sheet with another header is refused" grep -q "header_mismatch" <<<"$(gs_task "$hm" error_code)"
check_eq "and left alone" "$(gs_rows_once book Upserts 1 1500)" ok
check "no secret in the logs" bash -c "! grep -q 'PRIVATE KEY' '$E2E_DIR'/*.log"
e2e_finish
