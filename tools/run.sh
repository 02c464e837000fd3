#!/usr/bin/env bash
# tools/run.sh [BINARY] - start troupe in the foreground on localhost with
# the local .env (if any) and, unless TROUPE_DATABASE_URL points elsewhere,
# a private Postgres that is stopped again when troupe exits (Ctrl-C).
set -euo pipefail
bin=${1:-build/troupe}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$root/.env" ]; then
  set -a; . "$root/.env"; set +a
fi
if [ -z "${TROUPE_DATABASE_URL:-}" ]; then
  # stop it afterwards only if it was not running before (someone else's)
  if ! "$root/tools/pg.sh" status >/dev/null 2>&1; then
    trap '"$root/tools/pg.sh" stop' EXIT
  fi
  "$root/tools/pg.sh" start
  TROUPE_DATABASE_URL=$("$root/tools/pg.sh" url)
  export TROUPE_DATABASE_URL
fi
echo "troupe: serving on http://${TROUPE_HTTP_ADDR:-127.0.0.1:8080} (Ctrl-C stops troupe and its private Postgres)"
"$bin" run
