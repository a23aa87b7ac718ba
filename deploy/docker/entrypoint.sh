#!/bin/sh
# datafleet: container entry point. Reads secrets given as files into the
# environment variables the programs (and libpq) read, then runs the
# command. For each NAME below, NAME_FILE=/path sets NAME to the file's
# content (trailing newline removed); setting both is an error.
#   PGPASSWORD                 PostgreSQL password (libpq), so that
#                              DATAFLEET_DATABASE_URL carries none
#   DATAFLEET_DATABASE_URL     the whole URL, password included
#   DATAFLEET_REDIS_URL        redis://:password@host:port/db
#   DATAFLEET_KAFKA_PROPS      e.g. SASL settings with a password
# DATAFLEET_SECRET_KEY_FILE is read by the programs themselves.
set -eu

for name in PGPASSWORD DATAFLEET_DATABASE_URL DATAFLEET_REDIS_URL DATAFLEET_KAFKA_PROPS; do
  eval "file=\${${name}_FILE:-}"
  [ -n "$file" ] || continue
  eval "value=\${${name}:-}"
  if [ -n "$value" ]; then
    echo "datafleet-entrypoint: both $name and ${name}_FILE are set; set one" >&2
    exit 2
  fi
  if [ ! -r "$file" ]; then
    echo "datafleet-entrypoint: ${name}_FILE: cannot read $file" >&2
    exit 2
  fi
  value=$(cat "$file")
  export "$name=$value"
  unset "${name}_FILE"
done

if [ "$#" -eq 0 ]; then
  set -- datafleet-worker
fi
exec "$@"
