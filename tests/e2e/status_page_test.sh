#!/usr/bin/env bash
# The live status page (GET /), in a real browser, against a real fleet: a
# scheduler with roles api,recorder,cron and one worker. Headless Chromium
# (Debian's chromium) is driven by playwright-core from the npm registry,
# pinned by tests/e2e/status_page/package-lock.json and installed under the
# build tree by tests/e2e/status_page/install-playwright; the browser side is
# tests/e2e/status_page/drive.mjs, which answers one JSON line per command.
#
#  a. the page and its assets need no token, come from the binary with
#     their content types, a strict Content-Security-Policy (default-src
#     'self'), no-store, and load nothing from another host;
#  b. GET /v1/stats needs a token and has the documented shape;
#  c. in the browser: a wrong token is refused; with a read token the
#     overview, throughput, types and workers panels fill; a task submitted
#     with curl is shown moving to `succeeded`; a failure shows its error;
#     cancelling a running task is refused with the API's 403 message; with
#     an admin token the same button cancels it and the page shows
#     `cancelled`; retry of the failed task works; no script error and no
#     CSP violation happened.
# A screenshot is saved as build/<preset>/tests/artifacts/status_page.png.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_lib.sh"
e2e_init status

CHROMIUM=$(command -v chromium || true)
[ -n "$CHROMIUM" ] || { echo "FAIL: chromium not found (deploy/local/install-deps installs it)"; exit 1; }
PW_DIR=$("$E2E_SRC/tests/e2e/status_page/install-playwright" "$E2E_BIN" 2>>"$E2E_DIR/npm.log") ||
    { cat "$E2E_DIR/npm.log"; echo "FAIL: could not install playwright-core"; exit 1; }
ARTIFACTS=$E2E_BIN/tests/artifacts
mkdir -p "$ARTIFACTS"
SHOT=$ARTIFACTS/status_page.png
rm -f "$SHOT"

start_worker w1 --concurrency 4
api_start
ADMIN=$(api_token admin)
READ=$(api_token read)
wait_assigned w1
"$E2E_BIN/datafleet-scheduler" schedules add nightly --cron '0 3 * * *' \
    --task '{"type":"export","connector":"noop","params":{}}' >>"$E2E_DIR/cli.log" 2>&1

# ---- a. the page and its assets -----------------------------------------------------
header() { sed -n "s/^$1: *//Ip" "$E2E_DIR/resp.headers" | tr -d '\r' | head -1; }
API_STATUS=$(api GET / -)
check_eq "GET / without a token" "$API_STATUS $(header Content-Type)" "200 text/html; charset=utf-8"
csp=$(header Content-Security-Policy)
check "a strict CSP: default-src 'self'" grep -q "^default-src 'self';" <<<"$csp"
check "nothing cached" grep -qx "no-store" <<<"$(header Cache-Control)"
check "no inline script in the page" bash -c "! grep -q '<script>' '$E2E_DIR/resp.json'"
cp "$E2E_DIR/resp.json" "$E2E_DIR/index.html"
API_STATUS=$(api GET /assets/app.js -)
check_eq "app.js" "$API_STATUS $(header Content-Type)" "200 text/javascript; charset=utf-8"
check "app.js is the source's" cmp -s "$E2E_DIR/resp.json" "$E2E_SRC/scheduler/api/static/app.js"
cp "$E2E_DIR/resp.json" "$E2E_DIR/app.js"
API_STATUS=$(api GET /assets/app.css -)
check_eq "app.css" "$API_STATUS $(header Content-Type)" "200 text/css; charset=utf-8"
cp "$E2E_DIR/resp.json" "$E2E_DIR/app.css"
# The only URL in the assets is the SVG namespace: nothing from other hosts.
check_eq "no other host referenced" \
    "$(grep -ohE 'https?://[^"'"'"' )]*' "$E2E_DIR/index.html" "$E2E_DIR/app.js" "$E2E_DIR/app.css" | sort -u | tr '\n' ' ')" \
    "http://www.w3.org/2000/svg "
API_STATUS=$(api GET /assets/nope.js -)
check "unknown asset: 404 in the error shape" api_error_is 404 not_found path

# ---- b. /v1/stats ------------------------------------------------------------------------
API_STATUS=$(api GET /v1/stats -)
check "stats need a token" api_error_is 401 unauthorized Authorization
API_STATUS=$(api GET /v1/stats "$READ")
check_eq "stats with a read token" "$API_STATUS" 200
check_eq "stats: its parts" "$(jget 'sorted(r)')" \
    '["dlq", "generated_at", "pipelines", "recent_failures", "schedules", "tasks", "throughput", "workers"]'
check_eq "stats: 30 one-minute buckets" "$(jget '[len(r["throughput"]["buckets"]), r["throughput"]["bucket_seconds"]]')" "[30, 60]"
check_eq "stats: live states" "$(jget 'sorted(r["tasks"]["live"])')" '["queued", "retrying", "running"]'
dlq_table=$(q "SELECT to_regclass('dlq_messages') IS NOT NULL")
check_eq "stats: dlq is null exactly when there is no dlq_messages table" \
    "$(jget 'r["dlq"] is None')" "$([ "$dlq_table" = t ] && echo false || echo true)"
check "stats: workers from Redis" bash -c "[ \"\$(cd '$E2E_DIR' && python3 -c 'import json; print(json.load(open(\"resp.json\"))[\"workers\"][\"alive\"] >= 1)')\" = True ]"
API_STATUS=$(api GET "/v1/stats?x=1" "$READ")
check "stats: unknown parameter refused" api_error_is 400 invalid x

# ---- c. in the browser -------------------------------------------------------------------------
# The browser reads commands from one FIFO and answers on another (plain
# file descriptors, which subshells and pipelines keep, unlike a coproc's).
mkfifo "$E2E_DIR/page.in" "$E2E_DIR/page.out"
PW_DIR=$PW_DIR CHROMIUM=$CHROMIUM node "$E2E_SRC/tests/e2e/status_page/drive.mjs" \
    <"$E2E_DIR/page.in" >"$E2E_DIR/page.out" 2>>"$E2E_DIR/browser.log" &
E2E_PIDS+=("$!")
exec {PAGE_IN}>"$E2E_DIR/page.in" {PAGE_OUT}<"$E2E_DIR/page.out"
PAGE_OPEN=1
# page_close: let the browser close itself (once; in a subshell, as a
# browser already gone would kill the writer with SIGPIPE).
page_close() {
    [ -n "$PAGE_OPEN" ] || return 0
    PAGE_OPEN=
    (page quit >/dev/null 2>&1) || true
}
trap 'rc=$?; set +e; page_close; (exit $rc); e2e_cleanup' EXIT

# page JSON: one command to the browser; prints its value, fails on an error.
PAGE_ANSWER=
page() {
    local cmd=$1 args=${2:-"{}"}
    printf '%s\n' "$(python3 -c 'import json, sys; a = json.loads(sys.argv[2]); a["cmd"] = sys.argv[1]; print(json.dumps(a))' "$cmd" "$args")" >&"$PAGE_IN"
    IFS= read -r -t 120 PAGE_ANSWER <&"$PAGE_OUT" || { log "the browser did not answer $cmd"; return 1; }
    echo "$PAGE_ANSWER" >>"$E2E_DIR/page.log"
    python3 -c 'import json, sys
a = json.loads(sys.argv[1])
if not a["ok"]:
    print(a["error"], file=sys.stderr); sys.exit(1)
v = a["value"]
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$PAGE_ANSWER"
}
# pget JSON EXPR: a Python expression over v, a command's value.
pget() { python3 -c 'import json, sys; v = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
# page_shows SELECTOR TEXT: the element shows TEXT within 20 s.
page_shows() { page wait_text "$(js selector "$1" text "$2")" >/dev/null; }
# page_state_is TASK_ID STATE: its row in the tasks table shows STATE within 60 s.
page_state_is() { page wait_state "$(js task_id "$1" state "$2")" >/dev/null; }
js() { python3 -c 'import json, sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' "$@"; }

v=$(page open "$(js url "$API_URL/")")
check_eq "the page loads" "$(pget "$v" 'v["status"], v["title"]')" "(200, 'datafleet status')"
v=$(page login "$(js token dft_not_a_real_token)")
check "a wrong token is refused, with the API's message" grep -q "unknown, revoked or expired API token" <<<"$(pget "$v" 'v["error"]')"
v=$(page login "$(js token "$READ")")
check "a read token connects" grep -q "^live" <<<"$(pget "$v" 'v["status"]')"

# A task submitted with curl, followed by the page until it succeeds.
API_STATUS=$(api POST /v1/tasks "$ADMIN" '{"type":"export","connector":"noop","params":{"sleep_ms":4000,"rows":7}}')
task=$(jget 'r["task_id"]')
check_eq "task submitted through the API" "$API_STATUS" 202
v=$(page wait_state "$(js task_id "$task" state succeeded)") || v='{"seen": [], "shown": ""}'
check_eq "the page shows the task succeeded" "$(pget "$v" 'v["shown"]')" succeeded
check "and shows it live before (queued or running first)" \
    grep -qE "'(queued|running)'" <<<"$(pget "$v" 'v["seen"][:-1]')"
log "states shown: $(pget "$v" '" -> ".join(v["seen"])')"

# A failure: its error appears in the task table and in recent failures.
API_STATUS=$(api POST /v1/tasks "$ADMIN" '{"type":"export","connector":"noop","params":{"fail":"permanent"}}')
failed=$(jget 'r["task_id"]')
check "the page shows the failed task failed" page_state_is "$failed" failed
check "the failure's error is shown" page_shows "tr[data-testid=failure-row][data-task-id=\"$failed\"]" noop_permanent

# The overview, the throughput chart, the types table and the workers panel.
check "overview: succeeded in 24 h counted" page_shows '[data-testid=stat-24h-succeeded] .num' 1
check_eq "overview: workers alive shown" \
    "$(page text "$(js selector '[data-testid=stat-workers] .num')" | grep -cE '^[1-9][0-9]*$')" 1
check_eq "throughput: 30 bars" "$(page count "$(js selector '[data-testid=throughput-svg] g')")" 30
check "throughput: the finished tasks counted" page_shows '[data-testid=throughput-note]' '1 failed'
check "types: an export row" page_shows 'tr[data-type=export]' export
check "workers: alive and running counted from the summary" page_shows '#workers-count' alive
workers_shown() {
    [ "$(page count "$(js selector 'tr[data-testid=worker-row][data-worker-id=w1]')")" -ge 1 ]
}
check "workers: w1 listed from /v1/workers" wait_for "workers panel" 20 workers_shown
check "workers: with its types" page_shows 'tr[data-testid=worker-row][data-worker-id=w1]' export
check "schedules: the schedule with its next run" page_shows \
    'tr[data-testid=schedule-row][data-schedule=nightly]' 'in '
check "pipelines: none in progress" page_shows '#pipelines-count' '(0 running)'

# Cancel from the page: refused for a read token, done with an admin token.
API_STATUS=$(api POST /v1/tasks "$ADMIN" '{"type":"export","connector":"noop","params":{"sleep_ms":120000}}')
slow=$(jget 'r["task_id"]')
check "the page shows the slow task running" page_state_is "$slow" running
v=$(page click "$(js testid task-cancel task_id "$slow")") || v='{"message": "", "class": ""}'
check "read token: cancel refused with the API's 403 message" \
    grep -q "needs a token of role submit or above.*(403 forbidden)" <<<"$(pget "$v" 'v["message"]')"
check_eq "shown as an error" "$(pget "$v" 'v["class"]')" error
check "the task still runs" api_task_state_is "$slow" running "$READ"
v=$(page logout)
check_eq "forgetting the token clears sessionStorage" "$(pget "$v" 'v["stored"]')" 0
page login "$(js token "$ADMIN")" >/dev/null
v=$(page click "$(js testid task-cancel task_id "$slow")") || v='{"message": "", "class": ""}'
check "admin token: cancel requested" grep -q "Cancel requested for task $slow" <<<"$(pget "$v" 'v["message"]')"
v=$(page wait_state "$(js task_id "$slow" state cancelled timeout_ms 30000)") || v='{"shown": ""}'
check_eq "the page shows the task cancelled" "$(pget "$v" 'v["shown"]')" cancelled
v=$(page click "$(js testid task-retry task_id "$failed")") || v='{"message": ""}'
check "retry of the failed task from the page" grep -q "Task $failed retried as " <<<"$(pget "$v" 'v["message"]')"

# Lineage: the graph a task reported, upstream and downstream of a node.
graph='{"nodes":[{"namespace":"postgres://db:5432","name":"sales.public.orders","kind":"table"},{"namespace":"powerbi://t1","name":"workspaces/w/datasets/d","kind":"dataset"},{"namespace":"powerbi://t1","name":"workspaces/w/reports/r","kind":"report"}],"edges":[{"from":{"namespace":"postgres://db:5432","name":"sales.public.orders"},"to":{"namespace":"powerbi://t1","name":"workspaces/w/datasets/d"},"attrs":{"rows":12}},{"from":{"namespace":"powerbi://t1","name":"workspaces/w/datasets/d"},"to":{"namespace":"powerbi://t1","name":"workspaces/w/reports/r"}}]}'
API_STATUS=$(api POST /v1/tasks "$ADMIN" "{\"type\":\"lineage\",\"connector\":\"noop\",\"params\":{\"lineage\":$graph}}")
lin=$(jget 'r["task_id"]')
wait_for "the lineage task recorded" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$lin'" succeeded
page fill "$(js testid lineage-node value 'powerbi://t1|workspaces/w/datasets/d')" >/dev/null
page press "$(js testid lineage-show)" >/dev/null
check "lineage: the dataset's upstream table shown" page_shows '[data-testid=lineage-body]' 'sales.public.orders'
check "lineage: and its downstream report" page_shows '[data-testid=lineage-body]' 'workspaces/w/reports/r'
check_eq "lineage: two edges" "$(page count "$(js selector 'tr[data-testid=lineage-edge]')")" 2
page fill "$(js testid lineage-node value 'nowhere|nothing')" >/dev/null
page press "$(js testid lineage-show)" >/dev/null
check "lineage: an unknown node says so" page_shows '[data-testid=lineage-note]' 'no lineage node'

v=$(page problems)
check_eq "no script error, no CSP violation" "$v" "[]"
page screenshot "$(js path "$SHOT")" >/dev/null
check "screenshot saved" test -s "$SHOT"
log "screenshot: $SHOT"
page_close
e2e_finish
