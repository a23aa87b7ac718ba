#!/usr/bin/env bash
# The metrics exposition passes `promtool check metrics` (Prometheus' own
# linter: format, naming, counters ending in _total, HELP on every metric).
set -euo pipefail
BUILD=${DF_BUILD_DIR:-build/dev}
command -v promtool >/dev/null || { echo "promtool not found (deploy/local/install-deps installs prometheus)"; exit 1; }
out=$("$BUILD/tools/df-metrics-sample")
printf '%s\n' "$out" | grep -q '^datafleet_sample_seconds_bucket{type="export",le="+Inf"} 2$' ||
    { echo "histogram +Inf bucket missing or wrong:"; printf '%s\n' "$out"; exit 1; }
if ! printf '%s\n' "$out" | promtool check metrics; then
    printf '%s\n' "$out"
    exit 1
fi
echo "promtool check metrics: clean"
