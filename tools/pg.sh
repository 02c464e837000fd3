#!/usr/bin/env bash
# tools/pg.sh - a private PostgreSQL cluster for troupe (make run, make test).
#
#   tools/pg.sh start    init (first time) and start; prints nothing else
#   tools/pg.sh stop     stop cleanly (fast shutdown)
#   tools/pg.sh status   running or not
#   tools/pg.sh url [DB] the connection URL (postgresql://...; DB default troupe)
#   tools/pg.sh createdb DB / dropdb DB   a scratch database (make test uses one per run)
#
# Data lives in $TROUPE_PG_DIR (default .troupe/pg), listens on 127.0.0.1 only,
# port $TROUPE_PG_PORT (default 54329), password auth with a generated
# password kept in the data dir's parent (mode 0600). initdb refuses root, so
# as root the cluster runs as the `postgres` system user; if that user cannot
# reach the project directory, the data goes under /var/tmp instead.
set -euo pipefail

cmd=${1:-status}
root=$(cd "$(dirname "$0")/.." && pwd)
port=${TROUPE_PG_PORT:-54329}
dir=${TROUPE_PG_DIR:-$root/.troupe/pg}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] || { echo "pg.sh: PostgreSQL server binaries not found (run make deps)" >&2; exit 1; }

runas=()
if [ "$(id -u)" -eq 0 ]; then
  runas=(runuser -u postgres --)
  mkdir -p "$(dirname "$dir")"
  if ! runuser -u postgres -- test -x "$(dirname "$dir")" 2>/dev/null || \
     ! runuser -u postgres -- test -x "$root" 2>/dev/null; then
    # the postgres user cannot traverse the project path (e.g. under /root)
    key=$(printf '%s' "$dir" | md5sum | cut -c1-12)
    dir=/var/tmp/troupe-pg-$key/pg
  fi
fi
meta=$(dirname "$dir")
pwfile=$meta/pg.password
log=$meta/pg.log

pg() { "${runas[@]}" "$@"; }

url() {
  printf 'postgresql://troupe:%s@127.0.0.1:%s/%s\n' "$(cat "$pwfile")" "$port" "${1:-troupe}"
}

sql() { PGPASSWORD=$(cat "$pwfile") psql -h 127.0.0.1 -p "$port" -U troupe -d postgres -v ON_ERROR_STOP=1 -Atqc "$1"; }

dbname_ok() {
  [[ "$1" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || { echo "pg.sh: database names are [a-z_][a-z0-9_]* (got '$1')" >&2; exit 64; }
}

init() {
  mkdir -p "$meta"
  if [ ! -f "$pwfile" ]; then
    umask 077
    head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$pwfile"
  fi
  mkdir -p "$dir"
  chmod 700 "$dir"
  if [ "${#runas[@]}" -gt 0 ]; then
    chown postgres:postgres "$dir" "$meta"
    cp "$pwfile" "$meta/.pw.tmp"; chown postgres "$meta/.pw.tmp"
  else
    cp "$pwfile" "$meta/.pw.tmp"
  fi
  pg "$pgbin/initdb" -D "$dir" -U troupe --auth=scram-sha-256 --pwfile="$meta/.pw.tmp" \
     -E UTF8 --locale=C.UTF-8 >"$log" 2>&1 || { rm -f "$meta/.pw.tmp"; cat "$log" >&2; exit 1; }
  rm -f "$meta/.pw.tmp"
  [ "${#runas[@]}" -gt 0 ] && chown postgres "$log"
  cat >> "$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 100
fsync = on
CONF
}

running() {
  [ -f "$dir/postmaster.pid" ] && pg "$pgbin/pg_ctl" -D "$dir" status >/dev/null 2>&1
}

case "$cmd" in
  start)
    [ -f "$dir/PG_VERSION" ] || init
    if ! running; then
      pg "$pgbin/pg_ctl" -D "$dir" -l "$log" -w -t 60 start >/dev/null || { tail -n 20 "$log" >&2; exit 1; }
    fi
    # the troupe database (the cluster's own superuser is troupe)
    if ! PGPASSWORD=$(cat "$pwfile") psql -h 127.0.0.1 -p "$port" -U troupe -d postgres -Atqc \
         "select 1 from pg_database where datname='troupe'" | grep -q 1; then
      PGPASSWORD=$(cat "$pwfile") psql -h 127.0.0.1 -p "$port" -U troupe -d postgres -qc "create database troupe" >/dev/null
    fi
    ;;
  stop)
    if running; then pg "$pgbin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null; fi
    ;;
  status)
    if running; then echo "running on 127.0.0.1:$port ($dir)"; else echo "stopped ($dir)"; exit 3; fi
    ;;
  url)
    [ -f "$pwfile" ] || { echo "pg.sh: not initialised (tools/pg.sh start)" >&2; exit 1; }
    [ -z "${2:-}" ] || dbname_ok "$2"
    url "${2:-}"
    ;;
  createdb)
    dbname_ok "${2:-}"
    sql "create database $2" >/dev/null
    ;;
  dropdb)
    dbname_ok "${2:-}"
    sql "drop database if exists $2 with (force)" >/dev/null
    ;;
  *)
    echo "usage: tools/pg.sh start|stop|status|url [DB]|createdb DB|dropdb DB" >&2; exit 64 ;;
esac
