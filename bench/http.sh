#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HTTP server throughput benchmark: keep-alive GET /healthz ({"status":"ok"}, 15 bytes) against
# one boxoffice service (boxoffice-catalog, release build: libmicrohttpd, epoll, thread pool of
# BOXOFFICE_HTTP_THREADS) and, as the anchor measured in the same run, nginx answering the same
# 15 bytes from a `return 200` with as many worker processes as we have HTTP threads.
# For each connection count wrk (-t2, keep-alive) loads one server, then the other (the order
# alternates per point so drift on a noisy box hits both); the result is ours/nginx req/s.
# Goal: ratio >= 0.8 at every point, i.e. no keep-alive collapse (libmicrohttpd 0.9.75 with epoll
# and a pool of 0 or 1 threads drops below 1k req/s at 256+ connections).
# Cross-check on a noisy box: requests per CPU-second of each server (utime+stime from /proc, all
# threads / all nginx workers) and their ratio, which does not depend on how much CPU the
# machine happened to give the server during its run.
#
#   bench/http.sh [BUILD_DIR]          BUILD_DIR defaults to build/release (relative to the repo)
#
# Environment:
#   BX_BENCH_DURATION      wrk duration per point and server (default 10s; "15", "15s", "1m")
#   BX_BENCH_CONNECTIONS   connection counts (default "64 256 384 1000")
#   BOXOFFICE_HTTP_THREADS our HTTP threads = nginx worker_processes (default: CPUs, min 2)
#   BX_BENCH_LOG_LEVEL     our BOXOFFICE_LOG_LEVEL (default warn: no access log, like nginx's
#                          access_log off; "info" measures the access log, written to /dev/null)
#   BX_BENCH_SERVER_CPUS   taskset CPU list for BOTH servers (default 0; "" = no pinning)
#   BX_BENCH_CLIENT_CPUS   taskset CPU list for wrk (default 1; "" = no pinning)
#   BX_BENCH_OUT           Markdown report (default bench/out/http.md)
#   BX_BENCH_TSV           machine-readable results for bench/report.sh (default bench/out/http.tsv):
#                          metric, value, anchor, anchor value, ratio, goal, verdict per line
# With 2 CPUs the default gives each server one CPU and wrk the other, so the servers compete
# with the load generator on neither side and are measured on exactly the same CPU budget.
# Everything listens on 127.0.0.1 only; every process started here is killed on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build/release}
[[ "$build" = /* ]] || build="$repo/$build"
bin="$build/bin/boxoffice-catalog"
ncpu=$(nproc)
duration=${BX_BENCH_DURATION:-10s}
read -r -a conns <<<"${BX_BENCH_CONNECTIONS:-64 256 384 1000}"
threads=${BOXOFFICE_HTTP_THREADS:-$((ncpu < 2 ? 2 : ncpu))}
log_level=${BX_BENCH_LOG_LEVEL:-warn}
if [ "$ncpu" -ge 2 ]; then
  server_cpus=${BX_BENCH_SERVER_CPUS-0}
  client_cpus=${BX_BENCH_CLIENT_CPUS-1}
else
  server_cpus=${BX_BENCH_SERVER_CPUS-}
  client_cpus=${BX_BENCH_CLIENT_CPUS-}
fi
out=${BX_BENCH_OUT:-$repo/bench/out/http.md}
tsv=${BX_BENCH_TSV:-$repo/bench/out/http.tsv}
goal=0.8
ready_timeout_s=10
stop_timeout_s=5

die() {
  echo "bench/http.sh: $*" >&2
  exit 1
}

[ -x "$bin" ] || die "no $bin; build it first: cmake -S $repo -B $build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF && cmake --build $build -j2"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx) # /usr/sbin is often not in a user's PATH
[ -x "$nginx_bin" ] || die "nginx is not installed (scripts/deps.sh --test)"
for tool in wrk curl ss taskset timeout awk getconf; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/deps.sh --test)"
done
[ "${#conns[@]}" -gt 0 ] || die "BX_BENCH_CONNECTIONS is empty"
for c in "${conns[@]}"; do
  [[ "$c" =~ ^[1-9][0-9]*$ && "$c" -ge 2 ]] || die "bad connection count '$c' (need >= 2)"
done
[[ "$threads" =~ ^[0-9]+$ && "$threads" -ge 2 ]] || die "BOXOFFICE_HTTP_THREADS must be >= 2"

# wrk takes "10s"/"2m"; timeouts need whole seconds.
case "$duration" in
  *[0-9]) duration="${duration}s" ;;
esac
[[ "$duration" =~ ^([0-9]+)([smh])$ ]] || die "bad BX_BENCH_DURATION '$duration'"
case "${BASH_REMATCH[2]}" in
  s) duration_s=${BASH_REMATCH[1]} ;;
  m) duration_s=$((BASH_REMATCH[1] * 60)) ;;
  h) duration_s=$((BASH_REMATCH[1] * 3600)) ;;
esac
[ "$duration_s" -ge 1 ] || die "BX_BENCH_DURATION must be at least 1s"

max_conn=0
for c in "${conns[@]}"; do [ "$c" -gt "$max_conn" ] && max_conn=$c; done
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
[ "$nofile" -ge $((max_conn + 64)) ] ||
  die "open-file limit $nofile is too low for $max_conn connections (hard limit $(ulimit -Hn))"

# Command prefixes (not functions, so that $! is the server itself and timeout can run wrk).
pin_server=(env)
[ -n "$server_cpus" ] && pin_server=(taskset -c "$server_cpus")
pin_client=(env)
[ -n "$client_cpus" ] && pin_client=(taskset -c "$client_cpus")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bx-bench-http.XXXXXX")
started=() # pids of the servers started here; cleanup stops them
wrk_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$wrk_pid" ]; then kill -TERM "$wrk_pid" 2>/dev/null || true; fi
  for pid in "${started[@]-}"; do
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in "${started[@]-}"; do
    [ -n "$pid" ] || continue
    for _ in $(seq $((stop_timeout_s * 10))); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then # still there: kill it and its children (nginx workers)
      for child in $(pgrep -P "$pid" || true); do kill -KILL "$child" 2>/dev/null || true; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { # a port nobody listens on (and not $1)
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 30000))
    [ "$p" != "${1:-}" ] || continue
    if [ -z "$(ss -Htln "sport = :$p")" ]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

wait_ready() { # wait_ready NAME PID PORT LOG
  local name=$1 pid=$2 port=$3 log=$4
  for _ in $(seq $((ready_timeout_s * 10))); do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "$name exited at start"; }
    if curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$log" >&2
  die "$name not answering /healthz on 127.0.0.1:$port after ${ready_timeout_s}s"
}

# --- ours ----------------------------------------------------------------------------------
ours_port=$(free_port) || die "no free port"
mkdir -p "$tmp/keys"
ours_log="$tmp/catalog.log"
ours_out=$ours_log
case "$log_level" in info | debug) ours_out=/dev/null ;; esac
: >"$ours_log"
BOXOFFICE_BIND=127.0.0.1 BOXOFFICE_CATALOG_PORT=$ours_port BOXOFFICE_LOG_LEVEL=$log_level \
  BOXOFFICE_HTTP_THREADS=$threads BOXOFFICE_AUTH_KEYS="$tmp/keys" BOXOFFICE_DRAIN_TIMEOUT_S=1 \
  "${pin_server[@]}" "$bin" </dev/null >"$ours_out" 2>&1 &
started+=("$!")
ours_pid=$!
wait_ready "boxoffice-catalog" "$ours_pid" "$ours_port" "$ours_log"

# --- nginx (the anchor) --------------------------------------------------------------------
nginx_port=$(free_port "$ours_port") || die "no free port"
user_line=""
[ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);" # workers stay the invoking user
sed -e "s|@TMP@|$tmp|g" -e "s|@PORT@|$nginx_port|g" -e "s|@WORKERS@|$threads|g" \
  -e "s|@NOFILE@|$nofile|g" -e "s|@USER_LINE@|$user_line|g" \
  "$repo/bench/nginx.conf.in" >"$tmp/nginx.conf"
"${pin_server[@]}" "$nginx_bin" -p "$tmp" -e "$tmp/nginx-error.log" -c "$tmp/nginx.conf" \
  -g 'daemon off; master_process on;' </dev/null >"$tmp/nginx.out" 2>&1 &
started+=("$!")
nginx_pid=$!
wait_ready "nginx" "$nginx_pid" "$nginx_port" "$tmp/nginx-error.log"

ours_body=$(curl -fsS --max-time 2 "http://127.0.0.1:$ours_port/healthz")
nginx_body=$(curl -fsS --max-time 2 "http://127.0.0.1:$nginx_port/healthz")
[ "$ours_body" = '{"status":"ok"}' ] || die "ours answered '$ours_body'"
[ "$nginx_body" = "$ours_body" ] || die "nginx answered '$nginx_body', ours '$ours_body'"

# --- load ----------------------------------------------------------------------------------
# run_wrk PORT CONNS DURATION OUTFILE
# In the background and waited for, so that a signal to this script is handled at once.
run_wrk() {
  timeout -k 5 $((duration_s + 30)) \
    "${pin_client[@]}" wrk -t2 -c "$2" -d "$3" --timeout 5s --latency \
    "http://127.0.0.1:$1/healthz" >"$4" 2>&1 &
  wrk_pid=$!
  wait "$wrk_pid" || true
  wrk_pid=""
}

clk_tck=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime of the given processes (all their threads), in clock ticks
  local t=0 pid f
  for pid in "$@"; do
    # comm (field 2) has no spaces here; fields 14 and 15 are utime and stime.
    if read -r -a f <"/proc/$pid/stat" 2>/dev/null; then
      t=$((t + f[13] + f[14]))
    fi
  done
  echo "$t"
}

server_pids() { # the processes doing the work: ours, or nginx's master and workers
  if [ "$1" = ours ]; then
    echo "$ours_pid"
  else
    echo "$nginx_pid" "$(pgrep -P "$nginx_pid" | tr '\n' ' ' || true)"
  fi
}

# run_point ours|nginx CONNS: wrk against one server; its CPU time goes to $tmp/NAME-CONNS.cpu
run_point() {
  local name=$1 c=$2 port work_pids before after
  [ "$name" = ours ] && port=$ours_port || port=$nginx_port
  read -r -a work_pids <<<"$(server_pids "$name")"
  before=$(cpu_ticks "${work_pids[@]}")
  run_wrk "$port" "$c" "$duration" "$tmp/$name-$c.txt"
  after=$(cpu_ticks "${work_pids[@]}")
  echo $((after - before)) >"$tmp/$name-$c.cpu"
}

rps() { awk '/^Requests\/sec:/ { printf "%d", $2 + 0.5; found = 1 } END { if (!found) print "0" }' "$1"; }

p99_ms() { # wrk prints 1.23us / 4.56ms / 1.20s
  awk '$1 == "99%" {
         v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
         m = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
         if (m < 0) { print "?"; exit }
         printf "%.2f", v * m; found = 1; exit
       }
       END { if (!found) print "?" }' "$1"
}

requests() { awk '/ requests in / { print $1; found = 1 } END { if (!found) print "0" }' "$1"; }

per_cpu_s() { # per_cpu_s NAME CONNS: requests per CPU-second of the server
  awk -v r="$(requests "$tmp/$1-$2.txt")" -v t="$(cat "$tmp/$1-$2.cpu")" -v hz="$clk_tck" \
    'BEGIN { if (t > 0) printf "%d", r / (t / hz) + 0.5; else print "0" }'
}

errors() { # socket errors + non-2xx/3xx responses
  awk '/Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i + 0 }
       /Non-2xx or 3xx responses:/ { n += $NF }
       END { printf "%d", n }' "$1"
}

# Short warm-up of both (not recorded).
run_wrk "$ours_port" 64 1s "$tmp/warm-ours.txt"
run_wrk "$nginx_port" 64 1s "$tmp/warm-nginx.txt"

mhd_version=$(dpkg-query -W -f='${Version}' libmicrohttpd12 2>/dev/null || echo "?")
nginx_version=$("$nginx_bin" -v 2>&1 | sed 's|^nginx version: ||')
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "?")
if git -C "$repo" diff --quiet HEAD -- lib include services 2>/dev/null; then :; else rev="$rev+dirty"; fi

mkdir -p "$(dirname "$out")"
{
  echo "# bench/http.sh: boxoffice-catalog vs nginx, GET /healthz keep-alive"
  echo
  echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), rev $rev, $ncpu CPUs, $(uname -r)"
  echo "- ours: $bin, BOXOFFICE_HTTP_THREADS=$threads, BOXOFFICE_LOG_LEVEL=$log_level, libmicrohttpd $mhd_version"
  echo "- anchor: $nginx_version, worker_processes $threads, access_log off, return 200 (15 bytes)"
  echo "- wrk -t2 -c N -d $duration --latency; servers on CPUs '${server_cpus:-any}', wrk on CPUs '${client_cpus:-any}'"
  echo
  echo "| connections | ours req/s | nginx req/s | ratio | ours p99 ms | nginx p99 ms | ours req/CPU-s | nginx req/CPU-s | CPU ratio | errors ours/nginx |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$tmp/report.md"
cat "$tmp/report.md"
printf '# metric\tvalue\tanchor\tanchor_value\tratio\tgoal\tverdict\n' >"$tmp/results.tsv"

min_ratio=""
min_at=""
below=()
i=0
for c in "${conns[@]}"; do
  if [ $((i % 2)) = 0 ]; then
    run_point ours "$c"
    run_point nginx "$c"
  else
    run_point nginx "$c"
    run_point ours "$c"
  fi
  i=$((i + 1))
  for s in ours nginx; do
    if ! grep -q '^Requests/sec:' "$tmp/$s-$c.txt"; then
      echo "wrk against $s at $c connections printed no result:" >&2
      tail -n 5 "$tmp/$s-$c.txt" >&2
    fi
  done
  kill -0 "$ours_pid" 2>/dev/null || { tail -n 20 "$ours_log" >&2; die "boxoffice-catalog died"; }
  kill -0 "$nginx_pid" 2>/dev/null || die "nginx died"
  o=$(rps "$tmp/ours-$c.txt")
  n=$(rps "$tmp/nginx-$c.txt")
  ratio=$(awk -v o="$o" -v n="$n" 'BEGIN { if (n > 0) printf "%.2f", o / n; else print "0.00" }')
  oc=$(per_cpu_s ours "$c")
  nc=$(per_cpu_s nginx "$c")
  cpu_ratio=$(awk -v o="$oc" -v n="$nc" 'BEGIN { if (n > 0) printf "%.2f", o / n; else print "0.00" }')
  line="| $c | $o | $n | $ratio | $(p99_ms "$tmp/ours-$c.txt") | $(p99_ms "$tmp/nginx-$c.txt") | $oc | $nc | $cpu_ratio | $(errors "$tmp/ours-$c.txt")/$(errors "$tmp/nginx-$c.txt") |"
  echo "$line" | tee -a "$tmp/report.md"
  if [ -z "$min_ratio" ] || awk -v r="$ratio" -v m="$min_ratio" 'BEGIN { exit !(r < m) }'; then
    min_ratio=$ratio
    min_at=$c
  fi
  point_verdict=PASS
  if awk -v r="$ratio" -v g="$goal" 'BEGIN { exit !(r < g) }'; then
    below+=("$c ($ratio)")
    point_verdict=SHORT
  fi
  printf 'GET /healthz req/s, %s connections\t%s\tnginx return 200\t%s\t%s\tratio>=%s\t%s\n' \
    "$c" "$o" "$n" "$ratio" "$goal" "$point_verdict" >>"$tmp/results.tsv"
  printf 'GET /healthz req per server CPU-second, %s connections\t%s\tnginx return 200\t%s\t%s\t-\tINFO\n' \
    "$c" "$oc" "$nc" "$cpu_ratio" >>"$tmp/results.tsv"
done

if [ "${#below[@]}" = 0 ]; then
  verdict="verdict: PASS, lowest ratio $min_ratio (at $min_at connections) >= goal $goal"
else
  verdict="verdict: FAIL, ratio below goal $goal at ${below[*]}"
fi
{
  echo
  echo "$verdict"
} | tee -a "$tmp/report.md"
cp "$tmp/report.md" "$out"
mkdir -p "$(dirname "$tsv")"
cp "$tmp/results.tsv" "$tsv"
echo "(written to $out)"
