#!/usr/bin/env bash
# deploy/systemd/: `systemd-analyze verify` accepts the units (any warning,
# such as an unknown key, counts as a failure), `systemd-analyze security
# --offline` rates each service's exposure at most 2.0 ("OK"), and the
# units keep what the fleet relies on (deploy_check.py systemd: hardening,
# secrets as credentials, a stop timeout above the worker's --grace, one
# metrics port per worker instance).
set -euo pipefail
src=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
units=$src/deploy/systemd
command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze not found (Debian package systemd)"; exit 1; }
passed=0; failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# verify checks that ExecStart's program exists: point the units at
# stand-ins with the installed names.
mkdir -p "$tmp/bin"
for prog in datafleet-worker datafleet-scheduler; do
    printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/$prog"
    chmod +x "$tmp/bin/$prog"
done
for f in "$units"/*.service "$units"/*.target; do
    grep -q '^ExecStart=/usr/local/bin/' "$f" || [[ $f == *.target ]] ||
        bad "$(basename "$f"): ExecStart is not an installed program under /usr/local/bin"
    sed "s#/usr/local/bin/#$tmp/bin/#" "$f" >"$tmp/$(basename "$f")"
done
cp "$tmp/datafleet-worker@.service" "$tmp/datafleet-worker@export.service"

verify() { # UNIT...
    local out
    if out=$(cd "$tmp" && systemd-analyze verify "$@" 2>&1) && [ -z "$out" ]; then ok
    else bad "systemd-analyze verify $*"; printf '%s\n' "$out"; fi
}
verify ./datafleet-worker@.service ./datafleet-worker@export.service ./datafleet-scheduler.service ./datafleet.target

for unit in datafleet-worker@export.service datafleet-scheduler.service; do
    if out=$(cd "$tmp" && systemd-analyze security --offline=true --threshold=20 "./$unit" 2>&1); then
        ok
        grep 'Overall exposure level' <<<"$out"
    else
        bad "systemd-analyze security $unit: exposure over 2.0"; printf '%s\n' "$out" | grep -E '✗|Overall'
    fi
done

if /usr/bin/python3 "$src/tests/unit/deploy_check.py" systemd "$units"; then ok; else bad "unit checks"; fi

# verify must be able to say no: an unknown key is reported.
sed 's/^NoNewPrivileges=yes$/NoNewPrivileges=yes\nNoSuchKey=yes/' "$tmp/datafleet-scheduler.service" >"$tmp/bad.service"
out=$(cd "$tmp" && systemd-analyze verify ./bad.service 2>&1 || true)
if grep -q NoSuchKey <<<"$out"; then ok; else bad "systemd-analyze verify missed an unknown key: $out"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
