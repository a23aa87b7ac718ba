#!/usr/bin/env bash
# cron_cli_test: `datafleet-scheduler cron next`: fire times in ISO 8601 with
# the zone's offset across a DST change, --from with and without an offset,
# --count, the expression given as one word or as separate fields, --help,
# and exit codes with messages for a bad expression (2, position and what
# was expected), a bad zone, time or count (2), and one that never fires (1).
set -uo pipefail
src=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${DF_BUILD_DIR:-$src/build/dev}/datafleet-scheduler
passed=0; failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

[ -x "$bin" ] || { echo "$bin is not built"; echo "0 passed, 1 failed"; exit 1; }

# expect RC STDOUT STDERR_SUBSTRING -- ARGS...: exit code, exact stdout, a part of stderr.
expect() {
    local want_rc=$1 want_out=$2 want_err=$3; shift 4
    local out err rc
    err=$(mktemp)
    out=$("$bin" cron "$@" 2>"$err"); rc=$?
    if [ "$rc" -ne "$want_rc" ]; then
        bad "cron $*: exit $rc, want $want_rc (stderr: $(cat "$err"))"
    elif [ "$out" != "$want_out" ]; then
        bad "cron $*: stdout
$out
want
$want_out"
    elif [ -n "$want_err" ] && ! grep -qF -- "$want_err" "$err"; then
        bad "cron $*: stderr lacks \"$want_err\": $(cat "$err")"
    else
        ok
    fi
    rm -f "$err"
}

# A daily slot inside Berlin's spring-forward gap fires when the clock jumps.
expect 0 "2026-03-28T02:30:00+01:00
2026-03-29T03:00:00+02:00
2026-03-30T02:30:00+02:00" "" -- \
    next '30 2 * * *' --tz Europe/Berlin --from 2026-03-28T00:00 --count 3
# The same with the fields as separate arguments and --from with an offset.
expect 0 "2026-03-29T03:00:00+02:00
2026-03-30T02:30:00+02:00" "" -- \
    next 30 2 '*' '*' '*' --tz Europe/Berlin --from 2026-03-28T23:00:00Z --count 2
# Default count 5, UTC, seconds first.
expect 0 "2026-01-01T00:00:15+00:00
2026-01-01T00:00:30+00:00
2026-01-01T00:00:45+00:00
2026-01-01T00:01:00+00:00
2026-01-01T00:01:15+00:00" "" -- next '*/15 * * * * *' --from 2026-01-01T00:00:00Z
expect 0 "2026-01-01T01:30:00+00:00" "" -- next @every 1h30m --from 2026-01-01 --count 1
# Lord Howe: 30-minute DST.
expect 0 "2026-10-04T02:30:00+11:00
2026-10-05T02:15:00+11:00" "" -- \
    next '15 2 * * *' --tz Australia/Lord_Howe --from 2026-10-03T12:00 --count 2
# Without --from: now; one line per fire time.
out=$("$bin" cron next '* * * * *' --count 3 2>&1)
if [ "$(wc -l <<<"$out")" -eq 3 ] && grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:00\+00:00$' <<<"$out"; then ok; else bad "no --from: $out"; fi

# Errors.
expect 2 "" "position 5: expected a day of month 1-31, got 32" -- next '0 0 32 * *'
expect 2 "" "position 9: expected a day of week 0-7 or SUN-SAT, got \"FUN\"" -- next '0 9 * * FUN'
expect 2 "" "expected 5 fields" -- next '0 9 * *'
expect 2 "" "position 1: expected a macro" -- next @dayly
expect 2 "" "--tz: expected an IANA time zone name such as Europe/Berlin, got \"Mars/Base\"" -- \
    next '0 9 * * *' --tz Mars/Base
expect 2 "" "--from: expected an ISO 8601 time" -- next '0 9 * * *' --from yesterday
expect 2 "" "--count: expected a value from 1 to 10000, got 0" -- next '0 9 * * *' --count 0
expect 2 "" "expected a cron expression after \"next\"" -- next
expect 2 "" "expected the subcommand next, got \"list\"" -- list
expect 2 "" "unknown option" -- next '0 9 * * *' --zone UTC
expect 1 "" "does not fire within 50 years" -- next '0 0 30 2 *'
# The caret points at the position.
err=$("$bin" cron next '0 0 32 * *' 2>&1 >/dev/null)
if grep -qxF '      ^' <<<"$err"; then ok; else bad "caret: $err"; fi
# --help
expect 0 "$("$bin" cron --help)" "" -- --help
if "$bin" cron --help | grep -q "^Usage: datafleet-scheduler cron next EXPR"; then ok; else bad "--help"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
