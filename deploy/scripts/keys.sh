#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Makes new Ed25519 keys and the Kubernetes Secrets the Deployments mount (docs/auth.md):
#   boxoffice-auth-signing-keys    <kid>.key (seed) + <kid>.pub  users, at BOXOFFICE_AUTH_KEYS
#   boxoffice-auth-public-keys     <kid>.pub                     every other token verifier
#   boxoffice-ticket-signing-keys  <kid>.key + <kid>.pub         ticketgen, at BOXOFFICE_TICKET_KEYS
#   deploy/scripts/keys.sh [--print] [NAMESPACE]     (default namespace: boxoffice)
# --print writes the Secret manifests to stdout instead of applying them (nothing is kept on
# disk either way). The key comes from `boxoffice-users keygen`: $BOXOFFICE_USERS_BIN, else
# build/release/bin/boxoffice-users, else the image $BOXOFFICE_USERS_IMAGE (boxoffice/users:dev).
# The .pub is derived with openssl: a PKCS#8 DER prefix in front of the 32-byte seed gives the
# private key, whose DER public key ends with the 32 public bytes.
# An existing Secret is left alone: to rotate, follow docs/auth.md ("Rotation").
set -euo pipefail

print=0
if [ "${1:-}" = "--print" ]; then
  print=1
  shift
fi
ns=${1:-boxoffice}
kubectl=${KUBECTL:-kubectl}
repo=$(cd "$(dirname "$0")/../.." && pwd)

exists() { [ "$print" = 0 ] && "$kubectl" -n "$ns" get secret "$1" >/dev/null 2>&1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# keygen DIR: one new key in DIR (created), its .pub beside it; prints the kid
keygen() {
  local dir=$1 bin image key kid seed_hex
  mkdir -m 0700 "$dir"
  bin=${BOXOFFICE_USERS_BIN:-$repo/build/release/bin/boxoffice-users}
  if [ -x "$bin" ]; then
    "$bin" keygen "$dir" >&2
  else
    image=${BOXOFFICE_USERS_IMAGE:-boxoffice/users:dev}
    chmod 0777 "$dir"
    docker run --rm --user "$(id -u):$(id -g)" -v "$dir:/keys" "$image" keygen /keys >&2
  fi
  shopt -s nullglob
  local keys=("$dir"/*.key)
  if [ "${#keys[@]}" -ne 1 ]; then
    echo "keys: keygen made ${#keys[@]} keys in $dir, expected 1" >&2
    return 1
  fi
  key=${keys[0]}
  kid=$(basename "$key" .key)
  seed_hex=$(base64 -d <"$key" | od -An -v -tx1 | tr -d ' \n')
  if [ "${#seed_hex}" -ne 64 ]; then
    echo "keys: $key does not hold a 32-byte seed" >&2
    return 1
  fi
  # shellcheck disable=SC2059 # the format is the DER bytes as \x escapes, on purpose
  printf "$(printf '302e020100300506032b657004220420%s' "$seed_hex" | sed 's/../\\x&/g')" \
    >"$work/private.der"
  openssl pkey -inform DER -in "$work/private.der" -pubout -outform DER | tail -c 32 | base64 \
    >"$dir/$kid.pub"
  rm -f "$work/private.der"
  echo "$kid"
}

emit() { # NAME DIR
  local yaml
  yaml=$("$kubectl" create secret generic "$1" -n "$ns" --from-file="$2" --dry-run=client -o yaml)
  if [ "$print" = 1 ]; then
    printf '%s\n---\n' "$yaml"
  else
    printf '%s\n' "$yaml" | "$kubectl" apply -f -
  fi
}

if exists boxoffice-auth-signing-keys; then
  echo "keys: secret boxoffice-auth-signing-keys already exists in $ns (rotation: docs/auth.md)"
else
  kid=$(keygen "$work/auth")
  mkdir -m 0700 "$work/auth-public"
  cp "$work/auth/$kid.pub" "$work/auth-public/"
  emit boxoffice-auth-signing-keys "$work/auth"
  emit boxoffice-auth-public-keys "$work/auth-public"
fi
if exists boxoffice-ticket-signing-keys; then
  echo "keys: secret boxoffice-ticket-signing-keys already exists in $ns"
else
  keygen "$work/ticket" >/dev/null
  emit boxoffice-ticket-signing-keys "$work/ticket"
fi
