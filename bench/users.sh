#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Users service benchmark, release build, one process on LMDB:
#  1. authenticated GET /api/users/me (token verification via the verified-token cache, one LMDB
#     read, JSON out) against the same server's trivial GET /healthz, same run, same connections:
#     the ratio says what auth + storage cost on top of the HTTP floor (bench/http.sh relates that
#     floor to nginx);
#  2. log-in rate (POST /api/sessions with the right password): bounded by Argon2id by design
#     (libsodium interactive limits: 2 passes, 64 MiB, BOXOFFICE_USERS_HASH_CONCURRENCY at once),
#     reported as logins/s with those limits.
#   bench/users.sh [BUILD_DIR]    (default build/release)
# Environment: BX_BENCH_DURATION (default 10s), BX_BENCH_CONNECTIONS (default "64 256"),
# BX_BENCH_OUT (default bench/out/users.md), BX_BENCH_TSV (machine-readable results for
# bench/report.sh, default bench/out/users.tsv). Loopback only; everything started is stopped on
# exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build/release}
[[ "$build" = /* ]] || build="$repo/$build"
bin="$build/bin/boxoffice-users"
duration=${BX_BENCH_DURATION:-10s}
read -r -a conns <<<"${BX_BENCH_CONNECTIONS:-64 256}"
out=${BX_BENCH_OUT:-$repo/bench/out/users.md}
tsv=${BX_BENCH_TSV:-$repo/bench/out/users.tsv}
hash_concurrency=${BOXOFFICE_USERS_HASH_CONCURRENCY:-4}
die() { echo "bench/users.sh: $*" >&2; exit 1; }
[ -x "$bin" ] || die "no $bin (make build)"
for tool in wrk curl; do command -v "$tool" >/dev/null || die "$tool missing (scripts/deps.sh --test)"; done

tmp=$(mktemp -d /tmp/bx-bench-users-XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && { timeout 10 tail --pid="$pid" -f /dev/null || kill -KILL "$pid"; }
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

port=$((10000 + RANDOM % 20000))
"$bin" keygen "$tmp/keys" >/dev/null
BOXOFFICE_USERS_PORT=$port BOXOFFICE_AUTH_KEYS="$tmp/keys" BOXOFFICE_USERS_STORE="lmdb:$tmp/users" \
  BOXOFFICE_LOG_LEVEL=warn BOXOFFICE_USERS_HASH_CONCURRENCY=$hash_concurrency \
  "$bin" >"$tmp/users.log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -fs -o /dev/null "$base/readyz" && break; sleep 0.1; done
curl -fs -o /dev/null "$base/readyz" || { cat "$tmp/users.log"; die "users did not start"; }

curl -fs -o /dev/null -H 'Content-Type: application/json' "$base/api/users" \
  -d '{"email":"bench@example.com","password":"bench password","name":"Bench"}'
token=$(curl -fs -H 'Content-Type: application/json' "$base/api/sessions" \
  -d '{"email":"bench@example.com","password":"bench password"}' |
  sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || die "could not log in"

rps() { awk '/^Requests\/sec:/ {printf "%.0f", $2}'; }

mkdir -p "$(dirname "$out")"
{
  echo "# users benchmark"
  echo
  echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), rev $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo ?), $(nproc) CPUs"
  echo "- wrk -t2 -d $duration, keep-alive, LMDB store, BOXOFFICE_LOG_LEVEL=warn"
  echo
  echo "| connections | GET /api/users/me req/s | GET /healthz req/s | ratio |"
  echo "|---:|---:|---:|---:|"
} >"$out"
printf '# metric\tvalue\tanchor\tanchor_value\tratio\tgoal\tverdict\n' >"$tmp/results.tsv"
for c in "${conns[@]}"; do
  me=$(wrk -t2 -c "$c" -d "$duration" -H "Authorization: Bearer $token" "$base/api/users/me" | rps)
  hz=$(wrk -t2 -c "$c" -d "$duration" "$base/healthz" | rps)
  ratio=$(awk -v a="$me" -v b="$hz" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  echo "| $c | $me | $hz | $ratio |" >>"$out"
  printf 'GET /api/users/me req/s, %s connections\t%s\tGET /healthz, same server\t%s\t%s\t-\tINFO\n' \
    "$c" "$me" "$hz" "$ratio" >>"$tmp/results.tsv"
  echo "connections $c: me $me req/s, healthz $hz req/s, ratio $ratio" >&2
done

cat >"$tmp/login.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"bench@example.com","password":"bench password"}'
LUA
logins=$(wrk -t2 -c 8 -d "$duration" -s "$tmp/login.lua" "$base/api/sessions" | rps)
{
  echo
  echo "Log-in: $logins logins/s with 8 connections (Argon2id, 2 passes, 64 MiB, at most"
  echo "$hash_concurrency hashes at once). This is bounded by design: each hash costs what an"
  echo "offline guesser pays per guess."
} >>"$out"
echo "log-in: $logins logins/s" >&2
printf 'POST /api/sessions logins/s, 8 connections (Argon2id-bound by design)\t%s\t-\t-\t-\t-\tINFO\n' \
  "$logins" >>"$tmp/results.tsv"
mkdir -p "$(dirname "$tsv")"
cp "$tmp/results.tsv" "$tsv"
cat "$out"
