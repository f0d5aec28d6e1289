#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the store tests: 127.0.0.1 on a port the
# OS reports free, data and socket in a temp dir, fsync off; stops it and
# removes the dir on exit. Uses Debian's /usr/lib/postgresql/*/bin (package
# `postgresql`, see install-deps.sh); the system cluster is left alone. As
# root the server runs as user `postgres`, since initdb refuses root.
#
#   scripts/pg-test.sh               print the URL, serve until Ctrl-C/SIGTERM
#   scripts/pg-test.sh CMD [ARG...]  run CMD with CENTRALITA_TEST_PG_URL set,
#                                    e.g. scripts/pg-test.sh cargo test -p sip-gateway --test store_kpi
# Without this script the store tests start such a server themselves.
set -euo pipefail
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "pg-test: /usr/lib/postgresql/*/bin/initdb not found (apt-get install postgresql)" >&2
  exit 2
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/centralita-pg.XXXXXX")
as=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$dir"
  as=(runuser -u postgres --)
fi
sleeper=""
stop() {
  [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
  "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
  echo $((20000 + RANDOM % 40000)))
"${as[@]}" "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
"${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -F" start >/dev/null ||
  { cat "$dir/server.log" >&2; exit 1; }
url="postgres://postgres@127.0.0.1:$port/postgres"
if [ $# -eq 0 ]; then
  echo "$url"
  while :; do
    sleep 3600 &
    sleeper=$!
    wait "$sleeper" || true
  done
fi
CENTRALITA_TEST_PG_URL="$url" "$@"
