#!/usr/bin/env bash
# Helpers of the REST API tests (source after lib.sh and e2e_init): a
# scheduler running the api role (with cron and recorder), tokens of each
# role, requests with curl, and checks of the answers with jq.
#
#   api_start             migrate, start the scheduler, wait for /healthz
#   api_tokens            TOKEN_read, TOKEN_submit, TOKEN_admin
#   api METHOD PATH [BODY] [TOKEN]
#                         one request (TOKEN: a role name or a raw token;
#                         default admin); sets STATUS, the answer in BODY,
#                         its headers in HEADERS
#   jqb FILTER            jq -r FILTER over BODY
#   check_status WHAT N   STATUS is N
#   check_error WHAT N CODE FIELD
#                         STATUS N and the error shape with that code and
#                         field ("null": no field)

command -v jq >/dev/null || {
    echo "jq is needed (deploy/local/install-deps installs it)" >&2
    exit 1
}

# api_start [scheduler options...]
api_start() {
    API_PORT=$("$E2E_SRC/tests/free-ports" 1)
    API_URL="http://127.0.0.1:$API_PORT"
    "$E2E_BIN/datafleet-scheduler" migrate >>"$E2E_DIR/scheduler.log" 2>&1
    "$E2E_BIN/datafleet-scheduler" --roles api,cron,recorder --api-listen "127.0.0.1:$API_PORT" \
        --batch-wait 50ms --tick 100ms --api-rate 1000 --api-burst 1000 "$@" run \
        >>"$E2E_DIR/scheduler.log" 2>&1 &
    E2E_PIDS+=("$!")
    PID_scheduler=$!
    wait_for "the API answers /healthz" 30 curl -sf -o /dev/null "$API_URL/healthz"
}

api_tokens() {
    local role
    for role in read submit admin; do
        eval "TOKEN_$role=\$(\"\$E2E_BIN/datafleet-scheduler\" tokens create --name \"$role-\$RANDOM\" --role $role 2>>\"\$E2E_DIR/tokens.log\")"
    done
}

api() {
    local method=$1 path=$2 body=${3:-} token=${4:-admin} auth
    case "$token" in
    read | submit | admin) eval "auth=\$TOKEN_$token" ;;
    none) auth= ;;
    *) auth=$token ;;
    esac
    local args=(-sS -X "$method" -o "$E2E_DIR/body" -D "$E2E_DIR/headers" -w '%{http_code}')
    [ -n "$auth" ] && args+=(-H "Authorization: Bearer $auth")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    STATUS=$(curl "${args[@]}" "$API_URL$path") || STATUS=000
    BODY=$(cat "$E2E_DIR/body")
    HEADERS=$(cat "$E2E_DIR/headers")
    printf '%s %s -> %s %s\n' "$method" "$path" "$STATUS" "${BODY:0:400}" >>"$E2E_DIR/api.log"
}

jqb() { jq -r "$@" <<<"$BODY"; }

check_status() { check_eq "$1: status" "$STATUS" "$2"; }

check_error() {
    check_eq "$1: status" "$STATUS" "$2"
    check_eq "$1: error code and field" "$(jqb '[.error.code, (.error.field // "null"), (.error.message | type)] | join(" ")')" "$3 $4 string"
}

# api_is PATH FILTER EXPECTED: for wait_for (a GET with the read token).
api_is() {
    local got
    got=$(curl -sf -H "Authorization: Bearer $TOKEN_read" "$API_URL$1" | jq -r "$2" 2>/dev/null) || return 1
    [ "$got" = "$3" ]
}
