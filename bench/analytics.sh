#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Analytics benchmark, beside its anchor in the same run:
#  1. throughput: MESSAGES synthetic booking-events messages (holds, orders, 5% duplicates, over
#     EVENTS events) are produced to a development broker first; then boxoffice-analytics, pinned
#     to one CPU, consumes, deduplicates, aggregates and checkpoints them into a fresh SQLite state
#     database from the start of the topic. Reported: messages/s (wall) and messages per CPU-second,
#     each as a ratio to the goal (200k/s on one core) and to the anchor: a raw librdkafka consume
#     loop with the same consumer settings and no processing at all (test_analytics consume-raw),
#     run on the same CPU right before and right after.
#  2. freshness: catalog, booking, devkafka and analytics run together; one order at a time is
#     held and confirmed through booking's API, and the time until analytics shows it is measured
#     (GET /api/analytics/events/{id} polled every 2 ms, and the SSE stream): p50/p99.
#   bench/analytics.sh [BUILD_DIR]        (default build/release; needs BUILD_TESTING=ON, for
#                                          test_analytics, which has the producer and the anchor)
# Environment: BX_BENCH_MESSAGES (1000000), BX_BENCH_EVENTS (1000), BX_BENCH_PARTITIONS (64),
# BX_BENCH_ORDERS (200; 0 skips the freshness part), BX_BENCH_OUT (bench/out/analytics.md).
# The development broker keeps at most 5 MB per partition (librdkafka's mock cluster drops older
# data past it), so the producer compresses (lz4) and the topic has BX_BENCH_PARTITIONS
# partitions: 1M messages of ~340 bytes need about 20 of them, and keys do not spread evenly.
# Every run checks that the topic holds all MESSAGES (the anchor reads them all). Loopback only;
# everything started here is stopped on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build/release}
[[ "$build" = /* ]] || build="$repo/$build"
bin="$build/bin"
messages=${BX_BENCH_MESSAGES:-1000000}
events=${BX_BENCH_EVENTS:-1000}
partitions=${BX_BENCH_PARTITIONS:-64}
orders=${BX_BENCH_ORDERS:-200}
out=${BX_BENCH_OUT:-$repo/bench/out/analytics.md}
goal=200000
die() { echo "bench/analytics.sh: $*" >&2; exit 1; }
for b in boxoffice-analytics boxoffice-devkafka test_analytics; do
  [ -x "$bin/$b" ] || die "no $bin/$b (cmake -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON)"
done
for tool in curl taskset awk; do command -v "$tool" >/dev/null || die "$tool missing"; done
pin_broker=() pin_consumer=()
if [ "$(nproc)" -ge 2 ]; then pin_broker=(taskset -c 0) pin_consumer=(taskset -c 1); fi
hz=$(getconf CLK_TCK)

tmp=$(mktemp -d /tmp/bx-bench-analytics-XXXXXX)
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
  for _ in $(seq 1 300); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  return 1
}
cpu_seconds() { # utime + stime of a process, in seconds
  awk -v hz="$hz" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"
}
metric() {
  curl -s "http://127.0.0.1:$2/metrics" | awk -v m="$1" '$1 ~ "^"m"[{]" {print $2}'
}

# ---- the broker and the topic ----
dk_port=$(free_port)
BOXOFFICE_DEVKAFKA_PORT=$dk_port BOXOFFICE_DEVKAFKA_BOOTSTRAP_FILE="$tmp/kafka.bootstrap" \
  BOXOFFICE_DEVKAFKA_PARTITIONS=$partitions BOXOFFICE_LOG_LEVEL=warn \
  "${pin_broker[@]}" "$bin/boxoffice-devkafka" >"$tmp/devkafka.log" 2>&1 &
pids+=("$!")
wait_up "http://127.0.0.1:$dk_port/readyz" || { cat "$tmp/devkafka.log"; die "devkafka did not start"; }
bootstrap=$(cat "$tmp/kafka.bootstrap")
echo "producing $messages messages over $events events into $partitions partitions..."
"${pin_broker[@]}" "$bin/test_analytics" produce "$bootstrap" booking-events "$messages" "$events" |
  tee "$tmp/produce.txt"

# ---- the anchor: consume only ----
anchor() { # prints "messages/s cpu-seconds" of one raw consume of the whole topic
  local t rate cpu
  if ! t=$( { /usr/bin/time -f "%U %S" "${pin_consumer[@]}" "$bin/test_analytics" consume-raw \
        "$bootstrap" booking-events "$messages" >"$tmp/raw.txt"; } 2>&1 | tail -n 1); then
    echo "anchor failed (the broker lost messages? $(cat "$tmp/raw.txt"))" >&2
    return 1
  fi
  rate=$(sed -n 's/.*(\([0-9]*\)\/s).*/\1/p' "$tmp/raw.txt")
  cpu=$(echo "$t" | awk '{printf "%.2f", $1 + $2}')
  echo "$rate $cpu" >"$tmp/anchor.txt"
}
command -v /usr/bin/time >/dev/null || die "/usr/bin/time missing (apt-get install time)"
echo "anchor: raw librdkafka consume loop..."
anchor || die "the anchor did not read all $messages messages"
read -r raw1_rate raw1_cpu <"$tmp/anchor.txt"

# ---- analytics ----
"$bin/boxoffice-analytics" keygen "$tmp/keys" >/dev/null
an_port=$(free_port)
closed_port=$(free_port) # catalog is not part of the throughput run: titles stay unknown
BOXOFFICE_ANALYTICS_PORT=$an_port BOXOFFICE_AUTH_KEYS="$tmp/keys" \
  BOXOFFICE_ANALYTICS_DB="sqlite:$tmp/analytics.db" BOXOFFICE_KAFKA="$bootstrap" \
  BOXOFFICE_CATALOG_URL="http://127.0.0.1:$closed_port" BOXOFFICE_ANALYTICS_GROUP="bench-$$" \
  BOXOFFICE_LOG_LEVEL=warn "${pin_consumer[@]}" "$bin/boxoffice-analytics" >"$tmp/analytics.log" 2>&1 &
an_pid=$!
pids+=("$an_pid")
wait_up "http://127.0.0.1:$an_port/readyz" || { cat "$tmp/analytics.log"; die "analytics did not start"; }
echo "analytics: consuming..."
t_first="" cpu_first=0 consumed=0
deadline=$((SECONDS + 900))
while [ "$SECONDS" -lt "$deadline" ]; do
  consumed=$(metric boxoffice_analytics_consumed_total "$an_port")
  consumed=${consumed:-0}
  if [ -z "$t_first" ] && [ "$consumed" -gt 0 ]; then
    t_first=$(date +%s.%N) first_count=$consumed cpu_first=$(cpu_seconds "$an_pid")
  fi
  [ "$consumed" -ge "$messages" ] && break
  sleep 0.05
done
t_done=$(date +%s.%N)
cpu_done=$(cpu_seconds "$an_pid")
[ "$consumed" -ge "$messages" ] || die "analytics consumed $consumed of $messages in 900 s"
applied=$(metric boxoffice_analytics_applied_total "$an_port")
dups=$(metric boxoffice_analytics_duplicates_total "$an_port")
malformed=$(metric boxoffice_analytics_malformed_total "$an_port")
checkpoints=$(metric boxoffice_analytics_checkpoints_total "$an_port")
kill -TERM "$an_pid"
wait "$an_pid" 2>/dev/null || true

echo "anchor again..."
anchor || die "the second anchor run failed"
read -r raw2_rate raw2_cpu <"$tmp/anchor.txt"

# from the first consumed message to the last (the group join before it is not counted)
read -r an_rate an_cpu_rate an_cpu < <(awk -v n="$messages" -v f="$first_count" -v a="$t_first" \
  -v b="$t_done" -v c0="$cpu_first" -v c1="$cpu_done" \
  'BEGIN { m = n - f; w = b - a; c = c1 - c0; printf "%.0f %.0f %.2f\n", m / w, m / c, c }')
raw_rate=$(( (raw1_rate + raw2_rate) / 2 ))
raw_cpu_rate=$(awk -v n="$messages" -v a="$raw1_cpu" -v b="$raw2_cpu" \
  'BEGIN { printf "%.0f", n / ((a + b) / 2) }')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# ---- freshness through booking ----
e2e="(skipped: BX_BENCH_ORDERS=0)"
if [ "$orders" -gt 0 ]; then
  if [ -x "$bin/boxoffice-booking" ] && [ -x "$bin/boxoffice-catalog" ]; then
    echo "freshness: $orders orders through booking..."
    e2e=$("$bin/test_analytics" e2e "$bin/boxoffice-analytics" "$bin/boxoffice-catalog" \
      "$bin/boxoffice-devkafka" "$bin/boxoffice-booking" "$orders" 2>&1 | grep '^e2e:' || true)
    [ -n "$e2e" ] || e2e="(failed: see the services' logs)"
  else
    e2e="(skipped: no boxoffice-booking or boxoffice-catalog in $bin)"
  fi
fi

verdict=FAIL
awk -v r="$an_cpu_rate" -v g="$goal" 'BEGIN { exit !(r >= g) }' && verdict=PASS
mkdir -p "$(dirname "$out")"
{
  echo "# bench/analytics.sh — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPU(s), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "$messages messages over $events events, $partitions partitions (lz4), 5% duplicates;"
  echo "consumer pinned to ${pin_consumer[*]:-no CPU}, broker to ${pin_broker[*]:-no CPU}."
  echo
  echo "| run | messages/s (wall) | messages per CPU-second | CPU s |"
  echo "|---|---|---|---|"
  echo "| anchor: raw consume, before | $raw1_rate | $(awk -v n="$messages" -v c="$raw1_cpu" 'BEGIN{printf "%.0f", n/c}') | $raw1_cpu |"
  echo "| analytics (parse, dedup, aggregate, checkpoint) | $an_rate | $an_cpu_rate | $an_cpu |"
  echo "| anchor: raw consume, after | $raw2_rate | $(awk -v n="$messages" -v c="$raw2_cpu" 'BEGIN{printf "%.0f", n/c}') | $raw2_cpu |"
  echo
  echo "- analytics / goal ($goal/s on one core): wall $(ratio "$an_rate" "$goal"), CPU $(ratio "$an_cpu_rate" "$goal")"
  echo "- analytics / anchor: wall $(ratio "$an_rate" "$raw_rate"), CPU $(ratio "$an_cpu_rate" "$raw_cpu_rate")"
  echo "- counted: $applied applied, $dups duplicates, $malformed malformed; $checkpoints checkpoints"
  echo "- verdict (messages per CPU-second >= goal): $verdict"
  echo
  echo "Freshness (confirm through booking -> visible in analytics):"
  echo
  # shellcheck disable=SC2001 # indent every line of a multi-line value
  echo "$e2e" | sed 's/^/    /'
} | tee "$out"
