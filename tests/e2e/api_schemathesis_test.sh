#!/usr/bin/env bash
# api_schemathesis_test: Schemathesis (property-based API testing from the
# OpenAPI document) against a live REST API: the scheduler with roles
# api,recorder,cron and a worker on the real stack. Schemathesis reads
# GET /openapi.json (schemas/openapi.yaml, embedded at build time) and, for
# every operation of it, sends generated requests, valid and invalid (the
# examples, coverage, fuzzing and stateful phases; stateful follows the
# document's links from a submitted task to its reads, cancel and retry),
# and fails on any of:
#   not_a_server_error          a 5xx answer
#   status_code_conformance     a status the operation does not document
#   content_type_conformance    a Content-Type the operation does not document
#   response_schema_conformance a body that does not match its schema
#   response_headers_conformance a documented header missing or malformed
#                                (Location, Retry-After, WWW-Authenticate)
# It runs with an admin token (everything reachable), then briefly with a
# read token (the submit and admin operations answer 403). Bounded: at most
# DF_SCHEMATHESIS_EXAMPLES (25) cases per operation, a fixed seed
# (DF_SCHEMATHESIS_SEED) so a failure reproduces. Every operation of the
# document must have been tested (the JUnit report has one case each).
#
# Schemathesis comes from PyPI, pinned with its dependencies by version and
# hash (api_schemathesis_requirements.txt), into a venv under the build
# directory made with Debian's /usr/bin/python3 (python3-venv), once and
# reused while the requirements file is unchanged.
#
# DF_SCHEMATHESIS_PATHS (a regular expression over paths) narrows the run
# while developing; the suite runs without it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_scheduler_lib.sh"

python=/usr/bin/python3
requirements="$E2E_SRC/tests/e2e/api_schemathesis_requirements.txt"
venv="$E2E_BIN/schemathesis-venv"
examples=${DF_SCHEMATHESIS_EXAMPLES:-25}
seed=${DF_SCHEMATHESIS_SEED:-20261122}

e2e_init api_schemathesis

# ---- Schemathesis, installed once -------------------------------------------
"$python" -c 'import venv, ensurepip' 2>/dev/null || {
    log "$python cannot make a venv (python3-venv; deploy/local/install-deps installs it)"
    exit 1
}
(
    flock 9
    # made in place (its scripts name their interpreter by path); the copy
    # of the requirements, written last, marks it complete
    if ! cmp -s "$requirements" "$venv/requirements.txt" 2>/dev/null; then
        rm -rf "$venv"
        "$python" -m venv "$venv" || exit 1
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            --require-hashes --only-binary :all: -r "$requirements" || exit 1
        cp "$requirements" "$venv/requirements.txt"
    fi
) 9>"$E2E_BIN/schemathesis-venv.lock" || {
    log "could not install Schemathesis from PyPI (see $requirements)"
    exit 1
}
log "$("$venv/bin/schemathesis" --version)"

# ---- the system under test ----------------------------------------------------
api_migrate
admin=$(api_token st-admin admin)
reader=$(api_token st-reader read)
submitter=$(api_token st-submitter submit)
api_start api,recorder,cron --api-rate 1000 --api-burst 1000
start_worker st-worker
wait_assigned st-worker
log "api at $API_URL"

# Some history for the reads: a task that succeeds, one that fails for
# good (so retry has something to retry) and one still running (cancel).
for body in '{"type":"export","connector":"noop","params":{"rows":3}}' \
    '{"type":"export","connector":"noop","params":{"fail":"permanent"}}' \
    '{"type":"export","connector":"noop","params":{"sleep_ms":60000}}'; do
    read -r status _ < <(api_call "$submitter" POST /v1/tasks "$body")
    check_eq "seed task accepted" "$status" 202
done
wait_for "the seed tasks are recorded" 60 sql_is "SELECT count(*) FROM tasks WHERE state <> 'queued'" 3

# And one of everything else, so that real objects meet their schemas: a
# connector, a pipeline and a run of it, a schedule of a task and one of the
# pipeline (each triggered once), and a dead letter (a task naming no
# registered connector). The document Schemathesis reads names them as the
# path parameters' examples.
seed() {
    local method=$1 path=$2 body=${3:-} want=$4 status file
    read -r status file < <(api_call "$admin" "$method" "$path" "$body")
    check_eq "seed: $method $path" "$status" "$want"
    SEED_BODY=$file
}
seed POST /v1/connectors '{"name":"seed-noop","kind":"noop","description":"seed","secrets":{"token_file":{"file":"/nonexistent"}}}' 201
seed POST /v1/pipelines '{"name":"seed-load","description":"seed","steps":[{"name":"extract","type":"export","connector":"noop","params":{"rows":2}},{"name":"refresh","type":"refresh","connector":"noop","params":{"fail":"permanent"}}]}' 201
seed POST /v1/pipelines/seed-load/runs '' 202
seed_run=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["run_id"])' "$SEED_BODY")
seed POST /v1/schedules '{"name":"seed-nightly","cron":"0 2 * * *","tz":"Europe/Paris","task":{"type":"export","connector":"noop","params":{"rows":1}}}' 201
seed POST /v1/schedules '{"name":"seed-hourly","cron":"@hourly","pipeline":"seed-load","paused":true}' 201
seed POST /v1/schedules/seed-nightly/trigger '' 202
seed POST /v1/schedules/seed-hourly/trigger '' 202
seed POST /v1/tasks '{"type":"export","connector":"no-such-connector","params":{}}' 202
wait_for "the dead letter is recorded" 60 sql_is "SELECT count(*) > 0 FROM dlq_messages" t
seed_dlq=$(q "SELECT min(id) FROM dlq_messages")
wait_for "the seed run failed" 60 sql_is "SELECT state FROM pipeline_runs WHERE id = '$seed_run'" failed

# ---- runs ---------------------------------------------------------------------
# Operations to test: all of the document's but GET /openapi.json, which
# is checked here instead (Schemathesis reads the document, with the seeds'
# names as the path parameters' examples, from a file).
ctype=$(curl -sf -o "$E2E_DIR/openapi.json" -w '%{content_type}' "$API_URL/openapi.json")
check_eq "GET /openapi.json is JSON" "$ctype" application/json
python3 -c 'import json, sys
doc = json.load(open(sys.argv[1]))
examples = dict(zip(("ConnectorName", "PipelineName", "ScheduleName", "RunId", "DlqId"), sys.argv[3:]))
for name, value in examples.items():
    doc["components"]["parameters"][name]["example"] = value
json.dump(doc, open(sys.argv[2], "w"))' "$E2E_DIR/openapi.json" "$E2E_DIR/openapi-seeded.json" \
    seed-noop seed-load seed-nightly "$seed_run" "$seed_dlq"
operations=$(python3 -c 'import json, re, sys
doc, rx = json.load(open(sys.argv[1])), re.compile(sys.argv[2])
assert doc["openapi"].startswith("3.1.")
print(sum(1 for p, item in doc["paths"].items() if rx.search(p) and p != "/openapi.json"
          for m in item if m in ("get", "put", "post", "delete", "patch")))' \
    "$E2E_DIR/openapi.json" "${DF_SCHEMATHESIS_PATHS:-.}")
filter=()
if [ -n "${DF_SCHEMATHESIS_PATHS:-}" ]; then
    log "only paths matching ${DF_SCHEMATHESIS_PATHS} (DF_SCHEMATHESIS_PATHS)"
    filter=(--include-path-regex "$DF_SCHEMATHESIS_PATHS")
fi

# schemathesis_run NAME TOKEN EXAMPLES PHASES: one run; its output in
# NAME.log, its JUnit report in NAME.xml. Exit status: Schemathesis's.
schemathesis_run() {
    local name=$1 token=$2 n=$3 phases=$4
    (cd "$E2E_DIR" && "$venv/bin/schemathesis" run "$E2E_DIR/openapi-seeded.json" --url "$API_URL" \
        -H "Authorization: Bearer $token" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
        --phases "$phases" --max-examples "$n" --seed "$seed" \
        --request-timeout 20 --no-color "${filter[@]}" \
        --report junit --report-junit-path "$E2E_DIR/$name.xml" >"$E2E_DIR/$name.log" 2>&1)
}

# junit_cases FILE: how many operations the run tested ("METHOD /path"
# cases; the stateful phase adds one of its own).
junit_cases() {
    python3 -c 'import sys, xml.etree.ElementTree as ET
print(len({t.get("name") for t in ET.parse(sys.argv[1]).getroot().iter("testcase")
           if t.get("name", "").split(" ")[0] in ("GET", "PUT", "POST", "DELETE", "PATCH")
           and t.get("name") != "GET /openapi.json"}))' \
        "$1" 2>/dev/null || echo 0
}

t0=$SECONDS
rc=0
schemathesis_run admin "$admin" "$examples" examples,coverage,fuzzing,stateful || rc=$?
log "admin token: schemathesis exit $rc in $((SECONDS - t0)) s"
sed -n '/FAILURES/,$p;/SUMMARY/,$p' "$E2E_DIR/admin.log" | head -120
check_eq "schemathesis with an admin token finds nothing" "$rc" 0
check_eq "every documented operation was tested (admin)" "$(junit_cases "$E2E_DIR/admin.xml")" "$operations"

t0=$SECONDS
rc=0
schemathesis_run reader "$reader" 5 coverage,fuzzing || rc=$?
log "read token: schemathesis exit $rc in $((SECONDS - t0)) s"
sed -n '/FAILURES/,$p' "$E2E_DIR/reader.log" | head -80
check_eq "schemathesis with a read token finds nothing" "$rc" 0
check_eq "every documented operation was tested (read)" "$(junit_cases "$E2E_DIR/reader.xml")" "$operations"

check "the api logged no 5xx answer" bash -c "! grep -q '\"api: [A-Z]* [^ ]* -> 5' '$E2E_DIR/scheduler.log'"
check "the scheduler is still running" kill -0 "$PID_api"
e2e_finish
