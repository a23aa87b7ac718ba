#!/usr/bin/env bash
# Banned calls and string-built SQL (the project's checksrc):
#   - sprintf, vsprintf, strcpy, strcat, strtok, gets: use snprintf, memcpy,
#     strtok_r or explicit lengths;
#   - SQL assembled with printf-style formatting: every statement is a
#     literal passed to PQexecParams with $n parameters.
# A line may opt out only with a trailing "/* lint: allow <reason> */".
set -euo pipefail
cd "${DF_SOURCE_DIR:-$(dirname "$0")/../..}"
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^build/')
[ "${#files[@]}" -gt 0 ] || { echo "no C files found"; echo "0 passed, 1 failed"; exit 1; }
fail=0
report() { echo "$1"; fail=$((fail + 1)); }

# 1. Banned calls (word boundary; not inside identifiers like snprintf).
while IFS= read -r hit; do
    report "banned call: $hit"
done < <(grep -nHE '(^|[^A-Za-z0-9_])(sprintf|vsprintf|strcpy|strcat|strtok|gets)[[:space:]]*\(' "${files[@]}" \
            | grep -v 'lint: allow' || true)

# 2. SQL built by formatting: a format call whose literal starts with a SQL verb.
sql='(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|TRUNCATE|GRANT|WITH)[[:space:]]'
while IFS= read -r hit; do
    report "SQL built by string formatting: $hit"
done < <(grep -nHE "(snprintf|vsnprintf|asprintf|fprintf|printf|json_sprintf|df_buf_printf)[[:space:]]*\\([^\"]*\"[[:space:]]*$sql" "${files[@]}" \
            | grep -v 'lint: allow' || true)

# 3. Statements passed to libpq must be literals or named constants, never a buffer
#    filled at run time: flag PQexec/PQexecParams/df_pg_exec whose SQL argument is a
#    variable called buf/query/sql built nearby with snprintf.
while IFS= read -r hit; do
    report "SQL from a formatted buffer: $hit"
done < <(grep -nHE 'snprintf[[:space:]]*\([[:space:]]*(sql|query|stmt)[[:space:]]*,' "${files[@]}" \
            | grep -v 'lint: allow' || true)

echo "$(( ${#files[@]} )) files checked"
if [ "$fail" -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
[ "$fail" -eq 0 ]
