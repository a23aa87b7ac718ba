#!/usr/bin/env bash
# The connector registry in PostgreSQL, end to end: connectors registered
# with `datafleet-scheduler connectors apply` (a powerbi one whose inline
# client secret is sealed in PostgreSQL, a noop one) are used by a running
# worker that has no connectors file and not the secret in its
# environment; then, without restarting the worker, the noop connector is
# disabled (its next task fails connector_disabled), a new connector is
# added (its task runs) and the first re-enabled, each seen within a few
# seconds (--registry-poll 1s). The secret never reaches PostgreSQL in
# clear, the worker's log or audit_log; every change has an audit row.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/powerbi_lib.sh"
e2e_init connreg

conns=$E2E_DIR/registry.json
pbi_start_sandbox
"$E2E_BIN/datafleet-scheduler" migrate >>"$E2E_DIR/migrate.log" 2>&1
pbi_connectors "$conns" pbi
# registry FILE ENABLED [EXTRA_NAME]: the GitOps file: pbi with its secret
# inline, regnoop enabled or not, and maybe one more noop connector.
registry() {
    python3 - "$conns" "$PBI_SECRET" "$2" "${3:-}" >"$1" <<'PY'
import json, sys
src, secret, enabled, extra = sys.argv[1:5]
pbi = json.load(open(src))[0]
pbi["secrets"] = {"client_secret": secret}
defs = [pbi, {"name": "regnoop", "kind": "noop", "enabled": enabled == "true",
              "secrets": {"token": {"env": "REGNOOP_TOKEN"}}}]
if extra:
    defs.append({"name": extra, "kind": "noop", "description": "added later"})
print(json.dumps({"connectors": defs}, indent=1))
PY
}
apply() { "$E2E_BIN/datafleet-scheduler" connectors apply "$1" 2>&1 | tee -a "$E2E_DIR/apply.log"; }
reloads() { grep -c "connector(s) from PostgreSQL" "$E2E_DIR/w1.log" || true; }

registry "$E2E_DIR/v1.json" true
out=$(apply "$E2E_DIR/v1.json")
check "apply created both" grep -q "created pbi" <<<"$out"
check "apply said regnoop" grep -q "created regnoop" <<<"$out"
check_eq "applying again changes nothing" "$(apply "$E2E_DIR/v1.json" | tail -1)" "2 connector(s) in $E2E_DIR/v1.json, 0 changed"
check_eq "the secret is sealed" "$(q "SELECT key_id IS NOT NULL AND position('$PBI_SECRET' IN encode(secrets_ciphertext, 'escape')) = 0 FROM connectors WHERE name = 'pbi'")" t
check_eq "no column holds it" "$(q "SELECT count(*) FROM connectors c WHERE position('$PBI_SECRET' IN row_to_json(c)::text) > 0")" 0
check "show masks it" bash -c "'$E2E_BIN/datafleet-scheduler' connectors show pbi | grep -q '\"client_secret\": \"\\*\\*\\*\"'"

start_recorder
export -n PBI_SECRET # the worker gets the secret from PostgreSQL only
export REGNOOP_TOKEN="regnoop-token-$RANDOM$RANDOM"
start_worker w1 --concurrency 2 --registry-poll 1s
wait_assigned w1
check "the worker loaded the registry" grep -q "loaded 2 connector(s) from PostgreSQL" "$E2E_DIR/w1.log"

probe=$("$E2E_BIN/datafleet-submit" --type probe --connector pbi --params '{}' | tail -1)
task_wait_state "$probe" succeeded 60
check_eq "the powerbi probe got a token with the sealed secret" "$(q "SELECT state FROM tasks WHERE task_id = '$probe'")" succeeded
t1=$(submit_export regnoop '{"rows":3}')
task_wait_state "$t1" succeeded 60
check_eq "a task of the registered noop connector ran" "$(q "SELECT state FROM tasks WHERE task_id = '$t1'")" succeeded

# ---- disable regnoop: seen without a restart --------------------------------
before=$(reloads)
registry "$E2E_DIR/v2.json" false
check "apply updated regnoop" grep -q "updated regnoop" <<<"$(apply "$E2E_DIR/v2.json")"
start=$SECONDS
wait_for "the worker reloaded" 10 bash -c "[ \$(grep -c 'connector(s) from PostgreSQL' '$E2E_DIR/w1.log') -gt $before ]"
check "the change reached the worker within 5 s ($((SECONDS - start)) s)" test $((SECONDS - start)) -le 5
t2=$(submit_export regnoop '{"rows":3}')
wait_for "t2 ended" 60 sql_is "SELECT state IN ('failed', 'dead') FROM tasks WHERE task_id = '$t2'" t
check_eq "the disabled connector's task failed" "$(q "SELECT error_code FROM tasks WHERE task_id = '$t2'")" connector_disabled

# ---- a new connector, and regnoop enabled again -----------------------------
before=$(reloads)
registry "$E2E_DIR/v3.json" true regtwo
out=$(apply "$E2E_DIR/v3.json")
check "apply created regtwo" grep -q "created regtwo" <<<"$out"
check "pbi unchanged" grep -q "unchanged pbi" <<<"$out"
wait_for "the worker reloaded" 10 bash -c "[ \$(grep -c 'connector(s) from PostgreSQL' '$E2E_DIR/w1.log') -gt $before ]"
t3=$(submit_export regtwo '{"rows":2}')
t4=$(submit_export regnoop '{"rows":2}')
task_wait_state "$t3" succeeded 60
task_wait_state "$t4" succeeded 60
check_eq "the new connector's task ran" "$(q "SELECT state FROM tasks WHERE task_id = '$t3'")" succeeded
check_eq "the re-enabled connector's task ran" "$(q "SELECT state FROM tasks WHERE task_id = '$t4'")" succeeded

# ---- delete ------------------------------------------------------------------
"$E2E_BIN/datafleet-scheduler" connectors delete regtwo >>"$E2E_DIR/apply.log" 2>&1
check_eq "delete: gone" "$(q "SELECT count(*) FROM connectors WHERE name = 'regtwo'")" 0

check_eq "the secrets never reached the worker's log" "$(grep -c -e "$PBI_SECRET" -e "$REGNOOP_TOKEN" "$E2E_DIR/w1.log" || true)" 0
check_eq "audit rows: 2 creates, an update, an update and a create, a delete" \
    "$(q "SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE actor LIKE 'cli:%' AND target_kind = 'connector'")" \
    "connector.create,connector.create,connector.update,connector.update,connector.create,connector.delete"
check_eq "no secret in audit_log" "$(q "SELECT count(*) FROM audit_log WHERE position('$PBI_SECRET' IN details::text) > 0")" 0
e2e_finish
