#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The soak test behind `make soak` (issue #11): an end-to-end flash sale through the gateway with
# faults injected on a schedule, then an invariant checker (tests/soak/soak.mjs). This script owns
# the processes: it starts every one itself (not scripts/run.sh), so it can kill -9 and restart
# them one by one, and it runs the fault schedule; the node program owns the load and the checks.
#
#   tests/soak/soak.sh [BUILD_DIR]        BUILD_DIR defaults to build/release (relative to the repo)
#
# The stack, all on 127.0.0.1, in one mktemp -d directory:
#   devkafka; PostgreSQL (throw-away cluster, databases `booking` and `analytics`); catalog
#   (SQLite); users (LMDB, with an admin); booking x2 (PostgreSQL `booking`); nginx, a round-robin
#   upstream over the two bookings; ticketgen (LMDB, file objects shared with booking); analytics
#   A (SQLite state, behind the gateway) and analytics B (PostgreSQL `analytics` state, asked
#   directly); the frontend gateway (BOXOFFICE_RATE_LIMIT_RPS=0) whose booking URL is nginx.
# Fault schedule (seconds after the load starts, scaled to BX_SOAK_DURATION_S / 180):
#   15  kill -9 booking-1, restart 2 s later
#   35  kill -9 analytics-a, restart 2 s later
#   55  PostgreSQL `pg_ctl stop -m immediate`, 5 s down, start (crash recovery)
#   80  devkafka broker 1 down for 10 s
#  100  slow disk for 20 s: fsync/fdatasync/msync(MS_SYNC) delayed BX_SOAK_SLOW_MS each in
#       PostgreSQL, ticketgen and analytics A (LD_PRELOAD shim tests/soak/slowfs.c)
#  130  kill -9 booking-0, analytics-b and ticketgen together, restart 2 s later
# Environment (defaults in brackets):
#   BX_SOAK_USERS [200]  BX_SOAK_CLIENTS [40]  BX_SOAK_DURATION_S [180]  BX_SOAK_HOLD_TTL_S [10]
#   BX_SOAK_SLOW_MS [200]  BX_SOAK_REPORT [build/soak-report.md]  BX_SOAK_LOGS [build/soak-logs]
#   BX_SOAK_KEEP=1 keeps the temporary directory.
# Exit status: 0 when every invariant holds and every process stopped cleanly, 1 otherwise.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-build/release}
[[ "$build" = /* ]] || build="$repo/$build"
bin="$build/bin"
users_n=${BX_SOAK_USERS:-200}
clients=${BX_SOAK_CLIENTS:-40}
duration_s=${BX_SOAK_DURATION_S:-180}
hold_ttl_s=${BX_SOAK_HOLD_TTL_S:-10}
slow_ms=${BX_SOAK_SLOW_MS:-200}
report=${BX_SOAK_REPORT:-$repo/build/soak-report.md}
logs_out=${BX_SOAK_LOGS:-$repo/build/soak-logs}
ready_timeout_s=60

say() { printf '[soak %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() {
  say "error: $*" >&2
  exit 1
}

for v in "$users_n" "$clients" "$duration_s" "$hold_ttl_s" "$slow_ms"; do
  [[ "$v" =~ ^[0-9]+$ ]] || die "bad setting '$v' (a whole number expected)"
done
[ "$duration_s" -ge 60 ] || die "BX_SOAK_DURATION_S must be at least 60 (the fault schedule)"
for b in devkafka catalog users booking ticketgen analytics frontend; do
  [ -x "$bin/boxoffice-$b" ] || die "no $bin/boxoffice-$b (build first: make build)"
done
pgbin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
for b in initdb pg_ctl pg_isready createdb psql; do
  [ -x "$pgbin/$b" ] || die "no PostgreSQL $b in '$pgbin' (scripts/deps.sh --test)"
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || die "nginx is not installed (scripts/deps.sh --test)"
for tool in node curl cc ss setsid; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done

ulimit -n 65536 2>/dev/null || true
as_pg=(env)
[ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bx-soak-XXXXXX")
chmod 711 "$tmp" # postgres passes through it to its data directory and reads the shim
mkdir -p "$tmp/log" "$tmp/run" "$tmp/objects"

declare -A pid port
pg_data="$tmp/pg/data"
pg_up=0
node_pid=""

# Stops everything started here; SIGTERM first (each drains), SIGKILL after 20 s.
stop_all() {
  local name group rc=0
  # the gateway first, then the services, then nginx, the broker last (its clients stop first)
  for group in "frontend" "analytics-a analytics-b ticketgen booking-0 booking-1 catalog users" "nginx" "devkafka"; do
    for name in $group; do
      [ -n "${pid[$name]:-}" ] || continue
      if [ "$name" = nginx ]; then kill -QUIT "${pid[$name]}" 2>/dev/null; else kill -TERM "${pid[$name]}" 2>/dev/null; fi
    done
    for name in $group; do
      local p=${pid[$name]:-}
      [ -n "$p" ] || continue
      for _ in $(seq 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$p" 2>/dev/null; then
        echo "$name did not stop within 20 s after SIGTERM (killed)" >>"$tmp/stop.txt"
        kill -KILL "$p" 2>/dev/null
        rc=1
      fi
      wait "$p" 2>/dev/null
      local st=$?
      if [ "$name" != nginx ] && [ "$st" != 0 ]; then
        echo "$name exited with status $st on SIGTERM" >>"$tmp/stop.txt"
        rc=1
      fi
      pid[$name]=""
    done
  done
  if [ "$pg_up" = 1 ]; then
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pg_data" -m fast -w -t 30 stop >/dev/null 2>&1 || rc=1
    pg_up=0
  fi
  return $rc
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null
  stop_all >/dev/null 2>&1
  if [ "${BX_SOAK_KEEP:-0}" = 1 ]; then
    say "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

taken=" "
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    [[ "$taken" != *" $p "* ]] || continue
    if [ -z "$(ss -Htln "sport = :$p")" ]; then
      taken+="$p "
      echo "$p"
      return 0
    fi
  done
  return 1
}
now_ms() { date +%s%3N; }

for n in devkafka catalog users booking-0 booking-1 ticketgen analytics-a analytics-b frontend nginx pg; do
  port[$n]=$(free_port) || die "no free port"
done

# --- the slow-disk shim ---------------------------------------------------------------------------
cc -shared -fPIC -O2 -Wall -Wextra -o "$tmp/slowfs.so" "$repo/tests/soak/slowfs.c" -ldl ||
  die "could not build tests/soak/slowfs.c"
printf '0' >"$tmp/slowfs.ctl"
head -c 8 /dev/zero >"$tmp/slowfs.count"
chmod 644 "$tmp/slowfs.so" "$tmp/slowfs.ctl"
chmod 666 "$tmp/slowfs.count"
slow_env=(LD_PRELOAD="$tmp/slowfs.so" BX_SLOWFS_CTL="$tmp/slowfs.ctl" BX_SLOWFS_COUNT="$tmp/slowfs.count")

# --- PostgreSQL -----------------------------------------------------------------------------------
mkdir -p "$tmp/pg"
[ "$(id -u)" = 0 ] && chown postgres: "$tmp/pg"
"${as_pg[@]}" "$pgbin/initdb" -D "$pg_data" -U postgres -A trust -E UTF8 >"$tmp/log/initdb.log" 2>&1 ||
  { cat "$tmp/log/initdb.log" >&2; die "initdb failed"; }
pg_start() {
  "${as_pg[@]}" env "${slow_env[@]}" "$pgbin/pg_ctl" -D "$pg_data" -l "$tmp/pg/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p ${port[pg]} -c unix_socket_directories=$tmp/pg -c max_connections=200 -c wal_sync_method=fdatasync -c fsync=on -c synchronous_commit=on" \
    start >/dev/null
}
pg_start || { cat "$tmp/pg/server.log" >&2; die "PostgreSQL did not start"; }
pg_up=1
for db in booking analytics; do
  "$pgbin/createdb" -h 127.0.0.1 -p "${port[pg]}" -U postgres "$db" || die "createdb $db failed"
done
pg_url="postgresql://postgres@127.0.0.1:${port[pg]}"

# --- services -------------------------------------------------------------------------------------
"$bin/boxoffice-users" keygen "$tmp/keys" >/dev/null || die "could not create auth keys"
admin_email=admin@soak.invalid
admin_password="soak-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
common=(BOXOFFICE_BIND=127.0.0.1 BOXOFFICE_AUTH_KEYS="$tmp/keys" BOXOFFICE_LOG_LEVEL=warn
  BOXOFFICE_REVOCATIONS_URL="http://127.0.0.1:${port[users]}/api/auth/revocations")
kafka=""

# svc_cmd NAME: sets svc_env and svc_bin for that process
svc_cmd() {
  local name=$1
  svc_env=("${common[@]}")
  case "$name" in
    devkafka)
      svc_bin=devkafka
      svc_env+=(BOXOFFICE_DEVKAFKA_PORT="${port[devkafka]}" BOXOFFICE_DEVKAFKA_BOOTSTRAP_FILE="$tmp/kafka.bootstrap")
      ;;
    catalog)
      svc_bin=catalog
      svc_env+=(BOXOFFICE_CATALOG_PORT="${port[catalog]}" BOXOFFICE_CATALOG_DB="sqlite:$tmp/catalog.db"
        BOXOFFICE_CATALOG_SEED_DEMO=0 BOXOFFICE_BOOKING_URL="http://127.0.0.1:${port[nginx]}")
      ;;
    users)
      svc_bin=users
      svc_env+=(BOXOFFICE_USERS_PORT="${port[users]}" BOXOFFICE_USERS_STORE="lmdb:$tmp/users"
        BOXOFFICE_ADMIN_EMAIL="$admin_email" BOXOFFICE_ADMIN_PASSWORD="$admin_password")
      ;;
    booking-0 | booking-1)
      svc_bin=booking
      svc_env+=(BOXOFFICE_BOOKING_PORT="${port[$name]}" BOXOFFICE_BOOKING_DB="$pg_url/booking"
        BOXOFFICE_CATALOG_URL="http://127.0.0.1:${port[catalog]}"
        BOXOFFICE_USERS_URL="http://127.0.0.1:${port[users]}"
        BOXOFFICE_OBJECTS="file:$tmp/objects" BOXOFFICE_KAFKA="$kafka"
        BOXOFFICE_HOLD_TTL_S="$hold_ttl_s" BOXOFFICE_BOOKING_SWEEP_MS=500 BOXOFFICE_BOOKING_SYNC_MS=1000)
      ;;
    ticketgen)
      svc_bin=ticketgen
      svc_env+=("${slow_env[@]}" BOXOFFICE_TICKETGEN_PORT="${port[ticketgen]}"
        BOXOFFICE_OBJECTS="file:$tmp/objects" BOXOFFICE_TICKETGEN_STORE="lmdb:$tmp/ticketgen"
        BOXOFFICE_TICKET_KEYS="$tmp/keys-tickets" BOXOFFICE_TICKETGEN_RESCAN_S=10)
      ;;
    analytics-a)
      svc_bin=analytics
      svc_env+=("${slow_env[@]}" BOXOFFICE_ANALYTICS_PORT="${port[$name]}"
        BOXOFFICE_ANALYTICS_DB="sqlite:$tmp/analytics-a.db" BOXOFFICE_ANALYTICS_GROUP=soak-analytics-a
        BOXOFFICE_ANALYTICS_SESSION_TIMEOUT_MS=6000 BOXOFFICE_KAFKA="$kafka"
        BOXOFFICE_CATALOG_URL="http://127.0.0.1:${port[catalog]}")
      ;;
    analytics-b)
      svc_bin=analytics
      svc_env+=(BOXOFFICE_ANALYTICS_PORT="${port[$name]}"
        BOXOFFICE_ANALYTICS_DB="$pg_url/analytics" BOXOFFICE_ANALYTICS_GROUP=soak-analytics-b
        BOXOFFICE_ANALYTICS_SESSION_TIMEOUT_MS=6000 BOXOFFICE_KAFKA="$kafka"
        BOXOFFICE_CATALOG_URL="http://127.0.0.1:${port[catalog]}")
      ;;
    frontend)
      svc_bin=frontend
      svc_env+=(BOXOFFICE_FRONTEND_PORT="${port[frontend]}" BOXOFFICE_WEB_DIR="$repo/web"
        BOXOFFICE_RATE_LIMIT_RPS=0
        BOXOFFICE_CATALOG_URL="http://127.0.0.1:${port[catalog]}"
        BOXOFFICE_USERS_URL="http://127.0.0.1:${port[users]}"
        BOXOFFICE_BOOKING_URL="http://127.0.0.1:${port[nginx]}"
        BOXOFFICE_TICKETGEN_URL="http://127.0.0.1:${port[ticketgen]}"
        BOXOFFICE_ANALYTICS_URL="http://127.0.0.1:${port[analytics-a]}")
      ;;
    *) die "unknown process $name" ;;
  esac
}

start() { # start NAME: in its own session, appending to log/NAME.log; pid in run/NAME.pid
  local name=$1
  svc_cmd "$name"
  echo "--- start $(date -u +%FT%TZ)" >>"$tmp/log/$name.log"
  env "${svc_env[@]}" setsid "$bin/boxoffice-$svc_bin" </dev/null >>"$tmp/log/$name.log" 2>&1 &
  pid[$name]=$!
  echo "${pid[$name]}" >"$tmp/run/$name.pid"
}

wait_ready() { # wait_ready NAME: /readyz 200 within ready_timeout_s
  local name=$1 deadline=$((SECONDS + ready_timeout_s))
  while ! curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:${port[$name]}/readyz" 2>/dev/null; do
    if ! kill -0 "${pid[$name]}" 2>/dev/null; then
      tail -n 20 "$tmp/log/$name.log" >&2
      say "$name exited during start"
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$tmp/log/$name.log" >&2
      say "$name not ready after ${ready_timeout_s}s"
      return 1
    fi
    sleep 0.1
  done
}

say "temporary directory $tmp; PostgreSQL on ${port[pg]}"
start devkafka
wait_ready devkafka || die "devkafka did not start"
kafka=$(cat "$tmp/kafka.bootstrap")
[ -n "$kafka" ] || die "devkafka wrote no bootstrap address"
start users
start catalog
wait_ready users || die "users did not start"
wait_ready catalog || die "catalog did not start"
for n in booking-0 booking-1 ticketgen analytics-a analytics-b; do start "$n"; done
for n in booking-0 booking-1 ticketgen analytics-a analytics-b; do wait_ready "$n" || die "$n did not start"; done

# nginx: round robin over the two bookings. A replica that refuses connections is skipped for
# 3 s; a POST already sent is never sent again (nginx's default without `non_idempotent`), so a
# retry is the client's decision, with its Idempotency-Key.
user_line=""
[ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/log/nginx-error.log warn;
events { worker_connections 4096; }
http {
    log_format soak '\$msec \$request_method \$uri \$status \$upstream_addr \$upstream_status \$request_time';
    access_log $tmp/log/nginx-access.log soak;
    server_tokens off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    upstream booking {
        server 127.0.0.1:${port[booking-0]} max_fails=1 fail_timeout=3s;
        server 127.0.0.1:${port[booking-1]} max_fails=1 fail_timeout=3s;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:${port[nginx]};
        location = /readyz { return 200 '{"status":"ok"}'; }
        location / {
            proxy_pass http://booking;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
            proxy_next_upstream error timeout;
            client_max_body_size 1m;
        }
    }
}
CONF
"$nginx_bin" -p "$tmp/nginx" -e "$tmp/log/nginx-error.log" -c "$tmp/nginx/nginx.conf" \
  -g 'daemon off; master_process on;' </dev/null >>"$tmp/log/nginx.log" 2>&1 &
pid[nginx]=$!
echo "${pid[nginx]}" >"$tmp/run/nginx.pid"
wait_ready nginx || die "nginx did not start"
start frontend
wait_ready frontend || die "the gateway did not start"
say "stack ready: gateway http://127.0.0.1:${port[frontend]} (booking via nginx :${port[nginx]} -> :${port[booking-0]}, :${port[booking-1]})"

# --- the fault schedule -----------------------------------------------------------------------------
fault_log="$tmp/faults.jsonl"
: >"$fault_log"
at() { # at SECONDS: sleep until that offset (scaled) after the load started; 1 if the load ended
  local target=$(($1 * duration_s * 1000 / 180 + load_t0))
  while [ "$(now_ms)" -lt "$target" ]; do
    kill -0 "$node_pid" 2>/dev/null || return 1
    sleep 0.2
  done
}
record() { # record NAME START_MS OK DETAIL
  printf '{"name":"%s","start_ms":%s,"end_ms":%s,"ok":%s,"detail":"%s"}\n' "$1" "$2" "$(now_ms)" "$3" "$4" >>"$fault_log"
  say "fault done: $1 (ok=$3) $4"
}
kill_restart() { # kill_restart NAME...: SIGKILL them, 2 s later restart and wait until ready
  local t0 ok=true n names="$*"
  t0=$(now_ms)
  { # stderr off: no "Killed" job notices from this shell
    for n in "$@"; do
      say "kill -9 $n (pid ${pid[$n]})"
      kill -KILL "${pid[$n]}"
    done
    for n in "$@"; do wait "${pid[$n]}"; done
  } 2>/dev/null
  sleep 2
  for n in "$@"; do start "$n"; done
  for n in "$@"; do wait_ready "$n" || ok=false; done
  record "kill -9 ${names// /+}" "$t0" "$ok" "restarted"
}
pg_outage() {
  local t0 ok=true
  t0=$(now_ms)
  say "PostgreSQL: pg_ctl stop -m immediate"
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pg_data" -m immediate -w -t 30 stop >/dev/null 2>&1 || ok=false
  sleep 5
  pg_start || ok=false
  "$pgbin/pg_isready" -q -h 127.0.0.1 -p "${port[pg]}" -U postgres -d booking -t 30 || ok=false
  record "PostgreSQL stop -m immediate 5 s" "$t0" "$ok" "restarted with crash recovery"
}
broker_outage() {
  local t0 ok=true
  t0=$(now_ms)
  curl -fsS -o /dev/null --max-time 5 -X POST "http://127.0.0.1:${port[devkafka]}/mock/brokers/1/down" || ok=false
  sleep 10
  curl -fsS -o /dev/null --max-time 5 -X POST "http://127.0.0.1:${port[devkafka]}/mock/brokers/1/up" || ok=false
  record "Kafka broker down 10 s" "$t0" "$ok" "POST /mock/brokers/1/down, /up"
}
slow_disk() {
  local t0 before after
  t0=$(now_ms)
  before=$(od -An -td8 -N8 "$tmp/slowfs.count" | tr -d ' ')
  printf '%s' "$slow_ms" >"$tmp/slowfs.ctl"
  sleep 20
  printf '0' >"$tmp/slowfs.ctl"
  after=$(od -An -td8 -N8 "$tmp/slowfs.count" | tr -d ' ')
  record "slow disk ${slow_ms} ms per fsync, 20 s" "$t0" "$([ "$after" -gt "$before" ] && echo true || echo false)" "$((after - before)) fsync-family calls delayed (PostgreSQL, ticketgen, analytics-a)"
}
schedule() { # runs in this shell (not a subshell), so restarted processes stay its children
  at 15 && kill_restart booking-1 &&
    at 35 && kill_restart analytics-a &&
    at 55 && pg_outage &&
    at 80 && broker_outage &&
    at 100 && slow_disk &&
    at 130 && kill_restart booking-0 analytics-b ticketgen
  touch "$tmp/faults.done"
}

# --- the load and the checker -------------------------------------------------------------------------
export BX_SOAK_DIR="$tmp" BX_SOAK_GATEWAY="http://127.0.0.1:${port[frontend]}"
export BX_SOAK_ANALYTICS_B="http://127.0.0.1:${port[analytics-b]}"
export BX_SOAK_PSQL="$pgbin/psql" BX_SOAK_PG_PORT="${port[pg]}"
export BX_SOAK_ADMIN_EMAIL="$admin_email" BX_SOAK_ADMIN_PASSWORD="$admin_password"
export BX_SOAK_USERS="$users_n" BX_SOAK_CLIENTS="$clients" BX_SOAK_DURATION_S="$duration_s"
export BX_SOAK_HOLD_TTL_S="$hold_ttl_s" BX_SOAK_SLOW_MS="$slow_ms" BX_SOAK_REPORT="$report"
export BX_SOAK_PROCS="devkafka catalog users booking-0 booking-1 ticketgen analytics-a analytics-b frontend nginx"
node "$repo/tests/soak/soak.mjs" &
node_pid=$!
# the schedule starts when the load does (soak.mjs writes load.started with its clock)
while [ ! -s "$tmp/load.started" ] && kill -0 "$node_pid" 2>/dev/null; do sleep 0.2; done
if [ -s "$tmp/load.started" ]; then
  load_t0=$(cat "$tmp/load.started")
  schedule
else
  touch "$tmp/faults.done"
fi
wait "$node_pid"
node_rc=$?
node_pid=""

# --- clean stop, logs -------------------------------------------------------------------------------------
say "stopping every process with SIGTERM"
: >"$tmp/stop.txt"
stop_all
stop_rc=$?
mkdir -p "$(dirname "$report")"
{
  echo
  echo "## Shutdown"
  echo
  if [ "$stop_rc" = 0 ]; then
    echo "Every process exited 0 on SIGTERM; PostgreSQL stopped cleanly."
  else
    echo "**FAIL**: not every process stopped cleanly:"
    echo
    sed 's/^/- /' "$tmp/stop.txt"
  fi
} >>"$report"
rm -rf "$logs_out"
mkdir -p "$logs_out"
cp "$tmp"/log/*.log "$tmp/pg/server.log" "$fault_log" "$logs_out/" 2>/dev/null
cp "$tmp"/*.json "$tmp"/*.jsonl "$logs_out/" 2>/dev/null
say "report: $report (logs in $logs_out)"
if [ "$node_rc" != 0 ] || [ "$stop_rc" != 0 ]; then
  say "FAILED (checker exit $node_rc, shutdown $stop_rc)"
  exit 1
fi
say "PASSED"
exit 0
