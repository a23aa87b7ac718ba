#!/usr/bin/env bash
# api_roles_test: the roles the live API enforces are the ones its document
# says. Reads GET /openapi.json from a running scheduler (role api) and, for
# every operation with a security requirement, calls it
#   - with no token: 401 with the error shape and WWW-Authenticate: Bearer;
#   - with a read, a submit and an admin token: 403 (code "forbidden")
#     exactly when the token's role is below the operation's
#     x-datafleet-role, and otherwise neither 401 nor 403 (nor a 5xx).
# Calls change nothing: path parameters are unknown ids and names that fit
# the parameter's schema (a ULID, a big DLQ id, "no-such-..."), bodies are
# {} (so an allowed call answers 404 or 400); a call other than GET that an
# allowed token makes must answer 4xx, never 2xx. Operations without a
# security requirement (health, metrics, the document) must answer without
# a token. A route whose enforced role differs from the document, or an
# operation without x-datafleet-role, fails here.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_scheduler_lib.sh"

e2e_init api_roles

api_migrate
declare -A token
token[read]=$(api_token roles-read read)
token[submit]=$(api_token roles-submit submit)
token[admin]=$(api_token roles-admin admin)
api_start api --api-rate 1000 --api-burst 1000
log "api at $API_URL"

curl -sf -o "$E2E_DIR/openapi.json" "$API_URL/openapi.json"

# One line per operation: METHOD PATH ROLE SECURED BODY, the path with its
# parameters filled in with harmless values that fit their schemas.
python3 - "$E2E_DIR/openapi.json" >"$E2E_DIR/operations.txt" <<'EOF'
import json, re, sys

doc = json.load(open(sys.argv[1]))
candidates = ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "999999999999", "no-such-thing", "x"]

def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        target = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node

def value_for(param):
    schema = resolve(param.get("schema", {}))
    pattern = schema.get("pattern")
    for c in candidates:
        if (not pattern or re.search(pattern, c)) and len(c) <= schema.get("maxLength", 10**6):
            return c
    sys.exit("no harmless value fits path parameter %s (%s)" % (param["name"], pattern))

for path, item in doc["paths"].items():
    shared = [resolve(p) for p in item.get("parameters", [])]
    for method in ("get", "put", "post", "delete", "patch"):
        op = item.get(method)
        if op is None:
            continue
        params = shared + [resolve(p) for p in op.get("parameters", [])]
        filled = path
        for p in params:
            if p["in"] == "path":
                filled = filled.replace("{%s}" % p["name"], value_for(p))
        if "{" in filled:
            sys.exit("%s %s: a path parameter is not declared" % (method, path))
        security = op.get("security", doc.get("security", []))
        role = op.get("x-datafleet-role", "MISSING")
        print(method.upper(), filled, role, "secured" if security else "open",
              "body" if "requestBody" in op else "-")
EOF
total=$(wc -l <"$E2E_DIR/operations.txt")
secured=$(grep -c ' secured ' "$E2E_DIR/operations.txt" || true)
log "$total operations in the document, $secured with a security requirement"
check "the document has operations with a security requirement" test "$secured" -ge 30

rank() {
    case $1 in
    none) echo 0 ;;
    read) echo 1 ;;
    submit) echo 2 ;;
    admin) echo 3 ;;
    *) echo 99 ;;
    esac
}

# call TOKEN|- METHOD PATH BODY: prints the status; the body in resp.json,
# the headers in resp.headers.
call() {
    local auth=$1 method=$2 path=$3 body=$4
    local args=(-sS -o "$E2E_DIR/resp.json" -D "$E2E_DIR/resp.headers" -w '%{http_code}' -X "$method")
    [ "$auth" != - ] && args+=(-H "Authorization: Bearer $auth")
    [ "$body" = body ] && args+=(-H 'Content-Type: application/json' --data-binary '{}')
    curl "${args[@]}" "$API_URL$path"
    printf '%s %s (%s) -> ' "$method" "$path" "${auth:0:4}" >>"$E2E_DIR/calls.log"
    { head -c 300 "$E2E_DIR/resp.json"; echo; } >>"$E2E_DIR/calls.log"
}

error_code() {
    python3 -c 'import json, sys
e = json.load(open(sys.argv[1]))["error"]
assert sorted(e) == ["code", "field", "message"] and e["message"]
print(e["code"])' "$E2E_DIR/resp.json" 2>/dev/null || echo "not-the-error-shape"
}

mismatches=0
while read -r method path role security body; do
    what="$method $path"
    if [ "$security" = open ]; then
        status=$(call - "$method" "$path" "$body")
        check "$what answers without a token (got $status)" \
            test "$status" != 401 -a "$status" != 403 -a "$status" -lt 500
        continue
    fi
    check "$what names its role (x-datafleet-role: $role)" test "$(rank "$role")" -le 3
    status=$(call - "$method" "$path" "$body")
    check_eq "$what without a token" "$status $(error_code)" "401 unauthorized"
    check "$what without a token: WWW-Authenticate: Bearer" \
        grep -qi '^WWW-Authenticate: Bearer' "$E2E_DIR/resp.headers"
    for r in read submit admin; do
        status=$(call "${token[$r]}" "$method" "$path" "$body")
        if [ "$(rank "$r")" -lt "$(rank "$role")" ]; then
            if [ "$status" != 403 ]; then
                mismatches=$((mismatches + 1))
                log "ROLE MISMATCH: $what is documented for $role, but a $r token got $status"
            fi
            check_eq "$what with a $r token (needs $role)" "$status $(error_code)" "403 forbidden"
        else
            if [ "$status" = 401 ] || [ "$status" = 403 ]; then
                mismatches=$((mismatches + 1))
                log "ROLE MISMATCH: $what is documented for $role, but a $r token got $status"
            fi
            check "$what with a $r token (needs $role): neither 401 nor 403 nor 5xx (got $status)" \
                test "$status" != 401 -a "$status" != 403 -a "$status" -lt 500
            if [ "$method" != GET ]; then
                check "$what with a $r token changes nothing (4xx, got $status)" \
                    test "$status" -ge 400 -a "$status" -lt 500
                check "$what with a $r token: the error shape" \
                    test "$(error_code)" != not-the-error-shape
            fi
        fi
    done
done <"$E2E_DIR/operations.txt"
check_eq "routes whose enforced role differs from the document" "$mismatches" 0

# An error about a path parameter that is not UTF-8 (cut or raw bytes) is
# still the one error shape (valid JSON), never an empty body.
status=$(call "${token[read]}" GET "/v1/schedules/%C3%28%FF%FEx" -)
check_eq "a name that is not UTF-8: 400 invalid" "$status $(error_code)" "400 invalid"
status=$(call "${token[read]}" GET "/v1/schedules/%F0%9F%98%80%F0%9F%98" -)
check_eq "a name cut in the middle of a character: 400 invalid" "$status $(error_code)" "400 invalid"

check "the api logged no 5xx answer" bash -c "! grep -q '\"api: [A-Z]* [^ ]* -> 5' '$E2E_DIR/scheduler.log'"
e2e_finish
