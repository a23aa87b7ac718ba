#!/usr/bin/env bash
# deploy/docker-compose.yml: parsed and validated by `docker-compose config`
# (Debian's docker-compose; needs no Docker daemon), then checked for what
# the fleet relies on (deploy_check.py compose): the services, the fleet's
# containers hardened and built from deploy/docker/Dockerfile, workers
# scalable, migrations before the scheduler, secrets as files, Prometheus'
# DNS discovery of every replica, loopback-only host ports.
set -euo pipefail
src=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
compose=$src/deploy/docker-compose.yml
command -v docker-compose >/dev/null ||
    { echo "FAIL: docker-compose not found (deploy/local/install-deps installs it)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0

# Variables of the caller (a local stack's ports, say) must not leak in.
clean_env=(env -u DATAFLEET_KAFKA_PORT -u DATAFLEET_REDIS_PORT -u DATAFLEET_PG_PORT
           -u DATAFLEET_PROMETHEUS_PORT -u DATAFLEET_GRAFANA_PORT -u DATAFLEET_CONCURRENCY
           -u DATAFLEET_LOG_LEVEL -u DATAFLEET_IMAGE_TAG -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME)
if "${clean_env[@]}" docker-compose -f "$compose" config >"$tmp/resolved.yml" 2>"$tmp/err"; then
    passed=$((passed + 1))
else
    echo "FAIL: docker-compose config"; cat "$tmp/err"; exit 1
fi
if /usr/bin/python3 "$src/tests/unit/deploy_check.py" compose "$tmp/resolved.yml" "$src/deploy"; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL: compose checks"
fi

# The services, as docker-compose lists them.
services=$("${clean_env[@]}" docker-compose -f "$compose" config --services | sort | tr '\n' ' ')
if [ "$services" = 'api grafana kafka migrate postgres prometheus redis scheduler worker ' ]; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL: docker-compose config --services"
fi

# The validator is not lenient: an unknown key is rejected.
sed 's/^  worker:$/  worker:\n    no_such_option: 1/' "$compose" >"$tmp/bad.yml"
if ! "${clean_env[@]}" docker-compose -f "$tmp/bad.yml" --project-directory "$src/deploy" config -q 2>/dev/null; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL: docker-compose config accepted an unknown key"
fi

# init-secrets makes every secret the fleet mounts, in the keyring format
# the programs take (base64 of 32 bytes), and keeps them on a second run.
mkdir -p "$tmp/compose"
cp "$src/deploy/compose/init-secrets" "$tmp/compose/"
"$tmp/compose/init-secrets" >/dev/null
key=$(cat "$tmp/compose/secrets/datafleet_secret_key")
first=$(cat "$tmp/compose/secrets/postgres_password")
"$tmp/compose/init-secrets" >/dev/null
if [ "$(printf '%s' "$key" | base64 -d | wc -c)" -eq 32 ] &&
    [ -s "$tmp/compose/secrets/grafana_admin_password" ] &&
    [ "$(cat "$tmp/compose/secrets/postgres_password")" = "$first" ] &&
    [ "$(stat -c %a "$tmp/compose/secrets")" = 700 ]; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL: init-secrets"
    ls -la "$tmp/compose/secrets"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
