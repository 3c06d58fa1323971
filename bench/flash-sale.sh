#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Flash-sale benchmark (issue #6), release build: one tier with a large capacity, 256 keep-alive
# clients holding 1-4 seats at random (POST /api/holds straight at boxoffice-booking, many
# customers' tokens), every hold durable (SQLite WAL synchronous=FULL, PostgreSQL
# synchronous_commit=on). One run measures, side by side:
#   1. boxoffice-booking on SQLite                 vs  nginx answering the same POST with
#                                                      `return 201 '<a real hold's JSON>'`
#   2. two boxoffice-booking replicas on one       vs  the naive way on the same cluster: pgbench,
#      PostgreSQL 15 database (one wrk thread          one `UPDATE inv SET sold = sold + q WHERE
#      with 128 connections on each)                   sold + q <= capacity` + one INSERT per
#                                                      transaction, all on one row
#   3. the oversell race, on SQLite and on the two PostgreSQL replicas: a fresh tier of 1,000
#      seats, 500 connections sending 10,000 one-seat holds. The 201s must number exactly
#      1,000, and sold + held (GET /api/events/{id}/availability, polled during the race and read
#      after it) must end at exactly 1,000 and never pass it.
# Goals: SQLite >= 0.30 x nginx; PostgreSQL x2 >= 20 x naive pgbench; oversell 0.
# holds/s counts 201 answers only (bench/flash-sale.lua counts answers by status); p50/p99 are
# wrk's latency over all answers.
# BOXOFFICE_KAFKA is empty: no relay runs, but every hold still writes its outbox row in the same
# transaction. Exit status: 1 when a race sold a seat too many or ended off 1,000 (or on a setup
# error); a throughput goal missed is reported as SHORT, not as a failure.
#
#   bench/flash-sale.sh [BUILD_DIR]       BUILD_DIR defaults to build/release (relative to the repo)
#
# Environment:
#   BX_BENCH_DURATION          seconds per measured run (default 10; "10" or "10s")
#   BX_BENCH_WARMUP            seconds of unrecorded warm-up before each (default 2)
#   BX_BENCH_CONNECTIONS       connections of the throughput runs (default 256)
#   BX_BENCH_RACE_CONNECTIONS  connections of the oversell race (default 500)
#   BX_BENCH_RACE_ATTEMPTS     one-seat holds sent in each race (default 10000)
#   BX_BENCH_RACE_LIMIT        seconds a race may take at most (default 60)
#   BX_BENCH_CUSTOMERS         customer accounts whose tokens the clients use (default 16; each
#                              costs two Argon2id hashes to register and log in)
#   BX_BENCH_PGBENCH_CLIENTS   pgbench client counts; the best tps is the anchor (default "64 256")
#   BX_BENCH_SERVER_CPUS       taskset CPU list for the servers under load: booking, PostgreSQL,
#                              nginx (default 0 with >= 2 CPUs; "" = no pinning); users and
#                              catalog, idle during the load, run unpinned
#   BX_BENCH_CLIENT_CPUS       taskset CPU list for wrk and pgbench (default 1; "" = no pinning)
#   BX_BENCH_PG_BIN            PostgreSQL server binaries (default: newest /usr/lib/postgresql/*/bin)
#   BX_BENCH_OUT               report (default bench/out/flash-sale.txt)
#   BX_BENCH_TSV               machine-readable results for bench/report.sh (default
#                              bench/out/flash-sale.tsv): metric, value, anchor, anchor value,
#                              ratio, goal, verdict per line
#   BOXOFFICE_BOOKING_BATCH_MAX, BOXOFFICE_BOOKING_BATCH_WAIT_US, BOXOFFICE_HTTP_THREADS
#                              passed on to booking as they are (the report shows them)
# PostgreSQL runs as the `postgres` user when this runs as root. Everything listens on 127.0.0.1,
# lives in one mktemp -d directory, and is stopped and removed on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build/release}
[[ "$build" = /* ]] || build="$repo/$build"
bindir="$build/bin"
ncpu=$(nproc)
duration_s=${BX_BENCH_DURATION:-10}
duration_s=${duration_s%s}
warmup_s=${BX_BENCH_WARMUP:-2}
warmup_s=${warmup_s%s}
conns=${BX_BENCH_CONNECTIONS:-256}
race_conns=${BX_BENCH_RACE_CONNECTIONS:-500}
race_attempts=${BX_BENCH_RACE_ATTEMPTS:-10000}
race_limit_s=${BX_BENCH_RACE_LIMIT:-60}
race_limit_s=${race_limit_s%s}
customers=${BX_BENCH_CUSTOMERS:-16}
read -r -a pgbench_clients <<<"${BX_BENCH_PGBENCH_CLIENTS:-64 256}"
if [ "$ncpu" -ge 2 ]; then
  server_cpus=${BX_BENCH_SERVER_CPUS-0}
  client_cpus=${BX_BENCH_CLIENT_CPUS-1}
else
  server_cpus=${BX_BENCH_SERVER_CPUS-}
  client_cpus=${BX_BENCH_CLIENT_CPUS-}
fi
out=${BX_BENCH_OUT:-$repo/bench/out/flash-sale.txt}
tsv=${BX_BENCH_TSV:-$repo/bench/out/flash-sale.tsv}
lua="$repo/bench/flash-sale.lua"
capacity=1000000    # the catalog's largest tier; a run sells a few hundred thousand seats at most
race_capacity=1000
max_per_order=4
sqlite_goal=0.30    # x nginx
pg_goal=20          # x naive pgbench
ready_timeout_s=20
stop_timeout_s=5

die() {
  echo "bench/flash-sale.sh: $*" >&2
  exit 1
}

for b in boxoffice-users boxoffice-catalog boxoffice-booking; do
  [ -x "$bindir/$b" ] || die "no $bindir/$b; build it first: cmake -S $repo -B $build -DCMAKE_BUILD_TYPE=Release && cmake --build $build -j2"
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx) # /usr/sbin is often not in a user's PATH
[ -x "$nginx_bin" ] || die "nginx is not installed (scripts/deps.sh --test)"
for tool in wrk curl ss taskset timeout awk sort sed od; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/deps.sh --test)"
done
pgbin=${BX_BENCH_PG_BIN:-$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)}
for b in initdb pg_ctl createdb psql pgbench; do
  [ -x "$pgbin/$b" ] || die "no PostgreSQL $b in '${pgbin}' (scripts/deps.sh --test)"
done
for v in "$duration_s" "$warmup_s" "$conns" "$race_conns" "$race_attempts" "$race_limit_s" "$customers" "${pgbench_clients[@]}"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "bad setting '$v' (a positive whole number expected)"
done
if [ "$conns" -lt 2 ] || [ "$race_conns" -lt 2 ]; then die "at least 2 connections per run"; fi
[ "${#pgbench_clients[@]}" -gt 0 ] || die "BX_BENCH_PGBENCH_CLIENTS is empty"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
[ "$nofile" -ge $((race_conns + conns + 256)) ] ||
  die "open-file limit $nofile is too low for $race_conns connections (hard limit $(ulimit -Hn))"

# Command prefixes (not functions, so that $! is the program itself).
pin_server=(env)
[ -n "$server_cpus" ] && pin_server=(taskset -c "$server_cpus")
pin_client=(env)
[ -n "$client_cpus" ] && pin_client=(taskset -c "$client_cpus")
as_pg=(env)
[ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bx-bench-flash-sale.XXXXXX")
chmod 711 "$tmp" # postgres (PostgreSQL's data directory) and nginx workers pass through it
pids=()          # servers started here
jobs_running=()  # wrk/pgbench runs in flight
poll_pid=""
pg_data=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${jobs_running[@]-}" "$poll_pid" "${pids[@]-}"; do
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in "${jobs_running[@]-}" "$poll_pid" "${pids[@]-}"; do
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
  if [ -n "$pg_data" ]; then
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pg_data" -m fast -w -t 20 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

taken_ports=" "
free_port() { # a port below the ephemeral range that nobody listens on and we have not handed out
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    [[ "$taken_ports" != *" $p "* ]] || continue
    if [ -z "$(ss -Htln "sport = :$p")" ]; then
      taken_ports+="$p "
      echo "$p"
      return 0
    fi
  done
  return 1
}

wait_ready() { # wait_ready NAME PID URL LOG
  local name=$1 pid=$2 url=$3 log=$4
  for _ in $(seq $((ready_timeout_s * 10))); do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "$name exited at start"; }
    if curl -fsS --max-time 1 -o /dev/null "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$log" >&2
  die "$name not ready at $url after ${ready_timeout_s}s"
}

# service pinned|free NAME PORT_VAR PORT [VAR=VALUE...]: starts boxoffice-NAME (pinned: on the
# server CPUs; users and catalog, which the load does not touch, run free); sets $svc_pid
service() {
  local pin=(env) name=$2 port_var=$3 port=$4
  [ "$1" = pinned ] && pin=("${pin_server[@]}")
  shift 4
  local log="$tmp/$name-$port.log"
  env BOXOFFICE_BIND=127.0.0.1 "$port_var=$port" BOXOFFICE_AUTH_KEYS="$tmp/keys" \
    BOXOFFICE_LOG_LEVEL=warn BOXOFFICE_DRAIN_TIMEOUT_S=1 "$@" \
    "${pin[@]}" "$bindir/boxoffice-$name" </dev/null >"$log" 2>&1 &
  svc_pid=$!
  pids+=("$svc_pid")
  wait_ready "boxoffice-$name" "$svc_pid" "http://127.0.0.1:$port/readyz" "$log"
}

json_str() { # json_str FIELD: the value of the first "FIELD":"..." on standard input
  awk -v key="\"$1\":\"" '!done && (i = index($0, key)) {
    rest = substr($0, i + length(key)); print substr(rest, 1, index(rest, "\"") - 1); done = 1 }'
}

# --- users, tokens, catalog, events -------------------------------------------------------------
"$bindir/boxoffice-users" keygen "$tmp/keys" >/dev/null
users_port=$(free_port) || die "no free port"
admin_password="bench-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
service free users BOXOFFICE_USERS_PORT "$users_port" BOXOFFICE_USERS_STORE="lmdb:$tmp/users" \
  BOXOFFICE_ADMIN_EMAIL=admin@bench.invalid BOXOFFICE_ADMIN_PASSWORD="$admin_password"
users="http://127.0.0.1:$users_port"

login() { # login EMAIL PASSWORD: prints a token
  curl -fsS --max-time 30 -H 'Content-Type: application/json' "$users/api/sessions" \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" | json_str token
}
customer_token() { # register customer N and print its token
  local email="customer$1@bench.invalid" password="customer password $1"
  curl -fsS --max-time 30 -o /dev/null -H 'Content-Type: application/json' "$users/api/users" \
    -d "{\"email\":\"$email\",\"password\":\"$password\",\"name\":\"Customer $1\"}"
  login "$email" "$password"
}

admin_token=$(login admin@bench.invalid "$admin_password")
[ -n "$admin_token" ] || die "could not log in as admin"
# Argon2id dominates here; users hashes at most 4 passwords at once, so do 4 customers at a time.
batch=()
for i in $(seq "$customers"); do
  customer_token "$i" >"$tmp/token.$i" 2>"$tmp/token.$i.err" &
  batch+=("$!")
  if [ "${#batch[@]}" = 4 ] || [ "$i" = "$customers" ]; then
    for pid in "${batch[@]}"; do wait "$pid" || true; done
    batch=()
  fi
done
: >"$tmp/tokens"
for i in $(seq "$customers"); do
  [ -s "$tmp/token.$i" ] || { cat "$tmp/token.$i.err" >&2; die "could not make customer $i"; }
  cat "$tmp/token.$i" >>"$tmp/tokens"
done
customer=$(head -n 1 "$tmp/tokens")

catalog_port=$(free_port) || die "no free port"
service free catalog BOXOFFICE_CATALOG_PORT "$catalog_port" BOXOFFICE_CATALOG_DB="sqlite:$tmp/catalog.db"
catalog="http://127.0.0.1:$catalog_port"

admin_post() { # admin_post PATH [BODY]
  curl -fsS --max-time 10 -H "Authorization: Bearer $admin_token" \
    -H 'Content-Type: application/json' -X POST "$catalog$1" ${2:+-d "$2"}
}
venue=$(admin_post /api/venues '{"name":"Bench Arena","address":"1 Bench Street","city":"London","country":"GB","timezone":"UTC"}' | json_str id)
[ -n "$venue" ] || die "could not create a venue"
starts=$(date -u -d '+30 days' +%Y-%m-%dT20:00:00Z)
ends=$(date -u -d '+30 days' +%Y-%m-%dT23:00:00Z)
new_event() { # new_event TITLE CAPACITY: a published event with one tier; prints "EVENT TIER"
  local ev tier
  ev=$(admin_post /api/events "{\"title\":\"$1\",\"description\":\"bench/flash-sale.sh\",\"category\":\"concert\",\"venue_id\":\"$venue\",\"starts_at\":\"$starts\",\"ends_at\":\"$ends\",\"tiers\":[{\"name\":\"General admission\",\"price_cents\":5000,\"currency\":\"EUR\",\"capacity\":$2,\"max_per_order\":$max_per_order}]}")
  tier=$(sed -n 's/.*"tiers":\[{"id":"\([^"]*\)".*/\1/p' <<<"$ev")
  ev=$(json_str id <<<"$ev")
  if [ -z "$ev" ] || [ -z "$tier" ]; then die "could not create event '$1'"; fi
  admin_post "/api/events/$ev/publish" >/dev/null || die "could not publish event '$1'"
  echo "$ev $tier"
}
ids=$(new_event 'Flash sale (SQLite)' "$capacity")
read -r sqlite_event sqlite_tier <<<"$ids"
ids=$(new_event 'Flash sale (PostgreSQL)' "$capacity")
read -r pg_event pg_tier <<<"$ids"
ids=$(new_event 'Race (SQLite)' "$race_capacity")
read -r race_sqlite_event race_sqlite_tier <<<"$ids"
ids=$(new_event 'Race (PostgreSQL)' "$race_capacity")
read -r race_pg_event race_pg_tier <<<"$ids"

booking_env=(BOXOFFICE_CATALOG_URL="$catalog" BOXOFFICE_KAFKA=)

# --- PostgreSQL 15 ------------------------------------------------------------------------------
pg_port=$(free_port) || die "no free port"
mkdir "$tmp/pg"
[ "$(id -u)" = 0 ] && chown postgres: "$tmp/pg"
"${as_pg[@]}" "$pgbin/initdb" -D "$tmp/pg/data" -U postgres -A trust -E UTF8 >"$tmp/initdb.log" 2>&1 ||
  { cat "$tmp/initdb.log" >&2; die "initdb failed"; }
pg_data="$tmp/pg/data"
# max_connections: 2 booking pools + up to 256 pgbench clients; everything else stays at its
# default (fsync, synchronous_commit=on, full_page_writes), as durable as booking's own commits.
"${as_pg[@]}" "${pin_server[@]}" "$pgbin/pg_ctl" -D "$pg_data" -l "$tmp/pg/server.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$tmp/pg -c max_connections=300" \
  start >/dev/null || { cat "$tmp/pg/server.log" >&2; die "PostgreSQL did not start"; }
for db in boxoffice naive; do
  "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres "$db" || die "createdb $db failed"
done
pg_url="postgresql://postgres@127.0.0.1:$pg_port/boxoffice"
pg_version=$("$pgbin/postgres" --version | sed 's/^postgres (PostgreSQL) //')

# --- the servers under test -----------------------------------------------------------------------
sqlite_port=$(free_port) || die "no free port"
service pinned booking BOXOFFICE_BOOKING_PORT "$sqlite_port" "${booking_env[@]}" \
  BOXOFFICE_BOOKING_DB="sqlite:$tmp/booking.db"
pg_ports=()
for _ in 1 2; do
  p=$(free_port) || die "no free port"
  service pinned booking BOXOFFICE_BOOKING_PORT "$p" "${booking_env[@]}" BOXOFFICE_BOOKING_DB="$pg_url"
  pg_ports+=("$p")
done

# One hold through each booking, by hand: the routes work, and the answer is nginx's body.
hold_once() { # hold_once PORT EVENT TIER: prints the 201 body
  local body
  body=$(curl -sS --max-time 10 -w '\n%{http_code}' -H "Authorization: Bearer $customer" \
    -H 'Content-Type: application/json' "http://127.0.0.1:$1/api/holds" \
    -d "{\"event_id\":\"$2\",\"tier_id\":\"$3\",\"quantity\":2}")
  [ "${body##*$'\n'}" = 201 ] || die "a hold on 127.0.0.1:$1 answered ${body##*$'\n'}: ${body%$'\n'*}"
  echo "${body%$'\n'*}"
}
hold_body=$(hold_once "$sqlite_port" "$sqlite_event" "$sqlite_tier")
for p in "${pg_ports[@]}"; do hold_once "$p" "$pg_event" "$pg_tier" >/dev/null; done
[[ "$hold_body" =~ ^\{[^\'\$\\]*\}$ ]] || die "unexpected hold body: $hold_body"

# --- nginx: the same POST answered with a hold's bytes ----------------------------------------------
nginx_port=$(free_port) || die "no free port"
nginx_workers=$("${pin_server[@]}" nproc)
user_line=""
[ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);" # workers stay the invoking user
cat >"$tmp/nginx.conf" <<CONF
$user_line
worker_processes $nginx_workers;
worker_rlimit_nofile $nofile;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    server_tokens off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location = /api/holds {
            default_type "application/json; charset=utf-8";
            return 201 '$hold_body';
        }
        location = /healthz { return 200 'ok'; }
    }
}
CONF
"${pin_server[@]}" "$nginx_bin" -p "$tmp" -e "$tmp/nginx-error.log" -c "$tmp/nginx.conf" \
  -g 'daemon off; master_process on;' </dev/null >"$tmp/nginx.out" 2>&1 &
pids+=("$!")
wait_ready nginx "$!" "http://127.0.0.1:$nginx_port/healthz" "$tmp/nginx-error.log"
nginx_answer=$(curl -fsS --max-time 2 -H 'Content-Type: application/json' -d '{}' \
  "http://127.0.0.1:$nginx_port/api/holds")
[ "$nginx_answer" = "$hold_body" ] || die "nginx answered '$nginx_answer'"

# --- load ---------------------------------------------------------------------------------------
# load NAME EVENT TIER QTY_MAX CONNS SECONDS QUOTA PORT...: one wrk, 2 threads and CONNS
# connections, its threads spread over the ports (bench/flash-sale.lua), in the background and
# waited for so that a signal to this script is handled at once. QUOTA 0: for SECONDS; QUOTA N:
# until N answers (each thread stops at its half, then wrk is told to finish; SECONDS is the
# limit). Its output: $tmp/NAME.txt.
load() {
  local name=$1 event=$2 tier=$3 qty=$4 c=$5 secs=$6 quota=$7 threads=2 pid
  shift 7
  : >"$tmp/$name.done"
  BX_FS_EVENT=$event BX_FS_TIER=$tier BX_FS_TOKENS="$tmp/tokens" BX_FS_QTY_MAX=$qty \
    BX_FS_PORTS="$*" BX_FS_QUOTA=$(((quota + threads - 1) / threads)) BX_FS_DONE="$tmp/$name.done" \
    timeout -k 5 $((secs + 30)) "${pin_client[@]}" wrk -t "$threads" -c "$c" -d "${secs}s" \
    --timeout 10s -s "$lua" "http://127.0.0.1:$1" >"$tmp/$name.txt" 2>&1 &
  pid=$!
  jobs_running=("$pid")
  if [ "$quota" -gt 0 ]; then
    # SIGINT makes wrk stop waiting out -d and print its results (timeout passes it on)
    while [ "$(wc -l <"$tmp/$name.done")" -lt "$threads" ] && kill -0 "$pid" 2>/dev/null; do
      sleep 0.05
    done
    kill -INT "$pid" 2>/dev/null || true
  fi
  wait "$pid" || true
  jobs_running=()
  grep -q '^bx-flash-sale ' "$tmp/$name.txt" ||
    { tail -n 5 "$tmp/$name.txt" >&2; die "wrk ($name) printed no result"; }
}

# result NAME: "HOLDS_PER_S REQ_PER_S P50_MS P99_MS REQUESTS S201 S409 S503 SOTHER SOCKET_ERRORS"
result() {
  awk '/^bx-flash-sale / {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      secs = f["duration_us"] / 1e6
      printf "%d %d %.1f %.1f %d %d %d %d %d %d\n", f["s201"] / secs + 0.5, f["requests"] / secs + 0.5,
        f["p50_us"] / 1000, f["p99_us"] / 1000, f["requests"], f["s201"], f["s409"], f["s503"],
        f["sother"], f["connect"] + f["read"] + f["write"] + f["timeout"]
    }' "$tmp/$1.txt"
}

# naive NAME CLIENTS SECONDS [log]: pgbench on the naive database; log: per-transaction latencies
naive() {
  local name=$1 c=$2 secs=$3 log=()
  [ "${4:-}" = log ] && log=(-l --log-prefix="$tmp/$name")
  timeout -k 5 $((secs + 60)) "${pin_client[@]}" "$pgbin/pgbench" -n -h 127.0.0.1 -p "$pg_port" \
    -U postgres -c "$c" -j 2 -T "$secs" "${log[@]}" -f "$tmp/naive.sql" naive \
    >"$tmp/$name.txt" 2>&1 &
  jobs_running+=("$!")
  wait "$!" || { tail -n 5 "$tmp/$name.txt" >&2; die "pgbench ($name) failed"; }
  jobs_running=()
}
naive_result() { # naive_result NAME: "TPS P50_MS P99_MS"
  local tps
  tps=$(awk '/^tps = / { printf "%d", $3 + 0.5 }' "$tmp/$1.txt")
  # pgbench log lines: client transaction latency_us script epoch_s epoch_us
  cat "$tmp/$1".[0-9]* | awk '{ print $3 }' | sort -n | awk -v tps="$tps" '
    { v[NR] = $1 }
    END {
      p50 = NR ? v[int((NR - 1) * 0.50) + 1] / 1000 : 0
      p99 = NR ? v[int((NR - 1) * 0.99) + 1] / 1000 : 0
      printf "%d %.1f %.1f\n", tps, p50, p99
    }'
}

# batch_counts PORT...: "TRANSACTIONS REQUESTS" of the batchers behind the ports (group commit)
batch_counts() {
  local port
  for port in "$@"; do
    curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" || die "no /metrics on 127.0.0.1:$port"
  done | awk '$1 ~ /^boxoffice_booking_batches_total/ { t += $2 }
              $1 ~ /^boxoffice_booking_batched_requests_total/ { r += $2 }
              END { printf "%d %d\n", t, r }'
}
batch_stats() { # batch_stats BEFORE AFTER SECONDS: "TX_PER_S REQ_PER_TX"
  awk -v b="$1" -v a="$2" -v s="$3" 'BEGIN {
    split(b, x, " "); split(a, y, " "); t = y[1] - x[1]; r = y[2] - x[2]
    printf "%d %.1f\n", t / s + 0.5, (t > 0 ? r / t : 0) }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "0.00" }'; }
meets() { awk -v r="$1" -v g="$2" 'BEGIN { exit !(r >= g) }'; }

progress() { echo "bench/flash-sale.sh: [${SECONDS}s] $* ..." >&2; }

alive() {
  local pid
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$tmp"/*.log >&2 || true; die "a server died (pid $pid)"; }
  done
}

progress "flash sale: SQLite"
load warm-sqlite "$sqlite_event" "$sqlite_tier" "$max_per_order" "$conns" "$warmup_s" 0 "$sqlite_port"
before=$(batch_counts "$sqlite_port")
load sqlite "$sqlite_event" "$sqlite_tier" "$max_per_order" "$conns" "$duration_s" 0 "$sqlite_port"
read -r s_tx s_per_tx <<<"$(batch_stats "$before" "$(batch_counts "$sqlite_port")" "$duration_s")"
alive
progress "flash sale: nginx"
load warm-nginx "$sqlite_event" "$sqlite_tier" "$max_per_order" "$conns" "$warmup_s" 0 "$nginx_port"
load nginx "$sqlite_event" "$sqlite_tier" "$max_per_order" "$conns" "$duration_s" 0 "$nginx_port"
alive
progress "flash sale: PostgreSQL, 2 replicas"
load warm-pg "$pg_event" "$pg_tier" "$max_per_order" "$conns" "$warmup_s" 0 "${pg_ports[@]}"
before=$(batch_counts "${pg_ports[@]}")
load pg "$pg_event" "$pg_tier" "$max_per_order" "$conns" "$duration_s" 0 "${pg_ports[@]}"
read -r p_tx p_per_tx <<<"$(batch_stats "$before" "$(batch_counts "${pg_ports[@]}")" "$duration_s")"
alive

progress "flash sale: naive pgbench"
"$pgbin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d naive -q -v ON_ERROR_STOP=1 -c "
  CREATE TABLE inv (id int PRIMARY KEY, capacity bigint NOT NULL, sold bigint NOT NULL);
  INSERT INTO inv VALUES (1, 1000000000000, 0);
  CREATE TABLE h (id bigserial, qty int NOT NULL, at timestamptz NOT NULL);" >/dev/null ||
  die "could not create the naive tables"
cat >"$tmp/naive.sql" <<'SQL'
\set q random(1, 4)
BEGIN;
UPDATE inv SET sold = sold + :q WHERE id = 1 AND sold + :q <= capacity;
INSERT INTO h (qty, at) VALUES (:q, now());
END;
SQL
naive_best=""
naive_rows=()
for c in "${pgbench_clients[@]}"; do
  naive "warm-naive-$c" "$c" "$warmup_s"
  naive "naive-$c" "$c" "$duration_s" log
  read -r tps p50 p99 <<<"$(naive_result "naive-$c")"
  naive_rows+=("$c $tps $p50 $p99")
  if [ -z "$naive_best" ] || [ "$tps" -gt "${naive_best%% *}" ]; then naive_best="$tps $c $p50 $p99"; fi
done
read -r naive_tps naive_c naive_p50 naive_p99 <<<"$naive_best"

# --- the oversell race ----------------------------------------------------------------------------
# race NAME EVENT TIER PORT...: race_attempts one-seat holds from race_conns connections at a tier of
# race_capacity seats; availability is polled all along. Writes "ATTEMPTS S201 FINAL MAX_SEEN
# POLLS" to $tmp/NAME.race.
taken() { # the sold + held of an availability answer on standard input
  awk 'match($0, /"sold":[0-9]+,"held":[0-9]+/) {
    split(substr($0, RSTART, RLENGTH), f, /[:,]/); print f[2] + f[4] }'
}
race() {
  local name=$1 event=$2 tier=$3 url
  shift 3
  url="http://127.0.0.1:$1/api/events/$event/availability"
  # booking learns the event before the sale opens, as it would from a page view
  curl -fsS --max-time 10 "$url" | grep -q "\"capacity\":$race_capacity,\"sold\":0,\"held\":0" ||
    die "$name: the race's tier is not fresh"
  (
    while :; do
      curl -fsS --max-time 2 "$url" 2>/dev/null | taken || true
      sleep 0.05
    done
  ) >"$tmp/$name.avail" &
  poll_pid=$!
  load "$name" "$event" "$tier" 1 "$race_conns" "$race_limit_s" "$race_attempts" "$@"
  sleep 1 # requests wrk left in flight at its end are still answered; let them commit
  kill -TERM "$poll_pid" 2>/dev/null || true
  wait "$poll_pid" 2>/dev/null || true
  poll_pid=""
  local final max_seen r
  final=$(curl -fsS --max-time 10 "$url" | taken)
  [ -n "$final" ] || die "$name: no availability after the race"
  max_seen=$(awk -v m="$final" '$1 > m { m = $1 } END { print m }' "$tmp/$name.avail")
  read -r -a r <<<"$(result "$name")"
  echo "${r[4]} ${r[5]} $final $max_seen $(wc -l <"$tmp/$name.avail")" >"$tmp/$name.race"
}
progress "oversell race: SQLite"
race race-sqlite "$race_sqlite_event" "$race_sqlite_tier" "$sqlite_port"
read -r rs_attempts rs_201 rs_final rs_max rs_polls <"$tmp/race-sqlite.race"
progress "oversell race: PostgreSQL, 2 replicas"
race race-pg "$race_pg_event" "$race_pg_tier" "${pg_ports[@]}"
read -r rp_attempts rp_201 rp_final rp_max rp_polls <"$tmp/race-pg.race"
alive

# --- report ---------------------------------------------------------------------------------------
read -r s_holds _ s_p50 s_p99 s_req s_201 s_409 s_503 s_other s_err <<<"$(result sqlite)"
read -r n_holds _ n_p50 n_p99 n_req n_201 _ _ _ n_err <<<"$(result nginx)"
read -r p_holds _ p_p50 p_p99 p_req p_201 p_409 p_503 p_other p_err <<<"$(result pg)"
s_ratio=$(ratio "$s_holds" "$n_holds")
p_ratio=$(ratio "$p_holds" "$naive_tps")
verdict() { if meets "$1" "$2"; then echo PASS; else echo SHORT; fi; }
s_verdict=$(verdict "$s_ratio" "$sqlite_goal")
p_verdict=$(verdict "$p_ratio" "$pg_goal")

excess=0
race_line() { # race_line LABEL ATTEMPTS S201 FINAL MAX_SEEN POLLS; adds to $excess, sets $race_ok
  local label=$1 attempts=$2 s201=$3 final=$4 max_seen=$5 polls=$6 over worst note=""
  worst=$s201
  [ "$final" -gt "$worst" ] && worst=$final
  [ "$max_seen" -gt "$worst" ] && worst=$max_seen
  over=$((worst > race_capacity ? worst - race_capacity : 0))
  excess=$((excess + over))
  local ok=PASS
  if [ "$over" -gt 0 ] || [ "$s201" != "$race_capacity" ] || [ "$final" != "$race_capacity" ]; then
    ok=FAIL
    race_failed=1
  fi
  [ "$attempts" -lt "$race_attempts" ] && note=" (stopped at the ${race_limit_s}s limit)"
  printf 'oversell race, %s: seats past %d (%d x 201, sold+held %d at the end, max %d polled)\t%d\t-\t-\t-\tvalue==0\t%s\n' \
    "$label" "$race_capacity" "$s201" "$final" "$max_seen" "$over" "$ok" >>"$tmp/results.tsv"
  printf '%-26s %6d attempts, %d x 201, sold+held %d at the end (max %d in %d polls): oversell %d  %s%s\n' \
    "$label" "$attempts" "$s201" "$final" "$max_seen" "$polls" "$over" "$ok" "$note"
}

mhd_version=$(dpkg-query -W -f='${Version}' libmicrohttpd12 2>/dev/null || echo "?")
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "?")
if git -C "$repo" diff --quiet HEAD -- lib include services backends 2>/dev/null; then :; else rev="$rev+dirty"; fi
fs=$(df -PT "$tmp" | awk 'NR == 2 { print $2 " on " $1 }')
row() { printf '%-34s %9s %8s %8s %9s  %-13s %6s %6s  %s\n' "$@"; }
race_failed=0
{
  printf '# metric\tvalue\tanchor\tanchor_value\tratio\tgoal\tverdict\n'
  printf 'POST /api/holds holds/s, SQLite, %s connections\t%s\tnginx return 201\t%s\t%s\tratio>=%s\t%s\n' \
    "$conns" "$s_holds" "$n_holds" "$s_ratio" "$sqlite_goal" "$s_verdict"
  printf 'POST /api/holds holds/s, PostgreSQL x2 replicas, %s connections\t%s\tnaive pgbench -c %s tps\t%s\t%s\tratio>=%s\t%s\n' \
    "$conns" "$p_holds" "$naive_c" "$naive_tps" "$p_ratio" "$pg_goal" "$p_verdict"
} >"$tmp/results.tsv"
{
  echo "bench/flash-sale.sh: flash sale on one tier, POST /api/holds over HTTP, durable"
  echo
  echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), rev $rev, $ncpu CPUs, $(uname -r); data on $fs"
  echo "- servers (booking, PostgreSQL, nginx) on CPUs '${server_cpus:-any}', wrk/pgbench on CPUs '${client_cpus:-any}'"
  echo "- booking: BOXOFFICE_BOOKING_BATCH_MAX=${BOXOFFICE_BOOKING_BATCH_MAX:-256 (default)}, BOXOFFICE_BOOKING_BATCH_WAIT_US=${BOXOFFICE_BOOKING_BATCH_WAIT_US:-1000 (default)}, BOXOFFICE_HTTP_THREADS=${BOXOFFICE_HTTP_THREADS:-default}, libmicrohttpd $mhd_version"
  echo "- BOXOFFICE_KAFKA empty: no relay runs; every hold still writes its outbox row in its transaction"
  echo "- SQLite: WAL, synchronous=FULL. PostgreSQL $pg_version: fsync, synchronous_commit=on; 2 booking replicas on one database, one wrk thread with $((conns / 2)) connections on each"
  echo "- load: wrk -t2 -c $conns -d ${duration_s}s after ${warmup_s}s warm-up, $customers customers' tokens, quantity 1-$max_per_order at random; holds/s counts 201s only"
  echo "- nginx: $("$nginx_bin" -v 2>&1 | sed 's|^nginx version: ||'), worker_processes $nginx_workers, return 201 with a hold's ${#hold_body} bytes"
  echo "- naive: pgbench -j 2 -T ${duration_s} (after ${warmup_s}s), UPDATE inv ... WHERE sold + q <= capacity + INSERT INTO h, one row; clients ${pgbench_clients[*]}, best taken"
  for r in "${naive_rows[@]}"; do
    read -r c tps p50 p99 <<<"$r"
    echo "    pgbench -c $c: $tps tps, p50 $p50 ms, p99 $p99 ms"
  done
  echo
  row run "holds/s" "p50 ms" "p99 ms" "non-201" anchor ratio goal verdict
  row "boxoffice, SQLite" "$s_holds" "$s_p50" "$s_p99" $((s_req - s_201)) nginx "$s_ratio" ">=$sqlite_goal" "$s_verdict"
  row "nginx return 201 (anchor)" "$n_holds" "$n_p50" "$n_p99" $((n_req - n_201)) "" "" "" ""
  row "boxoffice, PostgreSQL x2 replicas" "$p_holds" "$p_p50" "$p_p99" $((p_req - p_201)) "naive pgbench" "$p_ratio" ">=$pg_goal" "$p_verdict"
  row "naive pgbench -c $naive_c (anchor)" "$naive_tps" "$naive_p50" "$naive_p99" "" "" "" "" ""
  echo
  echo "group commit: SQLite $s_tx transactions/s, $s_per_tx requests each; PostgreSQL (both replicas) $p_tx transactions/s, $p_per_tx requests each"
  echo "non-201 answers: SQLite 409 $s_409, 503 $s_503, other $s_other; PostgreSQL 409 $p_409, 503 $p_503, other $p_other; socket errors SQLite $s_err, nginx $n_err, PostgreSQL $p_err"
  echo
  echo "oversell race: a tier of $race_capacity seats, $race_attempts one-seat holds from $race_conns connections"
  race_line "SQLite" "$rs_attempts" "$rs_201" "$rs_final" "$rs_max" "$rs_polls"
  race_line "PostgreSQL x2 replicas" "$rp_attempts" "$rp_201" "$rp_final" "$rp_max" "$rp_polls"
  echo "oversell: $excess"
} >"$tmp/report.txt"
mkdir -p "$(dirname "$out")"
cp "$tmp/report.txt" "$out"
mkdir -p "$(dirname "$tsv")"
cp "$tmp/results.tsv" "$tsv"
cat "$out"
echo "(written to $out)"
[ "$race_failed" = 0 ] || exit 1
