#!/usr/bin/env bash
# CI's smoke run of the benchmarks: each one in --quick mode against the
# suite's stack. They print their figures; the check is only that every
# task they submitted ended (the scripts exit non-zero otherwise), never a
# timing.
set -euo pipefail
cd "${DF_SOURCE_DIR:-$(dirname "$0")/../..}"
: "${DATAFLEET_KAFKA_BROKERS:?is not set: run through tests/run}"
passed=0; failed=0
for bench in throughput keyed export schedules scale; do
    if tests/bench/$bench --quick --stack env; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); echo "FAILED: tests/bench/$bench --quick"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
