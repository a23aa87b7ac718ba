#!/usr/bin/env bash
# The lint catches what it claims to: run it over a scratch tree holding one
# banned call and one formatted SQL statement, and over a clean one.
set -euo pipefail
src="${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/repo/tests/unit"
cp "$src/tests/unit/lint_test.sh" "$tmp/repo/tests/unit/"
cd "$tmp/repo"; git init -q .
passed=0; failed=0
check() { # name expected-status file-content
    printf '%s\n' "$3" > t.c
    set +e; DF_SOURCE_DIR="$tmp/repo" bash tests/unit/lint_test.sh >out.txt 2>&1; got=$?; set -e
    if [ "$got" -eq "$2" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1 (status $got)"; cat out.txt; fi
}
check clean 0 'int f(char *b, unsigned n) { return snprintf(b, n, "%d", 1); }'
check sprintf 1 'void f(char *b) { sprintf(b, "x"); }'
check strcpy 1 'void f(char *b) { strcpy(b, "x"); }'
check strtok 1 'void f(char *b) { strtok(b, ","); }'
check formatted-sql 1 'void f(char *b, const char *t) { snprintf(b, 64, "SELECT * FROM %s", t); }'
check sql-buffer 1 'void f(const char *t) { char sql[64]; snprintf(sql, 64, "%s", t); }'
check allowed 0 'void f(char *b) { strcpy(b, "x"); } /* lint: allow test */'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
