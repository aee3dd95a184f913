#!/usr/bin/env bash
# Roll nobat out in the safe order: PostgreSQL, then the migrations, then the servers.
#   deploy/rollout.sh dev|prod
# Needs kubectl (with kustomize) pointed at the cluster, the CloudNativePG operator,
# NATS, the namespace and the Secrets (deploy/README.md, "Configure").
set -euo pipefail

overlay="${1:?usage: deploy/rollout.sh dev|prod}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rendered="$(mktemp)"
trap 'rm -f "$rendered"' EXIT
kubectl kustomize "$here/overlays/$overlay" >"$rendered"
namespace="$(sed -n 's/^  namespace: //p' "$rendered" | head -n 1)"
component() { echo "app.kubernetes.io/component=$1"; }

echo "== PostgreSQL"
kubectl apply -f "$rendered" -l "$(component database)"
kubectl wait -n "$namespace" --for=condition=Ready cluster/nobat-postgres --timeout=15m
kubectl wait -n "$namespace" --for=jsonpath='{.status.applied}'=true database \
  -l "$(component database)" --timeout=5m

echo "== Migrations"
# A Job's pod template cannot change, and the old Jobs ran the old image: start afresh.
kubectl delete job -n "$namespace" -l "$(component migration)" --ignore-not-found --wait
kubectl apply -f "$rendered" -l "$(component migration)"
for job in $(kubectl get job -n "$namespace" -l "$(component migration)" -o name); do
  until kubectl wait -n "$namespace" "$job" --for=condition=Complete --timeout=10s >/dev/null 2>&1; do
    if kubectl wait -n "$namespace" "$job" --for=condition=Failed --timeout=1s >/dev/null 2>&1; then
      echo "$job failed; the servers were not touched. Its last output:" >&2
      kubectl logs -n "$namespace" "$job" --tail=50 >&2 || true
      exit 1
    fi
  done
  echo "$job complete"
done

roll() {
  for deployment in $(kubectl get deployment -n "$namespace" -l "$1" -o name); do
    kubectl rollout status -n "$namespace" "$deployment" --timeout=10m
  done
}

echo "== Servers"
# Everything but payment first: its readers ask NATS for the subjects its news comes on
# (protos/CHANGELOG.md), and a reader still asking for older ones would skip, for good,
# what a newer payment had published on newer ones.
readers="app.kubernetes.io/name!=payment"
kubectl apply -f "$rendered" -l "$readers"
roll "$(component server),$readers"
kubectl apply -f "$rendered"
roll "$(component server)"
