#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests of the shared store (issue 15), shared by
# .ci/run and developers:
#   scripts/pg-test-cluster.sh start DIR [PORT]   initdb in DIR (once), start on 127.0.0.1:PORT
#                                                 (default 55432), create the `xlchat` database
#                                                 and the roles the tests use; prints
#                                                 `XLCHAT_TEST_PG=postgres://…` (eval-able)
#   scripts/pg-test-cluster.sh stop DIR           stop it (the directory stays; rm -rf it after)
# Auth: scram passwords on loopback TCP (so the wrong-password test is real): the superuser
# `xlchat_admin` (password `xlchat-test`) and `xlchat_limited` (password `limited`, no rights
# beyond CONNECT, for the storeDenied tests). PostgreSQL refuses to run as root: as root the
# cluster runs as the `postgres` user (Debian's package creates it).
set -euo pipefail
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2; }
port=${3:-55432}
bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$bin/initdb" ] || { echo "pg-test-cluster: no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    pw="$dir/.pw"; echo "xlchat-test" > "$pw"; [ "$(id -u)" = 0 ] && chown postgres: "$pw"
    as_owner "$bin/initdb" -D "$dir/data" -U xlchat_admin --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    rm -f "$pw"
  fi
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c max_connections=60" start >/dev/null
  psql_() { as_owner env PGPASSWORD=xlchat-test psql -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U xlchat_admin "$@"; }
  psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'xlchat'" | grep -q 1 || psql_ -d postgres -c "CREATE DATABASE xlchat"
  psql_ -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'xlchat_limited'" | grep -q 1 \
    || psql_ -d postgres -c "CREATE ROLE xlchat_limited LOGIN PASSWORD 'limited'"
  echo "XLCHAT_TEST_PG=postgres://xlchat_admin:xlchat-test@127.0.0.1:$port/xlchat"
  ;;
stop)
  [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  ;;
*)
  echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2 ;;
esac
