#!/usr/bin/env bash
# deploy/prometheus/: every scrape configuration passes `promtool check
# config`, the rules pass `promtool check rules`, the rules' unit tests
# (alerts_test.yml) pass `promtool test rules`, and every alert has a case
# where it fires and one where it does not, a severity, annotations and a
# runbook section in docs/DEPLOY.md.
set -euo pipefail
src=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
dir=$src/deploy/prometheus
command -v promtool >/dev/null || { echo "FAIL: promtool not found (deploy/local/install-deps installs prometheus)"; exit 1; }
passed=0; failed=0
run() { # WHAT COMMAND...
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $what"
        printf '%s\n' "$out"
    fi
}

configs=("$dir"/prometheus*.yml)
[ "${#configs[@]}" -ge 3 ] || { echo "FAIL: expected prometheus.yml, -static.yml and -kubernetes.yml in $dir"; exit 1; }
for cfg in "${configs[@]}"; do
    run "promtool check config $(basename "$cfg")" promtool check config "$cfg"
done
run "promtool check rules alerts.yml" promtool check rules "$dir/alerts.yml"
# promtool resolves rule_files relative to the test file's folder.
run "promtool test rules alerts_test.yml" bash -c "cd '$dir' && promtool test rules alerts_test.yml"
run "alerts: coverage, labels, annotations, runbooks" \
    /usr/bin/python3 "$src/tests/unit/deploy_check.py" alerts "$dir/alerts.yml" "$dir/alerts_test.yml" \
    "$src/docs/DEPLOY.md"

# The test must be able to fail: a rule file whose alert threshold was
# changed no longer passes alerts_test.yml.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$dir/alerts.yml" "$dir/alerts_test.yml" "$tmp/"
sed -i 's/) > 0.10$/) > 0.50/' "$tmp/alerts.yml"
if ! cmp -s "$dir/alerts.yml" "$tmp/alerts.yml" && ! (cd "$tmp" && promtool test rules alerts_test.yml >/dev/null 2>&1); then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    echo "FAIL: a changed failure-ratio threshold should fail alerts_test.yml"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
