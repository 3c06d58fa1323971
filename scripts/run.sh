#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The launcher behind `make run`: starts the development Kafka broker and the six services with
# embedded defaults (data under $BOXOFFICE_VAR, default var/), waits until every /readyz answers,
# prints the URLs, and on Ctrl-C (or SIGTERM) stops them all with SIGTERM so each drains and exits.
# A process that dies on its own is reported with its last log lines and everything is stopped:
# nothing is restarted behind your back.
#   scripts/run.sh [BUILD_DIR]      (default build/release)
# Ports come from BOXOFFICE_<SERVICE>_PORT (defaults 8080-8086); logs go to $BOXOFFICE_VAR/log/.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build/release}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
bin="$build/bin"
cd "$root" || exit 1

export BOXOFFICE_VAR=${BOXOFFICE_VAR:-var}
mkdir -p "$BOXOFFICE_VAR/log" "$BOXOFFICE_VAR/keys" "$BOXOFFICE_VAR/run"
var=$(cd "$BOXOFFICE_VAR" && pwd)

: "${BOXOFFICE_FRONTEND_PORT:=8080}" "${BOXOFFICE_CATALOG_PORT:=8081}" "${BOXOFFICE_USERS_PORT:=8082}"
: "${BOXOFFICE_BOOKING_PORT:=8083}" "${BOXOFFICE_TICKETGEN_PORT:=8084}" "${BOXOFFICE_ANALYTICS_PORT:=8085}"
: "${BOXOFFICE_DEVKAFKA_PORT:=8086}"
export BOXOFFICE_FRONTEND_PORT BOXOFFICE_CATALOG_PORT BOXOFFICE_USERS_PORT BOXOFFICE_BOOKING_PORT
export BOXOFFICE_TICKETGEN_PORT BOXOFFICE_ANALYTICS_PORT BOXOFFICE_DEVKAFKA_PORT
export BOXOFFICE_AUTH_KEYS=${BOXOFFICE_AUTH_KEYS:-$var/keys/auth}
export BOXOFFICE_CATALOG_URL=${BOXOFFICE_CATALOG_URL:-http://127.0.0.1:$BOXOFFICE_CATALOG_PORT}
export BOXOFFICE_USERS_URL=${BOXOFFICE_USERS_URL:-http://127.0.0.1:$BOXOFFICE_USERS_PORT}
export BOXOFFICE_BOOKING_URL=${BOXOFFICE_BOOKING_URL:-http://127.0.0.1:$BOXOFFICE_BOOKING_PORT}
export BOXOFFICE_TICKETGEN_URL=${BOXOFFICE_TICKETGEN_URL:-http://127.0.0.1:$BOXOFFICE_TICKETGEN_PORT}
export BOXOFFICE_ANALYTICS_URL=${BOXOFFICE_ANALYTICS_URL:-http://127.0.0.1:$BOXOFFICE_ANALYTICS_PORT}
export BOXOFFICE_WEB_DIR=${BOXOFFICE_WEB_DIR:-$root/web}
export BOXOFFICE_DEVKAFKA_BOOTSTRAP_FILE=${BOXOFFICE_DEVKAFKA_BOOTSTRAP_FILE:-$var/kafka.bootstrap}
export BOXOFFICE_USERS_STORE=${BOXOFFICE_USERS_STORE:-lmdb:$var/users}
export BOXOFFICE_CATALOG_DB=${BOXOFFICE_CATALOG_DB:-sqlite:$var/catalog.db}
export BOXOFFICE_BOOKING_DB=${BOXOFFICE_BOOKING_DB:-sqlite:$var/booking.db}
export BOXOFFICE_OBJECTS=${BOXOFFICE_OBJECTS:-file:$var/objects}
export BOXOFFICE_TICKETGEN_STORE=${BOXOFFICE_TICKETGEN_STORE:-lmdb:$var/ticketgen}
export BOXOFFICE_TICKET_KEYS=${BOXOFFICE_TICKET_KEYS:-$var/keys/tickets}
export BOXOFFICE_ANALYTICS_DB=${BOXOFFICE_ANALYTICS_DB:-sqlite:$var/analytics.db}
export BOXOFFICE_CATALOG_SEED_DEMO=${BOXOFFICE_CATALOG_SEED_DEMO:-1}
# Every service learns logouts from the users service's revocation feed.
export BOXOFFICE_REVOCATIONS_URL=${BOXOFFICE_REVOCATIONS_URL:-$BOXOFFICE_USERS_URL/api/auth/revocations}
# ... and new signing keys from its JWKS.
export BOXOFFICE_JWKS_URL=${BOXOFFICE_JWKS_URL:-$BOXOFFICE_USERS_URL/api/auth/jwks}

START_TIMEOUT_S=${BOXOFFICE_START_TIMEOUT_S:-60}
STOP_TIMEOUT_S=${BOXOFFICE_STOP_TIMEOUT_S:-20}

services=(catalog users booking ticketgen analytics frontend)
declare -A pid port
port[devkafka]=$BOXOFFICE_DEVKAFKA_PORT
port[frontend]=$BOXOFFICE_FRONTEND_PORT port[catalog]=$BOXOFFICE_CATALOG_PORT
port[users]=$BOXOFFICE_USERS_PORT port[booking]=$BOXOFFICE_BOOKING_PORT
port[ticketgen]=$BOXOFFICE_TICKETGEN_PORT port[analytics]=$BOXOFFICE_ANALYTICS_PORT
stopping=0

say() { printf 'boxoffice: %s\n' "$*"; }

for name in devkafka "${services[@]}"; do
  if [ ! -x "$bin/boxoffice-$name" ]; then
    say "missing $bin/boxoffice-$name (run make build first)"; exit 1
  fi
done

last_lines() {
  local name=$1
  say "last lines of $var/log/$name.log:"
  tail -n 20 "$var/log/$name.log" 2>/dev/null | sed 's/^/    /'
}

stop_all() {
  stopping=1
  local name
  for name in frontend analytics ticketgen booking users catalog devkafka; do
    [ -n "${pid[$name]:-}" ] && kill -TERM "${pid[$name]}" 2>/dev/null
  done
  local deadline=$((SECONDS + STOP_TIMEOUT_S)) rc=0
  for name in frontend analytics ticketgen booking users catalog devkafka; do
    local p=${pid[$name]:-}
    [ -z "$p" ] && continue
    while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
      say "$name did not stop within ${STOP_TIMEOUT_S}s; killing it"
      kill -KILL "$p" 2>/dev/null
      rc=1
    fi
    wait "$p" 2>/dev/null
    local st=$?
    if [ "$st" != 0 ]; then
      say "$name exited with status $st"; rc=1
    fi
    rm -f "$var/run/$name.pid"
    pid[$name]=""
  done
  return $rc
}

on_signal() {
  echo
  say "stopping (SIGTERM to every process, each drains in-flight requests)..."
  if stop_all; then say "all stopped cleanly"; exit 0; fi
  exit 1
}
trap on_signal INT TERM

# Each process runs in its own session (setsid), so a Ctrl-C in the terminal reaches only this
# launcher, which then stops them in order with SIGTERM and collects every exit status.
start() {
  local name=$1
  if [ "$name" = users ]; then
    BOXOFFICE_ADMIN_EMAIL=$admin_email BOXOFFICE_ADMIN_PASSWORD=$admin_password \
      setsid "$bin/boxoffice-$name" >>"$var/log/$name.log" 2>&1 </dev/null &
  else
    setsid "$bin/boxoffice-$name" >>"$var/log/$name.log" 2>&1 </dev/null &
  fi
  pid[$name]=$!
  echo "${pid[$name]}" >"$var/run/$name.pid"
}

ready() {
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz" 2>/dev/null
}

wait_ready() {
  local name=$1 deadline=$((SECONDS + START_TIMEOUT_S))
  while ! ready "${port[$name]}"; do
    if ! kill -0 "${pid[$name]}" 2>/dev/null; then
      say "$name exited during start"; last_lines "$name"; stop_all; exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      say "$name not ready after ${START_TIMEOUT_S}s"; last_lines "$name"; stop_all; exit 1
    fi
    sleep 0.1
  done
}

# A demo admin for the organizer pages: its password is made once and kept in var/ (mode 0600).
admin_email=${BOXOFFICE_ADMIN_EMAIL:-admin@boxoffice.local}
if [ -z "${BOXOFFICE_ADMIN_PASSWORD:-}" ]; then
  if [ ! -s "$var/admin-password" ]; then
    (umask 077; head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$var/admin-password")
  fi
  BOXOFFICE_ADMIN_PASSWORD=$(cat "$var/admin-password")
fi
admin_password=$BOXOFFICE_ADMIN_PASSWORD
unset BOXOFFICE_ADMIN_EMAIL BOXOFFICE_ADMIN_PASSWORD # only users is given them

# Development keys, generated once and kept under var/ (never committed).
"$bin/boxoffice-users" keygen "$BOXOFFICE_AUTH_KEYS" >/dev/null || { say "cannot create keys"; exit 1; }

rm -f "$BOXOFFICE_DEVKAFKA_BOOTSTRAP_FILE"
start devkafka
wait_ready devkafka
BOXOFFICE_KAFKA=$(cat "$BOXOFFICE_DEVKAFKA_BOOTSTRAP_FILE" 2>/dev/null || true)
if [ -z "$BOXOFFICE_KAFKA" ]; then
  say "devkafka is ready but wrote no bootstrap address"; stop_all; exit 1
fi
export BOXOFFICE_KAFKA

for name in "${services[@]}"; do start "$name"; done
for name in "${services[@]}"; do wait_ready "$name"; done

cat <<EOT

  boxoffice is running (logs in $var/log/)

    web UI      http://localhost:${port[frontend]}/
    catalog     http://localhost:${port[catalog]}/healthz
    users       http://localhost:${port[users]}/healthz
    booking     http://localhost:${port[booking]}/healthz
    ticketgen   http://localhost:${port[ticketgen]}/healthz
    analytics   http://localhost:${port[analytics]}/healthz
    dev kafka   $BOXOFFICE_KAFKA (in-memory, development only; health on :${port[devkafka]})

    demo admin  $admin_email  password: $admin_password  (kept in $var/admin-password)

  Press Ctrl-C to stop everything.

EOT
say "ready"

# Watch: the first process that exits on its own is reported and everything stops.
# (Polling, not `wait -n`: wait -n would consume an exit status that stop_all needs later.)
while :; do
  sleep 0.5
  [ "$stopping" = 1 ] && break
  for name in devkafka "${services[@]}"; do
    p=${pid[$name]:-}
    if [ -n "$p" ] && ! kill -0 "$p" 2>/dev/null; then
      wait "$p" 2>/dev/null; st=$?
      pid[$name]=""
      say "$name (pid $p) exited unexpectedly with status $st"
      last_lines "$name"
      say "stopping the others"
      stop_all
      exit 1
    fi
  done
done
