#!/usr/bin/env bash
# Helpers of the REST API tests (source after lib.sh and e2e_init): start the
# scheduler's api role on a free port, make tokens, call the API.

# api_start [OPTIONS...]: migrate, then a scheduler with roles
# api,recorder,cron on a free port (API_URL, PID_api); waits for /healthz.
api_start() {
    local port
    port=$("$E2E_SRC/tests/free-ports" 1)
    "$E2E_BIN/datafleet-scheduler" migrate >>"$E2E_DIR/api.log" 2>&1
    "$E2E_BIN/datafleet-scheduler" --roles api,recorder,cron --batch-wait 50ms \
        --api-listen "127.0.0.1:$port" "$@" run >>"$E2E_DIR/api.log" 2>&1 &
    E2E_PIDS+=("$!")
    PID_api=$!
    API_URL="http://127.0.0.1:$port"
    wait_for "api on $API_URL" 30 curl -sf -o /dev/null "$API_URL/healthz"
}

# api_token ROLE [NAME]: create a token, print it.
api_token() {
    "$E2E_BIN/datafleet-scheduler" tokens create --name "${2:-test-$1-$RANDOM}" --role "$1" \
        2>>"$E2E_DIR/tokens.log"
}

# api METHOD PATH TOKEN [BODY] [CURL OPTIONS...]: the status code on stdout,
# the body in $E2E_DIR/resp.json (and appended to responses.log), headers
# in $E2E_DIR/resp.headers. TOKEN "-" sends none.
api() {
    local method=$1 path=$2 token=$3 body=${4:-}
    shift 3
    [ $# -gt 0 ] && shift
    local -a args=(-sS -o "$E2E_DIR/resp.json" -D "$E2E_DIR/resp.headers" -w '%{http_code}'
        -X "$method")
    [ "$token" != "-" ] && args+=(-H "Authorization: Bearer $token")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    curl "${args[@]}" "$@" "${API_URL:-}$path"
    { cat "$E2E_DIR/resp.json"; echo; } >>"$E2E_DIR/responses.log"
}

# jget EXPR: a Python expression over r, the last response's JSON.
jget() {
    python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$E2E_DIR/resp.json" "$1"
}

# api_error_is STATUS CODE FIELD: the last answer had STATUS and the error
# shape with that code and field ("null" for none).
api_error_is() {
    [ "$API_STATUS" = "$1" ] && [ "$(jget 'r["error"]["code"]')" = "$2" ] &&
        [ "$(jget 'r["error"]["field"]')" = "$3" ] &&
        [ -n "$(jget 'r["error"]["message"]')" ] &&
        [ "$(jget 'sorted(r["error"].keys())')" = '["code", "field", "message"]' ]
}

# api_wait_state ID STATE TOKEN [TIMEOUT_S]: GET /v1/tasks/ID shows STATE.
api_task_state_is() {
    API_STATUS=$(api GET "/v1/tasks/$1" "$3") && [ "$API_STATUS" = 200 ] &&
        [ "$(jget 'r["state"]')" = "$2" ]
}
api_wait_state() {
    wait_for "task $1 $2 (API)" "${4:-60}" api_task_state_is "$1" "$2" "$3"
}
