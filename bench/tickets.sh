#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ticket benchmark, release build, each number beside its anchor from the same run:
#  1. rendering, no I/O: `boxoffice-ticketgen render-bench N` signs and renders N tickets on one
#     thread and reports PDFs per CPU-second (CPU time, so a busy neighbour does not lower it),
#     beside the same ticket made the straightforward libharu way (a new document per ticket,
#     fonts loaded from their files, UTF-8 encoder): ratio = ours / straightforward. Once with a
#     Latin holder name (the single-byte font path) and once with "Zoë Ångström 山田" (CJK takes
#     the UTF-8 CID font). Goal: >= 80 PDFs per CPU-second on the Latin path.
#  2. end to end on a file store: ORDERS order documents (2 tickets each) written into the store of
#     a running ticketgen with one worker; PDFs per CPU-second of the whole process (utime + stime
#     from /proc: inotify, kv writes, PDF files, rendering), beside (1).
#  3. check-ins: wrk POST /api/checkins with one valid payload (the first is admitted, the rest
#     already_used: signature check + three kv calls each) against the same server's GET /healthz,
#     same connections; ratio = check-ins / healthz.
#   bench/tickets.sh [BUILD_DIR]    (default build/release; needs boxoffice-ticketgen and -users)
# Environment: BX_BENCH_PDFS (default 400), BX_BENCH_ORDERS (default 100), BX_BENCH_DURATION
# (default 10s), BX_BENCH_CONNECTIONS (default "16 64"), BX_BENCH_SERVER_CPUS (default 0 with 2+
# CPUs; "" = no pinning), BX_BENCH_CLIENT_CPUS (default 1), BX_BENCH_OUT (default
# bench/out/tickets.md), BX_BENCH_TSV (machine-readable results for bench/report.sh, default
# bench/out/tickets.tsv). Loopback only; everything started is stopped on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build/release}
[[ "$build" = /* ]] || build="$repo/$build"
tg="$build/bin/boxoffice-ticketgen"
users="$build/bin/boxoffice-users"
pdfs=${BX_BENCH_PDFS:-400}
orders=${BX_BENCH_ORDERS:-100}
duration=${BX_BENCH_DURATION:-10s}
dur_s=$(awk -v d="$duration" 'BEGIN { print (d ~ /m$/ ? d * 60 : d + 0) }') # "10s", "15", "1m"
read -r -a conns <<<"${BX_BENCH_CONNECTIONS:-16 64}"
out=${BX_BENCH_OUT:-$repo/bench/out/tickets.md}
tsv=${BX_BENCH_TSV:-$repo/bench/out/tickets.tsv}
die() { echo "bench/tickets.sh: $*" >&2; exit 1; }
[ -x "$tg" ] || die "no $tg (cmake --build $build)"
[ -x "$users" ] || die "no $users (cmake --build $build)"
for tool in wrk curl pdftoppm zbarimg awk; do
  command -v "$tool" >/dev/null || die "$tool missing (scripts/deps.sh --test)"
done
server_cpus=0 client_cpus=1
if [ "$(nproc)" -lt 2 ]; then server_cpus="" client_cpus=""; fi
server_cpus=${BX_BENCH_SERVER_CPUS-$server_cpus}
client_cpus=${BX_BENCH_CLIENT_CPUS-$client_cpus}
on() { # on CPUS CMD...: runs CMD pinned to CPUS (or not pinned when CPUS is empty)
  local cpus=$1; shift
  if [ -n "$cpus" ]; then taskset -c "$cpus" "$@"; else "$@"; fi
}

tmp=$(mktemp -d /tmp/bx-bench-tickets-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null && { timeout 10 tail --pid="$p" -f /dev/null || kill -KILL "$p"; }
  done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
json_num() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

# ---- 1. rendering only
latin=$(on "$server_cpus" "$tg" render-bench "$pdfs" "Ada Lovelace" 2>/dev/null)
cjk=$(on "$server_cpus" "$tg" render-bench "$((pdfs / 2))" "Zoë Ångström 山田" 2>/dev/null)
latin_rate=$(json_num pdfs_per_cpu_s <<<"$latin")
echo "render (Latin): $latin" >&2
echo "render (CJK):   $cjk" >&2

# ---- 2. end to end on a file store, one worker
port=$((10000 + RANDOM % 20000))
"$tg" keygen "$tmp/auth" >/dev/null
mkdir -p "$tmp/objects/orders"
env BOXOFFICE_TICKETGEN_PORT=$port BOXOFFICE_AUTH_KEYS="$tmp/auth" \
  BOXOFFICE_OBJECTS="file:$tmp/objects" BOXOFFICE_TICKETGEN_STORE="lmdb:$tmp/kv" \
  BOXOFFICE_TICKET_KEYS="$tmp/tickets-keys" BOXOFFICE_TICKETGEN_WORKERS=1 BOXOFFICE_LOG_LEVEL=warn \
  taskset -c "${server_cpus:-0-$(($(nproc) - 1))}" "$tg" >"$tmp/ticketgen.log" 2>&1 &
tg_pid=$!
pids+=("$tg_pid")
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -fs -o /dev/null "$base/readyz" && break; sleep 0.1; done
curl -fs -o /dev/null "$base/readyz" || { cat "$tmp/ticketgen.log"; die "ticketgen did not start"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rendered() {
  curl -fs "$base/metrics" | awk '/^ticketgen_tickets_rendered_total/ {print $2}'
}
uuid() { cat /proc/sys/kernel/random/uuid; }
user=$(uuid)
doc() { # doc ORDER_ID TICKET1 TICKET2
  printf '{"order":{"id":"%s","hold_id":"h","user_id":"%s","event_id":"e1","tier_id":"t1",' "$1" "$user"
  printf '"quantity":2,"amount_cents":9000,"currency":"EUR","status":"confirmed",'
  printf '"created_at":"2026-11-25T10:00:00Z","tickets":[{"id":"%s","status":"pending"},' "$2"
  printf '{"id":"%s","status":"pending"}]},"holder_name":"Ada Lovelace",' "$3"
  printf '"event":{"id":"e1","title":"The Analytical Engines: Live","starts_at":"2030-06-05T19:00:00Z",'
  printf '"ends_at":"2030-06-05T22:00:00Z"},"venue":{"id":"v1","name":"Royal Albert Hall",'
  printf '"city":"London","country":"GB","timezone":"Europe/London","address":"Kensington Gore"},'
  printf '"tier":{"id":"t1","name":"Stalls","price_cents":4500,"currency":"GBP"}}'
}
for _ in $(seq 1 "$orders"); do # written first, then moved in at once, as atomic puts would be
  id=$(uuid)
  doc "$id" "$(uuid)" "$(uuid)" >"$tmp/objects/orders/.tmp.$id"
done
first_order=""
ticks0=$(cpu_ticks "$tg_pid")
t0=$(date +%s.%N)
for f in "$tmp"/objects/orders/.tmp.*; do
  id=${f##*/.tmp.}
  mv "$f" "$tmp/objects/orders/$id.json"
  first_order=${first_order:-$id}
done
want=$((orders * 2))
for _ in $(seq 1 1200); do
  [ "$(rendered)" -ge "$want" ] 2>/dev/null && break
  sleep 0.1
done
got=$(rendered)
ticks1=$(cpu_ticks "$tg_pid")
t1=$(date +%s.%N)
[ "$got" -ge "$want" ] || die "only $got of $want tickets rendered (log: $tmp/ticketgen.log)"
hz=$(getconf CLK_TCK)
e2e_rate=$(awk -v n="$want" -v t="$((ticks1 - ticks0))" -v hz="$hz" 'BEGIN { printf "%.1f", n / (t / hz) }')
e2e_wall=$(awk -v n="$want" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
echo "end to end: $want PDFs, $e2e_rate per CPU-second ($e2e_wall per wall second)" >&2

# ---- 3. check-ins against /healthz, with an admin's token from users on the same keys
uport=$((port + 1))
env BOXOFFICE_USERS_PORT=$uport BOXOFFICE_AUTH_KEYS="$tmp/auth" BOXOFFICE_USERS_STORE="lmdb:$tmp/users" \
  BOXOFFICE_ADMIN_EMAIL=bench@example.com BOXOFFICE_ADMIN_PASSWORD="bench password" \
  BOXOFFICE_LOG_LEVEL=warn "$users" >"$tmp/users.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$uport/readyz" && break; sleep 0.1; done
token=$(curl -fs -H 'Content-Type: application/json' "http://127.0.0.1:$uport/api/sessions" \
  -d '{"email":"bench@example.com","password":"bench password"}' |
  sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || die "could not log in as admin (log: $tmp/users.log)"
ticket=$(curl -fs -H "Authorization: Bearer $token" "$base/api/orders/$first_order/tickets" |
  sed -n 's/.*"items":\[{"id":"\([^"]*\)".*/\1/p')
curl -fs -H "Authorization: Bearer $token" -o "$tmp/t.pdf" "$base/api/tickets/$ticket.pdf"
pdftoppm -r 150 -png "$tmp/t.pdf" "$tmp/t" 2>/dev/null
payload=$(zbarimg --raw -q -Sdisable -Sqrcode.enable "$tmp/t-1.png" 2>/dev/null)
[[ "$payload" = BX1.* ]] || die "no payload read from ticket $ticket"
cat >"$tmp/checkin.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = '{"payload":"$payload"}'
LUA
first=$(curl -fs -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  "$base/api/checkins" -d "{\"payload\":\"$payload\"}")
echo "first scan: $first" >&2

mkdir -p "$(dirname "$out")"
{
  echo "# ticket benchmark"
  echo
  echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), rev $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo ?), $(nproc) CPUs, server CPUs '${server_cpus}', client CPUs '${client_cpus}'"
  echo
  echo "## PDFs (one thread; per CPU-second)"
  echo
  echo "| case | PDFs/CPU-s | avg bytes | straightforward libharu PDFs/CPU-s | ratio |"
  echo "|---|---:|---:|---:|---:|"
  for row in "Latin holder|$latin" "CJK holder|$cjk"; do
    name=${row%%|*} j=${row#*|}
    echo "| $name | $(json_num pdfs_per_cpu_s <<<"$j") | $(json_num avg_bytes <<<"$j") | $(json_num naive_pdfs_per_cpu_s <<<"$j") | $(json_num ratio <<<"$j") |"
  done
  echo "| end to end, file store + LMDB, 1 worker ($want PDFs) | $e2e_rate | | | $(awk -v a="$e2e_rate" -v b="$latin_rate" 'BEGIN { printf "%.2f of render-only", a / b }') |"
  echo
  verdict=$(awk -v r="$latin_rate" 'BEGIN { print (r >= 80 ? "PASS" : "FAIL") }')
  {
    printf '# metric\tvalue\tanchor\tanchor_value\tratio\tgoal\tverdict\n'
    j=$latin
    printf 'render PDFs per CPU-second, Latin holder\t%s\tstraightforward libharu\t%s\t%s\tvalue>=80\t%s\n' \
      "$latin_rate" "$(json_num naive_pdfs_per_cpu_s <<<"$j")" "$(json_num ratio <<<"$j")" \
      "${verdict/FAIL/SHORT}"
    j=$cjk
    printf 'render PDFs per CPU-second, CJK holder\t%s\tstraightforward libharu\t%s\t%s\t-\tINFO\n' \
      "$(json_num pdfs_per_cpu_s <<<"$j")" "$(json_num naive_pdfs_per_cpu_s <<<"$j")" "$(json_num ratio <<<"$j")"
    printf 'end-to-end PDFs per CPU-second, file store + LMDB, 1 worker\t%s\trender only, Latin\t%s\t%s\t-\tINFO\n' \
      "$e2e_rate" "$latin_rate" "$(awk -v a="$e2e_rate" -v b="$latin_rate" 'BEGIN { printf "%.2f", a / b }')"
  } >"$tmp/results.tsv"
  echo "Goal >= 80 PDFs per CPU-second (Latin, render-only): **$verdict** ($latin_rate)."
  echo
  echo "## Check-ins vs /healthz (wrk -t2 -d $duration, keep-alive, same server)"
  echo
  echo "| connections | POST /api/checkins req/s | GET /healthz req/s | ratio | check-ins/CPU-s | healthz/CPU-s | CPU ratio |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
} >"$out"
# load ARGS...: wrk against ticketgen; prints "req/s requests-per-server-CPU-second"
load() {
  local a b r
  a=$(cpu_ticks "$tg_pid")
  r=$(on "$client_cpus" wrk "$@" | awk '/^Requests\/sec:/ {printf "%.0f", $2}')
  b=$(cpu_ticks "$tg_pid")
  awk -v r="$r" -v t="$((b - a))" -v hz="$hz" -v d="$dur_s" \
    'BEGIN { printf "%s %.0f\n", r, (t > 0 ? r * d / (t / hz) : 0) }'
}
for c in "${conns[@]}"; do
  read -r ck ck_cpu < <(load -t2 -c "$c" -d "$duration" -s "$tmp/checkin.lua" "$base/api/checkins")
  read -r hz_rps hz_cpu < <(load -t2 -c "$c" -d "$duration" "$base/healthz")
  ratio=$(awk -v a="$ck" -v b="$hz_rps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  cpu_ratio=$(awk -v a="$ck_cpu" -v b="$hz_cpu" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  echo "| $c | $ck | $hz_rps | $ratio | $ck_cpu | $hz_cpu | $cpu_ratio |" >>"$out"
  echo "connections $c: check-ins $ck req/s, healthz $hz_rps req/s, ratio $ratio (CPU $cpu_ratio)" >&2
  printf 'POST /api/checkins req/s, %s connections\t%s\tGET /healthz, same server\t%s\t%s\t-\tINFO\n' \
    "$c" "$ck" "$hz_rps" "$ratio" >>"$tmp/results.tsv"
done
{
  echo
  echo "All check-ins after the first answer already_used: Ed25519 verify, a kv read of the"
  echo "ticket, a conditional create that conflicts and a kv read of the first check-in (LMDB)."
} >>"$out"
mkdir -p "$(dirname "$tsv")"
cp "$tmp/results.tsv" "$tsv"
cat "$out"
