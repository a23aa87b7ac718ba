#!/usr/bin/env bash
# Helpers of the REST API e2e tests (source after lib.sh and e2e_init): the
# scheduler with the api role on a port of its own, API tokens, and calls
# that keep every answer's body for later checks.

# api_migrate: apply the migrations to the test's database.
api_migrate() {
    "$E2E_BIN/datafleet-scheduler" migrate >>"$E2E_DIR/migrate.log" 2>&1
}

# api_token NAME ROLE: create a token (printed; shown once by the CLI).
api_token() {
    "$E2E_BIN/datafleet-scheduler" tokens create --name "$1" --role "$2" 2>>"$E2E_DIR/tokens.log"
}

# api_start ROLES [OPTIONS...]: the scheduler with ROLES (which include api)
# listening on a free port; sets API_URL and PID_api once /healthz answers.
api_start() {
    local roles=$1 port i
    shift
    "$E2E_BIN/datafleet-scheduler" --roles "$roles" --api-listen 127.0.0.1:0 --batch-wait 50ms \
        "$@" run >>"$E2E_DIR/scheduler.log" 2>&1 &
    E2E_PIDS+=("$!")
    PID_api=$!
    for ((i = 0; i < 200; i++)); do
        port=$(grep -o '"api: listening on [^"]*(port [0-9]*)' "$E2E_DIR/scheduler.log" 2>/dev/null |
            grep -o 'port [0-9]*' | head -1 | cut -d' ' -f2 || true)
        [ -n "$port" ] && break
        kill -0 "$PID_api" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$port" ] || { log "the api role did not start (see $E2E_DIR/scheduler.log)"; return 1; }
    API_URL="http://127.0.0.1:$port"
    wait_for "the api answers /healthz" 30 curl -sf -o /dev/null "$API_URL/healthz"
}

# api_call TOKEN METHOD PATH [BODY]: a request; prints "STATUS BODY_FILE".
# Every answer (headers and body) is kept in a file of its own in
# $E2E_DIR/api-bodies/ (the secret scan reads them); works in a subshell.
api_call() {
    local token=$1 method=$2 path=$3 body=${4:-} out status
    mkdir -p "$E2E_DIR/api-bodies"
    out=$(mktemp "$E2E_DIR/api-bodies/XXXXXXXX.json")
    local args=(-sS -D "$out.headers" -o "$out" -w '%{http_code}' -X "$method"
        -H "Authorization: Bearer $token")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    status=$(curl "${args[@]}" "$API_URL$path")
    echo "$status $out"
}
