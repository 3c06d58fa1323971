#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a command against a real, throw-away PostgreSQL server: initdb in a temporary directory (as
# the `postgres` system user when run as root, since PostgreSQL refuses to run as root), a free
# port below the ephemeral range on 127.0.0.1, one database; the command gets its URL as the last
# argument. The server is stopped and its directory removed afterwards, whatever happens.
#   tests/integration/with_postgres.sh COMMAND [ARGS...]
set -uo pipefail
# shellcheck disable=SC2012 # version directories: plain names, sorted by version
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "with_postgres: no PostgreSQL server (scripts/deps.sh --test)"; exit 1; }
dir=$(mktemp -d /tmp/bx-pg-XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$dir"
  as_pg=(runuser -u postgres --)
fi
lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
port=0
for _ in $(seq 1 100); do
  p=$((10000 + RANDOM % (lo - 10000)))
  if ! (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null; then port=$p; break; fi
done
# shellcheck disable=SC2317 # called by the EXIT trap
stop() {
  "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 20 stop >/dev/null 2>&1
  rm -rf "$dir"
}
trap stop EXIT
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log"; exit 1; }
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir" start >/dev/null ||
  { cat "$dir/server.log"; exit 1; }
"${as_pg[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres boxoffice ||
  { cat "$dir/server.log"; exit 1; }
"$@" "postgresql://postgres@127.0.0.1:$port/boxoffice"
rc=$?
[ "$rc" = 0 ] || { echo "with_postgres: server log tail:"; tail -n 20 "$dir/server.log"; }
exit "$rc"
