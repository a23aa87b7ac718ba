#!/usr/bin/env bash
# google_sheets upsert against the sandbox, the sheet checked cell by cell
# against a model: the first upsert into a missing sheet appends every row;
# a second one, its rows shuffled so that every chunk holds both known and
# new keys, updates the known keys in place (one values:batchUpdate per
# chunk, one range per run of consecutive rows) and appends the new ones in
# the order they come; running the same upsert again changes nothing (not a
# cell, not the grid). The same with a key of two columns, where one column
# alone repeats.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sheets_lib.sh"
e2e_init sheetsupsert

gs_start_sandbox
gs_spreadsheet up Sheet1
gs_connectors "$E2E_DIR/connectors.json" sheets
start_recorder
start_worker w1 --concurrency 2 --connectors "$E2E_DIR/connectors.json"
wait_assigned w1

q "CREATE TABLE people AS SELECT g AS id, 'person ' || g AS name, g * 1.5 AS score,
   (g % 2 = 0) AS active FROM generate_series(1, 1200) g" >/dev/null
q "CREATE TABLE pairs AS SELECT r AS region, c AS code, r || '-' || c AS label
   FROM unnest(ARRAY['north', 'south', 'east', 'west']) r, generate_series(1, 10) c" >/dev/null

MODEL=$E2E_DIR/model
# model_apply NAME KEYS SQL: apply the rows of SQL (in its order) to the
# model of sheet NAME as an upsert by the KEYS columns (comma-separated
# indexes) should: a known key's row replaced in place, a new key
# appended; NULL is written as "".
model_apply() {
    q "SELECT row_to_json(t) FROM ($3) t" >"$MODEL.rows"
    python3 - "$MODEL.$1.json" "$2" "$MODEL.rows" <<'PY'
import json, os, sys
path, keys = sys.argv[1], [int(k) for k in sys.argv[2].split(",")]
model = json.load(open(path)) if os.path.exists(path) else None
for line in open(sys.argv[3]):
    rec = json.loads(line, object_pairs_hook=list)
    if model is None:
        model = [[name for name, _ in rec]]
    row = ["" if v is None else v for _, v in rec]
    key = [row[k] for k in keys]
    at = next((i for i, r in enumerate(model) if i > 0 and [r[k] for k in keys] == key), None)
    if at is None:
        model.append(row)
    else:
        model[at] = row
json.dump(model, open(path, "w"))
PY
}

# sheet_vs_model NAME: "ok" when the sheet holds exactly the model's rows.
sheet_vs_model() {
    gs_get /_sandbox/sheets/up | python3 -c 'import json, sys
name, model = sys.argv[1], json.load(open(sys.argv[2]))
s = [s for s in json.load(sys.stdin)["sheets"] if s["title"] == name]
v = s[0].get("values", []) if s else None
if v == model:
    print("ok")
elif v is None:
    print("no sheet " + name)
else:
    bad = [i for i in range(max(len(v), len(model))) if i >= len(v) or i >= len(model) or v[i] != model[i]]
    i = bad[0]
    print("%d rows (want %d), %d differ; first, row %d: %s, want %s" % (
        len(v), len(model), len(bad), i + 1, v[i] if i < len(v) else "-", model[i] if i < len(model) else "-"))' \
        "$1" "$MODEL.$1.json"
}

# upsert NAME KEYS_JSON SQL [CHUNK_ROWS]: run an upsert to sheet NAME until
# it ends; prints the task id.
upsert() {
    local t
    t=$(gs_export "$(gs_params "$(gs_pg "$3")" \
        "{\"spreadsheet_id\":\"up\",\"sheet\":\"$1\",\"mode\":\"upsert\",\"key_columns\":$2}" \
        "{\"chunk_rows\":${4:-400}}")")
    wait_for "task $t ended" 90 sql_is \
        "SELECT state IN ('succeeded', 'failed', 'dead') FROM tasks WHERE task_id = '$t'" t >&2 || true
    [ "$(gs_task "$t" state)" = succeeded ] || log "task $t: $(gs_task "$t" "state || ': ' || coalesce(error_message, '')")" >&2
    echo "$t"
}

grid_rows() { gs_get /_sandbox/sheets/up | python3 -c 'import json, sys
print([s["row_count"] for s in json.load(sys.stdin)["sheets"] if s["title"] == sys.argv[1]][0])' "$1"; }

updated_appended() { gs_task "$1" "(result->>'rows_updated') || '/' || (result->>'rows_appended')"; }

# ---- one key column ------------------------------------------------------------
first="SELECT id, name, score, active FROM people ORDER BY id"
u1=$(upsert People '["id"]' "$first")
model_apply People 0 "$first"
check_eq "first upsert succeeded" "$(gs_task "$u1" state)" succeeded
check_eq "first upsert: every row appended" "$(updated_appended "$u1")" 0/1200
check_eq "first upsert: the sheet is the model" "$(sheet_vs_model People)" ok

# Change every 7th person (a NULL score among them), add 300, and send the
# kept old rows and the new ones shuffled: every chunk of 400 mixes them.
q "UPDATE people SET name = 'renamed ' || id, score = CASE WHEN id % 14 = 0 THEN NULL ELSE score + 1000 END
   WHERE id % 7 = 0" >/dev/null
q "INSERT INTO people SELECT g, 'newcomer ' || g, g * 0.25, g % 3 = 0 FROM generate_series(1201, 1500) g" >/dev/null
second="SELECT id, name, score, active FROM people WHERE id % 4 <> 0 OR id > 1200 ORDER BY (id * 7919) % 1511, id"
batches0=$(gs_requests sheets.values.batchUpdate 'r.get("total", 0)')
updates0=$(gs_requests sheets.values.update 'r.get("total", 0)')
u2=$(upsert People '["id"]' "$second")
model_apply People 0 "$second"
check_eq "second upsert succeeded" "$(gs_task "$u2" state)" succeeded
check_eq "second upsert: 900 updated in place, 300 appended" "$(updated_appended "$u2")" 900/300
check_eq "second upsert: the sheet is the model (old rows in place, new ones after, in order)" \
    "$(sheet_vs_model People)" ok
check_eq "second upsert: the grid grew by the appended rows only" "$(grid_rows People)" 1501
check_eq "second upsert: one values:batchUpdate per chunk, all 200" \
    "$(gs_requests sheets.values.batchUpdate '(r["total"] - '"$batches0"', r["by_status"])')" "(3, {'200': 3})"
check_eq "second upsert: no values.update (no row-by-row fallback)" \
    "$(gs_requests sheets.values.update 'r.get("total", 0)')" "$updates0"
check_eq "no key twice" "$(gs_rows_once up People 1 1500)" ok

u3=$(upsert People '["id"]' "$second")
check_eq "same upsert again: succeeded" "$(gs_task "$u3" state)" succeeded
check_eq "same upsert again: 1200 updated, none appended" "$(updated_appended "$u3")" 1200/0
check_eq "same upsert again: not a cell changed" "$(sheet_vs_model People)" ok
check_eq "same upsert again: the grid unchanged" "$(grid_rows People)" 1501

# ---- two key columns --------------------------------------------------------------
pairs1="SELECT region, code, label FROM pairs ORDER BY region, code"
p1=$(upsert Pairs '["region", "code"]' "$pairs1" 15)
model_apply Pairs 0,1 "$pairs1"
check_eq "pairs: first upsert appends 40" "$(updated_appended "$p1")" 0/40
q "UPDATE pairs SET label = 'changed ' || region || code WHERE code % 2 = 0 AND region IN ('north', 'east')" >/dev/null
q "INSERT INTO pairs SELECT 'centre', c, 'centre-' || c FROM generate_series(1, 10) c" >/dev/null
pairs2="SELECT region, code, label FROM pairs WHERE code % 2 = 0 OR region = 'centre' ORDER BY code, region"
p2=$(upsert Pairs '["region", "code"]' "$pairs2" 15)
model_apply Pairs 0,1 "$pairs2"
check_eq "pairs: 20 updated, 10 appended" "$(updated_appended "$p2")" 20/10
check_eq "pairs: the sheet is the model (a key is both columns)" "$(sheet_vs_model Pairs)" ok
p3=$(upsert Pairs '["region", "code"]' "$pairs2" 15)
check_eq "pairs: the same upsert again changes nothing" "$(updated_appended "$p3")/$(sheet_vs_model Pairs)" 30/0/ok

check "the connector logged no warning or error" \
    bash -c "! grep -E '\"level\":\"(warn|error)\".*\"connector\":\"sheets\"' '$E2E_DIR/w1.log'"
e2e_finish
