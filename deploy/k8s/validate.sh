#!/usr/bin/env bash
# Validates the Kubernetes manifests offline (`just k8s-validate`, part of
# `just test`): renders the base and every overlay with `kubectl kustomize`,
# then deploy/k8s/check.py validates each built-in object against the
# Kubernetes JSON schemas that kubernetes-validate ships (strict: unknown
# fields fail), checks the Strimzi KafkaTopics, and holds probes, resources,
# PodDisruptionBudgets, NetworkPolicies, settings, secrets and topics against
# docker-compose.yml, deploy/Dockerfile, the protos and
# services/runtime/src/topic.rs. Exits non-zero on any problem.
#
# kubernetes-validate is installed once (PyPI) into a virtualenv under
# ${CLUSTERGENIE_CACHE:-~/.cache/clustergenie}/k8s-venv; after that no
# network is needed.
#
#   K8S_VERSION=1.32   schemas of this Kubernetes version (or the closest older one shipped)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${CLUSTERGENIE_CACHE:-$HOME/.cache/clustergenie}"
venv="$cache/k8s-venv"
validator_version="1.37.0"
k8s_version="${K8S_VERSION:-1.32}"

die() { echo "validate.sh: $*" >&2; exit 2; }

command -v kubectl >/dev/null 2>&1 \
    || die "kubectl (1.27+, with kustomize 5) is needed to render the manifests"
kustomize_version="$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\{0,1\}//p')"
[[ "${kustomize_version%%.*}" =~ ^[0-9]+$ && "${kustomize_version%%.*}" -ge 5 ]] \
    || die "kubectl's kustomize is '${kustomize_version:-unknown}'; version 5 or later is needed"

have_validator() {
    [[ -x "$venv/bin/python" ]] && "$venv/bin/python" - "$validator_version" <<'EOF' 2>/dev/null
import sys, kubernetes_validate, yaml
sys.exit(kubernetes_validate.__version__ != sys.argv[1])
EOF
}
if ! have_validator; then
    echo "validate.sh: installing kubernetes-validate $validator_version into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$validator_version" \
        || die "could not install kubernetes-validate from PyPI"
    have_validator || die "kubernetes-validate $validator_version does not import in $venv"
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

renderings=()
for dir in "$here/base" "$here"/overlays/*/; do
    dir="${dir%/}"
    [[ -f "$dir/kustomization.yaml" ]] || continue
    name="${dir#"$here/"}"
    file="$out/${name//\//-}.yaml"
    if ! kubectl kustomize "$dir" >"$file" 2>"$out/err"; then
        echo "FAIL $name: kubectl kustomize failed:" >&2
        cat "$out/err" >&2
        exit 1
    fi
    renderings+=("$name=$file")
done
((${#renderings[@]} >= 2)) || die "found no overlay under $here/overlays"

exec "$venv/bin/python" "$here/check.py" --kubernetes-version "$k8s_version" "${renderings[@]}"
