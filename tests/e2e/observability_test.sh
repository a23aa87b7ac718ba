#!/usr/bin/env bash
# Observability of a real fleet: a real Prometheus (Debian's package, on a
# free port with a private data folder, scraping every second) scrapes two
# workers and a scheduler (`run --roles cron,recorder`), each with
# --metrics-listen on port 0 (the bound port read from its log), while a
# mixed load runs: noop exports (successes), noop refreshes that poll (in
# place, and through the scheduler), a permanent failure, a task that
# fails twice then succeeds (retrying), one that exhausts its attempts
# (dead, DLQ), a poison message (not JSON, DLQ), a Power BI export with
# 429s injected by the sandbox and low connector limits (rate-limiter
# waits), a Google Sheets export (waits and a 429 too), a schedule firing
# every second, and a pipeline run. The load is sent in two waves a few
# seconds apart, so that every counter and histogram moves while
# Prometheus watches (a rate() of a series that never changes is 0, and a
# quantile of it NaN).
#
# Then:
#  a. each program's live /metrics passes `promtool check metrics`, and no
#     label value looks like a task id (a ULID or UUID), is a submitted task
#     id, or holds a connector secret (the Power BI client secret, the
#     Google private key), and no metric has an unbounded number of series;
#     every metric exported is documented, with its type, in docs/METRICS.md;
#  b. every PromQL expression of deploy/grafana/dashboards/*.json and every
#     recording rule of deploy/prometheus/alerts.yml, queried through
#     Prometheus' HTTP API, returns data with a number in it (not only NaN).
#     Alerts are about a sick fleet and this one is healthy, so an alert's
#     expression as written need only evaluate (status success); with its
#     comparison thresholds removed (`x > 0.10` -> `x`, `absent(up == 1)`
#     -> `absent(up)`) it must return data, which proves every metric and
#     label value it reads exists. The rules are loaded as written except
#     the recorder's consumer group, a configuration name (alerts.yml
#     says so), replaced by this test's. The queries are retried until all
#     pass or 45 s passed: rate(x[5m]) needs two samples of x in its window;
#  c. every rawSql of deploy/grafana/dashboards/history.json runs against
#     this test's PostgreSQL database (the real schema, filled by the load)
#     and returns at least one row.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/powerbi_lib.sh"
source "$(dirname "$0")/sheets_lib.sh"
source "$(dirname "$0")/schedules_lib.sh"
e2e_init observe

CHECK=$E2E_SRC/tests/e2e/observability_check.py
command -v prometheus >/dev/null && command -v promtool >/dev/null ||
    { echo "FAIL: prometheus/promtool not found (deploy/local/install-deps installs prometheus)"; exit 1; }
migrate

# ---- the sandbox: Power BI and Google Sheets ------------------------------
pbi_start_sandbox
GS_URL=$PBI_URL
gs_keypair sa
gs_account "$GS_EMAIL" "$E2E_DIR/sa.pub"
gs_spreadsheet book Sheet1
conns=$E2E_DIR/connectors.json
# Low limits, so that the exports wait for the fleet-wide rate limiter: 6
# rows posts per sandbox minute (2 s) and dataset; 6 Sheets requests.
pbi_connectors "$conns" pbi PBI_SECRET '{}' '{"requests_per_minute":6}'
gs_connectors "$conns" sheets "$E2E_DIR/sa.key" '{}' '{"requests_per_minute":6}'
{
    echo "$PBI_SECRET"
    grep -v -- '-----' "$E2E_DIR/sa.key"
} >"$E2E_DIR/secrets.txt"
q "CREATE TABLE events AS SELECT g AS id, 'event ' || g AS what FROM generate_series(1, 400) g" >/dev/null

# ---- the fleet ---------------------------------------------------------------
"$E2E_BIN/datafleet-scheduler" --roles cron,recorder --batch-wait 50ms --tick 100ms \
    --leader-poll 500ms --metrics-listen 127.0.0.1:0 run >>"$E2E_DIR/scheduler.log" 2>&1 &
E2E_PIDS+=("$!")
for w in w1 w2; do
    start_worker "$w" --concurrency 4 --inline-retry-max 1s --connectors "$conns" \
        --metrics-listen 127.0.0.1:0
done
# metrics_port LOG: the port the program's log says it serves metrics on.
metrics_port() {
    sed -n 's/.*metrics: serving .* on port \([0-9]*\) of.*/\1/p' "$E2E_DIR/$1.log" | tail -1
}
has_metrics_port() { [ -n "$(metrics_port "$1")" ]; }
declare -A PORT
for p in scheduler w1 w2; do
    wait_for "$p serves metrics" 30 has_metrics_port "$p"
    PORT[$p]=$(metrics_port "$p")
    log "$p: metrics on port ${PORT[$p]}"
done
check_eq "port 0: a real port was bound and logged" "$((PORT[w1] > 0 && PORT[w2] > 0 && PORT[scheduler] > 0))" 1

# ---- Prometheus ----------------------------------------------------------------
read -r PROM_PORT < <("$E2E_SRC/tests/free-ports" 1)
PROM=http://127.0.0.1:$PROM_PORT
mkdir -p "$E2E_DIR/prometheus"
sed "s/group=\"datafleet-recorder\"/group=\"$DATAFLEET_RECORDER_GROUP\"/g" \
    "$E2E_SRC/deploy/prometheus/alerts.yml" >"$E2E_DIR/prometheus/alerts.yml"
cat >"$E2E_DIR/prometheus/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - alerts.yml
scrape_configs:
  - job_name: datafleet-worker
    static_configs:
      - targets: ["127.0.0.1:${PORT[w1]}", "127.0.0.1:${PORT[w2]}"]
  - job_name: datafleet-scheduler
    static_configs:
      - targets: ["127.0.0.1:${PORT[scheduler]}"]
EOF
check "promtool check config" promtool check config "$E2E_DIR/prometheus/prometheus.yml"
prometheus --config.file="$E2E_DIR/prometheus/prometheus.yml" \
    --storage.tsdb.path="$E2E_DIR/prometheus/data" --web.listen-address="127.0.0.1:$PROM_PORT" \
    >>"$E2E_DIR/prometheus.log" 2>&1 &
E2E_PIDS+=("$!")
wait_for "Prometheus ready" 30 curl -sf "$PROM/-/ready" -o /dev/null
targets_up() {
    [ "$(curl -sf "$PROM/api/v1/query?query=sum(up)" |
        python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')" = 3 ]
}
wait_for "Prometheus scrapes the 3 programs" 30 targets_up
wait_assigned w1 w2

# ---- the load ----------------------------------------------------------------
: >"$E2E_DIR/ids"
submit() { "$E2E_BIN/datafleet-submit" "$@" 2>>"$E2E_DIR/submit.log" | tail -1 | tee -a "$E2E_DIR/ids"; }
# wave N: one of each kind of task (N names the Power BI dataset and the sheet).
wave() {
    local n=$1
    noop_tasks 20 '{"sleep_ms":[20,300]}' >"$E2E_DIR/ok$n.ndjson"
    submit_ndjson "$E2E_DIR/ok$n.ndjson"
    cat "$E2E_DIR/ok$n.ndjson.ids" >>"$E2E_DIR/ids"
    submit --type refresh --connector noop --params '{"duration_ms":1500,"poll_ms":400}' >/dev/null
    submit --type refresh --connector noop --params '{"duration_ms":2500,"poll_ms":1200}' >/dev/null
    submit --type export --connector noop --params '{"fail":"permanent"}' >/dev/null
    # Retry-After above --inline-retry-max: the retries go through the
    # scheduler, so the runs end `retrying` (retries in place are one run).
    submit --type export --connector noop --params '{"fail":"retryable","fail_attempts":2,"retry_after_ms":1200}' >/dev/null
    submit --type export --connector noop --max-attempts 2 --params '{"fail":"retryable","retry_after_ms":1200}' >/dev/null
    printf 'not json, wave %s' "$n" >"$E2E_DIR/poison$n"
    kcat -P -b "$DATAFLEET_KAFKA_BROKERS" -t "${DATAFLEET_TOPIC_PREFIX}tasks.export" -k "poison-$n" \
        -H schema=datafleet.task/v1 "$E2E_DIR/poison$n"
    pbi_fault '{"route":"powerbi.rows.post","status":429,"retry_after_s":1,"count":1,"after":2}'
    PBI_TASK[$n]=$(submit --type export --connector pbi --params \
        "$(pbi_params "SELECT * FROM events ORDER BY id" "{\"dataset\":\"Obs$n\",\"table\":\"Events\"}" '{"chunk_rows":50}')")
    gs_fault '{"route":"sheets.values.append","status":429,"count":1,"after":1}'
    GS_TASK[$n]=$(submit --type export --connector sheets --params \
        "$(gs_params "$(gs_pg "SELECT * FROM events ORDER BY id")" "{\"spreadsheet_id\":\"book\",\"sheet\":\"Obs$n\"}" '{"chunk_rows":100}')")
}
declare -A PBI_TASK GS_TASK

sched add every-second --cron '* * * * * *' \
    --task '{"type":"export","connector":"noop","params":{"sleep_ms":10}}' >>"$E2E_DIR/cli.log"
cat >"$E2E_DIR/pipeline.json" <<'EOF'
{"description": "two noop steps",
 "steps": [{"name": "extract", "type": "export", "connector": "noop", "params": {"sleep_ms": 100}},
           {"name": "refresh", "type": "refresh", "connector": "noop", "params": {"sleep_ms": 100}}]}
EOF
"$E2E_BIN/datafleet-scheduler" pipelines add obs --file "$E2E_DIR/pipeline.json" >>"$E2E_DIR/cli.log"
run=$("$E2E_BIN/datafleet-scheduler" pipelines run obs 2>>"$E2E_DIR/cli.log" | head -1)
wave 1
sleep 4
wave 2

for n in 1 2; do
    pbi_wait_state "${PBI_TASK[$n]}" succeeded 60
    gs_wait_state "${GS_TASK[$n]}" succeeded 60
done
wait_for "the pipeline run succeeded" 30 sql_is "SELECT state FROM pipeline_runs WHERE id = '$run'" succeeded
# Per wave: 20 noop exports, 2 refreshes, the retried task, Power BI and
# Sheets succeed; one fails; one is dead.
outcomes="SELECT count(*) FILTER (WHERE state = 'succeeded') || '/' || count(*) FILTER (WHERE state = 'failed')
                 || '/' || count(*) FILTER (WHERE state = 'dead')
            FROM tasks WHERE schedule_id IS NULL AND pipeline_run_id IS NULL"
wait_for "the wave tasks ended" 60 sql_is "$outcomes" "50/2/2" || true
check_eq "outcomes of the waves (succeeded/failed/dead)" "$(q "$outcomes")" "50/2/2"
check "the Power BI sandbox answered 429s" test "$(pbi_requests powerbi.rows.post 'r.get("by_status", {}).get("429", 0)')" -ge 2
check "the schedule fired" fire_count_at_least every-second 5
log "load done: $(wc -l <"$E2E_DIR/ids") tasks submitted"

# ---- a. the exposition ----------------------------------------------------------
for p in scheduler w1 w2; do
    curl -sf "http://127.0.0.1:${PORT[$p]}/metrics" >"$E2E_DIR/$p.metrics"
    check "$p: promtool check metrics" bash -c "promtool check metrics <'$E2E_DIR/$p.metrics' >'$E2E_DIR/$p.promtool' 2>&1 || { cat '$E2E_DIR/$p.promtool'; false; }"
    check "$p: no task id, secret or unbounded label" \
        python3 "$CHECK" labels "$E2E_DIR/$p.metrics" --ids "$E2E_DIR/ids" --secrets "$E2E_DIR/secrets.txt"
    check_eq "$p: /healthz" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$p]}/healthz")" 200
done
check "every exported metric is in docs/METRICS.md with its type" \
    python3 "$CHECK" documented "$E2E_SRC/docs/METRICS.md" "$E2E_DIR"/{scheduler,w1,w2}.metrics
# The label check can fail: a metric whose label is a task id is caught.
printf 'x_total{task="%s"} 1\n' "$(head -1 "$E2E_DIR/ids")" >"$E2E_DIR/bad.metrics"
check "a task id label is caught" bash -c "! python3 '$CHECK' labels '$E2E_DIR/bad.metrics' >/dev/null"
printf 'x_total{token="ab%scd"} 1\n' "$PBI_SECRET" >"$E2E_DIR/bad.metrics"
check "a secret label is caught" bash -c "! python3 '$CHECK' labels '$E2E_DIR/bad.metrics' --secrets '$E2E_DIR/secrets.txt' >/dev/null"

# ---- b. every PromQL expression of the boards and the rules --------------------
# prom_has EXPR: Prometheus has data for EXPR.
prom_has() {
    curl -sf --get "$PROM/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)'
}
# The load did what it should, as Prometheus sees it.
for e in 'datafleet_tasks_finished_total{outcome="succeeded"}' 'datafleet_tasks_finished_total{outcome="failed"}' \
    'datafleet_tasks_finished_total{outcome="retrying"}' 'datafleet_tasks_finished_total{outcome="dead"}' \
    'datafleet_task_errors_total{code="noop_retryable"}' \
    'datafleet_dlq_messages_total{reason="invalid_json"}' 'datafleet_dlq_messages_total{reason="attempts_exhausted"}' \
    'datafleet_http_requests_total{platform="powerbi",status="429"}' \
    'datafleet_http_requests_total{platform="google_sheets",status="429"}' \
    'datafleet_ratelimit_waits_total{platform="powerbi"}' 'datafleet_ratelimit_waits_total{platform="google_sheets"}' \
    'sum(datafleet_export_rows_total{connector="pbi"}) >= 800' 'sum(datafleet_export_rows_total{connector="sheets"}) >= 800' \
    'datafleet_schedule_fires_total > 0' 'datafleet_recorder_events_total{result="new"} > 0'; do
    check "Prometheus has $e" prom_has "$e"
done
promql_ok() {
    python3 "$CHECK" promql "$PROM" "$E2E_SRC/deploy/grafana/dashboards" "$E2E_DIR/prometheus/alerts.yml" \
        >"$E2E_DIR/promql.out" 2>&1
}
if wait_for "every expression has data" 45 promql_ok; then
    check "boards and rules: every expression has data" true
else
    cat "$E2E_DIR/promql.out"
    check "boards and rules: every expression has data" false
fi
log "$(grep -c '^  ok' "$E2E_DIR/promql.out") expressions evaluated with data"
# The check can fail: a board reading a misnamed metric is caught.
mkdir -p "$E2E_DIR/badboards"
sed 's/datafleet_tasks_finished_total/datafleet_task_finished_total/' \
    "$E2E_SRC/deploy/grafana/dashboards/fleet.json" >"$E2E_DIR/badboards/fleet.json"
check "a misnamed metric in a board is caught" bash -c "! python3 '$CHECK' promql '$PROM' '$E2E_DIR/badboards' \
    '$E2E_DIR/prometheus/alerts.yml' >'$E2E_DIR/badboards.out' 2>&1 && grep -q 'FAIL board fleet.json / Success ratio' '$E2E_DIR/badboards.out'"

# ---- c. every SQL query of the History board ------------------------------------
if python3 "$CHECK" sql "$E2E_SRC/deploy/grafana/dashboards/history.json" "$DATAFLEET_DATABASE_URL" \
    >"$E2E_DIR/sql.out" 2>&1; then
    check "History board: every query returns rows" true
    cat "$E2E_DIR/sql.out"
else
    cat "$E2E_DIR/sql.out"
    check "History board: every query returns rows" false
fi
echo '{"panels":[{"title":"nothing","targets":[{"rawSql":"SELECT 1 WHERE false"}]}]}' >"$E2E_DIR/badboards/history.json"
check "a query without rows is caught" bash -c "! python3 '$CHECK' sql '$E2E_DIR/badboards/history.json' '$DATAFLEET_DATABASE_URL' >/dev/null"
e2e_finish
