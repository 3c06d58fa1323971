#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Creates the Secrets the local overlay references by name, with random values, once (an
# existing Secret is kept). Nothing is written to disk or to git.
#   deploy/k8s/overlays/local/make-secrets.sh [NAMESPACE]        (default: boxoffice)
# Set BOXOFFICE_ADMIN_EMAIL and BOXOFFICE_ADMIN_PASSWORD to also get an admin account.
set -euo pipefail

ns=${1:-boxoffice}
kubectl=${KUBECTL:-kubectl}
here=$(cd "$(dirname "$0")" && pwd)

"$kubectl" get namespace "$ns" >/dev/null 2>&1 || "$kubectl" create namespace "$ns"

secret() { # NAME KEY=VALUE...
  local name=$1
  shift
  if "$kubectl" -n "$ns" get secret "$name" >/dev/null 2>&1; then
    echo "make-secrets: $name exists, kept"
    return
  fi
  local args=()
  local kv
  for kv in "$@"; do args+=("--from-literal=$kv"); done
  "$kubectl" -n "$ns" create secret generic "$name" "${args[@]}" >/dev/null
  echo "make-secrets: $name created"
}
random() { openssl rand -hex 24; }

secret boxoffice-local-postgres "password=$(random)"
secret boxoffice-catalog-db "password=$(random)"
secret boxoffice-booking-db "password=$(random)"
secret boxoffice-analytics-db "password=$(random)"
secret boxoffice-local-dynamodb "accessKeyId=local" "secretAccessKey=local"
secret boxoffice-minio "rootUser=boxoffice" "rootPassword=$(random)"
if [ -n "${BOXOFFICE_ADMIN_EMAIL:-}" ] && [ -n "${BOXOFFICE_ADMIN_PASSWORD:-}" ]; then
  secret boxoffice-users-admin "email=$BOXOFFICE_ADMIN_EMAIL" "password=$BOXOFFICE_ADMIN_PASSWORD"
fi
KUBECTL=$kubectl "$here/../../../scripts/keys.sh" "$ns"
