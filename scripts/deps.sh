#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what boxoffice needs from Debian's apt (and, for tests, npm), only when missing.
# Idempotent and fast when everything is present: packages are checked with dpkg-query before
# `apt-get update` runs at all. Run as root (or with sudo available).
#   scripts/deps.sh          build + run dependencies
#   scripts/deps.sh --test   also test-only dependencies
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

run_pkgs=(
  build-essential cmake pkg-config git ca-certificates curl
  libmicrohttpd-dev libjansson-dev libsodium-dev libcurl4-openssl-dev librdkafka-dev
  libsqlite3-dev liblmdb-dev libpq-dev libhpdf-dev libqrencode-dev tzdata fonts-dejavu-core zlib1g-dev
)
# postgresql: the server binaries (/usr/lib/postgresql/N/bin) that conformance.db.postgres runs
# on a port of its own; the `postgres` user it creates runs them when the tests run as root.
# poppler-utils and zbar-tools read rendered tickets back (pdftotext, pdftoppm, zbarimg);
# chromium runs the UI tests; yamllint and shellcheck lint deploy/ and scripts; clang builds the
# libFuzzer targets; patchelf and zip package the ticket Lambda (deploy.validate checks it);
# redis-server is make bench's in-memory reference.
test_pkgs=(
  libcmocka-dev clang-format nginx-light wrk procps iproute2 postgresql
  poppler-utils zbar-tools chromium yamllint shellcheck clang patchelf zip redis-server
)

pkgs=("${run_pkgs[@]}")
[ "$want_test" = 1 ] && pkgs+=("${test_pkgs[@]}")

# Node runs the test servers from npm (dynalite). Any node that is there will do (Debian 12's
# is 18, which tests/package.json is pinned to run on); apt's nodejs and npm only when missing.
node_pkgs=()
if [ "$want_test" = 1 ]; then
  # kubectl renders deploy/k8s (kubectl kustomize); Debian's own is in kubernetes-client.
  command -v kubectl >/dev/null 2>&1 || node_pkgs+=(kubernetes-client)
  command -v node >/dev/null 2>&1 || node_pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || node_pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# nginx-light conflicts with nothing we need, but any installed nginx flavour will do.
if [[ " ${missing[*]-} " == *" nginx-light "* ]] && command -v nginx >/dev/null 2>&1; then
  missing=("${missing[@]/nginx-light}")
fi
clean=()
for p in "${missing[@]-}" "${node_pkgs[@]-}"; do [ -n "$p" ] && clean+=("$p"); done
missing=("${clean[@]-}")

if [ "${#missing[@]}" -gt 0 ] && [ -n "${missing[0]}" ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "deps: missing ${missing[*]} and not root (run as root or install sudo)" >&2
      exit 1
    fi
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts nginx after install on systems with an init; we never use that instance.
  if [[ " ${missing[*]} " == *" nginx"* ]] && command -v service >/dev/null 2>&1; then
    $sudo service nginx stop >/dev/null 2>&1 || true
  fi
  # Likewise its default cluster on 5432: the tests start a server of their own.
  if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v service >/dev/null 2>&1; then
    $sudo service postgresql stop >/dev/null 2>&1 || true
  fi
fi

# npm packages of the tests (tests/package.json, exact versions in tests/package-lock.json) go to
# tests/node_modules, again only when missing or when the lock file changed since the last install.
if [ "$want_test" = 1 ]; then
  tests_dir="$(cd "$(dirname "$0")/.." && pwd)/tests"
  stamp="$tests_dir/node_modules/.boxoffice-lock.sha256"
  sum=$(cat "$tests_dir/package.json" "$tests_dir/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    echo "deps: npm ci in tests/ ($(node --version))"
    # Trust the system's CA bundle too (a TLS-inspecting proxy's CA lives there, not in Node's).
    cafile=()
    [ -s /etc/ssl/certs/ca-certificates.crt ] && cafile=(--cafile /etc/ssl/certs/ca-certificates.crt)
    (cd "$tests_dir" &&
      npm ci "${cafile[@]}" --omit=optional --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$sum" >"$stamp"
  fi
fi
exit 0
