#!/usr/bin/env bash
# schema_oracle_test: df_schema (through tests/tools/df-schema-check) must
# give the same verdict as an independent validator (Debian's
# python3-jsonschema, Draft202012Validator) on every example in
# schemas/examples/, and the schemas must be valid draft 2020-12 schemas.
# Fails listing each file where the verdicts differ, and when nothing was
# compared. Needs DF_SOURCE_DIR and DF_BUILD_DIR (ctest sets both).
set -euo pipefail

: "${DF_SOURCE_DIR:?DF_SOURCE_DIR is not set: run through ctest}"
: "${DF_BUILD_DIR:?DF_BUILD_DIR is not set: run through ctest}"

python=/usr/bin/python3
if ! "$python" -c 'from jsonschema import Draft202012Validator' 2>/dev/null; then
    echo "schema_oracle_test: $python with jsonschema >= 4 is required" \
         "(python3-jsonschema; deploy/local/install-deps installs it)" >&2
    exit 1
fi

exec "$python" "$DF_SOURCE_DIR/tests/unit/schema_oracle.py"
