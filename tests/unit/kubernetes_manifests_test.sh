#!/usr/bin/env bash
# deploy/kubernetes/: the built-in kinds validate against the Kubernetes
# JSON schemas (kubernetes-validate --strict: unknown fields are errors),
# the KEDA ScaledObjects and the Prometheus Operator's ServiceMonitor
# against their projects' CRD schemas (strict as well), and the manifests
# agree with each other and with the programs (deploy_check.py kubernetes:
# probes, non-root read-only pods, KEDA watching the workers' own consumer
# groups, PDBs, Secret references).
#
# Tools come from PyPI and the Go module proxy into build/deploy-tools
# (tests/unit/deploy_tools.sh), downloaded on the first run only.
set -euo pipefail
# shellcheck source=deploy_tools.sh
. "$(dirname "$0")/deploy_tools.sh"
k8s=$src/deploy/kubernetes
passed=0; failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

bin=$(df_tools_venv)
keda=$(df_tools_go_module "$DF_KEDA_MODULE")
promop=$(df_tools_go_module "$DF_PROMOP_MODULE")
keda_crd=$keda/config/crd/bases/keda.sh_scaledobjects.yaml
sm_crd=$promop/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml
[ -f "$keda_crd" ] || { echo "FAIL: $keda_crd missing from $DF_KEDA_MODULE"; exit 1; }
[ -f "$sm_crd" ] || { echo "FAIL: $sm_crd missing from $DF_PROMOP_MODULE"; exit 1; }

builtin=() crds=()
for f in "$k8s"/*.yaml "$k8s"/examples/*.yaml "$k8s"/optional/*.yaml; do
    case $(basename "$f") in
        kustomization.yaml) ;;
        keda-*.yaml | servicemonitor.yaml) crds+=("$f") ;;
        *) builtin+=("$f") ;;
    esac
done

# kubernetes-validate exits 0 on files it could not validate (a kind it has
# no schema for is a warning), so its output is read too.
if out=$("$bin/kubernetes-validate" --strict "${builtin[@]}" 2>&1) && ! grep -qiE 'warn|error|fail' <<<"$out"; then
    ok
    n=$(grep -c 'passed for resource' <<<"$out" || true)
    echo "kubernetes-validate --strict: $n resources valid (schemas of Kubernetes 1.37)"
else
    bad "kubernetes-validate --strict"; printf '%s\n' "$out"
fi
if "$bin/python" "$src/tests/unit/deploy_check.py" crd "$keda_crd" "$sm_crd" -- "${crds[@]}"; then ok; else bad "CRD validation"; fi
if "$bin/python" "$src/tests/unit/deploy_check.py" kubernetes "$k8s"; then ok; else bad "manifest checks"; fi

# Both validators must be able to say no.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's/^      terminationGracePeriodSeconds: 45$/      terminationGracePeriodSeconds: 45\n      noSuchField: 1/' \
    "$k8s/worker-export.yaml" >"$tmp/bad-deployment.yaml"
out=$("$bin/kubernetes-validate" --strict "$tmp/bad-deployment.yaml" 2>&1 || true)
if grep -q noSuchField <<<"$out" && ! grep -q 'passed for resource' <<<"$out"; then ok; else bad "kubernetes-validate accepted an unknown field: $out"; fi
sed '0,/^  pollingInterval: 15$/s//  pollingInterval: 15\n  noSuchField: 1/' "$k8s/keda-scaledobjects.yaml" \
    >"$tmp/bad-keda.yaml"
if ! "$bin/python" "$src/tests/unit/deploy_check.py" crd "$keda_crd" -- "$tmp/bad-keda.yaml" >/dev/null; then ok
else bad "the ScaledObject CRD check accepted an unknown field"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
