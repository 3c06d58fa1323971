#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# In-memory reference for the flash sale (issue #11): redis-server running one Lua script that
# does what a hold does to the inventory, atomically: "take q seats if at least q are left"
# (GET, compare, DECRBY; q = 1-4 at random, as in bench/flash-sale.lua), called with EVALSHA by
# redis-benchmark at the flash sale's concurrency (256 connections, one request in flight on each,
# no pipelining). Redis runs with no persistence at all (save "", appendonly no): nothing it
# answers is durable, while every booking hold is fsynced. It is a ceiling for the counter alone,
# not a like-for-like anchor, and has no goal.
# When bench/out/flash-sale.tsv from the same `make bench` run is there, booking's SQLite holds/s
# is reported as a ratio to it.
#
#   bench/report-redis.sh [BUILD_DIR]     (BUILD_DIR is accepted for symmetry and not used)
#
# Environment:
#   BX_BENCH_DURATION           seconds of the measured run (default 10; "10" or "10s")
#   BX_BENCH_WARMUP             seconds of unrecorded warm-up (default 2)
#   BX_BENCH_REDIS_CONNECTIONS  redis-benchmark clients (default 256, flash-sale.sh's default)
#   BX_BENCH_SERVER_CPUS        taskset CPU list for redis-server (default 0 with >= 2 CPUs)
#   BX_BENCH_CLIENT_CPUS        taskset CPU list for redis-benchmark (default 1 with >= 2 CPUs)
#   BX_BENCH_FLASH_SALE_TSV     flash-sale results to relate to (default bench/out/flash-sale.tsv)
#   BX_BENCH_TSV                machine-readable results (default bench/out/redis.tsv)
# Output: a short text report on stdout and bench/out/redis.txt. Loopback only; redis-server is
# stopped and its directory removed on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ncpu=$(nproc)
duration_s=${BX_BENCH_DURATION:-10}
duration_s=${duration_s%s}
warmup_s=${BX_BENCH_WARMUP:-2}
warmup_s=${warmup_s%s}
conns=${BX_BENCH_REDIS_CONNECTIONS:-256}
if [ "$ncpu" -ge 2 ]; then
  server_cpus=${BX_BENCH_SERVER_CPUS-0}
  client_cpus=${BX_BENCH_CLIENT_CPUS-1}
else
  server_cpus=${BX_BENCH_SERVER_CPUS-}
  client_cpus=${BX_BENCH_CLIENT_CPUS-}
fi
flash_tsv=${BX_BENCH_FLASH_SALE_TSV:-$repo/bench/out/flash-sale.tsv}
tsv=${BX_BENCH_TSV:-$repo/bench/out/redis.tsv}
out=$repo/bench/out/redis.txt
capacity=1000000000000 # never runs out: like the flash sale's big tier, every call takes seats
min_requests=10000
stop_timeout_s=5

die() {
  echo "bench/report-redis.sh: $*" >&2
  exit 1
}

for tool in redis-server redis-cli redis-benchmark taskset timeout awk; do
  command -v "$tool" >/dev/null ||
    die "$tool is not installed (apt-get install redis-server; scripts/deps.sh --test)"
done
for v in "$duration_s" "$warmup_s" "$conns"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "bad setting '$v' (a positive whole number expected)"
done
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((conns + 64)) ] || die "open-file limit $(ulimit -n) is too low for $conns connections"

pin_server=(env)
[ -n "$server_cpus" ] && pin_server=(taskset -c "$server_cpus")
pin_client=(env)
[ -n "$client_cpus" ] && pin_client=(taskset -c "$client_cpus")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bx-bench-redis.XXXXXX")
redis_pid=""
bench_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$bench_pid" ]; then kill -TERM "$bench_pid" 2>/dev/null || true; fi
  if [ -n "$redis_pid" ]; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    for _ in $(seq $((stop_timeout_s * 10))); do
      kill -0 "$redis_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=""
for _ in $(seq 200); do
  p=$((20000 + RANDOM % 12000))
  if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then
    port=$p
    break
  fi
done
[ -n "$port" ] || die "no free port"

"${pin_server[@]}" redis-server --bind 127.0.0.1 --port "$port" --dir "$tmp" --save '' \
  --appendonly no --maxclients $((conns + 64)) --daemonize no --logfile "$tmp/redis.log" \
  </dev/null >/dev/null 2>&1 &
redis_pid=$!
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }
for _ in $(seq 100); do
  [ "$(cli PING 2>/dev/null)" = PONG ] && break
  kill -0 "$redis_pid" 2>/dev/null || { cat "$tmp/redis.log" >&2; die "redis-server exited at start"; }
  sleep 0.1
done
[ "$(cli PING 2>/dev/null)" = PONG ] || die "redis-server not answering on 127.0.0.1:$port"

# ARGV[1] is redis-benchmark's __rand_int__ with -r 4: "000000000000".."000000000003".
sha=$(cli SCRIPT LOAD "local q = tonumber(ARGV[1]) % 4 + 1
local left = tonumber(redis.call('GET', KEYS[1]))
if left >= q then return redis.call('DECRBY', KEYS[1], q) end
return -1")
[[ "$sha" =~ ^[0-9a-f]{40}$ ]] || die "SCRIPT LOAD answered '$sha'"
[ "$(cli SET seats "$capacity")" = OK ] || die "could not set the counter"

cpu_s() { # redis-server's user + system CPU seconds so far
  cli INFO cpu | tr -d '\r' | awk -F: '$1 == "used_cpu_sys" || $1 == "used_cpu_user" { t += $2 }
    END { printf "%.6f", t }'
}
# run N OUTFILE: N EVALSHA calls from $conns clients, CSV results (rps and latency percentiles)
run() {
  timeout -k 5 $((duration_s * 6 + 60)) "${pin_client[@]}" redis-benchmark -h 127.0.0.1 \
    -p "$port" -c "$conns" -n "$1" -r 4 --threads 2 --csv \
    EVALSHA "$sha" 1 seats __rand_int__ >"$2" 2>&1 &
  bench_pid=$!
  wait "$bench_pid" || { tail -n 5 "$2" >&2; die "redis-benchmark failed"; }
  bench_pid=""
}
csv_field() { # csv_field FILE N: the Nth field of the result line
  awk -F, -v n="$2" '/^"EVALSHA / { gsub(/"/, ""); print $n; exit }' "$1"
}

# Warm-up: a fixed count, whose rate sizes the next run to BX_BENCH_WARMUP seconds, whose rate
# sizes the measured run to BX_BENCH_DURATION seconds. A measured run that took under 70 % of
# that (the warm-up ran slow) is taken as more warm-up and sized again, twice at most.
size() { # size RPS SECONDS: requests for that long at that rate
  awk -v r="$1" -v s="$2" -v m="$min_requests" 'BEGIN { n = int(r * s); print (n < m ? m : n) }'
}
run 20000 "$tmp/warm.csv"
warm_rps=$(csv_field "$tmp/warm.csv" 2)
[ -n "$warm_rps" ] || { cat "$tmp/warm.csv" >&2; die "no result from the warm-up"; }
run "$(size "$warm_rps" "$warmup_s")" "$tmp/warm.csv"
warm_rps=$(csv_field "$tmp/warm.csv" 2)
for attempt in 1 2 3; do
  requests=$(size "$warm_rps" "$duration_s")
  before_left=$(cli GET seats)
  before_cpu=$(cpu_s)
  t0=$(date +%s.%N)
  run "$requests" "$tmp/run.csv"
  t1=$(date +%s.%N)
  after_cpu=$(cpu_s)
  after_left=$(cli GET seats)
  warm_rps=$(csv_field "$tmp/run.csv" 2)
  [ -n "$warm_rps" ] || { cat "$tmp/run.csv" >&2; die "no result from redis-benchmark"; }
  awk -v a="$t0" -v b="$t1" -v d="$duration_s" 'BEGIN { exit !(b - a < 0.7 * d) }' || break
  [ "$attempt" = 3 ] || echo "bench/report-redis.sh: run took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s, not ~${duration_s}s: once more" >&2
done
rps=$(csv_field "$tmp/run.csv" 2)
p50=$(csv_field "$tmp/run.csv" 5)
p99=$(csv_field "$tmp/run.csv" 7)
[ -n "$rps" ] || { cat "$tmp/run.csv" >&2; die "no result from redis-benchmark"; }
taken=$((before_left - after_left))
# Every call took 1-4 seats: the script really ran once per request.
if [ "$taken" -lt "$requests" ] || [ "$taken" -gt $((requests * 4)) ]; then
  die "$requests calls took $taken seats: the Lua script did not run once per call"
fi
ops=$(awk -v r="$rps" 'BEGIN { printf "%d", r + 0.5 }')
per_cpu=$(awk -v n="$requests" -v a="$before_cpu" -v b="$after_cpu" \
  'BEGIN { printf "%d", (b > a ? n / (b - a) + 0.5 : 0) }')
wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
# how much of one CPU redis-server had: well under 100 % means the machine or the client held it
# back, not Redis
busy=$(awk -v a="$before_cpu" -v b="$after_cpu" -v w="$wall" 'BEGIN { printf "%d", (w > 0 ? 100 * (b - a) / w + 0.5 : 0) }')
version=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')

# booking on SQLite from the flash sale of this run, if there is one
holds=""
if [ -f "$flash_tsv" ]; then
  holds=$(awk -F'\t' '$1 ~ /^POST \/api\/holds holds\/s, SQLite/ { print $2; exit }' "$flash_tsv")
fi
ratio=""
[ -n "$holds" ] && ratio=$(awk -v a="$holds" -v b="$ops" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')

{
  echo "bench/report-redis.sh: Redis Lua \"take q seats if q are left\", an in-memory reference"
  echo
  echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), $ncpu CPUs, $(uname -r)"
  echo "- redis-server $version on CPUs '${server_cpus:-any}', save \"\" and appendonly no: NOT durable (booking fsyncs every hold)"
  echo "- redis-benchmark --threads 2 -c $conns -n $requests (sized from a warm-up to ~${duration_s}s) on CPUs '${client_cpus:-any}', no pipelining"
  echo "- EVALSHA of: q = 1-4 at random; if GET seats >= q then DECRBY seats q"
  echo
  echo "Redis EVALSHA: $ops calls/s (${wall}s), p50 $p50 ms, p99 $p99 ms, $per_cpu calls per Redis CPU-second; $taken seats taken by $requests calls"
  if [ "$busy" -lt 80 ]; then
    echo "redis-server was busy $busy % of one CPU during the run: the machine or the client limited it, not Redis"
  else
    echo "redis-server was busy $busy % of one CPU during the run"
  fi
  if [ -n "$ratio" ]; then
    echo "booking on SQLite (flash-sale.sh, this run): $holds holds/s = $ratio x Redis (reference, no goal)"
  else
    echo "booking on SQLite: no flash-sale result in $flash_tsv, so no ratio"
  fi
} >"$tmp/report.txt"
{
  printf '# metric\tvalue\tanchor\tanchor_value\tratio\tgoal\tverdict\n'
  printf 'Redis EVALSHA take-seats calls/s, %s connections (in-memory, not durable)\t%s\t-\t-\t-\t-\tINFO\n' \
    "$conns" "$ops"
  printf 'Redis EVALSHA calls per Redis CPU-second\t%s\t-\t-\t-\t-\tINFO\n' "$per_cpu"
  printf 'redis-server busy, %% of one CPU during the run\t%s\t-\t-\t-\t-\tINFO\n' "$busy"
  if [ -n "$ratio" ]; then
    printf 'booking SQLite holds/s vs Redis Lua decrement (in-memory, not durable)\t%s\tRedis EVALSHA calls/s\t%s\t%s\t-\tINFO\n' \
      "$holds" "$ops" "$ratio"
  fi
} >"$tmp/results.tsv"
mkdir -p "$(dirname "$out")" "$(dirname "$tsv")"
cp "$tmp/report.txt" "$out"
cp "$tmp/results.tsv" "$tsv"
cat "$out"
echo "(written to $out and $tsv)"
