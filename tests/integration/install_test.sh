#!/usr/bin/env bash
# `cmake --install` places the programs, headers, datafleet.pc, schemas and
# migrations; a C program built against the installed library with
# pkg-config submits a task through df_submit to the real Kafka and gets its
# delivery report; the installed programs find the installed schemas.
set -euo pipefail
src=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${DF_BUILD_DIR:-$src/build/dev}
: "${DATAFLEET_KAFKA_BROKERS:?is not set: run the integration tier through tests/run}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0
check() { if "${@:2}"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1"; fi; }

cmake --install "$bin" --prefix "$tmp/prefix" >/dev/null
for f in bin/datafleet-submit bin/datafleet-worker bin/datafleet-scheduler \
    include/datafleet/df_submit.h include/datafleet/df_error.h lib/libdatafleet.a \
    lib/pkgconfig/datafleet.pc share/datafleet/schemas/task.v1.schema.json \
    share/datafleet/schemas/event.v1.schema.json share/datafleet/schemas/connector.v1.schema.json \
    share/datafleet/schemas/sql/001_init.sql; do
    check "installed $f" test -f "$tmp/prefix/$f"
done
check "internal headers are not installed" bash -c "! ls '$tmp/prefix/include/datafleet/' | grep -q internal"

cat >"$tmp/client.c" <<'C'
/* A client of the installed library: submit one task, wait for Kafka. */
#include <df_submit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int acked;

static void report(void *opaque, const char *task_id, const df_error_t *err)
{
    (void)opaque;
    if (err) {
        fprintf(stderr, "not accepted: %s\n", err->message);
        return;
    }
    printf("%s\n", task_id);
    acked++;
}

int main(void)
{
    df_submit_config_t cfg = { .brokers = getenv("DATAFLEET_KAFKA_BROKERS"),
                               .topic_prefix = getenv("CLIENT_PREFIX"),
                               .ensure_topics = true };
    df_error_t err;
    df_submitter_t *s;
    json_t *task, *bad;

    df_error_init(&err);
    s = df_submitter_new(&cfg, report, NULL, &err);
    if (!s) {
        fprintf(stderr, "connect: %s\n", err.message);
        return 1;
    }
    bad = json_pack("{s:s, s:s, s:{}}", "type", "teleport", "connector", "noop", "params");
    if (df_submit(s, bad, NULL, &err) != DF_ERR_INVALID || strcmp(err.field, "/type") != 0) {
        fprintf(stderr, "an invalid task was not refused at /type\n");
        return 1;
    }
    task = json_pack("{s:s, s:s, s:{s:i}}", "type", "export", "connector", "noop", "params",
                     "rows", 1);
    if (df_submit(s, task, NULL, &err) || df_submit_flush(s, 30000, &err)) {
        fprintf(stderr, "submit: %s\n", err.message);
        return 1;
    }
    json_decref(bad);
    json_decref(task);
    df_submitter_destroy(s);
    return acked == 1 ? 0 : 1;
}
C
export PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig
check "pkg-config knows datafleet" pkg-config --exists datafleet
# shellcheck disable=SC2046
check "a client builds against the installed library" \
    cc -std=c11 -Wall -Werror -o "$tmp/client" "$tmp/client.c" $(pkg-config --cflags --libs datafleet)
out=$(CLIENT_PREFIX="inst$$." "$tmp/client" 2>"$tmp/client.err") || true
check "the client's task was acknowledged" grep -qE '^[0-9A-HJKMNP-TV-Z]{26}$' <<<"$out"
[ "$failed" -eq 0 ] || cat "$tmp/client.err"
# The installed programs use the installed schemas (not the source tree's).
check "installed submit validates with the installed schemas" bash -c \
    "DATAFLEET_SCHEMA_DIR='$tmp/prefix/share/datafleet/schemas' '$tmp/prefix/bin/datafleet-submit' --dry-run --type export --connector noop | grep -q task_id"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
