#!/usr/bin/env bash
# Every C file is formatted as .clang-format says (clang-format --dry-run).
set -euo pipefail
cd "${DF_SOURCE_DIR:-$(dirname "$0")/../..}"
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^build/')
[ "${#files[@]}" -gt 0 ] || { echo "no C files found"; echo "0 passed, 1 failed"; exit 1; }
bad=0
for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f (run: clang-format -i $f)"
        bad=$((bad + 1))
    fi
done
echo "$(( ${#files[@]} - bad )) passed, $bad failed"
[ "$bad" -eq 0 ]
