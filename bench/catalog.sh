#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Catalog read benchmark, release build, SQLite with the demo catalog: GET /api/events (a page of
# 20 events with venues and tiers) and GET /api/events/{id}, each beside nginx serving the very
# same JSON bytes from files, same run, same CPU pinning (servers on CPU 0, wrk on CPU 1 when
# there are 2+ CPUs). Reported as ours/nginx req/s. Goal: >= 0.5.
#   bench/catalog.sh [BUILD_DIR]        (default build/release)
# Environment: BX_BENCH_DURATION (10s), BX_BENCH_CONNECTIONS ("64 256"), BX_BENCH_OUT
# (bench/out/catalog.md), BX_BENCH_TSV (machine-readable results for bench/report.sh,
# bench/out/catalog.tsv). Loopback only; everything started here is stopped on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build/release}
[[ "$build" = /* ]] || build="$repo/$build"
bin="$build/bin/boxoffice-catalog"
duration=${BX_BENCH_DURATION:-10s}
read -r -a conns <<<"${BX_BENCH_CONNECTIONS:-64 256}"
out=${BX_BENCH_OUT:-$repo/bench/out/catalog.md}
tsv=${BX_BENCH_TSV:-$repo/bench/out/catalog.tsv}
goal=0.5
die() { echo "bench/catalog.sh: $*" >&2; exit 1; }
[ -x "$bin" ] || die "no $bin (make build)"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || die "nginx is not installed (scripts/deps.sh --test)"
for tool in wrk curl taskset; do command -v "$tool" >/dev/null || die "$tool missing"; done
pin_server=() pin_client=()
if [ "$(nproc)" -ge 2 ]; then pin_server=(taskset -c 0) pin_client=(taskset -c 1); fi
threads=$(( $(nproc) < 2 ? 2 : $(nproc) ))

tmp=$(mktemp -d /tmp/bx-bench-catalog-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((10000 + RANDOM % 20000))
    (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
  done
  return 1
}
wait_up() {
  for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  return 1
}

ours=$(free_port)
"$bin" keygen "$tmp/keys" >/dev/null
BOXOFFICE_CATALOG_PORT=$ours BOXOFFICE_AUTH_KEYS="$tmp/keys" BOXOFFICE_LOG_LEVEL=warn \
  BOXOFFICE_CATALOG_DB="sqlite:$tmp/catalog.db" BOXOFFICE_CATALOG_SEED_DEMO=1 \
  BOXOFFICE_HTTP_THREADS=$threads "${pin_server[@]}" "$bin" >"$tmp/catalog.log" 2>&1 &
pids+=("$!")
wait_up "http://127.0.0.1:$ours/readyz" || { cat "$tmp/catalog.log"; die "catalog did not start"; }
curl -fs "http://127.0.0.1:$ours/api/events?limit=20" >"$tmp/list.json"
id=$(sed -n 's/^{"items":\[{"id":"\([^"]*\)".*/\1/p' "$tmp/list.json")
[ -n "$id" ] || die "no demo events"
curl -fs "http://127.0.0.1:$ours/api/events/$id" >"$tmp/event.json"

nginx_port=$(free_port)
user_line=""
[ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"
cat >"$tmp/nginx.conf" <<CONF
$user_line
worker_processes $threads;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    server_tokens off;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location = /api/events { default_type application/json; alias $tmp/list.json; }
        location = /api/events/$id { default_type application/json; alias $tmp/event.json; }
    }
}
CONF
chmod 755 "$tmp"
"${pin_server[@]}" "$nginx_bin" -p "$tmp" -e "$tmp/nginx-error.log" -c "$tmp/nginx.conf" \
  -g 'daemon off; master_process on;' </dev/null >"$tmp/nginx.out" 2>&1 &
pids+=("$!")
wait_up "http://127.0.0.1:$nginx_port/api/events" || { cat "$tmp/nginx-error.log"; die "nginx did not start"; }
cmp -s <(curl -fs "http://127.0.0.1:$nginx_port/api/events?limit=20") "$tmp/list.json" ||
  die "nginx does not serve the same bytes"

rps() { awk '/^Requests\/sec:/ {printf "%.0f", $2}'; }
run() { "${pin_client[@]}" wrk -t2 -c "$1" -d "$duration" "$2" | rps; }

mkdir -p "$(dirname "$out")"
{
  echo "# catalog read benchmark"
  echo
  echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), rev $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo ?), $(nproc) CPUs, $threads server threads/workers"
  echo "- list: $(wc -c <"$tmp/list.json") bytes (20 events), event: $(wc -c <"$tmp/event.json") bytes"
  echo
  echo "| route | connections | ours req/s | nginx req/s | ratio |"
  echo "|---|---:|---:|---:|---:|"
} >"$out"
printf '# metric\tvalue\tanchor\tanchor_value\tratio\tgoal\tverdict\n' >"$tmp/results.tsv"
verdict=PASS
for c in "${conns[@]}"; do
  for route in "/api/events?limit=20" "/api/events/$id"; do
    o=$(run "$c" "http://127.0.0.1:$ours$route")
    n=$(run "$c" "http://127.0.0.1:$nginx_port$route")
    ratio=$(awk -v a="$o" -v b="$n" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    point_verdict=PASS
    awk -v r="$ratio" -v g="$goal" 'BEGIN { exit !(r < g) }' && verdict=FAIL && point_verdict=SHORT
    label=${route/$id/\{id\}}
    echo "| $label | $c | $o | $n | $ratio |" >>"$out"
    printf 'GET %s req/s, %s connections\t%s\tnginx, same bytes from a file\t%s\t%s\tratio>=%s\t%s\n' \
      "$label" "$c" "$o" "$n" "$ratio" "$goal" "$point_verdict" >>"$tmp/results.tsv"
    echo "$label c=$c: ours $o, nginx $n, ratio $ratio" >&2
  done
done
echo >>"$out"
echo "verdict: $verdict (goal: ratio >= $goal at every point)" >>"$out"
mkdir -p "$(dirname "$tsv")"
cp "$tmp/results.tsv" "$tsv"
cat "$out"
