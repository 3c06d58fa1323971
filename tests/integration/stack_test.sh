#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Starts all seven processes exactly as `make run` does (scripts/run.sh), on free ports with a
# temporary var/ directory, and checks: every /healthz answers 200, the gateway round-trips
# /api/auth/jwks to users, the UI is served; Ctrl-C (SIGINT) stops everything cleanly with exit 0;
# and in a second run a service killed with -9 is reported with its last log lines and the
# launcher stops the rest and exits non-zero.
#   tests/integration/stack_test.sh BUILD_DIR SOURCE_DIR
# checkx bodies are single-quoted on purpose: checkx evaluates them later, when the
# variables they name (out, st) are set.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
# Job control: the launcher gets its own process group (so the test can signal the whole stack)
# and does not inherit an ignored SIGINT, as background jobs of non-interactive shells otherwise do.
set -m
build=$1 src=$2
pass=0 fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# checkx DESCRIPTION 'shell condition' — for conditions joined with && or ||
checkx() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

tmp=$(mktemp -d /tmp/bx-stack-XXXXXX)
launcher=""
# Services run in sessions of their own (see scripts/run.sh): find them by their pid files.
kill_services() {
  local f
  for f in "$tmp"/*/var/run/*.pid; do
    [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
  done
}
cleanup() {
  if [ -n "$launcher" ]; then
    kill -TERM -- "-$launcher" 2>/dev/null && sleep 2
    kill -KILL -- "-$launcher" 2>/dev/null
  fi
  kill_services
  rm -rf "$tmp"
}

# Waits (bounded) for the launcher to exit; sets st to its status, or 124 after a forced kill.
wait_launcher() {
  local deadline=$((SECONDS + $1))
  while kill -0 "$launcher" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  if kill -0 "$launcher" 2>/dev/null; then
    echo "launcher still running after $1 s; killing it and the services"
    kill -KILL -- "-$launcher" 2>/dev/null
    kill_services
    wait "$launcher" 2>/dev/null
    st=124
  else
    wait "$launcher"; st=$?
  fi
  launcher=""
}
trap cleanup EXIT

# A port below the kernel's ephemeral range (so no outgoing connection can be holding it), not
# listened on, and not already handed out by this test.
taken=" "
free_port() { # sets fp (not called in a subshell, so `taken` is kept)
  local p lo
  lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  for _ in $(seq 1 100); do
    p=$((10000 + RANDOM % (lo - 10000)))
    [[ "$taken" == *" $p "* ]] && continue
    if ! (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null; then taken="$taken$p "; fp=$p; return; fi
  done
  fp=0
}

names=(frontend catalog users booking ticketgen analytics devkafka)
declare -A port
start_stack() {
  local run=$1
  export BOXOFFICE_VAR="$tmp/$run/var"
  mkdir -p "$BOXOFFICE_VAR"
  for n in "${names[@]}"; do
    free_port
    port[$n]=$fp
    export "BOXOFFICE_${n^^}_PORT=${port[$n]}"
  done
  export BOXOFFICE_START_TIMEOUT_S=60 BOXOFFICE_LOG_LEVEL=info
  "$src/scripts/run.sh" "$build" >"$tmp/$run.out" 2>&1 &
  launcher=$!
  local deadline=$((SECONDS + 90))
  while ! grep -q '^boxoffice: ready' "$tmp/$run.out" 2>/dev/null; do
    if ! kill -0 "$launcher" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "launcher output:"; sed 's/^/    | /' "$tmp/$run.out"
      for f in "$BOXOFFICE_VAR"/log/*.log; do echo "== $f"; tail -n 5 "$f" | sed 's/^/    | /'; done
      return 1
    fi
    sleep 0.2
  done
}

code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1"; }

# --- every executable: --version, --help, a bad setting exits 2 naming the variable ----------
for n in "${names[@]}"; do
  bin="$build/bin/boxoffice-$n"
  check "boxoffice-$n --version" grep -q "^boxoffice-$n [0-9]" <("$bin" --version)
  check "boxoffice-$n --help lists its port variable" grep -q "BOXOFFICE_${n^^}_PORT" <("$bin" --help)
  out=$(env "BOXOFFICE_${n^^}_PORT=not-a-port" "$bin" 2>&1 >/dev/null); st=$?
  checkx "boxoffice-$n with a bad port exits 2 with one clear line" \
    '[ "$st" = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ "$out" == *"BOXOFFICE_${n^^}_PORT: expected an integer"* ]]'
done
out=$(BOXOFFICE_LOG_LEVEL=loud "$build/bin/boxoffice-catalog" 2>&1 >/dev/null); st=$?
checkx "a bad enum value exits 2 naming the variable and the choices" \
  '[ "$st" = 2 ] && [[ "$out" == *"BOXOFFICE_LOG_LEVEL: expected one of debug, info"* ]]'

# --- run 1: everything up, then Ctrl-C -------------------------------------------------------
if start_stack one; then
  ok "launcher started all seven processes and saw every /readyz"
  for n in "${names[@]}"; do
    check "$n /healthz on :${port[$n]} -> 200" [ "$(code "http://127.0.0.1:${port[$n]}/healthz")" = 200 ]
  done
  direct=$(curl -s --max-time 5 "http://127.0.0.1:${port[users]}/api/auth/jwks")
  via=$(curl -s --max-time 5 "http://127.0.0.1:${port[frontend]}/api/auth/jwks")
  same=no
  [ -n "$direct" ] && [ "$direct" = "$via" ] && [[ "$direct" == *'"crv":"Ed25519"'* ]] && same=yes
  check "gateway round trip: /api/auth/jwks via frontend equals users' answer" [ "$same" = yes ]
  check "web UI served at /" grep -q '<html' <(curl -s --max-time 5 "http://127.0.0.1:${port[frontend]}/")
  check "kafka bootstrap address written" test -s "$BOXOFFICE_VAR/kafka.bootstrap"
  checkx "dev keys created under var/keys" 'ls "$BOXOFFICE_VAR"/keys/auth/*.key >/dev/null 2>&1'
  check "URLs printed" grep -q "http://localhost:${port[frontend]}/" "$tmp/one.out"
  kill -INT "$launcher"
  wait_launcher 40
  check "Ctrl-C: launcher exited 0 (status $st)" [ "$st" = 0 ]
  check "Ctrl-C: all stopped cleanly" grep -q 'all stopped cleanly' "$tmp/one.out"
  left=0
  for n in "${names[@]}"; do
    [ "$(code "http://127.0.0.1:${port[$n]}/healthz")" = 000 ] || left=$((left + 1))
  done
  check "Ctrl-C: no process left listening ($left)" [ "$left" = 0 ]
  for n in frontend catalog users; do
    check "$n logged its drain and stop" grep -q '"msg":"stopped"' "$BOXOFFICE_VAR/log/$n.log"
  done
else
  bad "launcher started all seven processes"
fi

# --- run 2: a service dies -------------------------------------------------------------------
if start_stack two; then
  victim=$(pgrep -f "$build/bin/boxoffice-booking" | head -n 1)
  kill -KILL "$victim"
  wait_launcher 40
  check "dead service: launcher exited non-zero (status $st)" [ "$st" != 0 ]
  check "dead service: reported by name" grep -q 'booking (pid [0-9]*) exited unexpectedly' "$tmp/two.out"
  check "dead service: its last log lines shown" grep -q 'last lines of .*booking.log' "$tmp/two.out"
  left=0
  for n in "${names[@]}"; do
    [ "$(code "http://127.0.0.1:${port[$n]}/healthz")" = 000 ] || left=$((left + 1))
  done
  check "dead service: the others were stopped ($left left)" [ "$left" = 0 ]
else
  bad "second start"
fi

echo "stack_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
