#!/usr/bin/env bash
# README.md's configuration tables match the programs' option tables, and
# every program answers --help and --version and rejects a bad option with
# exit code 2 naming it.
set -euo pipefail
src=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${DF_BUILD_DIR:-$src/build/dev}
passed=0; failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

if DF_BUILD_DIR=$bin "$src/tests/tools/update-config-doc" --check; then ok; else bad "README tables"; fi
for prog in datafleet-submit datafleet-worker datafleet-scheduler; do
    if "$bin/$prog" --help | grep "^Usage: $prog" >/dev/null; then ok; else bad "$prog --help"; fi
    if "$bin/$prog" --version | grep -qE "^$prog [0-9]+\.[0-9]+\.[0-9]+$"; then ok; else bad "$prog --version"; fi
    set +e
    out=$("$bin/$prog" --no-such-option 2>&1); rc=$?
    set -e
    if [ "$rc" -eq 2 ] && grep -q -- "--no-such-option" <<<"$out"; then ok; else bad "$prog bad option (rc $rc: $out)"; fi
    set +e
    out=$(DATAFLEET_PARTITIONS=zero "$bin/$prog" 2>&1); rc=$?
    set -e
    if [ "$rc" -eq 2 ] && grep -q "DATAFLEET_PARTITIONS" <<<"$out"; then ok; else bad "$prog bad env value (rc $rc: $out)"; fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
