#!/usr/bin/env bash
# cron_oracle_test: df_cron's next fire times agree with croniter's for
# thousands of seeded random expressions, zones and start times, except for
# the deliberate differences listed in docs/CRON.md, each excused by a named,
# counted rule in tests/unit/cron_oracle.py. Fails on any disagreement.
#
# croniter comes from PyPI, pinned by version and hash
# (cron_oracle_requirements.txt), into a venv under the build directory made
# with Debian's /usr/bin/python3 (python3-venv) that also sees Debian's
# python3-dateutil; deploy/local/install-deps installs both. The venv is made
# once and reused while the requirements file is unchanged.
# Needs DF_SOURCE_DIR and DF_BUILD_DIR (ctest sets both).
set -euo pipefail

: "${DF_SOURCE_DIR:?DF_SOURCE_DIR is not set: run through ctest}"
: "${DF_BUILD_DIR:?DF_BUILD_DIR is not set: run through ctest}"

python=/usr/bin/python3
requirements="$DF_SOURCE_DIR/tests/unit/cron_oracle_requirements.txt"
venv="$DF_BUILD_DIR/cron-oracle-venv"

fail() { echo "cron_oracle_test: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

"$python" -c 'import venv, ensurepip' 2>/dev/null ||
    fail "$python cannot make a venv (python3-venv; deploy/local/install-deps installs it)"
"$python" -c 'import dateutil.relativedelta, dateutil.tz' 2>/dev/null ||
    fail "$python has no dateutil (python3-dateutil; deploy/local/install-deps installs it)"

if ! cmp -s "$requirements" "$venv/requirements.txt" 2>/dev/null; then
    rm -rf "$venv" "$venv.new"
    "$python" -m venv --system-site-packages "$venv.new" ||
        fail "could not make a venv in $venv.new"
    "$venv.new/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
        --require-hashes -r "$requirements" ||
        fail "could not install croniter from PyPI (see $requirements)"
    cp "$requirements" "$venv.new/requirements.txt"
    mv "$venv.new" "$venv"
fi

exec "$venv/bin/python" "$DF_SOURCE_DIR/tests/unit/cron_oracle.py"
