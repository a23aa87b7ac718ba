#!/usr/bin/env bash
# qlik refresh (app reload) and probe tasks against the sandbox's Qlik Cloud
# Reloads API (tests/fakes/specs/qlik-reloads.md), polled through the
# scheduler, two workers:
#   - a reload succeeds (one POST), partial passed through; a reload asked
#     for right after it ended POSTs again (the ended one is not adopted);
#   - a failed reload fails the task with the end of Qlik's script log;
#   - two tasks on one app make ONE reload (coalesced_into);
#   - 5xx while polling and a worker killed mid-poll: the same reload;
#   - 429 on the POST (the 5-minute window full): retried after
#     Retry-After, no reload doubled; 429 while polling: a durable retry;
#   - the deadline; a reload that stays QUEUED fails after
#     pending_timeout_ms; bad params name the field; a wrong API key fails
#     as auth_failed; probe.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/delayed_lib.sh"
e2e_init qlik

conns=$E2E_DIR/connectors.json
# a sandbox minute of 0.4 s; 3 reload POSTs per 5-minute window (2 s)
sandbox_start 400 --qlik-reload-posts 3
log "sandbox at $SANDBOX_URL"
export QLIK_KEY="qlik-key-$RANDOM$RANDOM"
sandbox_post /_sandbox/qlik/api-keys "{\"key\": \"$QLIK_KEY\"}" >/dev/null
conf=$(python3 -c 'import json, sys
print(json.dumps({"tenant_url": sys.argv[1], "refresh_poll_ms": 300, "refresh_poll_max_ms": 1000, "pending_timeout_ms": 3000}))' "$SANDBOX_URL")
connector_add "$conns" qk qlik "$conf" '{"api_key": {"env": "QLIK_KEY"}}'
connector_add "$conns" qk_wrong qlik "$conf" '{"api_key": "not-the-key"}'
python3 - "$conns" <<'PY'
import json, sys
conns = json.load(open(sys.argv[1]))
for c in conns:
    c["retry"] = {"base_ms": 200, "cap_ms": 1000, "by_type": {"refresh": {"base_ms": 200, "cap_ms": 1000, "max_attempts": 8}}}
json.dump(conns, open(sys.argv[1], "w"))
PY
start_scheduler
start_worker w1 --concurrency 2 --inline-retry-max 300ms --connectors "$conns"
start_worker w2 --concurrency 2 --inline-retry-max 300ms --connectors "$conns"
wait_assigned w1 w2

# app NAME BEHAVIOUR_JSON: an app; prints its id.
app() {
    sandbox_post /_sandbox/qlik/apps "$(python3 -c 'import json, sys
b = json.loads(sys.argv[2]); b["name"] = sys.argv[1]; print(json.dumps(b))' "$1" "$2")" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
posts() { sandbox_get "/_sandbox/qlik/apps/$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["posts"])'; }
reload() {
    local params=$1
    shift
    sub --type refresh --connector qk --params "$params" "$@" --max-attempts 8
}
# wait out the POST window between blocks that post
window() { sleep 2.2; }

# ---- success, partial -------------------------------------------------------------------
ok=$(app Sales '{"run_ms": 1200}')
t=$(reload "{\"app\": \"$ok\", \"partial\": true}")
task_wait_state "$t" succeeded 60
check_eq "one reload posted" "$(posts "$ok")" 1
check_eq "SUCCEEDED" "$(task_col "$t" "result->>'status'")" SUCCEEDED
check_eq "partial passed through" "$(task_col "$t" "result->>'partial'")" true
check "polled through the scheduler" sql_is \
    "SELECT count(*) >= 1 FROM task_events WHERE task_id = '$t' AND state = 'queued' AND worker = 'datafleet-scheduler'" t
check_eq "the lock is released" "$(rcli EXISTS "df:refresh:qlik:app:$ok")" 0
check_eq "the API key is in no event" "$(q "SELECT count(*) FROM task_events WHERE (coalesce(error::text, '') || coalesce(result::text, '')) LIKE '%$QLIK_KEY%'")" 0
# the app's reload just ended: a new task must reload again, not take the
# ended reload for its own (its data may predate the task)
t2=$(reload "{\"app\": \"$ok\"}")
task_wait_state "$t2" succeeded 60
check_eq "a reload right after another: a second POST, not adopted" \
    "$(posts "$ok")/$(task_col "$t2" "result->>'adopted'")" "2/"
check "its own reload" test "$(task_col "$t2" "result->>'reload_id'")" != "$(task_col "$t" "result->>'reload_id'")"

# ---- failure with the script log -------------------------------------------------------------
bad=$(app Broken '{"run_ms": 400, "fail": true, "log": "Error: Field not found - <Amount>"}')
t=$(reload "{\"app\": \"$bad\"}")
task_wait_state "$t" failed 60
check_eq "refresh_failed" "$(task_col "$t" error_code)" refresh_failed
check "with the end of Qlik's script log" grep -q "Field not found - <Amount>" <<<"$(task_col "$t" error_message)"

# ---- two tasks, one app: one reload ---------------------------------------------------------
co=$(app Shared '{"run_ms": 2500}')
a=$(reload "{\"app\": \"$co\"}")
owns_reload() { rcli GET "df:refresh:qlik:app:$co" | grep -q '"reload_id"'; }
wait_for "the first owns the app with its reload" 30 owns_reload
b=$(reload "{\"app\": \"$co\"}")
task_wait_state "$a" succeeded 60
task_wait_state "$b" succeeded 60
check_eq "one reload for both" "$(posts "$co")" 1
check_eq "both report it" "$(task_col "$a" "result->>'reload_id'")" "$(task_col "$b" "result->>'reload_id'")"
check_eq "the second was coalesced into the first" "$(task_col "$b" "result->>'coalesced_into'")" "$a"
window

# ---- 5xx while polling; a worker killed mid-poll ---------------------------------------------
fl=$(app Flaky '{"run_ms": 2500}')
sandbox_fault '{"route": "qlik.reloads.get", "status": 503, "after": 2, "count": 4}'
t=$(reload "{\"app\": \"$fl\"}")
task_wait_state "$t" succeeded 90
sandbox_faults_clear
check_eq "one POST after 5xx while polling" "$(posts "$fl")" 1
check "after retries (attempt $(task_col "$t" attempt))" test "$(task_col "$t" attempt)" -ge 2
kl=$(app Killed '{"run_ms": 6000}')
t=$(reload "{\"app\": \"$kl\"}")
posted_once() { [ "$(posts "$kl")" = 1 ]; }
wait_for "the reload accepted" 30 posted_once
victim=$(rcli HGET "df:task:$t" worker)
case $victim in *w1*) kill -9 "$PID_w1" ;; *) kill -9 "$PID_w2" ;; esac
log "killed the worker of task $t ($victim) mid-poll"
task_wait_state "$t" succeeded 90
check_eq "one POST after the kill" "$(posts "$kl")" 1
case $victim in *w1*) start_worker w1 --concurrency 2 --inline-retry-max 300ms --connectors "$conns" ;;
*) start_worker w2 --concurrency 2 --inline-retry-max 300ms --connectors "$conns" ;; esac
wait_assigned w1 w2
window

# ---- the POST's answer lost: the reload is found, not posted again ---------------------------
lo=$(app Lost '{"run_ms": 1500}')
sandbox_fault '{"route": "qlik.reloads.post", "drop_after_handling": true, "count": 1}'
t=$(reload "{\"app\": \"$lo\"}")
task_wait_state "$t" succeeded 60
sandbox_faults_clear
check_eq "a dropped answer: one reload, adopted" "$(posts "$lo")/$(task_col "$t" "result->>'adopted'")" 1/true
window

# ---- 429: the POST window full; while polling --------------------------------------------------
burst=()
for i in 1 2 3 4 5 6 7 8; do burst+=("$(app "Burst $i" '{"run_ms": 300}')"); done
ids=()
for a_ in "${burst[@]}"; do ids+=("$(reload "{\"app\": \"$a_\"}")"); done
for t in "${ids[@]}"; do task_wait_state "$t" succeeded 90; done
total=0
for a_ in "${burst[@]}"; do total=$((total + $(posts "$a_"))); done
check_eq "8 apps over a 3-a-window limit: 8 reloads, none doubled" "$total" 8
check "some POSTs met 429" sql_is "SELECT count(*) >= 1 FROM task_events WHERE task_id IN ($(printf "'%s'," "${ids[@]}" | sed 's/,$//')) AND state = 'retrying' AND error->>'code' = 'rate_limited'" t
window
th=$(app Throttled '{"run_ms": 2000}')
sandbox_fault '{"route": "qlik.reloads.get", "status": 429, "retry_after_s": 4, "after": 1, "count": 1}'
t=$(reload "{\"app\": \"$th\"}")
task_wait_state "$t" succeeded 60
sandbox_faults_clear
check_eq "429 while polling: one POST" "$(posts "$th")" 1
check "a durable retry waiting Retry-After" sql_is \
    "SELECT (error->>'retry_after_ms')::int >= 4000 FROM task_events WHERE task_id = '$t' AND state = 'retrying'" t

# ---- deadline, pending timeout ---------------------------------------------------------------
sl=$(app Slow '{"run_ms": 60000}')
t=$(reload "{\"app\": \"$sl\"}" --deadline 4s)
task_wait_state "$t" cancelled 30
check_eq "deadline_exceeded" "$(task_col "$t" error_code)" deadline_exceeded
pe=$(app Queued '{"queue_ms": -1}')
t=$(reload "{\"app\": \"$pe\"}")
task_wait_state "$t" failed 60
check_eq "refresh_pending_timeout" "$(task_col "$t" error_code)" refresh_pending_timeout
check "after pending_timeout_ms" sql_is "SELECT finished_at - started_at >= interval '3 s' FROM tasks WHERE task_id = '$t'" t

# ---- bad params, a wrong key, an unknown app, probe ------------------------------------------
t=$(reload '{"app": "a/b"}')
task_wait_state "$t" failed 30
check_eq "a bad app id names the param" "$(task_col "$t" error_code): $(task_col "$t" error_message)" \
    "invalid_params: params.app: expected the app's id (letters, digits and '-', 1 to 63)"
t=$(reload "{\"app\": \"$ok\", \"partial\": \"yes\"}")
task_wait_state "$t" failed 30
check "a bad partial names the param" grep -q "params.partial" <<<"$(task_col "$t" error_message)"
t=$(reload '{"app": "00000000-0000-4000-8000-000000000000"}')
task_wait_state "$t" failed 30
check_eq "an unknown app: not_found" "$(task_col "$t" error_code)" not_found
t=$(sub --type refresh --connector qk_wrong --params "{\"app\": \"$ok\"}")
task_wait_state "$t" failed 30
check_eq "a wrong API key: auth_failed" "$(task_col "$t" error_code)" auth_failed
t=$(sub --type probe --connector qk --params '{}')
task_wait_state "$t" succeeded 30
check_eq "probe: the user" "$(task_col "$t" "result->>'user_id'")" sandbox-user
e2e_finish
