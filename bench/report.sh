#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make bench` (issue #11): runs every benchmark in bench/, one after the other, each beside its
# anchor, and assembles bench/report.md and bench/report.svg from the machine-readable lines
# every script writes to bench/out/NAME.tsv (metric, value, anchor, anchor value, ratio,
# goal, verdict). The report has the machine's details, one table per benchmark, a summary of
# every goal with PASS/SHORT, the reference ratios that have no goal, and a "Shortfalls" section
# that lists every goal missed with its numbers. A SHORT does not fail the run; a script that
# fails (an oversell, a setup error, its time limit) does, after the report is written.
#
#   bench/report.sh [BUILD_DIR]            run every step, then write the report
#   bench/report.sh --report-only          only assemble the report from bench/out/*.tsv
#
# Environment:
#   BX_BENCH_STEPS       names of the steps to run (default: all, in order: http users catalog
#                        flash-sale redis tickets analytics, then any other bench/*.sh)
#   BX_BENCH_STEP_LIMIT  seconds one step may take before it is stopped (default 300)
#   BX_BENCH_DURATION    passed on to every script: seconds per measured point (their default 10)
#   BX_BENCH_MAKE_START  epoch seconds when `make bench` started (the Makefile sets it), so that
#                        the total includes the build check
# Every other BX_BENCH_* variable reaches the scripts unchanged; BX_BENCH_OUT and BX_BENCH_TSV
# are dropped, since one path for every script would make them overwrite each other.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
outdir=$repo/bench/out
report_only=0
if [ "${1:-}" = --report-only ]; then
  report_only=1
  shift
fi
build=${1:-build/release}
step_limit_s=${BX_BENCH_STEP_LIMIT:-300}
budget_s=900 # issue #11: a whole `make bench` in 15 minutes on 2 cores
heartbeat_s=30

die() {
  echo "bench/report.sh: $*" >&2
  exit 1
}
[[ "$step_limit_s" =~ ^[1-9][0-9]*$ ]] || die "bad BX_BENCH_STEP_LIMIT '$step_limit_s'"
for tool in awk timeout git sed date; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
if [ -n "${BX_BENCH_OUT:-}${BX_BENCH_TSV:-}" ]; then
  echo "bench/report.sh: BX_BENCH_OUT/BX_BENCH_TSV are ignored here; every script writes its own file in bench/out/" >&2
fi
unset BX_BENCH_OUT BX_BENCH_TSV

# --- the steps -------------------------------------------------------------------------------
# NAME:SCRIPT. The NAME is the script's bench/out/NAME.tsv. redis (the in-memory reference for
# the flash sale) runs right after flash-sale, whose SQLite holds/s it relates to.
known=(http:http.sh users:users.sh catalog:catalog.sh flash-sale:flash-sale.sh
  redis:report-redis.sh tickets:tickets.sh analytics:analytics.sh)
build_abs=$build
[[ "$build_abs" = /* ]] || build_abs="$repo/$build_abs"

# not_ready NAME: why a script that is there cannot run on this build (nothing: it can)
not_ready() {
  case "$1" in
    # HOOK (analytics): bench/analytics.sh is being written. It needs test_analytics (its message
    # producer and its anchor), which only a BUILD_TESTING=ON build has, while `make bench` builds
    # build/release without tests. It runs here as soon as BUILD_DIR has that binary (or this
    # check goes); to be in the summary it must also write bench/out/analytics.tsv like the
    # others (bench/README.md, "Machine-readable results"). Until then: "Not measured".
    analytics)
      [ -x "$build_abs/bin/test_analytics" ] ||
        echo "needs bin/test_analytics from a BUILD_TESTING=ON build in $build; make bench builds without tests"
      ;;
  esac
}

steps=()
missing=() # "NAME: reason" of the known steps that do not run
for s in "${known[@]}"; do
  if [ ! -f "$repo/bench/${s#*:}" ]; then
    missing+=("bench/${s#*:}: not there yet")
  elif [ -n "$(not_ready "${s%%:*}")" ]; then
    missing+=("bench/${s#*:}: $(not_ready "${s%%:*}")")
  else
    steps+=("$s")
  fi
done
for f in "$repo"/bench/*.sh; do # any new benchmark runs too, after the known ones
  b=${f##*/}
  case "$b" in report*.sh) continue ;; esac
  [[ " ${known[*]} " == *":$b "* ]] || steps+=("${b%.sh}:$b")
done
for s in "${missing[@]}"; do echo "bench/report.sh: not run: $s" >&2; done
if [ -n "${BX_BENCH_STEPS:-}" ]; then
  chosen=()
  for s in "${steps[@]}"; do
    [[ " $BX_BENCH_STEPS " == *" ${s%%:*} "* ]] && chosen+=("$s")
  done
  [ "${#chosen[@]}" -gt 0 ] || die "BX_BENCH_STEPS '$BX_BENCH_STEPS' names none of: ${steps[*]%%:*}"
  steps=("${chosen[@]}")
fi

mkdir -p "$outdir"
status_file=$outdir/report-steps.tsv # NAME, SCRIPT, SECONDS, EXIT STATUS (from the last full run)
run_file=$outdir/report-run.txt       # start, end, load averages, total of the last full run
load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t_start=$(date +%s)
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "?")
dirty=$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
[ "$dirty" -gt 0 ] && rev="$rev + $dirty uncommitted changed files"

fmt_s() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

step_pid=""
on_signal() {
  if [ -n "$step_pid" ]; then
    kill -TERM "$step_pid" 2>/dev/null || true
    wait "$step_pid" 2>/dev/null || true
  fi
  exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# verdicts NAME: "3 PASS, 1 SHORT" from the step's TSV
verdicts() {
  [ -f "$outdir/$1.tsv" ] || { echo "no results"; return; }
  awk -F'\t' '!/^#/ && NF >= 7 { n[$7]++ }
    END { s = ""; split("PASS SHORT FAIL INFO", o, " ")
          for (i = 1; i <= 4; i++) if (n[o[i]]) s = s (s ? ", " : "") n[o[i]] " " o[i]
          print (s ? s : "no results") }' "$outdir/$1.tsv"
}

# run_step I N NAME SCRIPT: runs one script (output to bench/out/NAME.log) and shows progress
run_step() {
  local i=$1 n=$2 name=$3 script=$4 t0 last elapsed rc=0 tty=0
  [ -t 1 ] && tty=1
  t0=$(date +%s)
  rm -f "$outdir/$name.tsv"
  printf '[%d/%d] %s ... (started at +%s)\n' "$i" "$n" "$name" "$(fmt_s $((t0 - t_start)))"
  timeout -k 10 "$step_limit_s" "$repo/bench/$script" "$build" </dev/null >"$outdir/$name.log" 2>&1 &
  step_pid=$!
  last=$t0
  while kill -0 "$step_pid" 2>/dev/null; do
    sleep 1
    now=$(date +%s)
    elapsed=$((now - t0))
    if [ "$tty" = 1 ]; then
      printf '\r[%d/%d] %s ... %ds (total %s)  ' "$i" "$n" "$name" "$elapsed" "$(fmt_s $((now - t_start)))"
    elif [ $((now - last)) -ge "$heartbeat_s" ]; then
      last=$now
      printf '[%d/%d] %s ... %ds (total %s): %s\n' "$i" "$n" "$name" "$elapsed" \
        "$(fmt_s $((now - t_start)))" "$(tail -n 1 "$outdir/$name.log" | cut -c1-90)"
    fi
  done
  wait "$step_pid" || rc=$?
  step_pid=""
  now=$(date +%s)
  [ "$tty" = 1 ] && printf '\r'
  local how="ok"
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    how="STOPPED at the ${step_limit_s}s limit"
  elif [ "$rc" != 0 ]; then
    how="FAILED (exit $rc, log bench/out/$name.log)"
  fi
  printf '[%d/%d] %s done in %ds (total %s): %s; %s\n' "$i" "$n" "$name" $((now - t0)) \
    "$(fmt_s $((now - t_start)))" "$how" "$(verdicts "$name")"
  if [ "$rc" != 0 ]; then tail -n 15 "$outdir/$name.log" | sed 's/^/    /'; fi
  printf '%s\t%s\t%d\t%d\n' "$name" "$script" $((now - t0)) "$rc" >>"$status_file.tmp"
}

if [ "$report_only" = 0 ]; then
  for s in "${steps[@]}"; do rm -f "$outdir/${s%%:*}.tsv"; done
  # redis relates to this run's flash sale only, never to an earlier one's
  [[ " ${steps[*]} " == *" flash-sale:"* ]] || export BX_BENCH_FLASH_SALE_TSV=${BX_BENCH_FLASH_SALE_TSV:-/nonexistent}
  : >"$status_file.tmp"
  i=0
  for s in "${steps[@]}"; do
    i=$((i + 1))
    run_step "$i" "${#steps[@]}" "${s%%:*}" "${s#*:}"
  done
  mv "$status_file.tmp" "$status_file"
  t_end=$(date +%s)
  load_end=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
  total_s=$((t_end - t_start))
  total_label="bench/report.sh steps"
  if [[ "${BX_BENCH_MAKE_START:-}" =~ ^[0-9]+$ ]]; then
    total_s=$((t_end - BX_BENCH_MAKE_START))
    total_label="make bench (build check, test deps, every step)"
  fi
  # what --report-only needs to write the same report again
  printf '%s\n' "$started_at" "$t_end" "$load_start" "$load_end" "$total_s" "$total_label" "$rev" \
    >"$run_file"
fi
if [ ! -f "$status_file" ] || [ ! -f "$run_file" ]; then
  die "no $status_file or $run_file: run the steps first (bench/report.sh without --report-only)"
fi
{ read -r started_at; read -r t_end; read -r load_start; read -r load_end; read -r total_s
  read -r total_label; read -r rev; } <"$run_file"

# --- machine details -------------------------------------------------------------------------
cpu_model=$(awk -F': *' '$1 ~ /^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
[ -n "$cpu_model" ] || cpu_model=$(lscpu 2>/dev/null | awk -F': *' '$1 == "Model name" { print $2; exit }')
hypervisor=$(lscpu 2>/dev/null | awk -F': *' '$1 == "Hypervisor vendor" { print $2; exit }')
virt=$(systemd-detect-virt 2>/dev/null || true)
ram=$(awk '$1 == "MemTotal:" { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
tmp_dir=${TMPDIR:-/tmp}
disk=$(df -PT "$tmp_dir" | awk 'NR == 2 { printf "%s on %s, %.0f GiB", $2, $1, $3 / 1048576 }')
dev=$(df -P "$tmp_dir" | awk 'NR == 2 { print $1 }')
dev=${dev##*/}
sysblk=/sys/class/block/$dev
[ -e "$sysblk/partition" ] && sysblk=$(dirname "$(readlink -f "$sysblk")")
if [ -r "$sysblk/queue/rotational" ]; then
  case "$(cat "$sysblk/queue/rotational")" in
    0) disk="$disk, non-rotational" ;;
    1) disk="$disk, rotational as reported (virtual disks often say so)" ;;
  esac
fi
os=$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null)
debian=$(cat /etc/debian_version 2>/dev/null || echo "?")
pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
nginx_v=$( (nginx -v 2>&1 || /usr/sbin/nginx -v 2>&1) | sed -n 's|^nginx version: nginx/||p' | head -n 1)
pg_v=$(pkg_version postgresql-15)
redis_v=$(redis-server --version 2>/dev/null | sed -n 's/.*v=\([^ ]*\).*/\1/p')
cc_v=$(cc --version 2>/dev/null | head -n 1)

# --- results -----------------------------------------------------------------------------------
# all.tsv: STEP, metric, value, anchor, anchor value, ratio, goal, verdict (in step order)
all=$(mktemp "${TMPDIR:-/tmp}/bx-bench-report.XXXXXX")
trap 'rm -f "$all"' EXIT
while IFS=$'\t' read -r name _ _ _; do
  [ -f "$outdir/$name.tsv" ] || continue
  awk -F'\t' -v OFS='\t' -v s="$name" '!/^#/ && NF >= 7 { print s, $1, $2, $3, $4, $5, $6, $7 }' \
    "$outdir/$name.tsv" >>"$all"
done <"$status_file"
time_verdict=PASS
[ "$total_s" -le "$budget_s" ] || time_verdict=SHORT
printf 'make bench\twall time, s: %s on %s CPUs\t%s\t-\t-\t-\tvalue<=%s\t%s\n' "$total_label" \
  "$(nproc)" "$total_s" "$budget_s" "$time_verdict" >>"$all"

# --- report.md ---------------------------------------------------------------------------------
md=$repo/bench/report.md
awk_lib='
function goal_text(g) {
  if (g == "-" || g == "") return "—"
  if (g ~ /^ratio>=/) return "≥ " substr(g, 8) " ×"
  if (g ~ /^ratio<=/) return "≤ " substr(g, 8) " ×"
  if (g ~ /^value>=/) return "≥ " substr(g, 8)
  if (g ~ /^value<=/) return "≤ " substr(g, 8)
  if (g ~ /^value==/) return "= " substr(g, 8)
  return g
}
function dash(v) { return (v == "-" || v == "") ? "—" : v }
function ratio_text(r) { return (r == "-" || r == "") ? "—" : r " ×" }
function bold(v, verdict) { return (verdict == "SHORT" || verdict == "FAIL") ? "**" v "**" : v }
'
{
  echo "# boxoffice benchmarks"
  echo
  echo "Every figure is measured beside its anchor in the same run on the same machine and given as"
  echo "a ratio; absolute numbers from other machines or runs are not comparable. Generated by"
  echo "\`bench/report.sh\` (\`make bench\`); the chart is [report.svg](report.svg)."
  echo
  echo "## Machine"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| date (UTC) | $started_at to $(date -u -d "@$t_end" +%Y-%m-%dT%H:%M:%SZ) |"
  echo "| git rev | $rev |"
  echo "| CPU | ${cpu_model:-?}, $(nproc) CPUs${hypervisor:+ (hypervisor: $hypervisor)}${virt:+, virtualization: $virt} |"
  echo "| RAM | $ram |"
  echo "| kernel | $(uname -srm) |"
  echo "| disk (bench data in $tmp_dir) | $disk |"
  echo "| OS | $os (debian_version $debian) |"
  echo "| load average (1, 5, 15 min) | $load_start at the start, $load_end at the end |"
  echo "| software | ${cc_v:-cc ?}; nginx ${nginx_v:-?}; wrk $(pkg_version wrk); PostgreSQL $pg_v; Redis ${redis_v:-?}; libmicrohttpd $(pkg_version libmicrohttpd12); SQLite $(pkg_version libsqlite3-0) |"
  echo
  echo "A load average near or above the CPU count means other work shared the machine during the"
  echo "run; anchors measured in the same minutes suffered it too, which is why only ratios count."
  echo
  echo "## Summary: every goal"
  echo
  echo "| benchmark | metric | boxoffice | anchor | anchor value | ratio | goal | verdict |"
  echo "|---|---|---:|---|---:|---:|---:|---|"
  awk -F'\t' "$awk_lib"'$7 != "-" {
      printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, bold($3, $8), dash($4), dash($5),
        bold(ratio_text($6), $8), goal_text($7), bold($8, $8) }' "$all"
  echo
  echo "## Reference ratios (no goal)"
  echo
  echo "Figures beside an anchor that no goal is set for. **Redis** is an in-memory, non-durable"
  echo "reference: one Lua script (EVALSHA) taking 1-4 seats from a counter if enough are left, at the"
  echo "flash sale's concurrency, with persistence off, while every booking hold is durable (fsync) and"
  echo "goes through HTTP, authentication and an outbox row. It shows how far the durable path is from"
  echo "the bare counter, not a goal."
  echo
  echo "| benchmark | metric | boxoffice | anchor | anchor value | ratio |"
  echo "|---|---|---:|---|---:|---:|"
  awk -F'\t' "$awk_lib"'$7 == "-" && $6 != "-" {
      printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, dash($4), dash($5), ratio_text($6) }' "$all"
  echo
  echo "## Shortfalls"
  echo
  shortfalls=$(awk -F'\t' "$awk_lib"'$8 == "SHORT" || $8 == "FAIL" {
      line = "- **" $1 "**, " $2 ": " $3
      if ($4 != "-") line = line " against " $4 " " $5
      if ($6 != "-") line = line " = **" $6 " ×**"
      line = line "; goal " goal_text($7) "; " $8
      g = $7; sub(/^[a-z]+(>=|<=|==)/, "", g); g += 0
      if ($7 ~ /^ratio>=/ && g > 0) line = line sprintf(" (%.0f %% of the goal)", 100 * $6 / g)
      if ($7 ~ /^value>=/ && g > 0) line = line sprintf(" (%.0f %% of the goal)", 100 * $3 / g)
      if ($7 ~ /^value<=/ && g > 0) line = line sprintf(" (%.0f %% over)", 100 * ($3 - g) / g)
      print line "." }' "$all")
  steps_bad=$(awk -F'\t' '$4 == 124 || $4 == 137 { printf "- **%s**: stopped at the %s s limit after %s s; its results are missing or partial (bench/out/%s.log).\n", $1, lim, $3, $1; next }
      $4 != 0 { printf "- **%s**: `bench/%s` exited %s after %s s (bench/out/%s.log).\n", $1, $2, $4, $3, $1 }' \
    lim="$step_limit_s" "$status_file")
  no_tsv=""
  while IFS=$'\t' read -r name script _ rc; do
    if [ "$rc" = 0 ] && [ ! -s "$outdir/$name.tsv" ]; then
      no_tsv+="- **$name**: \`bench/$script\` ran but wrote no bench/out/$name.tsv, so its figures are not in the summary."$'\n'
    fi
  done <"$status_file"
  if [ -z "$shortfalls$steps_bad$no_tsv" ]; then
    echo "None: every goal measured in this run was met."
  else
    [ -n "$shortfalls" ] && echo "$shortfalls"
    [ -n "$steps_bad" ] && echo "$steps_bad"
    [ -n "$no_tsv" ] && printf '%s' "$no_tsv"
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    echo
    echo "Not measured:"
    echo
    for s in "${missing[@]}"; do echo "- \`${s%%: *}\`: ${s#*: }."; done
  fi
  echo
  echo "## Run"
  echo
  echo "| step | script | seconds | exit status |"
  echo "|---|---|---:|---:|"
  awk -F'\t' '{ printf "| %s | `bench/%s` | %s | %s |\n", $1, $2, $3, $4 }' "$status_file"
  echo "| **total** | $total_label | **$total_s** | |"
  echo
  echo "Budget: $budget_s s on 2 cores (issue #11). \`BX_BENCH_DURATION\` (seconds per measured point,"
  echo "default 10) shortens every step; see bench/README.md."
  echo
  echo "## Per benchmark"
  while IFS=$'\t' read -r name script secs rc; do
    echo
    echo "### $name (\`bench/$script\`, ${secs} s, exit $rc)"
    echo
    if [ -s "$outdir/$name.tsv" ]; then
      echo "| metric | value | anchor | anchor value | ratio | goal | verdict |"
      echo "|---|---:|---|---:|---:|---:|---|"
      awk -F'\t' "$awk_lib"'!/^#/ && NF >= 7 {
          printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, bold($2, $7), dash($3), dash($4),
            ratio_text($5), goal_text($6), bold($7, $7) }' "$outdir/$name.tsv"
    else
      echo "No machine-readable results (bench/out/$name.tsv)."
    fi
    if [ -s "$outdir/$name.log" ]; then
      echo
      echo "<details><summary>output of bench/$script</summary>"
      echo
      echo '```'
      sed 's/\r/\n/g' "$outdir/$name.log" | tail -n 80
      echo '```'
      echo
      echo "</details>"
    fi
  done <"$status_file"
} >"$md.tmp"
mv "$md.tmp" "$md"

# --- report.svg --------------------------------------------------------------------------------
# One row per figure with a goal or a reference ratio. Each row has its own linear scale (the
# ratios span 0.01 to 20+): the bar is the measured ratio (or value, for goals on a value), the
# dashed line the goal. Green PASS, red SHORT or FAIL, grey a reference without a goal.
svg=$repo/bench/report.svg
awk -F'\t' -v title="boxoffice make bench, $started_at, rev $rev" \
  -v machine="${cpu_model:-?}, $(nproc) CPUs, $ram, $(uname -r), load $load_start → $load_end" '
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
function short(s, n) { return length(s) > n ? substr(s, 1, n - 1) "…" : s }
{
  kind = ""; g = $7; sub(/^[a-z]+(>=|<=|==)/, "", g)
  op = $7; sub(/^[a-z]+/, "", op); sub(/[0-9.]+$/, "", op)
  if ($7 ~ /^ratio(>=|<=)/ && $6 != "-") { kind = "ratio"; v = $6; unit = " ×" }
  else if ($7 ~ /^value(>=|<=)/) { kind = "value"; v = $3; unit = "" }
  else if ($7 ~ /^value==/) { kind = "text"; v = $3; unit = "" }
  else if ($7 == "-" && $6 != "-") { kind = "ref"; v = $6; g = ""; unit = " ×" }
  if (kind == "") next
  n++; K[n] = kind; V[n] = v + 0; VS[n] = v; G[n] = g; OP[n] = op; U[n] = unit; VD[n] = $8
  L[n] = short($1 ": " $2, 74); A[n] = $4
}
function head(y, s) {
  printf "<text x=\"%d\" y=\"%d\" font-size=\"13\" font-weight=\"bold\">%s</text>\n", lx, y + 17, esc(s)
}
END {
  w = 1240; row = 24; top = 64; lx = 12; bx = 540; bw = 380; tx = bx + bw + 12
  # goals first, then the references (no goal), each under a heading row
  m = 0
  for (i = 1; i <= n; i++) if (K[i] != "ref") order[++m] = i
  goals = m
  for (i = 1; i <= n; i++) if (K[i] == "ref") order[++m] = i
  rows = n + 1 + (goals < n ? 1 : 0)
  h = top + rows * row + 40
  printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n", w, h, w, h
  printf "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n"
  printf "<text x=\"%d\" y=\"22\" font-size=\"16\" font-weight=\"bold\">%s</text>\n", lx, esc(title)
  printf "<text x=\"%d\" y=\"40\" fill=\"#555\">%s</text>\n", lx, esc(machine)
  printf "<text x=\"%d\" y=\"56\" fill=\"#555\">Bar: measured ratio to the anchor (or the value); dashed line: the goal; each row has its own linear scale. Green PASS, red SHORT/FAIL, grey no goal.</text>\n", lx
  r = 0
  for (j = 1; j <= n; j++) {
    if (j == 1) { head(top + r * row, "Goals: ratio (or value) against the goal"); r++ }
    if (j == goals + 1) { head(top + r * row, "References without a goal: ratio against parity with the anchor (1.0)"); r++ }
    i = order[j]
    y = top + r * row
    r++
    if (r % 2 == 0) printf "<rect x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#f4f4f4\"/>\n", y, w, row
    col = (VD[i] == "PASS") ? "#2e7d32" : (VD[i] == "SHORT" || VD[i] == "FAIL") ? "#c62828" : "#8a8a8a"
    printf "<text x=\"%d\" y=\"%d\">%s</text>\n", lx, y + 16, esc(L[i])
    if (K[i] == "text") {
      printf "<text x=\"%d\" y=\"%d\"><tspan font-weight=\"bold\" fill=\"%s\">%s</tspan> (goal %s %s) %s</text>\n", bx, y + 16, col, VS[i], OP[i] == "==" ? "=" : OP[i], G[i], VD[i]
    } else {
      gv = (G[i] == "") ? 1 : G[i] + 0
      m = (V[i] > gv ? V[i] : gv) * 1.15; if (m <= 0) m = 1
      bl = bw * V[i] / m; if (bl < 1 && V[i] > 0) bl = 1
      printf "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", bx, y + 5, bl, row - 10, col
      gx = bx + bw * gv / m
      if (G[i] != "") {
        printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#000\" stroke-width=\"2\" stroke-dasharray=\"3,2\"/>\n", gx, y + 2, gx, y + row - 2
      } else {
        printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#8a8a8a\" stroke-width=\"1\"/>\n", gx, y + 2, gx, y + row - 2
      }
      gt = (G[i] == "") ? (A[i] != "-" ? "vs " A[i] : "") : "goal " (OP[i] == ">=" ? "≥ " : OP[i] == "<=" ? "≤ " : "") G[i] U[i]
      printf "<text x=\"%d\" y=\"%d\"><tspan font-weight=\"bold\" fill=\"%s\">%s%s</tspan> %s %s</text>\n", tx, y + 16, col, VS[i], U[i], esc(short(gt, 34)), (VD[i] == "INFO" ? "" : VD[i])
    }
  }
  printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>\n", bx, top, bx, top + rows * row
  printf "<text x=\"%d\" y=\"%d\" fill=\"#555\">Numbers, anchors and shortfalls: report.md beside this file.</text>\n", lx, top + rows * row + 24
  printf "</svg>\n"
}' "$all" >"$svg.tmp"
mv "$svg.tmp" "$svg"

echo
echo "Summary (every goal):"
awk -F'\t' "$awk_lib"'$7 != "-" { printf "  %-6s %-11s %s: %s", $8, $1, $2, $3
    if ($6 != "-") printf " = %s x %s", $6, $4
    printf " (goal %s)\n", goal_text($7) }' "$all"
echo "Report: $md, chart: $svg (total ${total_s}s)"
failed=$(awk -F'\t' '$4 != 0' "$status_file" | wc -l)
[ "$failed" = 0 ] || { echo "bench/report.sh: $failed step(s) failed; see the report" >&2; exit 1; }
